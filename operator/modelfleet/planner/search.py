"""The search over GPU types and counts, pruned so a plan costs tens of microseconds.

Pruning never changes the answer:

- A count whose GPUs cannot even hold the weights (``weights / count > usable``) is not evaluated,
  except the largest such count, which is kept as the informative near miss ("8 x H100 short by
  15 GiB") unless it already costs more than the best plan.
- Counts are tried in ascending order and the first one that meets the concurrency goal ends the
  GPU type: larger counts of the same type only cost more. A feasible count short of the goal is
  kept (the fallback when no layout meets it) and the search goes on to larger counts.
- GPU types are tried cheapest first; a count that costs more than the best goal-meeting plan found
  so far (and every larger count) cannot be chosen, so it is skipped.

With the default goal of one sequence every feasible layout meets it, so this is "first feasible".
"""

from __future__ import annotations

from functools import partial

from modelfleet.catalog.types import GpuType
from modelfleet.planner.candidates import check_candidate, gpu_counts, layout
from modelfleet.planner.context import Sizing
from modelfleet.planner.dtypes import dtype_on_hardware
from modelfleet.planner.fit import fit_in_inventory
from modelfleet.planner.memory import (
    kv_pool_bytes,
    memory_per_gpu,
    refusal_reason,
    sequence_bytes,
    shortfall_reason,
)
from modelfleet.planner.ranking import Found, RejectionLog
from modelfleet.planner.types import Candidate, MemoryPerGpu


def search(types: list[GpuType], sizing: Sizing) -> tuple[list[Found], RejectionLog]:
    """Feasible layouts (at most two per GPU type: the cheapest, and the cheapest meeting the goal)
    and the log of rejected ones.

    ``types`` must come cheapest first (relative cost, then name) for the cost pruning to hold.
    """
    log = RejectionLog()
    found: list[Found] = []
    counts = gpu_counts(sizing)
    best_cost = float("inf")
    for gpu in types:  # cheapest first
        verdict = dtype_on_hardware(sizing.served_dtype, gpu, sizing.request.engine)
        if not verdict.ok:
            first = _first_layout(gpu, counts, sizing)
            if first is not None:
                log.add(first, gpu, "hardware", verdict.message)
            continue
        hits = _search_type(gpu, counts, sizing, log, best_cost, verdict.message)
        found += hits
        for hit in hits:
            if hit.goal_met:
                best_cost = min(best_cost, hit.candidate.gpus_per_replica * gpu.relative_cost)
    return found, log


def _first_layout(gpu: GpuType, counts: tuple[int, ...], sizing: Sizing) -> Candidate | None:
    for count in counts:
        candidate = layout(gpu, count, sizing)
        if candidate is not None:
            return candidate
    return None


def _search_type(
    gpu: GpuType, counts: tuple[int, ...], sizing: Sizing, log: RejectionLog, best_cost: float, note: str
) -> list[Found]:
    hits: list[Found] = []
    usable = gpu.memory_bytes * sizing.request.gpu_memory_utilization
    hopeless_below = sizing.weight_bytes / usable if usable > 0 else float("inf")
    near_miss_count = 0
    for count in counts:
        if count < hopeless_below:
            near_miss_count = count
            continue
        if count * gpu.relative_cost > best_cost:
            return hits  # this count and every larger one cost more than the plan already found
        if near_miss_count:
            _evaluate_count(near_miss_count, gpu, sizing, log, note)
            near_miss_count = 0
        candidate = layout(gpu, count, sizing)
        if candidate is None:
            continue
        hit = _evaluate(candidate, gpu, sizing, log, note)
        if hit is not None and hit.goal_met:
            return [*hits, hit]
        if hit is not None and not hits:
            hits.append(hit)
    if near_miss_count and near_miss_count * gpu.relative_cost <= best_cost:
        _evaluate_count(near_miss_count, gpu, sizing, log, note)
    return hits


def _evaluate_count(count: int, gpu: GpuType, sizing: Sizing, log: RejectionLog, note: str) -> None:
    candidate = layout(gpu, count, sizing)
    if candidate is not None:
        _evaluate(candidate, gpu, sizing, log, note)


def _evaluate(
    candidate: Candidate, gpu: GpuType, sizing: Sizing, log: RejectionLog, note: str
) -> Found | None:
    problem = check_candidate(candidate, gpu, sizing)
    if problem is not None:
        log.add(candidate, gpu, problem[0], problem[1])
        return None
    memory = memory_per_gpu(candidate, gpu, sizing)
    # Every engine's start-up rule refuses exactly when the sequences that must fit exceed the KV pool
    # (startup.py); the gate is that comparison, the engine's words are formatted only when reported.
    if memory.free < 0:
        log.add(candidate, gpu, "memory", partial(_refusal, memory, gpu, sizing))
        return None
    inventory = sizing.request.pool.free_per_node
    if inventory is not None:
        fit = fit_in_inventory(candidate, inventory, 1)
        if not fit.fits:
            log.add(candidate, gpu, "inventory", fit.message)
            return None
    return Found(candidate, gpu, memory, note, _goal_met(candidate, memory, sizing))


def _refusal(memory: MemoryPerGpu, gpu: GpuType, sizing: Sizing) -> str:
    return refusal_reason(memory, gpu, sizing) or shortfall_reason(
        memory, gpu, sizing.request.gpu_memory_utilization
    )


def _goal_met(candidate: Candidate, memory: MemoryPerGpu, sizing: Sizing) -> bool:
    """The KV pool holds ``concurrency`` sequences of the checked length (always true under strict)."""
    if sizing.goal_sequences <= sizing.sequences:
        return True
    goal = sequence_bytes(candidate, sizing, sizing.tokens_per_sequence, sizing.goal_sequences)
    return goal <= kv_pool_bytes(memory)
