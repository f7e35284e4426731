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
    tp, pp, dp = candidate.tensor_parallel, candidate.pipeline_parallel, candidate.data_parallel
    world = tp * pp * dp
    weights = -(-sizing.weight_bytes // world)
    sequences = sizing.sequences
    if dp > 1:
        weights = data_parallel_weights(sizing.weight_bytes, sizing.expert_weight_bytes or 0, tp, dp)
        sequences = -(-sizing.sequences // dp)  # each DP rank holds the KV of its own sequences
    kv = sequence_bytes(candidate, sizing, tokens or sizing.tokens_per_sequence, sequences)
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


def data_parallel_weights(weight_bytes: int, expert_bytes: int, tp: int, dp: int) -> int:
    """Weight bytes on one GPU of a DP x EP replica: attention, dense layers, shared experts and
    embeddings are replicated on every DP rank (split only by its TP); routed experts are split over
    all ``tp x dp`` GPUs.

    DeepSeek-V3 fp8 (654.1 GiB, 637.9 GiB of them routed experts) at DP=8, TP=1:
    16.2 + 637.9 / 8 = 95.9 GiB per GPU, against 81.8 GiB at TP=8: DP attention buys throughput with
    memory.

    >>> gib = 2**30
    >>> round(data_parallel_weights(int(654.1 * gib), int(637.9 * gib), 1, 8) / gib, 1)
    95.9
    """
    replicated = max(0, weight_bytes - expert_bytes)
    return -(-replicated // tp) + -(-expert_bytes // (tp * dp))


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
    if candidate.data_parallel > 1:
        layout += f" x DP={candidate.data_parallel} (attention replicated per DP rank, experts split)"
    return (
        f"weights {gib(sizing.weight_bytes)} in {sizing.served_dtype} -> {gib(memory.weights)} per GPU "
        f"at {layout}; KV {gib(memory.kv_cache)} per GPU for {tokens} tokens x "
        f"{sizing.sequences} sequences; overhead {gib(memory.overhead)}; usable {gib(memory.usable)} "
        f"of {gpu.memory_bytes / GIB:.0f} GiB at {sizing.request.gpu_memory_utilization:.2f}; "
        f"free {gib(memory.free)}"
    )
