"""The checks a ModelDeployment passes before anything is rolled out, in order (pure).

Each check reads the :class:`~modelfleet.decide.inputs.Pass`, records what it learnt (the parsed
spec, the plan), sets the conditions it decides, and returns a :class:`Halt` when the pass must stop
there; the first halt names the reason in the status and no child is touched:

    spec valid -> model known -> licence allowed -> plan feasible -> fits the inventory
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from modelfleet.api import ConditionStatus, ConditionType, Phase, Reason, SpecError, parse_spec
from modelfleet.api.to_request import UnknownModelError, plan_request_from_spec
from modelfleet.catalog import gpu_catalog
from modelfleet.catalog.license import evaluate_license
from modelfleet.decide.inputs import Pass
from modelfleet.decide.observed import WORKLOAD_KINDS
from modelfleet.decide.plans import plan_from_status, plan_inputs_hash, plan_to_status
from modelfleet.planner import plan as make_plan
from modelfleet.planner.fit import fit_in_inventory
from modelfleet.planner.types import GpuPool, Plan

# Results the shell counts in its metrics: the user must change the spec, or the cluster must change.
INVALID, WAITING = "invalid", "waiting"


@dataclass(frozen=True)
class Halt:
    """The pass stops at a check: the status says why, no child changes."""

    phase: Phase
    message: str
    result: str  # INVALID or WAITING
    plan: dict[str, Any] | None = None  # status.plan to show; None keeps the stored one
    waiting_for_capacity: bool = False


Check = Callable[[Pass], Halt | None]


def spec_parses(p: Pass) -> Halt | None:
    try:
        p.parsed = parse_spec(p.obs.spec)
    except SpecError as error:
        p.conditions.set(ConditionType.READY, ConditionStatus.FALSE, Reason.INVALID_SPEC, str(error))
        p.conditions.set(ConditionType.DEGRADED, ConditionStatus.TRUE, Reason.INVALID_SPEC, str(error))
        return Halt(Phase.FAILED, f"invalid spec: {error}", INVALID)
    return None


def model_known(p: Pass) -> Halt | None:
    """The model's facts come from the catalog, the model's own files, then the spec's overrides."""
    discovery = p.obs.discovery
    if discovery is not None:
        read = ConditionStatus.TRUE if discovery.reason is Reason.FILES_READ else ConditionStatus.FALSE
        p.conditions.set(ConditionType.MODEL_DISCOVERED, read, discovery.reason, discovery.message)
    files = discovery.files if discovery is not None else None
    inventory = p.obs.inventory
    pool = GpuPool(
        free_per_node=inventory.free_per_node(exclude_owner=p.owner), node_shapes=inventory.node_shapes()
    )
    try:
        p.request, p.facts = plan_request_from_spec(p.spec, pool=pool, files=files)
    except UnknownModelError as error:
        message = str(error)
        if discovery is not None and files is None:
            message += f"; reading its files: {discovery.message}"
        p.conditions.set(ConditionType.SCHEDULABLE, ConditionStatus.FALSE, Reason.UNKNOWN_MODEL, message)
        p.conditions.set(ConditionType.READY, ConditionStatus.FALSE, Reason.UNKNOWN_MODEL, message)
        return Halt(Phase.FAILED, message, INVALID)
    except SpecError as error:  # an override out of bounds
        p.conditions.set(ConditionType.READY, ConditionStatus.FALSE, Reason.INVALID_SPEC, str(error))
        p.conditions.set(ConditionType.DEGRADED, ConditionStatus.TRUE, Reason.INVALID_SPEC, str(error))
        return Halt(Phase.FAILED, f"invalid spec: {error}", INVALID)
    return None


def licence_allowed(p: Pass) -> Halt | None:
    assert p.facts is not None
    model = p.spec.model
    licence = evaluate_license(p.ctx.license_policy, p.facts.license, model.license_accepted, model.id)
    allowed = ConditionStatus.TRUE if licence.allowed else ConditionStatus.FALSE
    p.conditions.set(ConditionType.LICENSE_ACCEPTED, allowed, licence.reason, licence.message)
    if licence.allowed:
        return None
    p.conditions.set(ConditionType.PROGRESSING, ConditionStatus.FALSE, licence.reason, licence.message)
    return Halt(Phase.FAILED, licence.message, INVALID)


def plan_feasible(p: Pass) -> Halt | None:
    """A layout exists (the stored plan while its inputs hold); when it exists only on GPUs that are
    busy, the pass waits for capacity."""
    assert p.request is not None and p.facts is not None
    files = p.obs.discovery.files if p.obs.discovery is not None else None
    p.inputs_hash = plan_inputs_hash(p.spec, files.commit if files is not None else None)
    plan = plan_from_status(p.previous.plan, p.inputs_hash, p.spec) or make_plan(
        p.request, p.facts, gpu_catalog()
    )
    p.chosen_plan = plan
    sizing_estimated(p, plan)
    if plan.feasible:
        return None
    # The same node shapes, every GPU free: does a layout exist once capacity frees up?
    any_free = GpuPool(node_shapes=p.request.pool.node_shapes)
    unconstrained = make_plan(replace(p.request, pool=any_free), p.facts, gpu_catalog())
    if unconstrained.feasible:
        message = capacity_message(unconstrained, "; ".join(plan.reasons[-1:]) or "")
        p.conditions.set(
            ConditionType.SCHEDULABLE, ConditionStatus.FALSE, Reason.INSUFFICIENT_CAPACITY, message
        )
        status_plan = plan_to_status(unconstrained, inputs_hash=None)
        return Halt(Phase.PENDING, message, WAITING, plan=status_plan, waiting_for_capacity=True)
    message = "no feasible plan: " + "; ".join(plan.reasons)
    p.conditions.set(ConditionType.SCHEDULABLE, ConditionStatus.FALSE, Reason.PLAN_INFEASIBLE, message)
    p.conditions.set(ConditionType.READY, ConditionStatus.FALSE, Reason.PLAN_INFEASIBLE, message)
    return Halt(Phase.FAILED, message, INVALID, plan=plan_to_status(plan, inputs_hash=p.inputs_hash))


def sizing_estimated(p: Pass, plan: Plan) -> None:
    """SizingEstimated=True with the assumptions while the plan bounds unknown facts; set back to
    False once it no longer does (and never set for a model that was always known)."""
    if plan.estimated:
        message = "sized from the weight size with stated bounds: " + "; ".join(plan.assumptions)
        p.conditions.set(
            ConditionType.SIZING_ESTIMATED, ConditionStatus.TRUE, Reason.ARCHITECTURE_UNKNOWN, message
        )
    elif p.conditions.previous(ConditionType.SIZING_ESTIMATED) is not None:
        message = "every architecture fact the plan needs is known"
        p.conditions.set(
            ConditionType.SIZING_ESTIMATED, ConditionStatus.FALSE, Reason.ARCHITECTURE_KNOWN, message
        )


def first_replica_fits(p: Pass) -> Halt | None:
    """Before any workload exists, one replica must fit the free GPUs (later, pods say it themselves)."""
    has_workload = any(c.kind in WORKLOAD_KINDS and c.revision and c.owned for c in p.obs.children)
    if has_workload or p.spec.replicas == 0:
        return None
    chosen = p.plan.chosen
    assert chosen is not None
    fit = fit_in_inventory(chosen, p.obs.inventory.free_per_node(), 1)
    if fit.fits:
        return None
    p.conditions.set(
        ConditionType.SCHEDULABLE, ConditionStatus.FALSE, Reason.INSUFFICIENT_CAPACITY, fit.message
    )
    plan = plan_to_status(p.plan, inputs_hash=p.inputs_hash)
    return Halt(Phase.PENDING, fit.message, WAITING, plan=plan, waiting_for_capacity=True)


CHECKS: tuple[Check, ...] = (spec_parses, model_known, licence_allowed, plan_feasible, first_replica_fits)


def run_checks(p: Pass) -> Halt | None:
    """The first halt of the chain, or None when every check passes."""
    for check in CHECKS:
        halt = check(p)
        if halt is not None:
            return halt
    return None


def capacity_message(plan: Plan, fit_reason: str) -> str:
    chosen = plan.chosen
    assert chosen is not None
    base = (
        f"needs {chosen.gpus_per_replica} x {chosen.gpu_type} per replica"
        f" ({chosen.nodes_per_replica} node{'s' if chosen.nodes_per_replica > 1 else ''})"
    )
    return f"{base}; {fit_reason}" if fit_reason else f"{base}; the cluster has no free capacity for it"
