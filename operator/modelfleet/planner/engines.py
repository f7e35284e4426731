"""What each engine can do, and the memory it needs beyond weights and KV cache.

Overhead per GPU = base + NCCL (when the replica has more than one GPU) + activation peak.

- base: CUDA context and the engine's non-torch allocations (~0.3-0.5 GiB on one GPU), CUDA graphs
  captured for decode batch sizes (~0.3-0.6 GiB), sampler / logits buffers. vLLM 1.0 GiB; SGLang
  1.5 GiB (it captures graphs for larger batches and keeps radix-tree metadata); TGI 2.0 GiB (it
  reserves its warm-up prefill batch and does not count graphs inside its memory fraction).
- NCCL: communicator buffers and the custom all-reduce workspace, ~0.5 GiB per GPU; expert parallel
  adds ~1 GiB of all-to-all buffers.
- activation peak of one prefill chunk: ``prefill_tokens x (10 x hidden + 3 x intermediate / TP) x 2
  bytes`` (residual stream, norms and attention outputs are hidden-sized and replicated; the MLP
  up/gate projection is intermediate-sized and split by TP). vLLM's profile run of Llama-3.1-8B with
  8192 batched tokens reports about 1.2 GiB of activation peak; the formula gives 1.28 GiB.

Together this reproduces vLLM's startup log for Llama-3.1-8B on one 24 GiB L4 at 0.90 (about 5 GiB
left for KV cache after 15 GiB of weights) to within a few hundred MiB, on the safe side.

Worked examples (vLLM): Llama-3.1-8B at TP=1: 1.0 + 8192 x (40960 + 43008) x 2 B = 2.28 GiB.
Llama-3.1-70B at TP=4: 1.0 + 0.5 + 8192 x (81920 + 21504) x 2 B = 3.08 GiB.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from modelfleet.catalog.types import GIB, ModelFacts
from modelfleet.planner.types import Engine

# When hidden size is unknown the activation term uses this allowance (a 70B-class model's peak).
UNKNOWN_ACTIVATION_BYTES = 2 * GIB
ACTIVATION_BYTES = 2  # bf16 activations
NCCL_BYTES = GIB // 2
# Expert parallel adds all-to-all dispatch/combine buffers (DeepEP / pplx kernels register ~1 GiB per rank).
EXPERT_PARALLEL_BYTES = GIB


class MultiNode(StrEnum):
    """How an engine spreads one replica over several nodes."""

    PIPELINE = "pipeline"  # TP inside a node, PP across nodes (vLLM)
    TENSOR = "tensor"  # TP across all nodes (SGLang --nnodes)
    NONE = "none"  # single node only (TGI)


@dataclass(frozen=True)
class EngineProfile:
    engine: Engine
    base_bytes: int
    prefill_tokens: int  # tokens in one prefill chunk at the default chunked-prefill budget
    multi_node: MultiNode
    pipeline_parallel: bool  # accepts PP > 1
    expert_parallel_flag: str | None  # CLI flag that turns on expert parallel, None = unsupported
    sliding_window_saves_memory: bool  # windowed layers allocate only the window


PROFILES: dict[Engine, EngineProfile] = {
    Engine.VLLM: EngineProfile(
        Engine.VLLM, GIB, 8192, MultiNode.PIPELINE, True, "--enable-expert-parallel", True
    ),
    # SGLang's default chunked prefill is 8192 tokens on 80 GB-class GPUs (16384 on larger ones,
    # where the extra ~1 GiB is small next to the memory).
    Engine.SGLANG: EngineProfile(
        Engine.SGLANG, int(1.5 * GIB), 8192, MultiNode.TENSOR, True, "--ep-size", True
    ),
    # TGI: no pipeline parallel, no multi-node, no expert parallel; one paged cache for all layers.
    Engine.TGI: EngineProfile(Engine.TGI, 2 * GIB, 8192, MultiNode.NONE, False, None, False),
}


def profile(engine: Engine) -> EngineProfile:
    return PROFILES[engine]


def activation_width(model: ModelFacts) -> tuple[int, int] | None:
    """(hidden size, MLP width) that drive the activation peak; None when hidden size is unknown.

    For MoE the MLP width is the larger of the dense intermediate size and the routed experts'
    combined width (``experts_per_token x expert_intermediate_size``).
    """
    if not model.hidden_size:
        return None
    mlp = model.intermediate_size or 4 * model.hidden_size
    if model.moe and model.moe.experts_per_token and model.moe.expert_intermediate_size:
        mlp = max(mlp, model.moe.experts_per_token * model.moe.expert_intermediate_size)
    return model.hidden_size, mlp


def overhead_bytes(
    engine: EngineProfile,
    width: tuple[int, int] | None,
    tensor_parallel: int,
    world: int,
    expert_parallel: bool = False,
) -> int:
    """Engine memory per GPU beyond weights and KV cache.

    >>> round(overhead_bytes(PROFILES[Engine.VLLM], (4096, 14336), 1, 1) / GIB, 2)
    2.28
    >>> round(overhead_bytes(PROFILES[Engine.VLLM], (8192, 28672), 4, 4) / GIB, 2)
    3.08
    """
    nccl = NCCL_BYTES if world > 1 else 0
    if expert_parallel:
        nccl += EXPERT_PARALLEL_BYTES
    if width is None:
        return engine.base_bytes + nccl + UNKNOWN_ACTIVATION_BYTES
    hidden, mlp = width
    activation = engine.prefill_tokens * (10 * hidden + 3 * mlp // tensor_parallel) * ACTIVATION_BYTES
    return engine.base_bytes + nccl + activation
