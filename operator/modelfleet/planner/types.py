"""The planner's input and output: plain frozen data, shared by the CLI, the renderer and the reconciler."""

from __future__ import annotations

from dataclasses import dataclass, field

# Defined with the catalog's facts, which the api's spec models use too; imported from here as well.
from modelfleet.catalog.types import Engine, Quantization


@dataclass(frozen=True)
class GpuPool:
    """GPUs the planner may choose from.

    ``free_per_node`` maps GPU type name to the free GPU count of each node of that type (from the
    cluster inventory). ``None`` means no inventory is known (the CLI without a cluster): every catalog
    GPU type is a candidate with its typical GPUs per node (or ``node_shapes`` when given).
    """

    free_per_node: dict[str, tuple[int, ...]] | None = None
    # GPUs per node (allocatable, free or not) of each GPU type's nodes, distinct sizes, largest first:
    # from the cluster's Nodes, or every type pinned by ``modelfleet plan --gpus-per-node``. A type not
    # listed uses the catalog's most common shape.
    node_shapes: dict[str, tuple[int, ...]] | None = None


@dataclass(frozen=True)
class PlanRequest:
    model_id: str
    engine: Engine = Engine.VLLM
    gpu: str | None = None  # catalog GPU name; None or "auto" = choose
    quantization: Quantization | None = None  # None = the checkpoint's own dtype
    kv_cache_dtype: str = "auto"  # "auto" (= activation dtype) or "fp8"
    max_model_len: int | None = None  # None = auto-fit: the longest context the chosen layout holds
    concurrency: int = 1  # goal: sequences of max_model_len held in KV cache at once (ranks layouts)
    strict: bool = False  # True: the concurrency goal is a hard requirement
    gpu_memory_utilization: float = 0.90
    gpus_per_replica: int | None = None  # user pins: always win, or the plan says why not
    tensor_parallel: int | None = None
    pipeline_parallel: int | None = None
    expert_parallel: bool | None = None  # None = planner decides (on for large MoE)
    data_parallel: int | None = None  # DP x EP inside a replica (MoE); None = no DP ranks (DP = 1)
    pool: GpuPool = field(default_factory=GpuPool)


@dataclass(frozen=True)
class MemoryPerGpu:
    """Bytes on each GPU of a replica."""

    weights: int
    kv_cache: int
    overhead: int
    usable: int  # memory x gpu_memory_utilization

    @property
    def free(self) -> int:
        return self.usable - self.weights - self.kv_cache - self.overhead


@dataclass(frozen=True)
class Candidate:
    gpu_type: str
    gpus_per_replica: int
    nodes_per_replica: int
    tensor_parallel: int
    pipeline_parallel: int
    data_parallel: int = 1  # attention DP ranks of one replica; GPUs = TP x PP x DP
    expert_parallel: bool = False


@dataclass(frozen=True)
class Rejected:
    candidate: Candidate
    reason: str


@dataclass(frozen=True)
class Plan:
    """The chosen layout, or ``feasible=False`` with the reasons nothing fits."""

    feasible: bool
    model_id: str
    engine: Engine
    quantization: str  # the served weight dtype, e.g. "bf16", "fp8"
    max_model_len: int | None
    chosen: Candidate | None
    memory: MemoryPerGpu | None
    kv_bytes_per_token: int | None
    reasons: tuple[str, ...]  # how the choice was made, or why nothing fits; plain sentences
    rejected: tuple[Rejected, ...] = ()
    # Full-length sequences the chosen layout's KV pool holds at max_model_len (None when infeasible).
    concurrency_at_max_len: int | None = None
    # Architecture facts were unknown and bounded: the sentences that say how (SizingEstimated).
    assumptions: tuple[str, ...] = ()

    @property
    def estimated(self) -> bool:
        return bool(self.assumptions)
