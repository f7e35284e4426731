"""When a manual rollout action would do nothing: the same rules as the Argo CD actions
(argocd/resource_customizations/.../actions/discovery.lua), which mirror the operator's
(operator/modelfleet/rollout/actions.py). Refusing here saves an annotation that would sit unread
or, on a Failed object, fire later once the spec is fixed.
"""

from __future__ import annotations

from modelfleet.api.conditions import Phase
from modelfleet.api.spec_rollout import RolloutAction, RolloutStrategy
from modelfleet.cli.kubectl.snapshot import Snapshot

ACTIONS = (
    RolloutAction.PROMOTE,
    RolloutAction.ABORT,
    RolloutAction.PAUSE,
    RolloutAction.RESUME,
    RolloutAction.RETRY,
)


def refusal(snapshot: Snapshot, action: RolloutAction) -> str | None:
    """Why ``action`` does nothing in the object's current state, or None when the operator acts on it.

    >>> from modelfleet.api.status import ModelDeploymentStatus
    >>> healthy = Snapshot("m", "ns", None, (), ModelDeploymentStatus.model_validate({"phase": "Healthy"}))
    >>> refusal(healthy, RolloutAction.PROMOTE)
    'm has no canary in progress: nothing to promote'
    """
    status = snapshot.status
    rollout = status.rollout
    name = snapshot.name
    if status.phase is Phase.FAILED:
        return (
            f"{name} is Failed ({status.message or 'see its conditions'}): the operator acts on no "
            f"action until the spec is fixed, and an action set now would fire then"
        )
    canary = status.revisions is not None and bool(status.revisions.canary)
    aborted = rollout is not None and bool(rollout.abort_reason)
    paused = (rollout is not None and bool(rollout.paused_at)) or status.phase is Phase.PAUSED
    if action is RolloutAction.RETRY:
        return None if aborted else f"{name} has no aborted canary: nothing to retry"
    if action is RolloutAction.RESUME:
        if aborted:
            return f"{name}'s canary was aborted ({rollout.abort_reason if rollout else ''}): use retry"
        if not paused:
            return f"{name} is not paused: nothing to resume"
        if snapshot.spec is not None and snapshot.spec.rollout.action is RolloutAction.PAUSE:
            return f"{name} is held paused by spec.rollout.action: pause; remove it from the spec to resume"
        return None
    if not canary:
        return f"{name} has no canary in progress: nothing to {action.value}"
    if aborted:
        return f"{name}'s canary was aborted ({rollout.abort_reason if rollout else ''}): use retry"
    if action is RolloutAction.PAUSE and paused:
        return f"{name} is paused already: use resume"
    if action is RolloutAction.PROMOTE and steps_done(snapshot):
        return f"{name} has done every step: the canary is being promoted already"
    return None


def steps_done(snapshot: Snapshot) -> bool:
    """No step left to skip: the step index reached the end of the list, or a RollingUpdate (no steps)."""
    spec, rollout = snapshot.spec, snapshot.status.rollout
    if spec is None:
        return False
    if spec.rollout.strategy is RolloutStrategy.ROLLING_UPDATE:
        return True
    step = rollout.step if rollout is not None else None
    return step is not None and step >= len(spec.rollout.canary.steps)
