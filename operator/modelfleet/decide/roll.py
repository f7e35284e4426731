"""The rollout machine's input, read from the pass, and its decision (pure)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from modelfleet.api import ACTION_ANNOTATION, ModelDeploymentSpec, Reason, RolloutAction, TrafficProvider
from modelfleet.decide.autoscaling import Scaling, plan_scaling
from modelfleet.decide.inputs import Context, Observed, Pass
from modelfleet.decide.observed import WORKLOAD_KINDS, Child
from modelfleet.planner.fit import FitResult, fit_in_inventory
from modelfleet.render import revision_hash
from modelfleet.rollout import step as rollout_step
from modelfleet.rollout.types import Event, RevisionState, RolloutDecision, RolloutInput


@dataclass(frozen=True)
class Rolled:
    """What the rollout machine decided, and what it decided it from."""

    target: str  # the revision the spec describes
    stable: str | None  # the stored stable, while its workload exists
    workloads: Mapping[str, Child]  # owned workloads by revision
    provider: TrafficProvider
    canary_fit: FitResult | None  # whether the target's replicas fit, while it has no workload
    decision: RolloutDecision
    scaling: Scaling  # the autoscaling provider, and the replicas the GPUs hold of those asked
    cache: str | None = None  # the weight cache the spec's revision mounts
    held: str | None = None  # the spec's revision, while it waits for its weights (target is then not it)

    @property
    def stable_ready(self) -> int:
        """Ready replicas of the revision the machine calls stable (0 without one)."""
        stable = self.decision.stable_revision
        workload = self.workloads.get(stable) if stable is not None else None
        return workload.ready_replicas if workload is not None else 0

    @property
    def stable_current(self) -> bool:
        """The stable's controller has seen its latest spec: its ready count can be trusted."""
        stable = self.decision.stable_revision
        workload = self.workloads.get(stable) if stable is not None else None
        return workload is not None and workload.current

    @property
    def steady(self) -> bool:
        """The stable is the spec's revision and no canary runs: only replicas can change."""
        return self.decision.stable_revision == self.target and self.decision.canary_revision is None


def spec_revision(p: Pass, cache: str | None) -> str:
    """The revision the spec describes (``cache``: its pods read that weight cache)."""
    return revision_hash(p.spec, p.plan, cached=cache is not None)


def owned_workloads(p: Pass) -> dict[str, Child]:
    return {c.revision: c for c in p.obs.children if c.kind in WORKLOAD_KINDS and c.revision and c.owned}


def holding_revision(p: Pass) -> str | None:
    """What the rollout keeps running while the spec's revision waits for its weights: the canary
    under way, else the stable (None: nothing runs yet, a first deploy)."""
    workloads = owned_workloads(p)
    revisions = p.previous.revisions
    for revision in (revisions.canary, revisions.stable) if revisions else ():
        if revision and revision in workloads:
            return revision
    return None


def roll_out(p: Pass, cache: str | None = None, hold: bool = False) -> Rolled:
    """``hold``: the spec's revision waits for its weights (:mod:`.staging`); the machine then rolls
    what runs already (:func:`holding_revision`) and nothing is rendered anew."""
    spec, chosen = p.spec, p.plan.chosen
    assert chosen is not None
    target = spec_revision(p, cache)
    workloads = owned_workloads(p)
    held = None
    if hold and target not in workloads:
        holding = holding_revision(p)
        assert holding is not None, "a first deploy waits for its weights before the rollout"
        held, target = target, holding
    stable = p.previous.revisions.stable if p.previous.revisions else None
    if stable and stable not in workloads:
        stable = None  # its workload is gone (deleted by hand): start again from the target
    free_all = p.obs.inventory.free_per_node()
    provider = traffic_provider(spec, p.ctx)
    scaling = plan_scaling(p)
    p.placed_replicas = scaling.placed
    desired = p.desired
    total_replicas = sum(w.replicas or 0 for w in workloads.values()) or desired
    canary_fit = fit_in_inventory(chosen, free_all, max(1, desired)) if target not in workloads else None
    decision = rollout_step(
        RolloutInput(
            now=p.obs.now,
            target_revision=target,
            stable_revision=stable,
            desired_replicas=desired,
            spec=spec.rollout,
            status=p.previous.rollout,
            revisions={
                rev: RevisionState(rev, w.replicas or 0, w.ready_replicas) for rev, w in workloads.items()
            },
            action=requested_action(p.obs, spec),
            observed_weights=observed_weights(p.obs, provider),
            canary_capacity_ok=canary_fit.fits if canary_fit else True,
            capacity_message=canary_fit.message if canary_fit and not canary_fit.fits else "",
            measurements=p.measurements,
            traffic_granularity_percent=None
            if provider == TrafficProvider.GATEWAY_API
            else max(1, round(100 / max(1, total_replicas))),
            traffic_provider=provider,
            evaluation_jobs={step: state for step, state in p.jobs.items() if state is not None},
        )
    )
    return Rolled(target, stable, workloads, provider, canary_fit, decision, scaling, cache=cache, held=held)


def traffic_provider(spec: ModelDeploymentSpec, ctx: Context) -> TrafficProvider:
    routing = spec.rollout.canary.traffic_routing
    if routing.provider == TrafficProvider.AUTO:
        usable = ctx.gateway_api and routing.gateway_api is not None
        return TrafficProvider.GATEWAY_API if usable else TrafficProvider.REPLICAS
    return routing.provider


def requested_action(obs: Observed, spec: ModelDeploymentSpec) -> RolloutAction:
    annotated = (obs.annotations or {}).get(ACTION_ANNOTATION, "")
    try:
        return RolloutAction(annotated) if annotated else spec.rollout.action
    except ValueError:
        return spec.rollout.action


def refused_action(obs: Observed, why: str) -> Event | None:
    """A Warning for the action annotation of a pass that cannot act; the pass removes the annotation
    rather than keep it for later (it would fire once the spec is fixed, long after it was asked for)."""
    action = (obs.annotations or {}).get(ACTION_ANNOTATION)
    if action is None:
        return None
    message = f"{ACTION_ANNOTATION}={action} not carried out: {why}; fix the spec, then ask again"
    return Event("Warning", Reason.ACTION_REFUSED, message)


def observed_weights(obs: Observed, provider: TrafficProvider) -> dict[str, int] | None:
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
