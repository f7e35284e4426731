"""Decide: from an observed snapshot to the desired children, the next rollout state and the status.

Pure: no API calls, time comes from ``observed.now``. The shell (:mod:`modelfleet.reconcile.reconciler`)
gathers the :class:`Observed`, calls :func:`decide`, and applies the :class:`Decision`. The checks run
as an ordered chain; the first that fails names the reason in the status:

    spec valid -> model known -> licence allowed -> plan feasible -> fits the inventory -> roll out
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from modelfleet import GROUP, KIND, VERSION
from modelfleet.api import (
    ACTION_ANNOTATION,
    AnalysisResult,
    ConditionStatus,
    ConditionType,
    ModelDeploymentSpec,
    ModelDeploymentStatus,
    Phase,
    Reason,
    RolloutAction,
    SpecError,
    TrafficProvider,
    parse_spec,
)
from modelfleet.api.to_request import UnknownModelError, plan_request_from_spec
from modelfleet.catalog import gpu_catalog
from modelfleet.catalog.license import LicensePolicy, evaluate_license
from modelfleet.decide.conditions import ConditionSet
from modelfleet.decide.evaluation_job import job_name, render_evaluation_job
from modelfleet.decide.inventory import Inventory
from modelfleet.decide.observed import WORKLOAD_KINDS, Child, PodSummary
from modelfleet.decide.plans import plan_from_status, plan_inputs_hash, plan_to_status
from modelfleet.planner import plan as make_plan
from modelfleet.planner.fit import fit_in_inventory
from modelfleet.planner.types import GpuPool, Plan
from modelfleet.render import memo as rendered
from modelfleet.render import render_route, revision_hash
from modelfleet.render.config import OperatorConfig as RenderConfig
from modelfleet.render.errors import RenderError
from modelfleet.render.names import NAME_LABEL, SPEC_HASH_LABEL, name_label_value, umbrella_name
from modelfleet.rollout import step as rollout_step
from modelfleet.rollout.types import Event, JobRequest, JobState, RevisionState, RolloutDecision, RolloutInput

# How often a ModelDeployment that waits (for pods, for capacity) is looked at again without an event.
WAITING_RECHECK_SECONDS = 30.0


@dataclass(frozen=True)
class Observed:
    name: str
    namespace: str
    uid: str
    generation: int
    annotations: Mapping[str, str]
    spec: Mapping[str, Any]
    status: Mapping[str, Any]
    children: tuple[Child, ...]
    pods: tuple[PodSummary, ...]
    inventory: Inventory  # GPU nodes and the pods that hold GPUs, with their sums
    now: datetime


@dataclass(frozen=True)
class Context:
    """Operator-wide settings the decision depends on."""

    license_policy: LicensePolicy
    render: RenderConfig
    gateway_api: bool  # the Gateway API CRDs are installed
    lws: bool = True  # the LeaderWorkerSet CRD is installed


@dataclass(frozen=True)
class JobPlan:
    """The evaluation Job the current analysis step needs. The reconciler reads it by name
    (``looked_up`` False: not read yet, decide again with it), then creates or deletes it."""

    step: int
    name: str
    looked_up: bool
    create: dict[str, Any] | None = None  # the manifest, when the Job does not exist
    delete: bool = False  # an earlier attempt's Job is in the way


@dataclass
class Decision:
    status: dict[str, Any]
    apply: list[dict[str, Any]] = field(default_factory=list)  # server-side apply, in order
    scale: list[tuple[Child, int]] = field(default_factory=list)  # replicas of revisions we do not re-render
    delete: list[Child] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)
    requeue_after_seconds: float | None = None
    measure: tuple[str, ...] = ()
    measure_revision: str | None = None
    consumed_action: bool = False
    waiting_for_capacity: bool = False
    result: str = "ok"
    aborted_reason: str | None = None
    evaluation_job: JobPlan | None = None


# What the reconciler read of evaluation Jobs, by step index (None: no such Job).
Jobs = Mapping[int, JobState | None]


def decide(
    obs: Observed,
    ctx: Context,
    measurements: tuple[AnalysisResult, ...] | None = None,
    jobs: Jobs | None = None,
) -> Decision:
    previous = _previous_status(obs.status)
    conditions = ConditionSet.from_status(previous.conditions, obs.generation, obs.now)
    try:
        spec = parse_spec(obs.spec)
    except SpecError as error:
        conditions.set(ConditionType.READY, ConditionStatus.FALSE, Reason.INVALID_SPEC, str(error))
        conditions.set(ConditionType.DEGRADED, ConditionStatus.TRUE, Reason.INVALID_SPEC, str(error))
        return _halt(obs, previous, conditions, Phase.FAILED, f"invalid spec: {error}", "invalid")

    own = f"{obs.namespace}/{name_label_value(obs.name)}"
    free_for_planning = obs.inventory.free_per_node(exclude_owner=own)
    try:
        request, facts = plan_request_from_spec(spec, pool=GpuPool(free_per_node=free_for_planning))
    except UnknownModelError as error:
        conditions.set(ConditionType.SCHEDULABLE, ConditionStatus.FALSE, Reason.UNKNOWN_MODEL, str(error))
        conditions.set(ConditionType.READY, ConditionStatus.FALSE, Reason.UNKNOWN_MODEL, str(error))
        return _halt(obs, previous, conditions, Phase.FAILED, str(error), "invalid")

    licence = evaluate_license(ctx.license_policy, facts.license, spec.model.license_accepted, spec.model.id)
    conditions.set(
        ConditionType.LICENSE_ACCEPTED,
        ConditionStatus.TRUE if licence.allowed else ConditionStatus.FALSE,
        licence.reason,
        licence.message,
    )
    if not licence.allowed:
        conditions.set(ConditionType.PROGRESSING, ConditionStatus.FALSE, licence.reason, licence.message)
        return _halt(obs, previous, conditions, Phase.FAILED, licence.message, "invalid")

    inputs_hash = plan_inputs_hash(spec)
    plan = plan_from_status(previous.plan, inputs_hash, spec) or make_plan(request, facts, gpu_catalog())
    if not plan.feasible:
        unconstrained = make_plan(replace(request, pool=GpuPool()), facts, gpu_catalog())
        if unconstrained.feasible:
            message = _capacity_message(unconstrained, "; ".join(plan.reasons[-1:]) or "")
            conditions.set(
                ConditionType.SCHEDULABLE, ConditionStatus.FALSE, Reason.INSUFFICIENT_CAPACITY, message
            )
            status_plan = plan_to_status(unconstrained, inputs_hash=None)
            return _halt(
                obs,
                previous,
                conditions,
                Phase.PENDING,
                message,
                "waiting",
                plan=status_plan,
                waiting_for_capacity=True,
            )
        message = "no feasible plan: " + "; ".join(plan.reasons)
        conditions.set(ConditionType.SCHEDULABLE, ConditionStatus.FALSE, Reason.PLAN_INFEASIBLE, message)
        conditions.set(ConditionType.READY, ConditionStatus.FALSE, Reason.PLAN_INFEASIBLE, message)
        return _halt(
            obs,
            previous,
            conditions,
            Phase.FAILED,
            message,
            "invalid",
            plan=plan_to_status(plan, inputs_hash=inputs_hash),
        )

    try:
        return _roll_out(obs, ctx, spec, plan, inputs_hash, previous, conditions, measurements, jobs or {})
    except (
        RenderError
    ) as error:  # e.g. a quantization the engine cannot apply on load: the user must change it
        message = f"cannot render the engine pods: {error}"
        conditions.set(ConditionType.READY, ConditionStatus.FALSE, Reason.INVALID_SPEC, message)
        conditions.set(ConditionType.DEGRADED, ConditionStatus.TRUE, Reason.INVALID_SPEC, message)
        return _halt(
            obs,
            previous,
            conditions,
            Phase.FAILED,
            message,
            "invalid",
            plan=plan_to_status(plan, inputs_hash=inputs_hash),
        )


# ---- the happy path -------------------------------------------------------------------------------------


def _roll_out(
    obs: Observed,
    ctx: Context,
    spec: ModelDeploymentSpec,
    plan: Plan,
    inputs_hash: str,
    previous: ModelDeploymentStatus,
    conditions: ConditionSet,
    measurements: tuple[AnalysisResult, ...] | None,
    jobs: Jobs,
) -> Decision:
    assert plan.chosen is not None
    target = revision_hash(spec, plan)
    workloads = {c.revision: c for c in obs.children if c.kind in WORKLOAD_KINDS and c.revision and c.owned}
    stable = previous.revisions.stable if previous.revisions else None
    if stable and stable not in workloads:
        stable = None  # its workload is gone (deleted by hand): start again from the target
    free_all = obs.inventory.free_per_node()
    provider = _traffic_provider(spec, ctx)
    total_replicas = sum(w.replicas or 0 for w in workloads.values()) or spec.replicas

    if not workloads:
        fit = fit_in_inventory(plan.chosen, free_all, 1)
        if not fit.fits and spec.replicas > 0:
            conditions.set(
                ConditionType.SCHEDULABLE, ConditionStatus.FALSE, Reason.INSUFFICIENT_CAPACITY, fit.message
            )
            return _halt(
                obs,
                previous,
                conditions,
                Phase.PENDING,
                fit.message,
                "waiting",
                plan=plan_to_status(plan, inputs_hash=inputs_hash),
                waiting_for_capacity=True,
            )

    canary_fit = (
        fit_in_inventory(plan.chosen, free_all, max(1, spec.replicas)) if target not in workloads else None
    )
    rollout = rollout_step(
        RolloutInput(
            now=obs.now,
            target_revision=target,
            stable_revision=stable,
            desired_replicas=spec.replicas,
            spec=spec.rollout,
            status=previous.rollout,
            revisions={
                rev: RevisionState(rev, w.replicas or 0, w.ready_replicas) for rev, w in workloads.items()
            },
            action=_requested_action(obs, spec),
            observed_weights=_observed_weights(obs, provider),
            canary_capacity_ok=canary_fit.fits if canary_fit else True,
            capacity_message=canary_fit.message if canary_fit and not canary_fit.fits else "",
            measurements=measurements,
            traffic_granularity_percent=None
            if provider == TrafficProvider.GATEWAY_API
            else max(1, round(100 / max(1, total_replicas))),
            traffic_provider=provider,
            evaluation_jobs={step: state for step, state in jobs.items() if state is not None},
        )
    )

    decision = Decision(
        status={},
        events=list(rollout.events),
        measure=rollout.measure,
        measure_revision=rollout.canary_revision,
        consumed_action=rollout.consumed_action,
        requeue_after_seconds=rollout.requeue_after_seconds,
        aborted_reason=rollout.aborted_reason,
        evaluation_job=_job_plan(obs, ctx, spec, target, rollout.evaluation_job, jobs),
    )
    _children(decision, obs, ctx, spec, plan, target, workloads, rollout, provider)
    _readiness(conditions, obs, spec, rollout, workloads)
    pending = [p for p in obs.pods if p.unschedulable_message]
    waiting_capacity = bool(pending)
    if pending:
        conditions.set(
            ConditionType.SCHEDULABLE,
            ConditionStatus.FALSE,
            Reason.PODS_PENDING,
            f"{len(pending)} pod(s) Pending: {pending[0].unschedulable_message}",
        )
    elif canary_fit is not None and not canary_fit.fits and target != stable and stable is not None:
        conditions.set(
            ConditionType.SCHEDULABLE, ConditionStatus.FALSE, Reason.INSUFFICIENT_CAPACITY, canary_fit.message
        )
        waiting_capacity = True
    else:
        conditions.set(
            ConditionType.SCHEDULABLE,
            ConditionStatus.TRUE,
            Reason.PLAN_FEASIBLE,
            plan.reasons[0] if plan.reasons else "plan fits",
        )
    status_rollout = rollout.status.model_dump(by_alias=True, exclude_none=True) if rollout.status else None
    ready_replicas = sum(w.ready_replicas for w in workloads.values())
    replicas = sum(rollout.replicas.values())
    decision.status = _status(
        obs,
        conditions,
        rollout.phase,
        plan_to_status(plan, inputs_hash=inputs_hash),
        revisions={"stable": rollout.stable_revision, "canary": rollout.canary_revision},
        rollout=status_rollout,
        replicas=replicas,
        ready_replicas=ready_replicas,
        ready=f"{min(ready_replicas, spec.replicas)}/{spec.replicas}",
        message=rollout.progressing[2] or (plan.reasons[0] if plan.reasons else ""),
    )
    decision.waiting_for_capacity = waiting_capacity
    if decision.requeue_after_seconds is None and rollout.phase != Phase.HEALTHY:
        decision.requeue_after_seconds = WAITING_RECHECK_SECONDS
    # The machine's events already say what happened (RolloutComplete, AnalysisFailed ...): a condition
    # moving to the same reason in this pass would only repeat it.
    said = {event.reason for event in rollout.events}
    decision.events.extend(e for e in conditions.transition_events() if e.reason not in said)
    return decision


def _children(
    decision: Decision,
    obs: Observed,
    ctx: Context,
    spec: ModelDeploymentSpec,
    plan: Plan,
    target: str,
    workloads: Mapping[str, Child],
    rollout: RolloutDecision,
    provider: TrafficProvider,
) -> None:
    """Fill `decision` with what to apply, scale and delete. Unchanged objects are not touched."""
    by_name = {(c.kind, c.name): c for c in obs.children}
    owner = _owner_reference(obs)
    desired: list[dict[str, Any]] = []
    if target in rollout.replicas:
        desired.extend(
            rendered.revision(
                spec,
                plan,
                name=obs.name,
                namespace=obs.namespace,
                revision=target,
                replicas=rollout.replicas[target],
                config=ctx.render,
            )
        )
    for revision, replicas in rollout.replicas.items():
        if revision == target:
            continue
        workload = workloads.get(revision)
        if workload is not None and workload.replicas != replicas:
            decision.scale.append((workload, replicas))
    desired.append(rendered.umbrella_service(spec, name=obs.name, namespace=obs.namespace, config=ctx.render))
    keep: set[tuple[str, str]] = set()
    if provider == TrafficProvider.GATEWAY_API and spec.rollout.canary.traffic_routing.gateway_api:
        if rollout.weights:
            desired.append(
                render_route(
                    spec, name=obs.name, namespace=obs.namespace, weights=rollout.weights, config=ctx.render
                )
            )
        else:
            # Nothing serves yet (first deploy, no pod Ready): a route needs a backend, so none is
            # rendered, and one that exists keeps what it has until a revision can take the traffic.
            keep.add(("HTTPRoute", umbrella_name(obs.name)))
    for obj in desired:
        obj["metadata"].setdefault("ownerReferences", [owner])
        key = (obj["kind"], obj["metadata"]["name"])
        keep.add(key)
        seen = by_name.get(key)
        labels = obj["metadata"].get("labels") or {}
        wanted = (obj.get("spec") or {}).get("replicas")
        if (
            seen is None
            or seen.spec_hash != labels.get(SPEC_HASH_LABEL)
            or (wanted is not None and seen.replicas != wanted)
        ):
            decision.apply.append(obj)
    live_revisions = set(rollout.replicas) - set(rollout.delete)
    for child in obs.children:
        if not child.owned or (child.kind, child.name) in keep:
            continue
        if child.revision in live_revisions:
            continue
        decision.delete.append(child)


def _job_plan(
    obs: Observed,
    ctx: Context,
    spec: ModelDeploymentSpec,
    target: str,
    request: JobRequest | None,
    jobs: Jobs,
) -> JobPlan | None:
    """Create the step's evaluation Job when the reconciler found none; delete a stale one first."""
    if request is None:
        return None
    name = job_name(obs.name, target, request.step)
    if request.step not in jobs:
        return JobPlan(step=request.step, name=name, looked_up=False)
    if request.replace:
        return JobPlan(step=request.step, name=name, looked_up=True, delete=True)
    if jobs[request.step] is not None:
        return JobPlan(step=request.step, name=name, looked_up=True)
    manifest = render_evaluation_job(
        spec,
        request.job,
        md_name=obs.name,
        namespace=obs.namespace,
        revision=target,
        step=request.step,
        port=ctx.render.service_port,
        owner=_owner_reference(obs),
    )
    return JobPlan(step=request.step, name=name, looked_up=True, create=manifest)


def _readiness(
    conditions: ConditionSet,
    obs: Observed,
    spec: ModelDeploymentSpec,
    rollout: RolloutDecision,
    workloads: Mapping[str, Child],
) -> None:
    stable = rollout.stable_revision
    ready = workloads[stable].ready_replicas if stable is not None and stable in workloads else 0
    if spec.replicas == 0:
        conditions.set(ConditionType.READY, ConditionStatus.TRUE, Reason.SCALED_TO_ZERO, "replicas is 0")
    elif stable and ready >= spec.replicas:
        conditions.set(
            ConditionType.READY,
            ConditionStatus.TRUE,
            Reason.REPLICAS_READY,
            f"{ready}/{spec.replicas} replicas of revision {stable} ready",
        )
    else:
        conditions.set(
            ConditionType.READY,
            ConditionStatus.FALSE,
            Reason.REPLICAS_NOT_READY,
            f"{ready}/{spec.replicas} replicas ready",
        )
    p_status, p_reason, p_message = rollout.progressing
    conditions.set(ConditionType.PROGRESSING, p_status, p_reason, p_message)
    degraded = rollout.phase == Phase.DEGRADED
    conditions.set(
        ConditionType.DEGRADED,
        ConditionStatus.TRUE if degraded else ConditionStatus.FALSE,
        p_reason if degraded else Reason.AS_EXPECTED,
        p_message if degraded else "",
    )


# ---- small helpers ---------------------------------------------------------------------------------------


def _previous_status(raw: Mapping[str, Any]) -> ModelDeploymentStatus:
    """The persisted status; a status another version wrote that no longer parses counts as empty."""
    try:
        return ModelDeploymentStatus.model_validate(dict(raw or {}))
    except ValueError:
        return ModelDeploymentStatus()


def _halt(
    obs: Observed,
    previous: ModelDeploymentStatus,
    conditions: ConditionSet,
    phase: Phase,
    message: str,
    result: str,
    plan: dict[str, Any] | None = None,
    waiting_for_capacity: bool = False,
) -> Decision:
    """A decision that changes no child: the checks stopped before the rollout."""
    keep_plan = (
        plan
        if plan is not None
        else (previous.plan.model_dump(by_alias=True, exclude_none=True) if previous.plan else None)
    )
    status = _status(
        obs,
        conditions,
        phase,
        keep_plan,
        revisions=previous.revisions.model_dump(by_alias=True, exclude_none=True)
        if previous.revisions
        else None,
        rollout=previous.rollout.model_dump(by_alias=True, exclude_none=True) if previous.rollout else None,
        replicas=previous.replicas,
        ready_replicas=previous.ready_replicas,
        ready=previous.ready,
        message=message,
    )
    return Decision(
        status=status,
        events=conditions.transition_events(),
        result=result,
        waiting_for_capacity=waiting_for_capacity,
        requeue_after_seconds=WAITING_RECHECK_SECONDS if waiting_for_capacity else None,
    )


def _status(
    obs: Observed,
    conditions: ConditionSet,
    phase: Phase,
    plan: dict[str, Any] | None,
    *,
    revisions: Mapping[str, Any] | None,
    rollout: dict[str, Any] | None,
    replicas: int | None,
    ready_replicas: int | None,
    ready: str | None,
    message: str,
) -> dict[str, Any]:
    status: dict[str, Any] = {
        "observedGeneration": obs.generation,
        "phase": phase.value,
        "conditions": conditions.to_list(),
        "plan": plan,
        "revisions": {k: v for k, v in (revisions or {}).items() if v} or None,
        "rollout": rollout,
        "replicas": replicas,
        "readyReplicas": ready_replicas,
        "ready": ready,
        "selector": f"{NAME_LABEL}={name_label_value(obs.name)}",
        "message": message[:1000] if message else None,
    }
    return {k: v for k, v in status.items() if v is not None}


def _owner_reference(obs: Observed) -> dict[str, Any]:
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": KIND,
        "name": obs.name,
        "uid": obs.uid,
        "controller": True,
        "blockOwnerDeletion": True,
    }


def _traffic_provider(spec: ModelDeploymentSpec, ctx: Context) -> TrafficProvider:
    routing = spec.rollout.canary.traffic_routing
    if routing.provider == TrafficProvider.AUTO:
        usable = ctx.gateway_api and routing.gateway_api is not None
        return TrafficProvider.GATEWAY_API if usable else TrafficProvider.REPLICAS
    return routing.provider


def _requested_action(obs: Observed, spec: ModelDeploymentSpec) -> RolloutAction:
    annotated = (obs.annotations or {}).get(ACTION_ANNOTATION, "")
    try:
        return RolloutAction(annotated) if annotated else spec.rollout.action
    except ValueError:
        return spec.rollout.action


def _observed_weights(obs: Observed, provider: TrafficProvider) -> dict[str, int] | None:
    """Percent of traffic per revision as the HTTPRoute on the API server has it (None without routing)."""
    if provider != TrafficProvider.GATEWAY_API:
        return None
    route = next((c for c in obs.children if c.kind == "HTTPRoute" and c.owned), None)
    if route is None:
        return {}
    total = sum(w for _, w in route.weights) or 1
    revisions = {c.name: c.revision for c in obs.children if c.kind == "Service" and c.revision}
    weights: dict[str, int] = {}
    for service, weight in route.weights:
        revision = revisions.get(service)
        if revision:
            weights[revision] = weights.get(revision, 0) + round(100 * weight / total)
    return weights


def _capacity_message(plan: Plan, fit_reason: str) -> str:
    chosen = plan.chosen
    assert chosen is not None
    base = (
        f"needs {chosen.gpus_per_replica} x {chosen.gpu_type} per replica"
        f" ({chosen.nodes_per_replica} node{'s' if chosen.nodes_per_replica > 1 else ''})"
    )
    return f"{base}; {fit_reason}" if fit_reason else f"{base}; the cluster has no free capacity for it"
