"""The cluster's GPU inventory, computed from Node and Pod objects by pure functions.

The operator keeps one small summary per Node and per GPU-holding Pod in kopf indexes (so nothing is
LISTed per reconcile), and these functions turn the summaries into what the planner needs: free GPUs
per node, by catalog GPU type.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from modelfleet.catalog import gpu_for_product
from modelfleet.render.names import NAME_LABEL

GPU_RESOURCES = ("nvidia.com/gpu", "amd.com/gpu")
# Labels that name the GPU model: NVIDIA GPU Feature Discovery, then the AMD GPU node labeller.
PRODUCT_LABELS = ("nvidia.com/gpu.product", "amd.com/gpu.product-name")


@dataclass(frozen=True)
class NodeGpus:
    name: str
    gpu_type: str | None  # catalog name; None when the product is not in the catalog
    product: str
    resource: str
    allocatable: int
    schedulable: bool


@dataclass(frozen=True)
class PodGpus:
    node: str
    resource: str
    count: int
    owner: str | None  # "<namespace>/<ModelDeployment name>" for our pods, else None


def node_gpus(node: Mapping[str, Any]) -> NodeGpus | None:
    """The GPU summary of a Node, or None for nodes without GPUs.

    >>> node_gpus({"metadata": {"name": "n", "labels": {"nvidia.com/gpu.product": "NVIDIA-H200"}},
    ...            "status": {"allocatable": {"nvidia.com/gpu": "8"}}}).allocatable
    8
    """
    meta = node.get("metadata", {})
    labels = meta.get("labels") or {}
    allocatable = (node.get("status") or {}).get("allocatable") or {}
    for resource in GPU_RESOURCES:
        count = _int(allocatable.get(resource))
        if count > 0:
            product = next((labels[k] for k in PRODUCT_LABELS if labels.get(k)), "")
            gpu = gpu_for_product(product) if product else None
            unschedulable = bool((node.get("spec") or {}).get("unschedulable"))
            ready = any(
                c.get("type") == "Ready" and c.get("status") == "True"
                for c in (node.get("status") or {}).get("conditions") or []
            )
            return NodeGpus(
                name=meta.get("name", ""),
                gpu_type=gpu.name if gpu else None,
                product=product,
                resource=resource,
                allocatable=count,
                schedulable=ready and not unschedulable,
            )
    return None


def pod_gpus(pod: Mapping[str, Any]) -> PodGpus | None:
    """GPUs a bound, unfinished Pod holds on its node; None if it holds none."""
    spec = pod.get("spec") or {}
    node = spec.get("nodeName")
    phase = (pod.get("status") or {}).get("phase")
    if not node or phase in ("Succeeded", "Failed"):
        return None
    totals: dict[str, int] = {}
    for container in spec.get("containers") or []:
        limits = (container.get("resources") or {}).get("limits") or {}
        for resource in GPU_RESOURCES:
            totals[resource] = totals.get(resource, 0) + _int(limits.get(resource))
    resource, count = max(totals.items(), key=lambda kv: kv[1], default=("", 0))
    if count <= 0:
        return None
    labels = (pod.get("metadata") or {}).get("labels") or {}
    owner = labels.get(NAME_LABEL)
    namespace = (pod.get("metadata") or {}).get("namespace", "")
    return PodGpus(node=node, resource=resource, count=count, owner=f"{namespace}/{owner}" if owner else None)


def free_gpus_per_node(
    nodes: Iterable[NodeGpus], pods: Iterable[PodGpus], exclude_owner: str | None = None
) -> dict[str, tuple[int, ...]]:
    """Free GPUs on each schedulable node, grouped by catalog GPU type, largest first.

    Pods of ``exclude_owner`` do not count as using GPUs: a ModelDeployment re-planning itself may
    reuse what it already holds.

    >>> h = NodeGpus("h0", "H200", "NVIDIA-H200", "nvidia.com/gpu", 8, True)
    >>> free_gpus_per_node([h], [PodGpus("h0", "nvidia.com/gpu", 4, None)])
    {'H200': (4,)}
    """
    if isinstance(nodes, tuple) and isinstance(pods, tuple):
        return _free_from_snapshot(nodes, pods, exclude_owner)
    used: dict[str, int] = {}
    for pod in pods:
        if exclude_owner is None or pod.owner != exclude_owner:
            used[pod.node] = used.get(pod.node, 0) + pod.count
    return _free(nodes, used)


def _free(nodes: Iterable[NodeGpus], used: Mapping[str, int]) -> dict[str, tuple[int, ...]]:
    free: dict[str, list[int]] = {}
    for node in nodes:
        if node.gpu_type is None or not node.schedulable:
            continue
        free.setdefault(node.gpu_type, []).append(max(0, node.allocatable - used.get(node.name, 0)))
    return {gpu: tuple(sorted(counts, reverse=True)) for gpu, counts in sorted(free.items())}


@dataclass(frozen=True)
class _Totals:
    """What one inventory snapshot adds up to, kept while the operator reuses the same snapshot."""

    nodes: tuple[NodeGpus, ...]
    pods: tuple[PodGpus, ...]
    used: Mapping[str, int]  # GPUs in use per node
    by_owner: Mapping[str, Mapping[str, int]]  # owner -> node -> GPUs its pods hold
    free: dict[str, tuple[int, ...]]


_last: _Totals | None = None


def _free_from_snapshot(
    nodes: tuple[NodeGpus, ...], pods: tuple[PodGpus, ...], exclude_owner: str | None
) -> dict[str, tuple[int, ...]]:
    """:func:`free_gpus_per_node` for the snapshots the operator passes around (immutable tuples that
    every pass between two inventory changes shares): the sums are made once per snapshot, and
    excluding an owner only gives back what its own pods hold. Same results, O(nodes) per call."""
    global _last
    totals = _last
    if totals is None or totals.nodes is not nodes or totals.pods is not pods:
        used: dict[str, int] = {}
        by_owner: dict[str, dict[str, int]] = {}
        for pod in pods:
            used[pod.node] = used.get(pod.node, 0) + pod.count
            if pod.owner is not None:
                held = by_owner.setdefault(pod.owner, {})
                held[pod.node] = held.get(pod.node, 0) + pod.count
        totals = _last = _Totals(nodes, pods, used, by_owner, _free(nodes, used))
    mine = totals.by_owner.get(exclude_owner) if exclude_owner is not None else None
    if not mine:
        return dict(totals.free)
    return _free(nodes, {node: count - mine.get(node, 0) for node, count in totals.used.items()})


_allocated: tuple[Any, Any, dict[str, int]] | None = None


def allocated_gpus_by_type(nodes: Iterable[NodeGpus], pods: Iterable[PodGpus]) -> dict[str, int]:
    """GPUs held by ModelFleet pods, by catalog GPU type (for the operator's metrics); summed once
    per inventory snapshot when given the operator's shared tuples."""
    global _allocated
    last = _allocated
    if last is not None and last[0] is nodes and last[1] is pods and isinstance(pods, tuple):
        return dict(last[2])
    result = _allocated_by_type(nodes, pods)
    if isinstance(nodes, tuple) and isinstance(pods, tuple):
        _allocated = (nodes, pods, result)
    return dict(result)


def _allocated_by_type(nodes: Iterable[NodeGpus], pods: Iterable[PodGpus]) -> dict[str, int]:
    node_type = {n.name: n.gpu_type or n.product or "unknown" for n in nodes}
    out: dict[str, int] = {}
    for pod in pods:
        if pod.owner:
            gpu = node_type.get(pod.node, "unknown")
            out[gpu] = out.get(gpu, 0) + pod.count
    return out


def _int(value: Any) -> int:
    try:
        return int(str(value)) if value is not None else 0
    except ValueError:
        return 0
