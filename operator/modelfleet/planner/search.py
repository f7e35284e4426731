"""The search over GPU types and counts, pruned so a plan costs tens of microseconds.

Pruning never changes the answer:

- A count whose GPUs cannot even hold the weights (``weights / count > usable``) is not evaluated,
  except the largest such count, which is kept as the informative near miss ("8 x H100 short by
  15 GiB") unless it already costs more than the best plan.
- Counts are tried in ascending order and the first feasible one ends the GPU type: larger counts
  of the same type only cost more.
- GPU types are tried cheapest first; a count that costs more than the best plan found so far (and
  every larger count) cannot be chosen, so it is skipped.
"""

from __future__ import annotations

from functools import partial

from modelfleet.catalog.types import GpuType
from modelfleet.planner.candidates import check_candidate, gpu_counts, layout
from modelfleet.planner.context import Sizing
from modelfleet.planner.dtypes import dtype_on_hardware
from modelfleet.planner.fit import fit_in_inventory
from modelfleet.planner.memory import memory_per_gpu, shortfall_reason
from modelfleet.planner.ranking import Found, RejectionLog
from modelfleet.planner.types import Candidate


def search(types: list[GpuType], sizing: Sizing) -> tuple[list[Found], RejectionLog]:
    """Feasible layouts (at most one per GPU type) and the log of rejected ones.

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
        hit = _search_type(gpu, counts, sizing, log, best_cost, verdict.message)
        if hit is not None:
            found.append(hit)
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
) -> Found | None:
    usable = gpu.memory_bytes * sizing.request.gpu_memory_utilization
    hopeless_below = sizing.weight_bytes / usable if usable > 0 else float("inf")
    near_miss_count = 0
    for count in counts:
        if count < hopeless_below:
            near_miss_count = count
            continue
        if count * gpu.relative_cost > best_cost:
            return None  # this count and every larger one cost more than the plan already found
        if near_miss_count:
            _evaluate_count(near_miss_count, gpu, sizing, log, note)
            near_miss_count = 0
        candidate = layout(gpu, count, sizing)
        if candidate is None:
            continue
        hit = _evaluate(candidate, gpu, sizing, log, note)
        if hit is not None:
            return hit
    if near_miss_count and near_miss_count * gpu.relative_cost <= best_cost:
        _evaluate_count(near_miss_count, gpu, sizing, log, note)
    return None


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
    if memory.free < 0:
        log.add(
            candidate,
            gpu,
            "memory",
            partial(shortfall_reason, memory, gpu, sizing.request.gpu_memory_utilization),
        )
        return None
    inventory = sizing.request.pool.free_per_node
    if inventory is not None:
        fit = fit_in_inventory(candidate, inventory, 1)
        if not fit.fits:
            log.add(candidate, gpu, "inventory", fit.message)
            return None
    return Found(candidate, gpu, memory, note)
