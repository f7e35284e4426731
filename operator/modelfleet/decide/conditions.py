"""Conditions rebuilt every pass, keeping lastTransitionTime when nothing changed (pure)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from modelfleet.api import Condition, ConditionStatus, ConditionType, Reason
from modelfleet.rollout.types import Event

ORDER = (
    ConditionType.READY,
    ConditionType.PROGRESSING,
    ConditionType.DEGRADED,
    ConditionType.SCHEDULABLE,
    ConditionType.LICENSE_ACCEPTED,
    ConditionType.SIZING_ESTIMATED,
    ConditionType.MODEL_DISCOVERED,
    ConditionType.SCALING_LIMITED,
)
# Transitions that deserve a Warning event rather than a Normal one.
WARN_WHEN_FALSE = {
    ConditionType.SCHEDULABLE,
    ConditionType.LICENSE_ACCEPTED,
    ConditionType.READY,
    ConditionType.MODEL_DISCOVERED,
}
# Not every replica ready is no problem by itself (a scale-up is on its way): it warns through
# Degraded when replicas that were ready are lost.
NOT_A_WARNING = {(ConditionType.READY, Reason.REPLICAS_NOT_READY), (ConditionType.READY, Reason.STAGING)}
# A condition's first value says nothing new when it is the expected starting state: a new object's
# replicas are not ready yet, it is progressing, not degraded, and its licence is fine. So only the
# plan (Schedulable) and problems get an event on creation; later transitions of these conditions do.
QUIET_START: set[tuple[ConditionType, ConditionStatus, str | None]] = {
    (ConditionType.READY, ConditionStatus.FALSE, Reason.REPLICAS_NOT_READY),
    (ConditionType.READY, ConditionStatus.FALSE, Reason.STAGING),
    (ConditionType.PROGRESSING, ConditionStatus.TRUE, None),
    (ConditionType.DEGRADED, ConditionStatus.FALSE, None),
    (ConditionType.LICENSE_ACCEPTED, ConditionStatus.TRUE, None),
    (ConditionType.MODEL_DISCOVERED, ConditionStatus.TRUE, None),
    (ConditionType.SCALING_LIMITED, ConditionStatus.FALSE, None),
}
# Conditions that warn when True: the autoscaler is held back by the GPUs.
WARN_WHEN_TRUE = {ConditionType.SCALING_LIMITED}


def rfc3339(when: datetime) -> str:
    return when.strftime("%Y-%m-%dT%H:%M:%SZ")


class ConditionSet:
    def __init__(self, previous: dict[str, Condition], generation: int, now: datetime) -> None:
        self._previous = previous
        self._current: dict[str, Condition] = {}
        self._generation = generation
        self._now = now

    @classmethod
    def from_status(cls, conditions: Iterable[Condition], generation: int, now: datetime) -> ConditionSet:
        return cls({c.type: c for c in conditions}, generation, now)

    def set(self, type_: ConditionType, status: ConditionStatus, reason: str, message: str) -> None:
        before = self._previous.get(type_.value)
        changed = before is None or before.status != status
        self._current[type_.value] = Condition(
            type=type_.value,
            status=status,
            reason=str(reason),
            message=message[:2000],
            last_transition_time=rfc3339(self._now)
            if changed or before is None or not before.last_transition_time
            else before.last_transition_time,
            observed_generation=self._generation,
        )

    def remove(self, type_: ConditionType) -> None:
        """The condition no longer applies (ScalingLimited once autoscaling is removed)."""
        self._previous.pop(type_.value, None)
        self._current.pop(type_.value, None)

    def previous(self, type_: ConditionType) -> Condition | None:
        """The condition as the stored status had it, before this pass."""
        return self._previous.get(type_.value)

    def get(self, type_: ConditionType) -> Condition | None:
        return self._current.get(type_.value) or self._previous.get(type_.value)

    def to_list(self) -> list[dict[str, object]]:
        merged = {**self._previous, **self._current}
        ordered = [merged[t.value] for t in ORDER if t.value in merged]
        return [c.model_dump(by_alias=True, exclude_none=True, mode="json") for c in ordered]

    def transition_events(self) -> list[Event]:
        """An event for each condition whose status or reason changed in this pass (see QUIET_START)."""
        events: list[Event] = []
        for type_ in ORDER:
            now = self._current.get(type_.value)
            before = self._previous.get(type_.value)
            if now is None or (
                before is not None and before.status == now.status and before.reason == now.reason
            ):
                continue
            if before is None and (
                {(type_, now.status, now.reason), (type_, now.status, None)} & QUIET_START
            ):
                continue
            warn = (
                type_ in WARN_WHEN_FALSE
                and now.status == ConditionStatus.FALSE
                and (type_, now.reason) not in NOT_A_WARNING
            ) or (
                (type_ == ConditionType.DEGRADED or type_ in WARN_WHEN_TRUE)
                and now.status == ConditionStatus.TRUE
            )
            event = Event(
                "Warning" if warn else "Normal",
                now.reason or type_.value,
                now.message or f"{type_.value} is {now.status.value}",
            )
            _say_once(events, event)
        return events


def _say_once(events: list[Event], event: Event) -> None:
    """Two conditions changing for one reason with one message: one event, a Warning if either warns."""
    for i, said in enumerate(events):
        if (said.reason, said.message) == (event.reason, event.message):
            if event.type == "Warning":
                events[i] = event
            return
    events.append(event)
