"""Manual control: promote, abort, pause, resume, retry (spec.rollout.action or the annotation
``modelfleet.io/action``). Every action is consumed in the pass that sees it, even when it does
not apply (promote with no canary), so a stale annotation never fires later by surprise.

``spec.rollout.action`` cannot be cleared by the operator, so it acts as a level: ``abort`` and
``pause`` hold for as long as they are set; ``retry`` and ``resume`` are meant for the annotation.
"""

from __future__ import annotations

from modelfleet.api import Reason, RolloutAction
from modelfleet.rollout.clock import elapsed_seconds, format_time, shift_time
from modelfleet.rollout.context import Abort, Pass
from modelfleet.rollout.steps import describe_step

# Event reasons of the manual actions (the Progressing reasons live in api.Reason).
PROMOTED_MANUALLY = "RolloutPromoted"
PAUSED_MANUALLY = "RolloutPaused"
RESUMED = "RolloutResumed"
RETRIED = "RolloutRetried"


def apply_action(p: Pass) -> Abort | None:
    """Fold the requested action into the pass's status; an Abort when the user asked for one."""
    action = p.inp.action
    if action == RolloutAction.NONE:
        return None
    p.consumed_action = True
    aborted = p.status.abort_reason is not None
    if action == RolloutAction.ABORT and not aborted:
        return Abort(Reason.ROLLOUT_ABORTED, "abort requested")
    if action == RolloutAction.RETRY and aborted:
        _retry(p)
    elif action == RolloutAction.PAUSE and not aborted and p.status.paused_at is None:
        p.update(paused_at=format_time(p.inp.now))
        p.event(PAUSED_MANUALLY, f"rollout of {p.inp.target_revision} paused at step {p.step_index}")
    elif action == RolloutAction.RESUME and not aborted:
        _resume(p)
    elif action == RolloutAction.PROMOTE and not aborted and p.step_index < len(p.steps):
        _unpause(p)
        p.update(step=len(p.steps), step_started_at=format_time(p.inp.now), analysis=[])
        p.event(PROMOTED_MANUALLY, f"promoting {p.inp.target_revision} now, remaining steps skipped")
    return None


def _retry(p: Pass) -> None:
    p.update(
        step=0,
        weight=0,
        step_started_at=format_time(p.inp.now),
        paused_at=None,
        abort_reason=None,
        analysis=[],
        success_count=0,
        failure_count=0,
        error_count=0,
    )
    p.event(RETRIED, f"canary {p.inp.target_revision} restarted at step 0")


def _resume(p: Pass) -> None:
    """End a manual pause (timers skip the paused time) and an untimed pause step."""
    resumed = _unpause(p)
    index = p.step_index
    if index < len(p.steps):
        pause = p.steps[index].pause
        if pause is not None and pause.duration is None:
            p.update(step=index + 1, step_started_at=format_time(p.inp.now), analysis=[])
            resumed = True
            if index + 1 < len(p.steps):
                p.event(RESUMED, f"step {index + 1}: {describe_step(p.steps[index + 1])}")
                return
    if resumed:
        p.event(RESUMED, f"rollout of {p.inp.target_revision} resumed at step {p.step_index}")


def _unpause(p: Pass) -> bool:
    """Clear a manual pause; the step's clock moves forward by the paused time so a timed pause
    keeps its remaining time and the progress deadline does not count the pause."""
    if p.status.paused_at is None:
        return False
    paused_seconds = elapsed_seconds(p.status.paused_at, p.inp.now)
    p.update(paused_at=None, step_started_at=shift_time(p.status.step_started_at, paused_seconds))
    return True
