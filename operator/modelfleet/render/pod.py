"""The pod-level fields of an engine pod: ModelFleet's scheduling rules merged with ``spec.podTemplate``.

Pure functions; the template only places the results. Merge rules (docs/api.md, ``podTemplate``):

- required node affinity: the GPU-type expression is ANDed into every term the user gives, so a
  user's term can narrow the nodes but never lift the GPU type;
- tolerations, preferred node terms, podAffinity / podAntiAffinity, volumes and mounts: ours first,
  then the user's, as written;
- labels: the user's, with ours on top (the Services and budgets select by ours);
- topology spread: replicas of a revision spread over nodes, and over zones where nodes carry
  ``topology.kubernetes.io/zone``. Both are ``ScheduleAnyway``: a spread that cannot be met must not
  leave a GPU replica Pending (a fleet often has fewer free nodes than replicas), and a node without
  the zone label is still a candidate.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from modelfleet.api.spec_pod import PodTemplateAdditions

HOSTNAME_KEY = "kubernetes.io/hostname"
ZONE_KEY = "topology.kubernetes.io/zone"
SPREAD_KEYS = (HOSTNAME_KEY, ZONE_KEY)
_REQUIRED = "requiredDuringSchedulingIgnoredDuringExecution"
_PREFERRED = "preferredDuringSchedulingIgnoredDuringExecution"


@dataclass(frozen=True)
class PodExtras:
    """Pod spec fields beyond the engine container, ready to place (empty values are left out)."""

    annotations: Mapping[str, str] = field(default_factory=dict)
    user_labels: Mapping[str, str] = field(default_factory=dict)
    node_selector: Mapping[str, str] = field(default_factory=dict)
    tolerations: tuple[Mapping[str, Any], ...] = ()
    affinity: Mapping[str, Any] = field(default_factory=dict)
    priority_class_name: str | None = None
    runtime_class_name: str | None = None
    service_account_name: str | None = None
    image_pull_secrets: tuple[Mapping[str, str], ...] = ()
    volumes: tuple[Mapping[str, Any], ...] = ()
    volume_mounts: tuple[Mapping[str, Any], ...] = ()


def pod_extras(
    additions: PodTemplateAdditions,
    *,
    gpu_resource_name: str,
    product_label: str,
    product_names: Sequence[str],
) -> PodExtras:
    """ModelFleet's GPU toleration and GPU-type affinity merged with the user's additions."""
    spec = additions.spec
    gpu_toleration = {"key": gpu_resource_name, "operator": "Exists", "effect": "NoSchedule"}
    return PodExtras(
        annotations=dict(additions.metadata.annotations),
        user_labels=dict(additions.metadata.labels),
        node_selector=dict(spec.node_selector),
        tolerations=(gpu_toleration, *(t.to_wire() for t in spec.tolerations)),
        affinity=merged_affinity(product_label, product_names, spec.affinity),
        priority_class_name=spec.priority_class_name,
        runtime_class_name=spec.runtime_class_name,
        service_account_name=spec.service_account_name,
        image_pull_secrets=tuple(ref.to_wire() for ref in spec.image_pull_secrets),
        volumes=tuple(copy.deepcopy(spec.volumes)),
        volume_mounts=tuple(mount.to_wire() for mount in spec.volume_mounts),
    )


def merged_affinity(
    product_label: str, product_names: Sequence[str], user: Mapping[str, Any] | None
) -> dict[str, Any]:
    """The pod's affinity: the GPU-type node term ANDed into each of the user's required terms.

    Terms of ``nodeSelectorTerms`` are ORed and expressions inside a term ANDed, so
    ``gpu AND (u1 OR u2)`` is written ``(gpu AND u1) OR (gpu AND u2)``.

    >>> merged_affinity("gpu", ["H200"], None)["nodeAffinity"]
    {'requiredDuringSchedulingIgnoredDuringExecution': {'nodeSelectorTerms': [{'matchExpressions': [{'key': 'gpu', 'operator': 'In', 'values': ['H200']}]}]}}
    >>> user = {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
    ...     {"matchExpressions": [{"key": "pool", "operator": "In", "values": ["a"]}]}]}}}
    >>> [e["key"] for e in merged_affinity("gpu", ["H200"], user)["nodeAffinity"][
    ...     "requiredDuringSchedulingIgnoredDuringExecution"]["nodeSelectorTerms"][0]["matchExpressions"]]
    ['gpu', 'pool']
    """
    result = copy.deepcopy(dict(user or {}))
    node = result.pop("nodeAffinity", None) or {}
    ours = [{"key": product_label, "operator": "In", "values": list(product_names)}] if product_names else []
    user_terms = (node.get(_REQUIRED) or {}).get("nodeSelectorTerms") or [{}]
    terms = [
        {**term, "matchExpressions": [*ours, *(term.get("matchExpressions") or [])]} for term in user_terms
    ]
    terms = [{k: v for k, v in term.items() if v} for term in terms]
    merged_node: dict[str, Any] = {}
    if any(terms):
        merged_node[_REQUIRED] = {"nodeSelectorTerms": terms}
    if node.get(_PREFERRED):
        merged_node[_PREFERRED] = node[_PREFERRED]
    if merged_node:
        result["nodeAffinity"] = merged_node
    return result


def topology_spread(selector: Mapping[str, str]) -> list[dict[str, Any]]:
    """Spread the pods ``selector`` matches over nodes, then zones (soft: see the module docstring).

    >>> [c["topologyKey"] for c in topology_spread({"app": "m"})]
    ['kubernetes.io/hostname', 'topology.kubernetes.io/zone']
    """
    return [
        {
            "maxSkew": 1,
            "topologyKey": key,
            "whenUnsatisfiable": "ScheduleAnyway",
            "labelSelector": {"matchLabels": dict(selector)},
        }
        for key in SPREAD_KEYS
    ]
