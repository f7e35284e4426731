"""Autoscaling in a pass: which provider, how many of the asked replicas the GPUs hold, and what the
status says about the autoscaler (pure).

The autoscaler (KEDA's HPA, or ours) writes ``spec.replicas`` through the scale subresource; the
operator never writes it. When it asks for more replicas than the free GPUs hold, the replicas that
fit are run (the rollout gets the *placed* count) and ``ScalingLimited`` says how many could not be
placed and why, instead of pods sitting Pending silently:

>>> from modelfleet.planner.types import Candidate
>>> eight = Candidate("H100-80GB", 8, 1, 8, 1)
>>> placed_replicas(6, eight, free={"H100-80GB": (8, 8, 8, 8, 4)})
4
>>> placed_replicas(2, eight, free={"H100-80GB": (8, 8, 8, 8, 4)})
2
>>> placed_replicas(3, eight, free={})  # no node of the type known: the scheduler says why
3
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from modelfleet.api import AutoscalingProvider, ConditionStatus, ModelDeploymentSpec, Reason
from modelfleet.decide.inputs import Context, Pass
from modelfleet.decide.observed import Child
from modelfleet.planner.fit import replicas_that_fit
from modelfleet.planner.types import Candidate
from modelfleet.render.autoscaling import HPA_KIND, SCALED_OBJECT_KIND, render_autoscaler
from modelfleet.render.errors import RenderError


@dataclass(frozen=True)
class Scaling:
    """What autoscaling decides in one pass (``provider`` None: the spec has no autoscaling)."""

    provider: AutoscalingProvider | None
    asked: int  # spec.replicas, as the autoscaler set it
    placed: int  # replicas the rollout runs: asked, or what the free GPUs hold when that is fewer
    fleet: int | None  # replicas the whole fleet could hold with nothing else running
    limited: tuple[ConditionStatus, str, str] | None  # the ScalingLimited condition


def autoscaling_provider(spec: ModelDeploymentSpec, ctx: Context) -> AutoscalingProvider | None:
    """keda or hpa; ``auto`` is keda when KEDA's ScaledObject CRD is installed, as the traffic
    provider is gatewayAPI when the HTTPRoute CRD is. Asking for what only KEDA does on a cluster
    without it is refused (:class:`RenderError`: the pass reports InvalidSpec and changes nothing)."""
    autoscaling = spec.autoscaling
    if autoscaling is None:
        return None
    chosen = autoscaling.provider
    if chosen == AutoscalingProvider.AUTO:
        chosen = AutoscalingProvider.KEDA if ctx.keda else AutoscalingProvider.HPA
        if chosen == AutoscalingProvider.HPA and (autoscaling.min_replicas == 0 or autoscaling.cron):
            raise RenderError(
                "autoscaling: minReplicas 0 and cron windows need KEDA, which is not installed "
                "(no scaledobjects.keda.sh CRD); install KEDA, or set minReplicas >= 1 and no cron"
            )
    if chosen == AutoscalingProvider.KEDA and not ctx.keda:
        raise RenderError(
            "autoscaling provider keda: KEDA is not installed (no scaledobjects.keda.sh CRD); "
            "install KEDA or use provider hpa"
        )
    return chosen


def placed_replicas(asked: int, candidate: Candidate, free: Mapping[str, Sequence[int]]) -> int:
    """``asked``, capped at what ``free`` (the GPUs free to this model, its own pods' included) holds;
    uncapped when no node of the GPU type is known at all (see the module docstring)."""
    if candidate.gpu_type not in free:
        return asked
    return min(asked, replicas_that_fit(candidate, free))


def plan_scaling(p: Pass) -> Scaling:
    spec = p.spec
    provider = autoscaling_provider(spec, p.ctx)
    if provider is None or spec.autoscaling is None:
        return Scaling(None, spec.replicas, spec.replicas, None, None)
    chosen = p.plan.chosen
    assert chosen is not None
    inventory = p.obs.inventory
    asked = spec.replicas
    # This model's own pods' GPUs count as free: they are part of what it runs.
    placed = placed_replicas(asked, chosen, inventory.free_per_node(exclude_owner=p.owner))
    allocatable = inventory.allocatable_per_node()
    fleet = replicas_that_fit(chosen, allocatable) if chosen.gpu_type in allocatable else None
    each = f"{chosen.gpus_per_replica} x {chosen.gpu_type} per replica"
    if placed < asked:
        limited = (
            ConditionStatus.TRUE,
            Reason.INSUFFICIENT_CAPACITY,
            f"the autoscaler asks for {asked} replicas; the free GPUs hold {placed} ({each}): "
            f"{asked - placed} not placed until GPUs free up or nodes are added",
        )
    elif fleet is not None and spec.autoscaling.max_replicas > fleet:
        limited = (
            ConditionStatus.TRUE,
            Reason.MAX_REPLICAS_ABOVE_CAPACITY,
            f"maxReplicas {spec.autoscaling.max_replicas} is beyond what the whole fleet holds: "
            f"{fleet} replicas ({each}); scaling stops at {fleet} unless nodes are added",
        )
    else:
        limited = (
            ConditionStatus.FALSE,
            Reason.WITHIN_CAPACITY,
            f"{asked} replicas asked, all placed; the fleet holds {fleet if fleet is not None else 'an unknown number of'} ({each})",
        )
    return Scaling(provider, asked, placed, fleet, limited)


def autoscaler_object(p: Pass, scaling: Scaling) -> dict[str, Any] | None:
    """The ScaledObject or HPA to apply (None without autoscaling: an existing one is then deleted
    as an owned child nothing wants, and ``spec.replicas`` stays where the autoscaler left it)."""
    if scaling.provider is None:
        return None
    return render_autoscaler(
        p.spec,
        scaling.provider,
        name=p.obs.name,
        namespace=p.obs.namespace,
        prometheus_url=p.ctx.render.prometheus_url,
    )


def autoscaling_status(p: Pass, scaling: Scaling) -> dict[str, Any] | None:
    """status.autoscaling: the autoscaler's decision in its own words (its HPA's status), and what
    the GPUs let the operator place."""
    if scaling.provider is None:
        return None
    scaled_object = _child(p.obs.children, SCALED_OBJECT_KIND)
    hpa = _child(p.obs.children, HPA_KIND)
    kind = SCALED_OBJECT_KIND if scaling.provider == AutoscalingProvider.KEDA else HPA_KIND
    mine = scaled_object if kind == SCALED_OBJECT_KIND else hpa
    decided = hpa.scaling if hpa is not None else None
    # Each object's conditions under its kind: KEDA's Active and the HPA's ScalingActive read apart.
    words = [
        f"{child.kind}: {child.scaling.conditions}"
        for child in (scaled_object, hpa)
        if child is not None and child.scaling is not None and child.scaling.conditions
    ]
    status = {
        "provider": scaling.provider.value,
        "object": f"{kind}/{mine.name}" if mine is not None else None,
        "desiredReplicas": decided.desired_replicas if decided else None,
        "currentReplicas": decided.current_replicas if decided else None,
        "placedReplicas": scaling.placed,
        "lastScaleTime": decided.last_scale_time if decided else None,
        "message": "; ".join(words) or None,
    }
    return {k: v for k, v in status.items() if v is not None}


def _child(children: Sequence[Child], kind: str) -> Child | None:
    found = sorted((c for c in children if c.kind == kind), key=lambda c: c.name)
    return found[0] if found else None
