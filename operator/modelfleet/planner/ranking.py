"""Ordering of feasible layouts, and a short, deduplicated log of rejected ones."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from modelfleet.catalog.types import GpuType
from modelfleet.planner.types import Candidate, MemoryPerGpu, Rejected

# A plan explains the near misses, not every count of every GPU type.
MAX_REJECTED = 24

Reason = str | Callable[[], str]


@dataclass(frozen=True)
class Found:
    candidate: Candidate
    gpu: GpuType
    memory: MemoryPerGpu
    hardware_note: str = ""
    goal_met: bool = True  # the KV pool holds the concurrency goal (sequences of the checked length)


def found_key(found: Found) -> tuple[bool, float, int, int, int, str]:
    """Layouts that meet the concurrency goal first, then cheapest (``rank_key``)."""
    return (not found.goal_met, *rank_key(found.candidate, found.gpu))


def rank_key(candidate: Candidate, gpu: GpuType) -> tuple[float, int, int, int, str]:
    """Cheapest first: relative cost, then fewest GPUs, fewest nodes, lower TP (name breaks ties).

    >>> from modelfleet.planner.types import Candidate
    >>> from modelfleet.catalog.types import GpuType, Vendor
    >>> a100 = GpuType("A100-80GB", Vendor.NVIDIA, 80 * 2**30, 8, "8.0", "ampere", False, False, "nvidia.com/gpu", (), 1.0)
    >>> rank_key(Candidate("A100-80GB", 4, 1, 4, 1), a100)
    (4.0, 4, 1, 4, 'A100-80GB')
    """
    return (
        candidate.gpus_per_replica * gpu.relative_cost,
        candidate.gpus_per_replica,
        candidate.nodes_per_replica,
        candidate.tensor_parallel,
        gpu.name,
    )


class RejectionLog:
    """Keeps one rejection per (GPU type, rule).

    Counts are tried in ascending order, so for "memory" the last one logged (the largest count that
    still did not fit) is the informative near miss; for every other rule the first one logged is.
    """

    def __init__(self) -> None:
        self._entries: dict[tuple[str, str], tuple[Candidate, GpuType, Reason]] = {}

    def add(self, candidate: Candidate, gpu: GpuType, category: str, reason: Reason) -> None:
        """Log a rejection; ``reason`` may be a callable so only the reported ones get formatted."""
        key = (gpu.name, category)
        if category == "memory" or key not in self._entries:
            self._entries[key] = (candidate, gpu, reason)

    def __len__(self) -> int:
        return len(self._entries)

    def top(
        self, key: Callable[[Candidate, GpuType], tuple[float, int, int, int, str]]
    ) -> tuple[Rejected, ...]:
        ordered = sorted(self._entries.values(), key=lambda entry: key(entry[0], entry[1]))
        return tuple(
            Rejected(candidate, reason if isinstance(reason, str) else reason())
            for candidate, _, reason in ordered[:MAX_REJECTED]
        )
