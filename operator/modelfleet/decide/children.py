"""The children plan: what should exist, then the fewest changes that get there (pure).

The desired objects are rendered (through the operator's render memo); each is applied only when the
API server's copy is missing or differs in spec-hash or replicas. Revisions the rollout keeps but
does not re-render are scaled, and owned children nothing wants any more are deleted.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from modelfleet.api import TrafficProvider
from modelfleet.decide.autoscaling import autoscaler_object
from modelfleet.decide.evaluation_job import job_name, render_evaluation_job
from modelfleet.decide.inputs import JobPlan, Pass
from modelfleet.decide.observed import SPEC_HASH_LABEL, Child
from modelfleet.decide.roll import Rolled
from modelfleet.render import render_route
from modelfleet.render.names import umbrella_name

Key = tuple[str, str]  # (kind, name)


@dataclass
class ChildrenPlan:
    apply: list[dict[str, Any]] = field(default_factory=list)  # server-side apply, in order
    scale: list[tuple[Child, int]] = field(default_factory=list)
    delete: list[Child] = field(default_factory=list)


def plan_children(p: Pass, rolled: Rolled) -> ChildrenPlan:
    desired, keep = desired_children(p, rolled)
    plan = ChildrenPlan(scale=_rescaled(rolled))
    by_name = {(c.kind, c.name): c for c in p.obs.children}
    owner = p.owner_reference()
    for obj in desired:
        obj["metadata"].setdefault("ownerReferences", [owner])
        key = (obj["kind"], obj["metadata"]["name"])
        keep.add(key)
        if _differs(by_name.get(key), obj):
            plan.apply.append(obj)
    live_revisions = set(rolled.decision.replicas) - set(rolled.decision.delete)
    plan.delete = [
        child
        for child in p.obs.children
        if child.owned and (child.kind, child.name) not in keep and child.revision not in live_revisions
    ]
    return plan


def desired_children(p: Pass, rolled: Rolled) -> tuple[list[dict[str, Any]], set[Key]]:
    """The objects to render now, and children to keep as they are without rendering them."""
    spec, obs, memo, config = p.spec, p.obs, p.ctx.memo, p.ctx.render
    replicas = rolled.decision.replicas
    desired: list[dict[str, Any]] = []
    if rolled.target in replicas and rolled.held is None:
        desired.extend(
            memo.revision(
                spec,
                p.plan,
                name=obs.name,
                namespace=obs.namespace,
                revision=rolled.target,
                replicas=replicas[rolled.target],
                config=config,
                facts=p.facts,
                cache_claim=rolled.cache,
            )
        )
    desired.append(memo.umbrella_service(spec, name=obs.name, namespace=obs.namespace, config=config))
    autoscaler = autoscaler_object(p, rolled.scaling)
    if autoscaler is not None:
        desired.append(autoscaler)
    keep: set[Key] = set()
    if rolled.provider == TrafficProvider.GATEWAY_API and spec.rollout.canary.traffic_routing.gateway_api:
        weights = rolled.decision.weights
        if weights:
            desired.append(
                render_route(spec, name=obs.name, namespace=obs.namespace, weights=weights, config=config)
            )
        else:
            # Nothing serves yet (first deploy, no pod Ready): a route needs a backend, so none is
            # rendered, and one that exists keeps what it has until a revision can take the traffic.
            keep.add(("HTTPRoute", umbrella_name(obs.name)))
    return desired, keep


def _rescaled(rolled: Rolled) -> list[tuple[Child, int]]:
    """Other revisions' workloads whose replicas the rollout changes (they are not re-rendered; none
    is while the spec's revision waits for its weights)."""
    out = []
    for revision, replicas in rolled.decision.replicas.items():
        workload = rolled.workloads.get(revision)
        if (
            (revision != rolled.target or rolled.held is not None)
            and workload is not None
            and workload.replicas != replicas
        ):
            out.append((workload, replicas))
    return out


def _differs(seen: Child | None, obj: dict[str, Any]) -> bool:
    labels = obj["metadata"].get("labels") or {}
    wanted = (obj.get("spec") or {}).get("replicas")
    return (
        seen is None
        or seen.spec_hash != labels.get(SPEC_HASH_LABEL)
        or (wanted is not None and seen.replicas != wanted)
    )


def plan_job(p: Pass, rolled: Rolled) -> JobPlan | None:
    """Create the step's evaluation Job when the reconciler found none; delete a stale one first."""
    request = rolled.decision.evaluation_job
    if request is None:
        return None
    name = job_name(p.obs.name, rolled.target, request.step)
    if request.step not in p.jobs:
        return JobPlan(step=request.step, name=name, looked_up=False)
    if request.replace:
        return JobPlan(step=request.step, name=name, looked_up=True, delete=True)
    if p.jobs[request.step] is not None:
        return JobPlan(step=request.step, name=name, looked_up=True)
    manifest = render_evaluation_job(
        p.spec,
        request.job,
        md_name=p.obs.name,
        namespace=p.obs.namespace,
        revision=rolled.target,
        step=request.step,
        port=p.ctx.render.service_port,
        owner=p.owner_reference(),
    )
    return JobPlan(step=request.step, name=name, looked_up=True, create=manifest)
