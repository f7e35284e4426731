"""Turn the outcome of a canary pass into a :class:`RolloutDecision` (weights, replicas, status)."""

from __future__ import annotations

from modelfleet.api import ConditionStatus, Phase, Reason, format_duration
from modelfleet.rollout.clock import elapsed_seconds
from modelfleet.rollout.context import POLL_SECONDS, Abort, Hold, Pass
from modelfleet.rollout.replicas import granularity_text
from modelfleet.rollout.types import JobRequest, RolloutDecision

RETRY_HINT = "annotate the ModelDeployment with modelfleet.io/action=retry, or change the spec"
_DEADLINE_PREFIX = "progress deadline exceeded: "


def weights_for(stable: str | None, canary: str, canary_weight: int) -> dict[str, int]:
    """Traffic over serving revisions, summing to 100 (a revision at 0 is left out)."""
    if stable is None:
        return {canary: 100}
    weights = {stable: 100 - canary_weight, canary: canary_weight}
    return {revision: weight for revision, weight in weights.items() if weight > 0}


def _granularity(p: Pass) -> str | None:
    inp = p.inp
    return granularity_text(inp.traffic_provider, inp.desired_replicas, inp.traffic_granularity_percent)


def hold_decision(p: Pass, hold: Hold) -> RolloutDecision:
    """Stay at the step; abort instead when the step has waited past the progress deadline."""
    inp = p.inp
    waited_seconds = elapsed_seconds(p.status.step_started_at, inp.now)
    overdue = hold.deadline_seconds is not None and waited_seconds > hold.deadline_seconds
    if overdue and inp.spec.abort_on_deadline:
        return aborted_decision(p, Abort(Reason.PROGRESS_DEADLINE_EXCEEDED, _overdue_text(hold)))
    message = _DEADLINE_PREFIX + _overdue_text(hold) if overdue else hold.message
    if overdue and not (p.status.message or "").startswith(_DEADLINE_PREFIX):
        p.event(Reason.PROGRESS_DEADLINE_EXCEEDED, message, warning=True)
    p.update(message=message, observed_weight=inp.off_stable_weight, granularity=_granularity(p))
    paused = hold.paused or p.status.paused_at is not None
    if paused:
        phase, progressing = Phase.PAUSED, (ConditionStatus.UNKNOWN, Reason.ROLLOUT_PAUSED, message)
    elif overdue:
        progressing = (ConditionStatus.FALSE, Reason.PROGRESS_DEADLINE_EXCEEDED, message)
        phase = Phase.PROGRESSING
    else:
        phase, progressing = Phase.PROGRESSING, (ConditionStatus.TRUE, Reason.ROLLOUT_IN_PROGRESS, message)
    stable_replicas = (
        hold.stable_replicas
        if hold.stable_replicas is not None
        else p.stable_replicas_for(hold.canary_replicas)
    )
    return _decision(
        p,
        canary_replicas=hold.canary_replicas,
        stable_replicas=stable_replicas,
        canary_weight=hold.weight,
        phase=phase,
        progressing=progressing,
        requeue_after_seconds=_requeue(hold, waited_seconds),
        measure=hold.measure,
        evaluation_job=hold.evaluation_job,
    )


def _overdue_text(hold: Hold) -> str:
    assert hold.deadline_seconds is not None
    return f"waited longer than {format_duration(hold.deadline_seconds)} at: {hold.message}"


def _requeue(hold: Hold, waited_seconds: float) -> float | None:
    if hold.deadline_seconds is None:
        return hold.requeue_after_seconds
    left_seconds = max(0.0, hold.deadline_seconds - waited_seconds) + 1.0
    return min(hold.requeue_after_seconds or left_seconds, left_seconds)


def abort_reason_code(abort_reason: str | None) -> Reason:
    """The Reason constant stored as the prefix of status.abort_reason (``AnalysisFailed: ...``)."""
    prefix = (abort_reason or "").split(":", 1)[0]
    try:
        return Reason(prefix)
    except ValueError:
        return Reason.ROLLOUT_ABORTED


def aborted_decision(p: Pass, new_abort: Abort | None) -> RolloutDecision:
    """Weight 0 first; the canary scales to 0 only once the provider shows weight 0 (a second pass
    with the gatewayAPI provider). The stable is asked for its desired replicas from the first pass."""
    inp = p.inp
    if new_abort is not None:
        p.update(abort_reason=f"{new_abort.reason.value}: {new_abort.detail}", weight=0, paused_at=None)
        p.event(new_abort.reason, f"canary {inp.target_revision} aborted: {new_abort.detail}", warning=True)
    reason = abort_reason_code(p.status.abort_reason)
    drained = p.traffic_matches(0)
    message = (
        f"canary {inp.target_revision} aborted ({p.status.abort_reason}); "
        f"stable {inp.stable_revision} serves 100%"
        + ("" if drained else "; waiting for the canary's weight 0 before scaling it down")
        + f". To try again: {RETRY_HINT}"
    )
    p.update(message=message, observed_weight=inp.off_stable_weight, granularity=_granularity(p))
    return _decision(
        p,
        canary_replicas=0 if drained else p.canary_running,
        stable_replicas=inp.desired_replicas,
        canary_weight=0,
        phase=Phase.DEGRADED,
        progressing=(ConditionStatus.FALSE, reason, message),
        requeue_after_seconds=None if drained else POLL_SECONDS,
        aborted_reason=new_abort.reason.value if new_abort else None,
    )


def complete_decision(p: Pass) -> RolloutDecision:
    """The canary is the new stable; the old stable goes (its weight 0 has been observed)."""
    inp = p.inp
    target, old = inp.target_revision, inp.stable_revision
    p.event(Reason.ROLLOUT_COMPLETE, f"revision {target} promoted to stable (replaces {old})")
    message = f"revision {target} is stable and serves 100%"
    ready = p.canary_ready >= inp.desired_replicas
    return RolloutDecision(
        replicas={target: inp.desired_replicas},
        weights={target: 100},
        delete=tuple(sorted({*p.leftovers, *([old] if old else [])})),
        stable_revision=target,
        canary_revision=None,
        status=None,
        phase=Phase.HEALTHY if ready else Phase.PROGRESSING,
        progressing=(ConditionStatus.TRUE, Reason.ROLLOUT_COMPLETE, message),
        events=tuple(p.events),
        consumed_action=p.consumed_action,
    )


def _decision(
    p: Pass,
    *,
    canary_replicas: int,
    stable_replicas: int,
    canary_weight: int,
    phase: Phase,
    progressing: tuple[ConditionStatus, str, str],
    requeue_after_seconds: float | None,
    measure: tuple[str, ...] = (),
    aborted_reason: str | None = None,
    evaluation_job: JobRequest | None = None,
) -> RolloutDecision:
    inp = p.inp
    stable, canary = inp.stable_revision, inp.target_revision
    replicas = {canary: canary_replicas}
    if stable is not None:
        replicas[stable] = stable_replicas
    # Old revisions leave once the provider shows no traffic off the stable; until then they keep
    # the pods they have, so requests in flight finish.
    drained = p.traffic_matches(0)
    delete = p.leftovers if drained else ()
    if not drained:
        replicas.update({r: inp.revisions[r].replicas for r in p.leftovers})
    return RolloutDecision(
        replicas=replicas,
        weights=weights_for(stable, canary, canary_weight),
        delete=delete,
        stable_revision=stable,
        canary_revision=canary,
        status=p.status,
        phase=phase,
        progressing=progressing,
        events=tuple(p.events),
        measure=measure,
        requeue_after_seconds=requeue_after_seconds,
        aborted_reason=aborted_reason,
        consumed_action=p.consumed_action,
        evaluation_job=evaluation_job,
    )
