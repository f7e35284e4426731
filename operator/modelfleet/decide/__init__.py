"""Decide: from an observed snapshot to the desired children, the next rollout state and the status.

Pure: no API calls, time comes from ``observed.now``. The shell (:mod:`modelfleet.reconcile.reconciler`)
gathers the :class:`Observed`, calls :func:`decide`, and applies the :class:`Decision`. A pass reads
top-down, one module per stage, all sharing one :class:`~modelfleet.decide.inputs.Pass`:

1. checks (:mod:`.checks`): spec valid -> model known -> licence allowed -> plan feasible -> fits the
   inventory; the first that fails halts the pass with its condition, and no child changes;
2. staging (:mod:`.staging`): the weight cache of the spec's revision, which must be verified before
   that revision gets a pod; a first deploy waits in phase Staging, a new revision's canary waits
   while what runs keeps running;
3. the rollout machine (:mod:`.roll`, :mod:`modelfleet.rollout`): replicas and weight per revision;
4. the children plan (:mod:`.children`): what should exist, then the fewest changes that get there;
5. the status (:mod:`.status`): Ready, Progressing, Degraded, Schedulable and the phase, each from
   its own named policy.
"""

from __future__ import annotations

from modelfleet.api import AnalysisResult, ConditionStatus, ConditionType, Phase, Reason
from modelfleet.decide.autoscaling import autoscaling_status
from modelfleet.decide.checks import INVALID, Halt, run_checks
from modelfleet.decide.children import plan_children, plan_job
from modelfleet.decide.events import pass_events
from modelfleet.decide.inputs import Context, Decision, JobPlan, Jobs, Observed, Pass
from modelfleet.decide.plans import plan_to_status
from modelfleet.decide.roll import Rolled, holding_revision, refused_action, roll_out
from modelfleet.decide.staging import CacheWrites, StageState, Staging, plan_staging
from modelfleet.decide.status import Serving, build_status, set_conditions, staging_conditions
from modelfleet.render.errors import RenderError

__all__ = [
    "WAITING_RECHECK_SECONDS",
    "CacheWrites",
    "Context",
    "Decision",
    "JobPlan",
    "Jobs",
    "Observed",
    "decide",
]

# How often a ModelDeployment that waits (for pods, for capacity) is looked at again without an event.
WAITING_RECHECK_SECONDS = 30.0


def decide(
    obs: Observed,
    ctx: Context,
    measurements: tuple[AnalysisResult, ...] | None = None,
    jobs: Jobs | None = None,
) -> Decision:
    p = Pass.start(obs, ctx, measurements, jobs)
    halt = run_checks(p)
    if halt is not None:
        return halted(p, halt)
    try:
        staging = plan_staging(p)
        if staging.blocks and holding_revision(p) is None:
            return staged_first(p, staging)
        cache = staging.settings.name if staging.settings is not None else None
        return rolled_out(p, roll_out(p, cache, hold=staging.blocks), staging)
    except (
        RenderError
    ) as error:  # e.g. a quantization the engine cannot apply on load: the user must change it
        return halted(p, render_refused(p, error))


def rolled_out(p: Pass, rolled: Rolled, staging: Staging) -> Decision:
    """The decision of a pass every check let through."""
    machine = rolled.decision
    children = plan_children(p, rolled)
    phase = set_conditions(p, rolled)
    if rolled.held is not None:
        phase = staging_conditions(p, staging, serving=True)
    ready_replicas = sum(w.ready_replicas for w in rolled.workloads.values())
    serving = Serving(
        plan=plan_to_status(p.plan, inputs_hash=p.inputs_hash),
        revisions={"stable": machine.stable_revision, "canary": machine.canary_revision},
        rollout=machine.status.model_dump(by_alias=True, exclude_none=True) if machine.status else None,
        replicas=sum(machine.replicas.values()),
        ready_replicas=ready_replicas,
        ready=f"{min(ready_replicas, p.desired)}/{p.desired}",
        staging=staging.status,
        caches=staging.caches,
        autoscaling=autoscaling_status(p, rolled.scaling),
    )
    message = machine.progressing[2] or (p.plan.reasons[0] if p.plan.reasons else "")
    if rolled.held is not None:
        message = staging.message
    requeue = machine.requeue_after_seconds
    return Decision(
        status=build_status(p, phase, message, serving),
        apply=children.apply,
        scale=children.scale,
        delete=children.delete,
        events=pass_events(machine.events, p.conditions.transition_events()),
        requeue_after_seconds=_sooner(
            WAITING_RECHECK_SECONDS if requeue is None and phase != Phase.HEALTHY else requeue,
            _discovery_retry(p),
        ),
        measure=machine.measure,
        measure_revision=machine.canary_revision,
        consumed_action=machine.consumed_action,
        waiting_for_capacity=_waits_for_capacity(p),
        aborted_reason=machine.aborted_reason,
        evaluation_job=plan_job(p, rolled),
        caches=staging.writes,
    )


def staged_first(p: Pass, staging: Staging) -> Decision:
    """A first deploy whose weights are not verified yet: the cache is filled, no pod exists."""
    phase = staging_conditions(p, staging, serving=False)
    serving = Serving(
        plan=plan_to_status(p.plan, inputs_hash=p.inputs_hash),
        revisions=None,
        rollout=None,
        replicas=0,
        ready_replicas=0,
        ready=f"0/{p.spec.replicas}",
        staging=staging.status,
        caches=staging.caches,
    )
    failed = staging.state is StageState.FAILED
    return Decision(
        status=build_status(p, phase, staging.message, serving),
        events=pass_events((), p.conditions.transition_events()),
        result="invalid" if failed else "waiting",
        requeue_after_seconds=None if failed else WAITING_RECHECK_SECONDS,
        caches=staging.writes,
    )


def halted(p: Pass, halt: Halt) -> Decision:
    """A decision that changes no child: a check stopped the pass before the rollout. A pass that
    stops on the spec (phase Failed) refuses a requested action: it removes the annotation and says why."""
    refusal = refused_action(p.obs, halt.message) if halt.result == INVALID else None
    events = pass_events((), p.conditions.transition_events())
    return Decision(
        status=build_status(p, halt.phase, halt.message, Serving.kept(p, halt.plan)),
        events=events if refusal is None else [*events, refusal],
        result=halt.result,
        consumed_action=refusal is not None,
        waiting_for_capacity=halt.waiting_for_capacity,
        requeue_after_seconds=_sooner(
            WAITING_RECHECK_SECONDS if halt.waiting_for_capacity else None, _discovery_retry(p)
        ),
    )


def render_refused(p: Pass, error: RenderError) -> Halt:
    message = f"cannot render the engine pods: {error}"
    p.conditions.set(ConditionType.READY, ConditionStatus.FALSE, Reason.INVALID_SPEC, message)
    p.conditions.set(ConditionType.DEGRADED, ConditionStatus.TRUE, Reason.INVALID_SPEC, message)
    return Halt(Phase.FAILED, message, INVALID, plan=plan_to_status(p.plan, inputs_hash=p.inputs_hash))


def _discovery_retry(p: Pass) -> float | None:
    """A failed read of the model's files is tried again after its backoff (facts may improve the plan)."""
    return p.obs.discovery.retry_after_seconds if p.obs.discovery is not None else None


def _sooner(first: float | None, second: float | None) -> float | None:
    given = [seconds for seconds in (first, second) if seconds is not None]
    return min(given) if given else None


def _waits_for_capacity(p: Pass) -> bool:
    schedulable = p.conditions.get(ConditionType.SCHEDULABLE)
    return schedulable is not None and schedulable.reason in (
        Reason.PODS_PENDING,
        Reason.INSUFFICIENT_CAPACITY,
    )
