"""The rollout state machine: ``step(RolloutInput) -> RolloutDecision``, pure and deterministic.

Time comes only from ``inp.now``; everything needed to resume lives in the persisted status, so a
restarted operator that feeds the same status and observations gets the same decision.

    no stable ──(target Ready)──> Stable ──new revision──> Canary(step 0) ─steps ok─> Promoting ─> Stable
                                    ^                         │  analysis failed / deadline / abort
                                    └── Aborted (weight 0 -> canary 0; Degraded) <─┘  retry -> step 0

See docs/rollout.md for every transition.
"""

from __future__ import annotations

from modelfleet.api import (
    CanaryCapacity,
    CanaryStep,
    ConditionStatus,
    Phase,
    Reason,
    RolloutAction,
    RolloutStatus,
    RolloutStrategy,
    TrafficProvider,
    parse_duration,
)
from modelfleet.rollout.actions import apply_action
from modelfleet.rollout.clock import elapsed_seconds, format_time
from modelfleet.rollout.context import COMPLETE, DONE, POLL_SECONDS, Abort, Hold, Pass
from modelfleet.rollout.decide import aborted_decision, complete_decision, hold_decision
from modelfleet.rollout.replicas import granularity_text
from modelfleet.rollout.steps import describe_step, promote_step, run_step
from modelfleet.rollout.types import Event, RolloutDecision, RolloutInput

STEP_STARTED = "RolloutStep"


def step(inp: RolloutInput) -> RolloutDecision:
    """The next decision for one ModelDeployment."""
    if inp.stable_revision is None:
        return first_deploy(inp)
    if inp.target_revision == inp.stable_revision:
        return steady(inp)
    if inp.spec.strategy == RolloutStrategy.ROLLING_UPDATE:
        # A rolling update is a canary with no steps and extra capacity: the new revision scales
        # to desired beside the old one, takes all traffic once Ready, then the old one goes.
        return canary(inp, steps=(), capacity=CanaryCapacity.SURGE)
    return canary(inp, steps=tuple(inp.spec.canary.steps), capacity=inp.spec.canary.capacity)


def first_deploy(inp: RolloutInput) -> RolloutDecision:
    """No stable yet: the target scales to desired, serves once a pod is Ready, and becomes the
    stable once every replica is Ready. Other workloads never served as stable, so they go now."""
    target = inp.revisions.get(inp.target_revision)
    ready = target.ready_replicas if target and target.exists else 0
    others = tuple(sorted(r for r in inp.revisions if r != inp.target_revision))
    weights = {inp.target_revision: 100} if ready > 0 else {}
    if ready >= inp.desired_replicas:
        # The condition says what every later pass of an unchanged object says (see steady), so the
        # next resync rewrites nothing; the Event says what happened.
        message = f"revision {inp.target_revision} serves 100%: {ready}/{inp.desired_replicas} replicas ready"
        promoted = f"revision {inp.target_revision} is stable: {ready}/{inp.desired_replicas} replicas ready"
        return RolloutDecision(
            replicas={inp.target_revision: inp.desired_replicas},
            weights={inp.target_revision: 100},
            delete=others,
            stable_revision=inp.target_revision,
            canary_revision=None,
            status=None,
            phase=Phase.HEALTHY,
            progressing=(ConditionStatus.TRUE, Reason.ROLLOUT_COMPLETE, message),
            events=(Event("Normal", Reason.ROLLOUT_COMPLETE, promoted),),
            consumed_action=inp.action != RolloutAction.NONE,
        )
    previous = inp.status if inp.status and inp.status.canary_revision == inp.target_revision else None
    started = previous.step_started_at if previous and previous.step_started_at else format_time(inp.now)
    waited_seconds = elapsed_seconds(started, inp.now)
    deadline_seconds = _deadline_seconds(inp)
    message = f"starting revision {inp.target_revision}: {ready}/{inp.desired_replicas} replicas ready"
    progressing = (ConditionStatus.TRUE, Reason.ROLLOUT_IN_PROGRESS, message)
    if waited_seconds > deadline_seconds:
        message = f"progress deadline exceeded: {message}; check the pods' events and logs"
        progressing = (ConditionStatus.FALSE, Reason.PROGRESS_DEADLINE_EXCEEDED, message)
    return RolloutDecision(
        replicas={inp.target_revision: inp.desired_replicas},
        weights=weights,
        delete=others,
        stable_revision=None,
        canary_revision=None,
        status=RolloutStatus(canary_revision=inp.target_revision, step_started_at=started, message=message),
        phase=Phase.PROGRESSING if ready > 0 else Phase.PENDING,
        progressing=progressing,
        # The workload's and pods' watch events wake the pass when a replica becomes Ready; the clock
        # matters only for the deadline (a poll here made passes per object grow with the converge time).
        requeue_after_seconds=max(1.0, deadline_seconds - waited_seconds),
        consumed_action=inp.action != RolloutAction.NONE,
    )


def steady(inp: RolloutInput) -> RolloutDecision:
    """The spec describes the stable: it takes all traffic; other workloads leave once the
    provider shows no traffic off the stable."""
    stable = inp.target_revision
    state = inp.revisions.get(stable)
    ready = state.ready_replicas if state and state.exists else 0
    others = tuple(sorted(r for r, s in inp.revisions.items() if r != stable and s.exists))
    observed = inp.off_stable_weight
    drained = observed == 0 or (observed is None and inp.traffic_provider == TrafficProvider.REPLICAS)
    replicas = {stable: inp.desired_replicas}
    if not drained:
        replicas.update({r: inp.revisions[r].replicas for r in others})
    healthy = ready >= inp.desired_replicas
    message = f"revision {stable} serves 100%: {ready}/{inp.desired_replicas} replicas ready"
    return RolloutDecision(
        replicas=replicas,
        weights={stable: 100},
        delete=others if drained else (),
        stable_revision=stable,
        canary_revision=None,
        status=None,
        phase=Phase.HEALTHY if healthy else Phase.DEGRADED,
        progressing=(ConditionStatus.TRUE, Reason.ROLLOUT_COMPLETE, message),
        requeue_after_seconds=None if drained or not others else POLL_SECONDS,
        consumed_action=inp.action != RolloutAction.NONE,
    )


def canary(inp: RolloutInput, steps: tuple[CanaryStep, ...], capacity: CanaryCapacity) -> RolloutDecision:
    p = Pass(inp=inp, status=_current_status(inp), steps=steps, capacity=capacity)
    if p.status.step_started_at is None:
        _start(p)
    abort = apply_action(p)
    if abort is not None:
        return aborted_decision(p, abort)
    if p.status.abort_reason is not None:
        return aborted_decision(p, None)
    if p.status.paused_at is not None:
        return hold_decision(p, _manual_pause_hold(p))
    return _run_steps(p)


def _run_steps(p: Pass) -> RolloutDecision:
    while p.step_index < len(p.steps):
        outcome = run_step(p, p.steps[p.step_index])
        if outcome is DONE:
            _advance(p)
            continue
        if isinstance(outcome, Abort):
            return aborted_decision(p, outcome)
        assert isinstance(outcome, Hold)  # only the promotion completes
        return hold_decision(p, outcome)
    outcome = promote_step(p)
    if outcome is COMPLETE:
        return complete_decision(p)
    if isinstance(outcome, Abort):
        return aborted_decision(p, outcome)
    assert isinstance(outcome, Hold)
    return hold_decision(p, outcome)


def _current_status(inp: RolloutInput) -> RolloutStatus:
    """The persisted status when it belongs to this target, else a fresh one (step 0)."""
    status = inp.status
    if status is not None and status.canary_revision == inp.target_revision:
        return status.model_copy(update={"step": status.step or 0, "weight": status.weight or 0})
    return RolloutStatus(canary_revision=inp.target_revision, step=0, weight=0)


def _start(p: Pass) -> None:
    """A new canary: the clock starts, and the event says what it replaces."""
    inp = p.inp
    p.update(
        step_started_at=format_time(inp.now),
        granularity=granularity_text(
            inp.traffic_provider, inp.desired_replicas, inp.traffic_granularity_percent
        ),
    )
    previous = inp.status.canary_revision if inp.status else None
    replaces = f"; replaces canary {previous}" if previous and previous != inp.stable_revision else ""
    first = f", step 0: {describe_step(p.steps[0])}" if p.steps else ""
    p.event(
        Reason.NEW_REVISION,
        f"rolling out {inp.target_revision} over stable {inp.stable_revision}{first}{replaces}",
    )


def _advance(p: Pass) -> None:
    index = p.step_index + 1
    p.update(
        step=index,
        step_started_at=format_time(p.inp.now),
        analysis=[],
        success_count=0,
        failure_count=0,
        error_count=0,
    )
    what = describe_step(p.steps[index]) if index < len(p.steps) else "promoting"
    p.event(STEP_STARTED, f"{p.inp.target_revision} step {index}: {what}")


def _manual_pause_hold(p: Pass) -> Hold:
    """Hold where the rollout stands: no scaling for the next step, the weight kept (if Ready)."""
    promoting = p.step_index >= len(p.steps)
    return Hold(
        message=f"paused at step {p.step_index} since {p.status.paused_at}; "
        "annotate the ModelDeployment with modelfleet.io/action=resume to continue",
        canary_replicas=max(1, p.canary_running) if promoting else p.replicas_for(p.weight),
        weight=p.served(p.weight),
        requeue_after_seconds=None,
        paused=True,
    )


def _deadline_seconds(inp: RolloutInput) -> float:
    return parse_duration(inp.spec.progress_deadline)
