"""Per-GPU memory of a candidate layout, and the sentence that explains it."""

from __future__ import annotations

from modelfleet.catalog.types import GIB, GpuType
from modelfleet.planner.context import Sizing
from modelfleet.planner.engines import overhead_bytes
from modelfleet.planner.kv import kv_bytes_per_gpu
from modelfleet.planner.startup import startup_refusal
from modelfleet.planner.types import Candidate, MemoryPerGpu


def gib(value: float) -> str:
    return f"{value / GIB:.1f} GiB"


def memory_per_gpu(
    candidate: Candidate, gpu: GpuType, sizing: Sizing, tokens: int | None = None
) -> MemoryPerGpu:
    """Bytes on the fullest GPU of the replica, with the KV of the sequences that must fit.

    Weights divide evenly over TP x PP ranks (embeddings on the first and last stage are inside the
    2% slack); KV follows ``kv_bytes_per_gpu`` for ``tokens`` (default: the length layouts are
    checked at) x ``sizing.sequences``; overhead follows ``engines.overhead_bytes``.
    """
    tp, pp = candidate.tensor_parallel, candidate.pipeline_parallel
    world = tp * pp
    weights = -(-sizing.weight_bytes // world)
    kv = sequence_bytes(candidate, sizing, tokens or sizing.tokens_per_sequence, sizing.sequences)
    overhead = overhead_bytes(sizing.engine, sizing.activation_width, tp, world, candidate.expert_parallel)
    usable = int(gpu.memory_bytes * sizing.request.gpu_memory_utilization)
    return MemoryPerGpu(weights=weights, kv_cache=kv, overhead=overhead, usable=usable)


def sequence_bytes(candidate: Candidate, sizing: Sizing, tokens: int, sequences: int = 1) -> int:
    """Per-GPU KV bytes of ``sequences`` sequences of ``tokens`` tokens on this layout."""
    return kv_bytes_per_gpu(
        sizing.kv,
        candidate.tensor_parallel,
        candidate.pipeline_parallel,
        tokens,
        sequences,
        sizing.engine.sliding_window_saves_memory,
    )


def kv_pool_bytes(memory: MemoryPerGpu) -> int:
    """What the engine's profiling leaves for its KV pool on each GPU: usable - weights - overhead."""
    return memory.usable - memory.weights - memory.overhead


def _amount(value: int) -> str:
    """GiB with one decimal, or MiB when that would print 0.0."""
    return gib(value) if value >= GIB // 10 else f"{max(1, value // 1024**2)} MiB"


def shortfall_reason(memory: MemoryPerGpu, gpu: GpuType, utilization: float) -> str:
    needed = memory.weights + memory.kv_cache + memory.overhead
    return (
        f"needs {gib(needed)} per GPU (weights {gib(memory.weights)} + KV {gib(memory.kv_cache)} + "
        f"overhead {gib(memory.overhead)}) but usable is {gib(memory.usable)} of "
        f"{gib(gpu.memory_bytes)} at {utilization:.2f}: short by {_amount(-memory.free)}"
    )


def refusal_reason(memory: MemoryPerGpu, gpu: GpuType, sizing: Sizing) -> str | None:
    """Why the engine would not start (or serve the context) with this memory, or None.

    The engine's own check (``startup.py``) on one sequence; under ``serving.strict`` the whole
    concurrency goal must fit instead. The shortfall in GiB follows either way.
    """
    utilization = sizing.request.gpu_memory_utilization
    if sizing.request.strict:
        if memory.free >= 0:
            return None
        return (
            f"serving.strict: KV for {sizing.sequences} sequences of {sizing.tokens_per_sequence} tokens "
            f"must fit; {shortfall_reason(memory, gpu, utilization)}"
        )
    refusal = startup_refusal(
        sizing.request.engine, kv_pool_bytes(memory), memory.kv_cache, sizing.tokens_per_sequence
    )
    if refusal is None:
        return None
    return f"{refusal}; {shortfall_reason(memory, gpu, utilization)}"


def breakdown_sentence(
    candidate: Candidate, memory: MemoryPerGpu, gpu: GpuType, sizing: Sizing, tokens: int
) -> str:
    """'weights 270.0 GiB in fp8 -> 33.8 GiB per GPU at TP=8; KV 9.8 GiB for ...; usable ...'."""
    layout = f"TP={candidate.tensor_parallel}"
    if candidate.pipeline_parallel > 1:
        layout += f" x PP={candidate.pipeline_parallel}"
    return (
        f"weights {gib(sizing.weight_bytes)} in {sizing.served_dtype} -> {gib(memory.weights)} per GPU "
        f"at {layout}; KV {gib(memory.kv_cache)} per GPU for {tokens} tokens x "
        f"{sizing.sequences} sequences; overhead {gib(memory.overhead)}; usable {gib(memory.usable)} "
        f"of {gpu.memory_bytes / GIB:.0f} GiB at {sizing.request.gpu_memory_utilization:.2f}; "
        f"free {gib(memory.free)}"
    )
