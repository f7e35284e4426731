"""The status a pass writes: each condition, and the phase, decided by its own named policy (pure).

The rollout machine says where the rollout stands; these policies say what that means to the people
and tools that read the status (``kubectl wait --for=condition=Ready``, Argo CD's health check):

- Ready: every desired replica of the stable revision is ready (or none is asked for).
- Progressing: the machine's verdict, except that a stable revision short of replicas it never had
  is *scaling* (True, ``Scaling``), as a Deployment shows it.
- Degraded: a rollout that stopped (aborted, or past its progress deadline), or a stable revision that
  lost replicas it had ready, or whose pods fail to start (the message names the pod's reason).
- Schedulable: the plan fits and no pod waits for a node.
- phase: Degraded whenever Degraded is True, else the machine's phase.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from modelfleet.api import ConditionStatus, ConditionType, Phase, Reason
from modelfleet.decide.inputs import Pass
from modelfleet.decide.observed import PodSummary
from modelfleet.decide.roll import Rolled
from modelfleet.decide.staging import StageState, Staging
from modelfleet.planner.fit import FitResult
from modelfleet.render.names import NAME_LABEL, name_label_value

# Container waiting reasons that do not resolve by waiting: the pod needs the user (or the node).
FAILING_WAIT_REASONS = frozenset(
    {
        "CrashLoopBackOff",
        "ImagePullBackOff",
        "ErrImagePull",
        "InvalidImageName",
        "CreateContainerConfigError",
        "CreateContainerError",
        "RunContainerError",
    }
)


@dataclass(frozen=True)
class Verdict:
    """One condition's value."""

    status: ConditionStatus
    reason: str
    message: str


def ready_policy(p: Pass, rolled: Rolled) -> Verdict:
    desired, ready, stable = p.desired, rolled.stable_ready, rolled.decision.stable_revision
    if desired == 0:
        return Verdict(ConditionStatus.TRUE, Reason.SCALED_TO_ZERO, "replicas is 0")
    if stable and ready >= desired:
        message = f"{ready}/{desired} replicas of revision {stable} ready"
        return Verdict(ConditionStatus.TRUE, Reason.REPLICAS_READY, message)
    return Verdict(ConditionStatus.FALSE, Reason.REPLICAS_NOT_READY, short_of_replicas(p, rolled))


def degraded_policy(p: Pass, rolled: Rolled) -> Verdict:
    status, reason, message = rolled.decision.progressing
    if status == ConditionStatus.FALSE:  # aborted, or past the progress deadline
        return Verdict(ConditionStatus.TRUE, reason, message)
    if replicas_lost(p, rolled):
        return Verdict(ConditionStatus.TRUE, Reason.REPLICAS_NOT_READY, short_of_replicas(p, rolled))
    return Verdict(ConditionStatus.FALSE, Reason.AS_EXPECTED, "")


def short_of_replicas(p: Pass, rolled: Rolled) -> str:
    """One message for Ready=False and Degraded=True, so a lost replica gives a single Warning."""
    stable, ready, desired = rolled.decision.stable_revision, rolled.stable_ready, p.desired
    of_revision = f" of revision {stable}" if stable else ""
    return f"{ready}/{desired} replicas{of_revision} ready{pod_trouble(p, None)}"


def progressing_policy(p: Pass, rolled: Rolled, degraded: Verdict) -> Verdict:
    status, reason, message = rolled.decision.progressing
    desired, ready = p.desired, rolled.stable_ready
    if rolled.steady and ready < desired and degraded.status == ConditionStatus.FALSE:
        message = f"revision {rolled.target} scales to {desired} replicas: {ready}/{desired} ready"
        return Verdict(ConditionStatus.TRUE, Reason.SCALING, message + pod_trouble(p, rolled.target))
    return Verdict(status, reason, message)


def schedulable_policy(p: Pass, rolled: Rolled) -> Verdict:
    pending = [pod for pod in p.obs.pods if pod.unschedulable_message]
    if pending:
        message = f"{len(pending)} pod(s) Pending: {pending[0].unschedulable_message}"
        return Verdict(ConditionStatus.FALSE, Reason.PODS_PENDING, message)
    fit: FitResult | None = rolled.canary_fit
    if fit is not None and not fit.fits and rolled.stable is not None and rolled.target != rolled.stable:
        return Verdict(ConditionStatus.FALSE, Reason.INSUFFICIENT_CAPACITY, fit.message)
    reasons = p.plan.reasons
    return Verdict(ConditionStatus.TRUE, Reason.PLAN_FEASIBLE, reasons[0] if reasons else "plan fits")


def phase_policy(rolled: Rolled, degraded: Verdict) -> Phase:
    if degraded.status == ConditionStatus.TRUE:
        return Phase.DEGRADED
    if rolled.decision.phase == Phase.DEGRADED:  # the stable is short of replicas it never had
        return Phase.PROGRESSING
    return rolled.decision.phase


def replicas_lost(p: Pass, rolled: Rolled) -> bool:
    """The steady stable has fewer ready replicas than it had (or than asked, while it stays short of
    them or its pods fail to start). Adding replicas is not a loss."""
    desired, ready = p.desired, rolled.stable_ready
    if not rolled.steady or ready >= desired:
        return False
    before = p.conditions.previous(ConditionType.DEGRADED)
    still_degraded = (
        before is not None
        and before.status == ConditionStatus.TRUE
        and before.reason == Reason.REPLICAS_NOT_READY
    )
    if (
        not rolled.stable_current
    ):  # a Deployment just scaled counts no ready replica until its controller saw it
        return still_degraded
    had = p.previous.ready_replicas or 0
    return still_degraded or ready < min(had, desired) or bool(failing_pods(p, rolled.target))


def failing_pods(p: Pass, revision: str | None) -> list[PodSummary]:
    return [
        pod
        for pod in p.obs.pods
        if pod.waiting_reason in FAILING_WAIT_REASONS and (revision is None or pod.revision == revision)
    ]


def pod_trouble(p: Pass, revision: str | None) -> str:
    """``"; pod NAME: CrashLoopBackOff: ..."`` for the first pod that fails to start, else ``""``."""
    failing = failing_pods(p, revision)
    if not failing:
        return ""
    pod = failing[0]
    detail = f": {pod.waiting_message}" if pod.waiting_message else ""
    more = f" (and {len(failing) - 1} more)" if len(failing) > 1 else ""
    return f"; pod {pod.name}: {pod.waiting_reason}{detail}{more}"


def set_conditions(p: Pass, rolled: Rolled) -> Phase:
    """Every condition the rollout decides, from its policy; returns the phase."""
    degraded = degraded_policy(p, rolled)
    verdicts = {
        ConditionType.READY: ready_policy(p, rolled),
        ConditionType.PROGRESSING: progressing_policy(p, rolled, degraded),
        ConditionType.DEGRADED: degraded,
        ConditionType.SCHEDULABLE: schedulable_policy(p, rolled),
    }
    for type_, verdict in verdicts.items():
        p.conditions.set(type_, verdict.status, verdict.reason, verdict.message)
    limited = scaling_limited_policy(rolled)
    if limited is None:
        p.conditions.remove(ConditionType.SCALING_LIMITED)
    else:
        p.conditions.set(ConditionType.SCALING_LIMITED, limited.status, limited.reason, limited.message)
    return phase_policy(rolled, degraded)


def staging_conditions(p: Pass, staging: Staging, serving: bool) -> Phase:
    """The conditions while the spec's revision waits for its weights; returns the phase.

    ``serving``: an earlier revision keeps running (its Ready stands as its own policy set it); else a
    first deploy, not Ready until the weights are verified and its pods are up.
    """
    failed = staging.state is StageState.FAILED
    reason = Reason.STAGING_FAILED if failed else Reason.STAGING
    if not serving:
        p.conditions.set(ConditionType.READY, ConditionStatus.FALSE, reason, staging.message)
        reasons = p.plan.reasons
        fits = reasons[0] if reasons else "plan fits"
        p.conditions.set(ConditionType.SCHEDULABLE, ConditionStatus.TRUE, Reason.PLAN_FEASIBLE, fits)
    progressing = ConditionStatus.FALSE if failed else ConditionStatus.TRUE
    p.conditions.set(ConditionType.PROGRESSING, progressing, reason, staging.message)
    if failed:
        p.conditions.set(ConditionType.DEGRADED, ConditionStatus.TRUE, reason, staging.message)
        return Phase.DEGRADED if serving else Phase.FAILED
    if not serving:
        p.conditions.set(ConditionType.DEGRADED, ConditionStatus.FALSE, Reason.AS_EXPECTED, "")
    degraded = p.conditions.get(ConditionType.DEGRADED)
    if degraded is not None and degraded.status == ConditionStatus.TRUE:
        return Phase.DEGRADED
    return Phase.STAGING


def scaling_limited_policy(rolled: Rolled) -> Verdict | None:
    """With autoscaling: True when the GPUs hold fewer replicas than the autoscaler asks for, or
    than maxReplicas; absent without autoscaling."""
    limited = rolled.scaling.limited
    return Verdict(*limited) if limited is not None else None


@dataclass(frozen=True)
class Serving:
    """What status says about the revisions and replicas besides the conditions."""

    plan: dict[str, Any] | None
    revisions: dict[str, Any] | None
    rollout: dict[str, Any] | None
    replicas: int | None
    ready_replicas: int | None
    ready: str | None
    staging: dict[str, Any] | None = None
    caches: list[str] | None = None
    autoscaling: dict[str, Any] | None = None

    @classmethod
    def kept(cls, p: Pass, plan: dict[str, Any] | None) -> Serving:
        """A halted pass changes nothing it does not decide: the stored values stand."""
        before = p.previous
        return cls(
            plan=plan if plan is not None else _dump(before.plan),
            revisions=_dump(before.revisions),
            rollout=_dump(before.rollout),
            replicas=before.replicas,
            ready_replicas=before.ready_replicas,
            ready=before.ready,
            staging=_dump(before.staging),
            caches=list(before.caches),
            autoscaling=_dump(before.autoscaling),
        )


def build_status(p: Pass, phase: Phase, message: str, serving: Serving) -> dict[str, Any]:
    status: dict[str, Any] = {
        "observedGeneration": p.obs.generation,
        "phase": phase.value,
        "conditions": p.conditions.to_list(),
        "plan": serving.plan,
        "model": _model_files(p),
        "revisions": {k: v for k, v in (serving.revisions or {}).items() if v} or None,
        "rollout": serving.rollout,
        "autoscaling": serving.autoscaling,
        "replicas": serving.replicas,
        "readyReplicas": serving.ready_replicas,
        "ready": serving.ready,
        "staging": serving.staging,
        "caches": serving.caches or None,
        "selector": f"{NAME_LABEL}={name_label_value(p.obs.name)}",
        "message": message[:1000] if message else None,
    }
    return {k: v for k, v in status.items() if v is not None}


def _model_files(p: Pass) -> dict[str, Any] | None:
    files = p.obs.discovery.files if p.obs.discovery is not None else None
    return files.model_dump(by_alias=True, exclude_none=True, mode="json") if files is not None else None


def _dump(model: Any) -> dict[str, Any] | None:
    return model.model_dump(by_alias=True, exclude_none=True) if model is not None else None
