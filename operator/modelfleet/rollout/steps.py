"""The canary checklist: what each kind of step waits for, and the promotion at the end."""

from __future__ import annotations

from modelfleet.api import CanaryCapacity, CanaryStep, PauseStep, format_duration, parse_duration
from modelfleet.rollout.analysis_run import analysis_step
from modelfleet.rollout.clock import elapsed_seconds
from modelfleet.rollout.context import COMPLETE, DONE, Hold, Outcome, Pass
from modelfleet.rollout.replicas import swap_stable_replicas

RESUME_HINT = "annotate the ModelDeployment with modelfleet.io/action=resume (or =promote)"


def describe_step(step: CanaryStep) -> str:
    """``setWeight 10`` / ``pause 10m`` / ``pause (until resumed)`` / ``analysis ttft-p95, error-rate``."""
    if step.set_weight is not None:
        return f"setWeight {step.set_weight}"
    if step.pause is not None:
        return f"pause {step.pause.duration}" if step.pause.duration else "pause (until resumed)"
    assert step.analysis is not None
    return f"analysis {', '.join(step.analysis.templates)}"


def run_step(p: Pass, step: CanaryStep) -> Outcome:
    if step.set_weight is not None:
        return set_weight_step(p, step.set_weight)
    hold = capacity_hold(p, p.replicas_for(p.weight))
    if hold is not None:
        return hold
    if step.pause is not None:
        return pause_step(p, step.pause)
    assert step.analysis is not None
    return analysis_step(p, step.analysis)


def capacity_hold(p: Pass, wanted_replicas: int) -> Hold | None:
    """Hold when the canary must grow onto GPUs the inventory does not have (surge, or swap with a
    single replica); the canary stays at the pods it has and the progress deadline counts."""
    running = p.canary_running
    if wanted_replicas <= running or not p.needs_extra_gpus(wanted_replicas) or p.inp.canary_capacity_ok:
        return None
    why = p.inp.capacity_message or "not enough free GPUs in the inventory"
    return Hold(
        message=(
            f"waiting for GPU capacity: the canary needs {wanted_replicas} replicas and runs {running}; "
            f"{why}. Free GPUs, or set spec.rollout.canary.capacity: swap to shrink the stable instead"
        ),
        canary_replicas=running,
        weight=p.served(p.weight),
        deadline_seconds=p.deadline_seconds,
    )


def set_weight_step(p: Pass, step_weight: int) -> Outcome:
    """Scale the canary for the new weight, give it the weight once Ready, wait for the provider."""
    label = f"step {p.step_index}: setWeight {step_weight}"
    wanted = p.replicas_for(max(p.weight, step_weight))
    hold = capacity_hold(p, wanted)
    if hold is not None:
        return hold
    deadline = p.deadline_seconds
    if p.leftovers:
        return Hold(
            message=f"{label}: waiting for old revisions {', '.join(p.leftovers)} to leave the traffic split",
            canary_replicas=wanted,
            weight=0,
            deadline_seconds=deadline,
        )
    needed = p.replicas_for(step_weight) if step_weight > 0 else 0
    if p.canary_ready < needed:
        return Hold(
            message=f"{label}: waiting for canary pods: {p.canary_ready}/{needed} ready",
            canary_replicas=wanted,
            weight=p.served(p.weight),
            deadline_seconds=deadline,
        )
    p.update(weight=step_weight)
    if not p.traffic_matches(step_weight):
        return Hold(
            message=f"{label}: waiting for the traffic provider to apply weight {step_weight} "
            f"(observed {p.inp.off_stable_weight})",
            canary_replicas=wanted,
            weight=p.served(step_weight),
            deadline_seconds=deadline,
        )
    return DONE


def pause_step(p: Pass, pause: PauseStep) -> Outcome:
    """A timed pause ends at stepStartedAt + duration (so a restart resumes with the time left);
    an untimed pause waits for a resume or promote action."""
    label = f"step {p.step_index}: pause"
    if pause.duration is None:
        return p.hold_at_step_weight(
            f"{label}: waiting until resumed; {RESUME_HINT}", requeue_after_seconds=None, paused=True
        )
    remaining_seconds = parse_duration(pause.duration) - elapsed_seconds(p.status.step_started_at, p.inp.now)
    if remaining_seconds <= 0:
        return DONE
    return p.hold_at_step_weight(
        f"{label} {pause.duration}: {format_duration(remaining_seconds)} left",
        requeue_after_seconds=remaining_seconds,
    )


def promote_step(p: Pass) -> Outcome:
    """Grow the canary to the desired replicas, move all traffic to it, then it is the stable.

    surge: the canary scales to desired beside the full stable; weight 100 once all are Ready.
    swap: one replica at a time, each only after the canary is Ready at its current count; the
    stable keeps at least 1 replica until weight 100 is observed, so the canary's last pod starts
    after the old stable is gone (the canary serves with desired - 1 ready meanwhile).
    """
    desired = p.desired
    if p.capacity == CanaryCapacity.SURGE:
        wanted, stable_replicas, handover_ready = desired, desired, max(1, desired)
        hold = capacity_hold(p, wanted)
        if hold is not None:
            return hold
    else:
        grown = p.canary_ready >= p.canary_running
        wanted = min(max(1, desired), p.canary_running + 1) if grown else p.canary_running
        wanted = max(1, wanted)
        stable_replicas = swap_stable_replicas(desired, wanted)
        handover_ready = max(1, desired - 1)
    weight = _promotion_weight(p)
    if p.leftovers or p.canary_ready < handover_ready:
        waiting = (
            f"old revisions {', '.join(p.leftovers)} to leave the traffic split"
            if p.leftovers
            else f"canary pods: {p.canary_ready}/{handover_ready} ready"
        )
        return Hold(
            message=f"promoting: waiting for {waiting}",
            canary_replicas=wanted,
            weight=weight,
            deadline_seconds=p.deadline_seconds,
            stable_replicas=stable_replicas,
        )
    p.update(weight=100)
    if not p.traffic_matches(100):
        return Hold(
            message=f"promoting: waiting for the traffic provider to send 100% to the canary "
            f"(observed {p.inp.off_stable_weight})",
            canary_replicas=max(wanted, p.canary_running),
            weight=100,
            deadline_seconds=p.deadline_seconds,
            stable_replicas=stable_replicas,
        )
    return COMPLETE


def _promotion_weight(p: Pass) -> int:
    """While a swap promotion moves replicas one by one, the canary's weight follows its ready share
    (floored, so the Ready pods always cover it) so the shrinking stable is not left with the bulk."""
    weight = p.served(p.weight)
    if p.capacity == CanaryCapacity.SWAP and p.desired > 0:
        share = 100 * p.canary_ready // p.desired
        weight = max(weight, p.served(min(share, 99)))
    return weight
