"""Pure rendering: (spec, Plan, revision) -> Kubernetes objects, via render/templates/, parsed and validated.

Entry points:

- :func:`render_revision` - a revision's workload (Deployment or LeaderWorkerSet), its Service and
  its PodDisruptionBudget;
- :func:`render_umbrella_service` - the ModelDeployment's Service over every revision;
- :func:`render_route` - the HTTPRoute with weighted backends, one per serving revision;
- :func:`render_all` - all of the above for one revision at full weight (``modelfleet render``).

Output is deterministic (sorted labels and env, stable names) and carries no ownerReferences.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from modelfleet.api import ModelDeploymentSpec
from modelfleet.catalog import get_gpu
from modelfleet.catalog.types import GpuType, ModelFacts
from modelfleet.planner.types import Plan
from modelfleet.render.cache import cache_settings
from modelfleet.render.config import OperatorConfig
from modelfleet.render.errors import RenderError
from modelfleet.render.inputs import chosen_candidate
from modelfleet.render.launch import LaunchSpec, build_launch_spec
from modelfleet.render.objects import (
    disruption_budget,
    gateway_settings,
    http_route,
    revision_service,
    route_backends,
    umbrella_service,
    workload,
)
from modelfleet.render.revision import revision_hash, spec_hash

__all__ = [
    "LaunchSpec",
    "OperatorConfig",
    "RenderError",
    "launch_spec",
    "render_all",
    "render_revision",
    "render_route",
    "render_umbrella_service",
    "revision_hash",
    "spec_hash",
]


def launch_spec(
    spec: ModelDeploymentSpec,
    plan: Plan,
    *,
    name: str,
    namespace: str,
    revision: str,
    config: OperatorConfig | None = None,
    gpu: GpuType | None = None,
    facts: ModelFacts | None = None,
    cache_claim: str | None = None,
) -> LaunchSpec:
    """The typed LaunchSpec of a revision; ``gpu`` defaults to the catalog entry of the plan's GPU type."""
    return build_launch_spec(
        spec,
        plan,
        name=name,
        namespace=namespace,
        revision=revision,
        config=config or OperatorConfig(),
        gpu=gpu or _catalog_gpu(plan),
        facts=facts,
        cache_claim=cache_claim,
    )


def render_revision(
    spec: ModelDeploymentSpec,
    plan: Plan,
    *,
    name: str,
    namespace: str,
    revision: str,
    replicas: int,
    config: OperatorConfig | None = None,
    gpu: GpuType | None = None,
    facts: ModelFacts | None = None,
    cache_claim: str | None = None,
) -> list[dict[str, Any]]:
    """``[workload, revision Service, PodDisruptionBudget]`` for one revision at ``replicas`` replicas;
    with ``cache_claim`` its pods mount that weight cache read-only and run offline."""
    config = config or OperatorConfig()
    launch = launch_spec(
        spec,
        plan,
        name=name,
        namespace=namespace,
        revision=revision,
        config=config,
        gpu=gpu,
        facts=facts,
        cache_claim=cache_claim,
    )
    return [workload(launch, replicas), revision_service(launch, config), disruption_budget(launch)]


def render_umbrella_service(
    spec: ModelDeploymentSpec | None = None,
    *,
    name: str,
    namespace: str,
    config: OperatorConfig | None = None,
) -> dict[str, Any]:
    """The ModelDeployment's Service (``spec`` is accepted for symmetry; the Service does not depend on it)."""
    return umbrella_service(name, namespace, config or OperatorConfig())


def render_route(
    spec: ModelDeploymentSpec,
    *,
    name: str,
    namespace: str,
    weights: Mapping[str, int] | Sequence[tuple[str, int]],
    config: OperatorConfig | None = None,
) -> dict[str, Any]:
    """The HTTPRoute: parentRefs and hostnames from the spec, one backend per ``revision -> weight``."""
    parent_refs, hostnames = gateway_settings(spec)
    return http_route(
        name=name,
        namespace=namespace,
        parent_refs=parent_refs,
        hostnames=hostnames,
        backends=route_backends(name, weights),
        config=config or OperatorConfig(),
    )


def render_all(
    spec: ModelDeploymentSpec,
    plan: Plan,
    *,
    name: str,
    namespace: str,
    config: OperatorConfig | None = None,
    gpu: GpuType | None = None,
    facts: ModelFacts | None = None,
    revision: str | None = None,
) -> list[dict[str, Any]]:
    """Everything a fresh ModelDeployment gets: its revision at ``spec.replicas``, the revision and
    umbrella Services, and the HTTPRoute at 100% when Gateway API routing is configured.

    ``revision`` names the revision; by default its hash of the spec and plan, as the operator names it.
    With a weight cache (``spec.model.cache``, or the config's default) the pods mount it as the
    operator renders them once the weights are staged; the cache's claim and Job are not included.
    """
    settings = cache_settings(spec, plan, (config or OperatorConfig()).cache)
    cache_claim = settings.name if settings is not None else None
    if revision is None:
        revision = revision_hash(spec, plan, cached=cache_claim is not None)
    objects = render_revision(
        spec,
        plan,
        name=name,
        namespace=namespace,
        revision=revision,
        replicas=spec.replicas,
        config=config,
        gpu=gpu,
        facts=facts,
        cache_claim=cache_claim,
    )
    objects.append(render_umbrella_service(spec, name=name, namespace=namespace, config=config))
    if spec.rollout.canary.traffic_routing.gateway_api is not None:
        objects.append(
            render_route(spec, name=name, namespace=namespace, weights={revision: 100}, config=config)
        )
    return objects


def _catalog_gpu(plan: Plan) -> GpuType:
    return get_gpu(chosen_candidate(plan).gpu_type)
