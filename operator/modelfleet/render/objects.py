"""The Kubernetes objects of a ModelDeployment, each rendered from a template, parsed and checked.

Objects carry no ownerReferences: the reconciler adds its own. Each carries a spec-hash label.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from modelfleet.api import ModelDeploymentSpec, ParentRef
from modelfleet.render import names
from modelfleet.render.config import OperatorConfig
from modelfleet.render.errors import RenderError
from modelfleet.render.launch import LaunchSpec
from modelfleet.render.revision import stamp_spec_hash
from modelfleet.render.templating import render_yaml


@dataclass(frozen=True)
class Backend:
    """One weighted backend of the HTTPRoute."""

    service: str
    weight: int


def workload(launch: LaunchSpec, replicas: int) -> dict[str, Any]:
    """The revision's Deployment (single-node replicas) or LeaderWorkerSet (multi-node replicas)."""
    template = "leaderworkerset.yaml.j2" if launch.multi_node else "deployment.yaml.j2"
    obj = render_yaml(
        template,
        launch=launch,
        replicas=replicas,
        workload_name=names.revision_name(launch.name, launch.revision),
        selector={
            names.NAME_LABEL: names.name_label_value(launch.name),
            names.REVISION_LABEL: launch.revision,
        },
        progress_deadline_seconds=launch.progress_deadline_seconds,
    )
    return stamp_spec_hash(obj)


# One replica (one group of a multi-node replica) at a time: a drain moves a revision replica by
# replica, each replacement Ready before the next eviction. With replicas: 1 the budget still allows
# the eviction (a budget of 0 would block every drain of that node until someone intervened); the
# model is down until the replacement is Ready, so serve 2 replicas to stay up (docs/api.md).
MAX_UNAVAILABLE = 1


def disruption_budget(launch: LaunchSpec) -> dict[str, Any]:
    """The revision's PodDisruptionBudget. It does not depend on the replica count, so it is never
    rewritten while a canary scales its revision: the stable revision keeps its budget unchanged."""
    obj = render_yaml(
        "poddisruptionbudget.yaml.j2",
        launch=launch,
        budget_name=names.revision_name(launch.name, launch.revision),
        selector={
            names.NAME_LABEL: names.name_label_value(launch.name),
            names.REVISION_LABEL: launch.revision,
        },
        max_unavailable=MAX_UNAVAILABLE,
    )
    return stamp_spec_hash(obj)


def revision_service(launch: LaunchSpec, config: OperatorConfig) -> dict[str, Any]:
    """The Service in front of one revision's serving pods (an HTTPRoute backend)."""
    return service(
        service_name=names.revision_name(launch.name, launch.revision),
        namespace=launch.namespace,
        labels=names.object_labels(launch.name, launch.revision),
        selector=names.selector_labels(launch.name, launch.revision),
        port=config.service_port,
    )


def umbrella_service(name: str, namespace: str, config: OperatorConfig) -> dict[str, Any]:
    """The ModelDeployment's Service: every revision's serving pods, so with the ``replicas``
    traffic provider requests split by the ratio of ready replicas."""
    return service(
        service_name=names.umbrella_name(name),
        namespace=namespace,
        labels=names.object_labels(name),
        selector=names.selector_labels(name),
        port=config.service_port,
    )


def service(
    *, service_name: str, namespace: str, labels: Mapping[str, str], selector: Mapping[str, str], port: int
) -> dict[str, Any]:
    obj = render_yaml(
        "service.yaml.j2",
        service_name=service_name,
        namespace=namespace,
        labels=labels,
        selector=selector,
        port=port,
    )
    return stamp_spec_hash(obj)


def http_route(
    *,
    name: str,
    namespace: str,
    parent_refs: Sequence[ParentRef],
    hostnames: Iterable[str],
    backends: Sequence[Backend],
    config: OperatorConfig,
) -> dict[str, Any]:
    """The HTTPRoute with weighted backendRefs (weights are relative; 0 keeps a backend listed but idle)."""
    if not parent_refs:
        raise RenderError(
            "rollout.canary.trafficRouting.gatewayApi.parentRefs is empty; name the Gateway the route attaches to"
        )
    if not backends:
        raise RenderError("HTTPRoute needs at least one backend; no revision is serving yet")
    obj = render_yaml(
        "httproute.yaml.j2",
        route_name=names.umbrella_name(name),
        namespace=namespace,
        labels=names.object_labels(name),
        parent_refs=list(parent_refs),
        hostnames=list(hostnames),
        backends=list(backends),
        port=config.service_port,
    )
    return stamp_spec_hash(obj)


def route_backends(name: str, weights: Mapping[str, int] | Sequence[tuple[str, int]]) -> list[Backend]:
    """Backends from ``revision -> weight``, sorted by revision so the output is stable.

    >>> route_backends("m", {"bbb": 10, "aaa": 90})
    [Backend(service='m-aaa', weight=90), Backend(service='m-bbb', weight=10)]
    """
    pairs = weights.items() if isinstance(weights, Mapping) else weights
    return [Backend(names.revision_name(name, revision), int(weight)) for revision, weight in sorted(pairs)]


def gateway_settings(spec: ModelDeploymentSpec) -> tuple[list[ParentRef], list[str]]:
    """The parentRefs and hostnames from ``rollout.canary.trafficRouting.gatewayApi``."""
    gateway = spec.rollout.canary.traffic_routing.gateway_api
    if gateway is None:
        return [], []
    return list(gateway.parent_refs), list(gateway.hostnames)
