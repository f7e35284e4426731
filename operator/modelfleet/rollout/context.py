"""One pass of the canary machine: the input, the status being rebuilt, and the outcome of a step.

A step returns one of: ``DONE`` (move to the next step in the same pass), a :class:`Hold` (stay,
with what to run and serve meanwhile), an :class:`Abort` (with a reason constant), or ``COMPLETE``
(promotion finished: the canary is the new stable).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from modelfleet.api import (
    AnalysisResult,
    CanaryCapacity,
    CanaryStep,
    Reason,
    RolloutStatus,
    TrafficProvider,
    parse_duration,
)
from modelfleet.rollout.replicas import split_replicas, swap_stable_replicas
from modelfleet.rollout.types import Event, JobRequest, RevisionState, RolloutInput

# How soon to look again while waiting on the cluster (pods, traffic read-back). Children's own
# watch events usually come sooner; this is the floor that makes waiting level-based.
POLL_SECONDS = 10.0


class Marker(Enum):
    DONE = "done"
    COMPLETE = "complete"


DONE = Marker.DONE
COMPLETE = Marker.COMPLETE


@dataclass(frozen=True)
class Hold:
    """Stay at the current step this pass."""

    message: str
    canary_replicas: int  # replicas the canary workload should run now
    weight: int  # canary weight to serve now (0 unless the canary is Ready for it)
    requeue_after_seconds: float | None = POLL_SECONDS
    deadline_seconds: float | None = None  # counted from stepStartedAt; None: the step's time is its own
    paused: bool = False
    measure: tuple[str, ...] = ()
    stable_replicas: int | None = None  # None: derived from the canary's replicas and the capacity mode
    evaluation_job: JobRequest | None = None


@dataclass(frozen=True)
class Abort:
    reason: Reason  # ROLLOUT_ABORTED, ANALYSIS_FAILED, ANALYSIS_ERROR or PROGRESS_DEADLINE_EXCEEDED
    detail: str


Outcome = Hold | Abort | Marker


@dataclass
class Pass:
    """The state of one call to ``step`` for a canary (or rolling update, which has no steps)."""

    inp: RolloutInput
    status: RolloutStatus
    steps: tuple[CanaryStep, ...]
    capacity: CanaryCapacity
    events: list[Event] = field(default_factory=list)
    consumed_action: bool = False
    measurements_used: bool = False

    # --- status -----------------------------------------------------------------------------
    def update(self, **changes: Any) -> None:
        self.status = self.status.model_copy(update=changes)

    def event(self, reason: str, message: str, warning: bool = False) -> None:
        self.events.append(Event("Warning" if warning else "Normal", reason, message))

    @property
    def step_index(self) -> int:
        return self.status.step or 0

    @property
    def weight(self) -> int:
        """The weight the canary should have (the last applied setWeight), before readiness gating."""
        return self.status.weight or 0

    # --- observations -------------------------------------------------------------------------
    @property
    def canary(self) -> RevisionState | None:
        return _existing(self.inp.revisions.get(self.inp.target_revision))

    @property
    def stable(self) -> RevisionState | None:
        stable = self.inp.stable_revision
        return None if stable is None else _existing(self.inp.revisions.get(stable))

    @property
    def canary_ready(self) -> int:
        return self.canary.ready_replicas if self.canary else 0

    @property
    def canary_running(self) -> int:
        """Replicas the canary workload has now (0 before it exists)."""
        return self.canary.replicas if self.canary else 0

    @property
    def leftovers(self) -> tuple[str, ...]:
        """Workloads of neither the stable nor the target: an older canary or an aborted revision."""
        keep = {self.inp.stable_revision, self.inp.target_revision}
        return tuple(sorted(r for r, s in self.inp.revisions.items() if s.exists and r not in keep))

    # --- maths --------------------------------------------------------------------------------
    @property
    def desired(self) -> int:
        return self.inp.desired_replicas

    def replicas_for(self, weight_percent: int) -> int:
        return split_replicas(self.desired, weight_percent, self.inp.traffic_provider, self.capacity).canary

    def serves(self, weight_percent: int) -> bool:
        """The canary may carry this weight: its pods for that weight are Ready, no old revision
        still holds traffic (old revisions leave before the canary takes any)."""
        if weight_percent <= 0 or self.leftovers:
            return False
        return self.canary_ready >= self.replicas_for(weight_percent)

    def served(self, weight_percent: int) -> int:
        return weight_percent if self.serves(weight_percent) else 0

    def hold_at_step_weight(self, message: str, **more: Any) -> Hold:
        """Stay at this step, running the canary for its weight and serving it once Ready."""
        return Hold(message, self.replicas_for(self.weight), self.served(self.weight), **more)

    def traffic_matches(self, weight_percent: int) -> bool:
        """The provider reports the weight as decided (the replica ratio always does)."""
        observed = self.inp.off_stable_weight
        if observed is None:
            return self.inp.traffic_provider == TrafficProvider.REPLICAS
        return observed == weight_percent

    def needs_extra_gpus(self, canary_count: int) -> bool:
        """Running ``canary_count`` canary pods needs GPUs beyond the stable's desired replicas."""
        if self.capacity == CanaryCapacity.SURGE:
            return True
        return swap_stable_replicas(self.desired, canary_count) + canary_count > self.desired

    def stable_replicas_for(self, canary_count: int) -> int:
        """The stable's replicas next to ``canary_count`` canary pods.

        surge: always desired. swap: shrink by the canary's count (never below 1), but only once
        the canary is Ready at that count, unless there is no room for it next to the full stable:
        then the stable gives its GPUs first (the documented price of swap).
        """
        if self.capacity == CanaryCapacity.SURGE:
            return self.desired
        shrunk = swap_stable_replicas(self.desired, canary_count)
        if self.canary_ready >= canary_count or not self.inp.canary_capacity_ok:
            return shrunk
        current = self.stable.replicas if self.stable else self.desired
        return min(self.desired, max(shrunk, current))

    @property
    def deadline_seconds(self) -> float:
        return parse_duration(self.inp.spec.progress_deadline)

    @property
    def interval_seconds(self) -> float:
        return parse_duration(self.inp.spec.analysis_interval)

    def take_measurements(self) -> tuple[AnalysisResult, ...] | None:
        """The second-phase measurements, once per pass (a later analysis step measures anew)."""
        if self.measurements_used or self.inp.measurements is None:
            return None
        self.measurements_used = True
        return self.inp.measurements


def _existing(state: RevisionState | None) -> RevisionState | None:
    return state if state is not None and state.exists else None
