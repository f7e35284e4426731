"""Does a layout fit the GPUs that are free in the cluster right now?

A replica of ``gpus_per_replica`` GPUs on ``nodes_per_replica`` nodes needs, on each of those nodes,
a block of ``gpus_per_replica / nodes_per_replica`` free GPUs of its type (one engine pod per node).
All blocks have the same size, so packing is exact and greedy: a node with ``f`` free GPUs holds
``f // block`` blocks, and ``replicas`` replicas fit when the blocks add up to
``replicas x nodes_per_replica``.

>>> from modelfleet.planner.types import Candidate
>>> eight = Candidate("H100-80GB", 8, 1, 8, 1)
>>> fit_in_inventory(eight, {"H100-80GB": (8, 8, 4)}, replicas=2).fits
True
>>> sixteen = Candidate("H100-80GB", 16, 2, 8, 2)
>>> print(fit_in_inventory(sixteen, {"H100-80GB": (8, 3)}, replicas=1).message)
needs 16 x H100-80GB on 2 nodes per replica (8 per node) for 1 replica; largest free block is 8 on one node, 1 node has 8 free
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from modelfleet.planner.types import Candidate


@dataclass(frozen=True)
class FitResult:
    fits: bool
    message: str


def fit_in_inventory(
    candidate: Candidate, free_per_node: Mapping[str, Sequence[int]], replicas: int
) -> FitResult:
    """Check that ``replicas`` replicas of ``candidate`` can be placed on the free GPUs."""
    nodes = max(1, candidate.nodes_per_replica)
    block = -(-candidate.gpus_per_replica // nodes)
    free = [count for count in free_per_node.get(candidate.gpu_type, ()) if count > 0]
    blocks = sum(count // block for count in free) if block > 0 else 0
    needed = max(0, replicas) * nodes
    need = _need_text(candidate, nodes, block, replicas)
    if blocks >= needed:
        return FitResult(True, f"fits: {need}; {blocks} free block(s) of {block} available")
    if not free:
        return FitResult(
            False,
            f"{need}; no free {candidate.gpu_type} in the cluster: add nodes or choose another accelerator.type",
        )
    largest = max(free)
    holders = sum(1 for count in free if count >= block)
    noun = "node has" if holders == 1 else "nodes have"
    return FitResult(
        False,
        f"{need}; largest free block is {largest} on one node, {holders} {noun} {block} free",
    )


def _need_text(candidate: Candidate, nodes: int, block: int, replicas: int) -> str:
    noun = "replica" if replicas == 1 else "replicas"
    if nodes == 1:
        return f"needs {candidate.gpus_per_replica} x {candidate.gpu_type} on one node per replica for {replicas} {noun}"
    return (
        f"needs {candidate.gpus_per_replica} x {candidate.gpu_type} on {nodes} nodes per replica "
        f"({block} per node) for {replicas} {noun}"
    )


def replicas_that_fit(candidate: Candidate, free_per_node: Mapping[str, Sequence[int]]) -> int:
    """How many replicas of ``candidate`` the free GPUs hold at most (the same packing as above).

    >>> from modelfleet.planner.types import Candidate
    >>> replicas_that_fit(Candidate("H100-80GB", 8, 1, 8, 1), {"H100-80GB": (8, 8, 4)})
    2
    >>> replicas_that_fit(Candidate("H100-80GB", 16, 2, 8, 2), {"H100-80GB": (8, 8, 8)})
    1
    >>> replicas_that_fit(Candidate("L4", 1, 1, 1, 1), {"H100-80GB": (8,)})
    0
    """
    nodes = max(1, candidate.nodes_per_replica)
    block = -(-candidate.gpus_per_replica // nodes)
    if block <= 0:
        return 0
    blocks = sum(count // block for count in free_per_node.get(candidate.gpu_type, ()) if count > 0)
    return blocks // nodes
