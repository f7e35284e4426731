"""Everything about one plan request that does not depend on the GPU type or the layout.

Built once per ``plan`` call so the per-candidate checks are a handful of integer operations.
"""

from __future__ import annotations

from dataclasses import dataclass

from modelfleet.catalog.types import ModelFacts
from modelfleet.planner.engines import EngineProfile
from modelfleet.planner.kv import KvShape
from modelfleet.planner.types import PlanRequest

# Block-quantized fp8 checkpoints (DeepSeek V3/V4, Qwen3 FP8, MiniMax M2 ...) scale weights in 128 x 128
# blocks. Assumed for a native fp8 checkpoint whose block size the facts do not give: every published
# block-quantized fp8 checkpoint uses it, and for per-tensor or per-channel fp8 the check only refuses
# slices that are not multiples of 128, which the engines' fp8 kernels handle poorly anyway.
FP8_BLOCK = (128, 128)

# Expert parallel pays off for fine-grained MoE (many small experts: DeepSeek 256, Qwen3 128);
# coarse MoE such as Mixtral (8 experts) is served faster with TP inside each expert.
EP_MIN_EXPERTS = 32


@dataclass(frozen=True)
class Sizing:
    request: PlanRequest
    model: ModelFacts
    engine: EngineProfile
    served_dtype: str
    native_dtype: str | None
    weight_bytes: int  # whole replica, served dtype, slack included
    kv: KvShape
    tokens_per_sequence: int  # the length layouts are checked at: pinned maxModelLen or the auto-fit floor
    sequences: int  # sequences that must fit to start: 1, or the concurrency goal under strict
    activation_width: tuple[int, int] | None
    weight_block: tuple[int, int] | None  # (block_n, block_k) when the served weights are block-quantized
    context_ceiling: int | None = None  # None: maxModelLen pinned; else the auto-fit maximum
    goal_sequences: int = 1  # the concurrency goal, at tokens_per_sequence
    assumptions: tuple[str, ...] = ()  # non-empty: an estimated plan
    # Copies of model facts read in the per-candidate loop (plain fields are cheaper than properties).
    is_moe: bool = False
    routed_experts: int = 0
    kv_head_counts: tuple[int, ...] = ()
    # Quantization group of served group-quantized int weights (GPTQ / AWQ), None = not grouped.
    weight_group: int | None = None
    # Bytes of the routed experts within weight_bytes (DP x EP splits them, replicates the rest); None = unknown.
    expert_weight_bytes: int | None = None
