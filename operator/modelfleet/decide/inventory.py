"""The cluster's GPU inventory, computed from Node and Pod objects by pure functions.

The operator keeps one small summary per Node and per GPU-holding Pod from its watches (so nothing is
LISTed per reconcile), and an :class:`Inventory` turns the summaries into what the planner needs: free
GPUs per node, by catalog GPU type.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
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


@dataclass(frozen=True)
class PodSums:
    """What the GPU pods add up to: GPUs in use per node, per owner and node, and ours per node.

    Its dicts are never changed once built (a :class:`PodLedger` replaces the ones it changes), so an
    :class:`Inventory` may share them with the ledger that keeps them.
    """

    used: Mapping[str, int]  # node -> GPUs in use
    held: Mapping[str, Mapping[str, int]]  # owner -> node -> GPUs
    ours: Mapping[str, int]  # node -> GPUs held by our pods


class PodLedger:
    """The GPU pods' sums kept up to date one pod change at a time, O(1) each, instead of summed over
    every GPU pod whenever one changed (O(pods) per change, which grew with the fleet).

    >>> ledger = PodLedger()
    >>> ledger.set("a", PodGpus("h0", "nvidia.com/gpu", 4, "llm/m")), ledger.set("b", PodGpus("h0", "nvidia.com/gpu", 2, None))
    ((True, False), (True, False))
    >>> ledger.set("a", PodGpus("h0", "nvidia.com/gpu", 4, "llm/m")), ledger.set("a", None)
    ((False, False), (True, True))
    >>> dict(ledger.sums().used), dict(ledger.sums().held)
    ({'h0': 2}, {})
    """

    def __init__(self) -> None:
        self._pods: dict[str, PodGpus] = {}
        self._used: dict[str, int] = {}
        self._held: dict[str, dict[str, int]] = {}
        self._ours: dict[str, int] = {}
        self._sums: PodSums | None = None

    def set(self, uid: str, pod: PodGpus | None) -> tuple[bool, bool]:
        """Record what pod `uid` holds now (None: nothing, or gone); (changed, GPUs were freed)."""
        old = self._pods.get(uid)
        if old == pod:
            return False, False
        if old is not None:
            self._add(old, -1)
            del self._pods[uid]
        if pod is not None:
            self._add(pod, 1)
            self._pods[uid] = pod
        self._sums = None
        freed = old is not None and (pod is None or pod.node != old.node or pod.count < old.count)
        return True, freed

    def _add(self, pod: PodGpus, sign: int) -> None:
        _bump(self._used, pod.node, sign * pod.count)
        if pod.owner is not None:
            _bump(self._ours, pod.node, sign * pod.count)
            mine = dict(self._held.get(pod.owner) or {})  # a new dict: a snapshot may share the old one
            _bump(mine, pod.node, sign * pod.count)
            if mine:
                self._held[pod.owner] = mine
            else:
                self._held.pop(pod.owner, None)

    def sums(self) -> PodSums:
        """The sums now, as dicts nobody changes later (copied once per change, not per call)."""
        if self._sums is None:
            self._sums = PodSums(dict(self._used), dict(self._held), dict(self._ours))
        return self._sums


def _bump(counts: dict[str, int], key: str, by: int) -> None:
    value = counts.get(key, 0) + by
    if value:
        counts[key] = value
    else:
        counts.pop(key, None)


def pod_sums(pods: Iterable[PodGpus]) -> PodSums:
    ledger = PodLedger()
    for i, pod in enumerate(pods):
        ledger.set(str(i), pod)
    return ledger.sums()


@dataclass(frozen=True)
class Inventory:
    """The GPU inventory at one moment: the nodes, and what the GPU pods on them add up to.

    The operator keeps the pods' sums up to date per pod change (:class:`PodLedger`) and builds one
    inventory per change of nodes or sums; every pass until the next change shares it, so a pass costs
    O(nodes), not O(pods). Built from a tuple of pods instead (tests, the CLI), it sums them once.

    >>> h = NodeGpus("h0", "H200", "NVIDIA-H200", "nvidia.com/gpu", 8, True)
    >>> inventory = Inventory((h,), (PodGpus("h0", "nvidia.com/gpu", 4, "llm/m"),))
    >>> inventory.free_per_node(), inventory.free_per_node(exclude_owner="llm/m")
    ({'H200': (4,)}, {'H200': (8,)})
    """

    nodes: tuple[NodeGpus, ...] = ()
    pods: tuple[PodGpus, ...] = ()
    sums: PodSums | None = field(default=None, repr=False, compare=False)  # None: summed from `pods`
    _free_by_type: dict[str, tuple[int, ...]] = field(init=False, repr=False, compare=False)
    _ours_by_type: dict[str, int] = field(init=False, repr=False, compare=False)
    _shapes: dict[str, tuple[int, ...]] = field(init=False, repr=False, compare=False)
    _by_name: dict[str, NodeGpus] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        sums = self.sums if self.sums is not None else pod_sums(self.pods)
        # Frozen: what every pass reads is worked out once here, as part of building the object (once
        # per change of nodes or pods), and never again: a pass then costs O(its own pods), not O(nodes).
        object.__setattr__(self, "sums", sums)
        object.__setattr__(self, "_free_by_type", _free(self.nodes, sums.used))
        object.__setattr__(self, "_ours_by_type", _allocated_by_type(self.nodes, sums.ours))
        object.__setattr__(self, "_shapes", _shapes(self.nodes))
        object.__setattr__(self, "_by_name", {node.name: node for node in self.nodes})

    @property
    def _used(self) -> Mapping[str, int]:
        assert self.sums is not None
        return self.sums.used

    @property
    def _held(self) -> Mapping[str, Mapping[str, int]]:
        assert self.sums is not None
        return self.sums.held

    def free_per_node(self, exclude_owner: str | None = None) -> dict[str, tuple[int, ...]]:
        """Free GPUs on each schedulable node, grouped by catalog GPU type, largest first.

        Pods of ``exclude_owner`` do not count as using GPUs: a ModelDeployment re-planning itself may
        reuse what it already holds.
        """
        mine = self._held.get(exclude_owner) if exclude_owner is not None else None
        if not mine:
            return dict(self._free_by_type)
        # Only the nodes the owner holds GPUs on change: their free count moves up by what it holds.
        free = {gpu: list(counts) for gpu, counts in self._free_by_type.items()}
        for name, held in mine.items():
            node = self._by_name.get(name)
            if node is None or node.gpu_type is None or not node.schedulable or held <= 0:
                continue
            used = self._used.get(name, 0)
            counts = free[node.gpu_type]
            counts.remove(max(0, node.allocatable - used))
            counts.append(max(0, node.allocatable - (used - held)))
        return {gpu: tuple(sorted(counts, reverse=True)) for gpu, counts in free.items()}

    def node_shapes(self) -> dict[str, tuple[int, ...]]:
        """GPUs per node (allocatable) of the schedulable nodes, by catalog GPU type: distinct, largest first.

        The planner sizes multi-node replicas in whole nodes of these shapes (six 2-GPU nodes hold a
        12-GPU replica), rather than the catalog's typical board.

        >>> a = NodeGpus("a", "H100-NVL", "NVIDIA-H100-NVL", "nvidia.com/gpu", 2, True)
        >>> b = NodeGpus("b", "H100-NVL", "NVIDIA-H100-NVL", "nvidia.com/gpu", 2, True)
        >>> Inventory((a, b)).node_shapes()
        {'H100-NVL': (2,)}
        """
        return dict(self._shapes)

    def allocatable_per_node(self) -> dict[str, tuple[int, ...]]:
        """Every schedulable GPU node's allocatable GPUs, by catalog GPU type, as if nothing ran:
        the most the whole fleet could ever hold.

        >>> h = NodeGpus("h0", "H200", "NVIDIA-H200", "nvidia.com/gpu", 8, True)
        >>> Inventory((h,), (PodGpus("h0", "nvidia.com/gpu", 4, "llm/m"),)).allocatable_per_node()
        {'H200': (8,)}
        """
        return _free(self.nodes, {})

    def allocated_by_type(self) -> dict[str, int]:
        """GPUs held by ModelFleet pods, by catalog GPU type (for the operator's metrics)."""
        return dict(self._ours_by_type)


def _free(nodes: Iterable[NodeGpus], used: Mapping[str, int]) -> dict[str, tuple[int, ...]]:
    free: dict[str, list[int]] = {}
    for node in nodes:
        if node.gpu_type is None or not node.schedulable:
            continue
        free.setdefault(node.gpu_type, []).append(max(0, node.allocatable - used.get(node.name, 0)))
    return {gpu: tuple(sorted(counts, reverse=True)) for gpu, counts in sorted(free.items())}


def _shapes(nodes: Iterable[NodeGpus]) -> dict[str, tuple[int, ...]]:
    shapes: dict[str, set[int]] = {}
    for node in nodes:
        if node.gpu_type is not None and node.schedulable and node.allocatable > 0:
            shapes.setdefault(node.gpu_type, set()).add(node.allocatable)
    return {gpu: tuple(sorted(sizes, reverse=True)) for gpu, sizes in sorted(shapes.items())}


def _allocated_by_type(nodes: Iterable[NodeGpus], ours: Mapping[str, int]) -> dict[str, int]:
    node_type = {n.name: n.gpu_type or n.product or "unknown" for n in nodes}
    out: dict[str, int] = {}
    for node, count in ours.items():
        gpu = node_type.get(node, "unknown")
        out[gpu] = out.get(gpu, 0) + count
    return out


def _int(value: Any) -> int:
    try:
        return int(str(value)) if value is not None else 0
    except ValueError:
        return 0
