"""Block-quantized weights and tensor parallelism: the start-up checks vLLM and SGLang make.

A block-quantized checkpoint (``quantization_config.weight_block_size = [block_n, block_k]``, 128 x 128
for DeepSeek V3/V4, Qwen3 FP8, MiniMax M2) keeps one scale per block, so each tensor-parallel slice
of a weight must hold whole blocks. The engines check this while building the layers and refuse to
start otherwise; the messages below are theirs, word for word:

- MoE experts (``Fp8MoEMethod.create_weights`` in ``vllm/model_executor/layers/quantization/fp8.py``,
  and SGLang's copy in ``python/sglang/srt/layers/quantization/fp8.py``): the experts' intermediate
  size split by TP must be a multiple of ``block_n`` ("The output_size of gate's and up's weight = 192
  is not divisible by weight quantization block_n = 128.") and of ``block_k`` for the down projection.
  With expert parallel each rank holds whole experts and nothing is split.
- Dense layers (``validate_fp8_block_shape`` in ``vllm/model_executor/layers/quantization/utils/
  fp8_utils.py``): every column-parallel output slice must be a multiple of ``block_n`` ("Weight
  output_partition_size = 576 is not divisible by weight quantization block_n = 128.") and every
  row-parallel input slice of ``block_k``: the dense MLP (``intermediate_size / TP``), the query and
  KV projections (heads / TP x head_dim) and the output projection.

Group-quantized int checkpoints (GPTQ, AWQ: ``quantization_config.group_size``, 128 for most) keep one
scale per group of input channels, so every row-parallel input slice (``intermediate_size / TP`` of
the down projection, ``heads x head_dim / TP`` of the output projection) must hold whole groups. vLLM's
Marlin kernels, which serve GPTQ and AWQ on every NVIDIA GPU from Ampere on, refuse otherwise
(``verify_marlin_supports_shape`` in ``vllm/model_executor/layers/quantization/utils/marlin_utils.py``):
"Weight input_size_per_partition = 1728 is not divisible by group_size = 128. Consider reducing
tensor_parallel_size or running with --quantization gptq."

Worked examples (block 128): Qwen3-235B-A22B-FP8 (moe_intermediate_size 1536) at TP=8 gives 192 per
rank: refused, while TP=4 (384) or TP=8 with expert parallel start. Qwen3-Coder-480B-A35B-FP8 (2560)
at TP=8 gives 320: refused.
"""

from __future__ import annotations

from modelfleet.planner.context import Sizing
from modelfleet.planner.types import Candidate

Problem = tuple[str, str]  # (category, reason)

_MOE_UP = "The output_size of gate's and up's weight = {size} is not divisible by weight quantization block_n = {block}."
_MOE_DOWN = (
    "The input_size of down's weight = {size} is not divisible by weight quantization block_k = {block}."
)
_DENSE_OUT = (
    "Weight output_partition_size = {size} is not divisible by weight quantization block_n = {block}."
)
_DENSE_IN = (
    "Weight input_size_per_partition = {size} is not divisible by weight quantization block_k = {block}."
)


_GROUP = (
    "Weight input_size_per_partition = {size} is not divisible by group_size = {block}. "
    "Consider reducing tensor_parallel_size or running with --quantization gptq."
)


def check_weight_blocks(c: Candidate, sizing: Sizing) -> Problem | None:
    """The first tensor-parallel slice that is not a whole number of quantization blocks, or None."""
    block = sizing.weight_block
    if block is None:
        return check_weight_groups(c, sizing)
    block_n, block_k = block
    for label, size, template_n, template_k in _slices(c, sizing):
        for template, quantum in ((template_n, block_n), (template_k, block_k)):
            # vLLM checks the down projection's block_k only when TP splits it ("tp_size > 1").
            if template is _MOE_DOWN and c.tensor_parallel == 1:
                continue
            if template and size % quantum:
                return "weight-blocks", _reason(sizing, c, label, template.format(size=size, block=quantum))
    return check_weight_groups(c, sizing)


def check_weight_groups(c: Candidate, sizing: Sizing) -> Problem | None:
    """The first row-parallel input slice that is not a whole number of quantization groups, or None.

    Only TP splits input channels; at TP=1 every slice is the checkpoint's own width.
    """
    group, tp, model = sizing.weight_group, c.tensor_parallel, sizing.model
    if group is None or tp == 1:
        return None
    slices: list[tuple[str, int]] = []
    expert_width = model.moe.expert_intermediate_size if model.moe else None
    if sizing.is_moe and not c.expert_parallel and expert_width and expert_width % tp == 0:
        slices.append((f"moe_intermediate_size {expert_width} / TP={tp}", expert_width // tp))
    if not sizing.is_moe and model.intermediate_size and model.intermediate_size % tp == 0:
        slices.append(
            (f"intermediate_size {model.intermediate_size} / TP={tp}", model.intermediate_size // tp)
        )
    heads, head_dim = model.num_attention_heads, model.head_dim
    if heads and head_dim and heads % tp == 0:
        slices.append((f"{heads} heads x {head_dim} / TP={tp}", heads // tp * head_dim))
    for label, size in slices:
        if size % group:
            words = _GROUP.format(size=size, block=group)
            return "weight-groups", _reason(
                sizing, c, label, words, f"group-quantized weights (group {group})"
            )
    return None


def _reason(sizing: Sizing, c: Candidate, label: str, words: str, kind: str = "") -> str:
    advice = "use a smaller TP"
    if sizing.is_moe and not c.expert_parallel and "moe_" in label:
        advice = "enable expert parallel (accelerator.expertParallel: true) or use a smaller TP"
    if not kind and sizing.weight_block is not None:
        kind = f"block-quantized weights {sizing.weight_block[0]}x{sizing.weight_block[1]}"
    return f"{sizing.engine.engine.value} refuses to start: {words!r} ({label}, {kind}); {advice}"


def _slices(c: Candidate, sizing: Sizing) -> list[tuple[str, int, str, str]]:
    """(label, per-rank size, message if not a multiple of block_n, message if not of block_k)."""
    model, tp = sizing.model, c.tensor_parallel
    out: list[tuple[str, int, str, str]] = []
    expert_width = model.moe.expert_intermediate_size if model.moe else None
    if sizing.is_moe and not c.expert_parallel and expert_width and expert_width % tp == 0:
        out.append(
            (f"moe_intermediate_size {expert_width} / TP={tp}", expert_width // tp, _MOE_UP, _MOE_DOWN)
        )
    if not sizing.is_moe and model.intermediate_size and model.intermediate_size % tp == 0:
        width = model.intermediate_size
        out.append((f"intermediate_size {width} / TP={tp}", width // tp, _DENSE_OUT, _DENSE_IN))
    if model.weight_block_n is None:
        return out  # block size assumed, not read: check the MLP only, as for every fp8 MoE checkpoint
    heads, head_dim = model.num_attention_heads, model.head_dim
    if heads and head_dim and heads % tp == 0:
        query = heads // tp * head_dim
        out.append((f"{heads} query heads x {head_dim} / TP={tp}", query, _DENSE_OUT, _DENSE_IN))
    kv_heads = model.num_kv_heads
    if kv_heads and head_dim and sizing.model.kv_lora_rank is None:
        per_rank = max(1, kv_heads // tp) * head_dim  # fewer KV heads than ranks: each rank keeps one
        out.append((f"{kv_heads} KV heads x {head_dim} / TP={tp}", per_rank, _DENSE_OUT, ""))
    return out
