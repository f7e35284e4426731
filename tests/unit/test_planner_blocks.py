"""Block-quantized checkpoints: the tensor-parallel layouts vLLM and SGLang refuse at start-up are refused
by the planner too, in the engine's own words; the ones they start stay feasible.

Facts come from config.json excerpts of the public checkpoints (Qwen/Qwen3-235B-A22B-FP8,
Qwen/Qwen3-Coder-480B-A35B-Instruct-FP8, a dense fp8 checkpoint) read by the catalog's own reader.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import pytest

from modelfleet.catalog import gpu_catalog
from modelfleet.catalog.hf import facts_from_config
from modelfleet.catalog.types import ModelFacts
from modelfleet.planner import Engine, PlanRequest, Quantization, plan

FP8_BLOCKS = {"quant_method": "fp8", "activation_scheme": "dynamic", "weight_block_size": [128, 128]}

QWEN3_235B_FP8 = {
    "architectures": ["Qwen3MoeForCausalLM"],
    "num_hidden_layers": 94,
    "hidden_size": 4096,
    "num_attention_heads": 64,
    "num_key_value_heads": 4,
    "head_dim": 128,
    "intermediate_size": 12288,
    "moe_intermediate_size": 1536,
    "num_experts": 128,
    "num_experts_per_tok": 8,
    "max_position_embeddings": 40960,
    "torch_dtype": "bfloat16",
    "quantization_config": FP8_BLOCKS,
}
QWEN3_CODER_480B_FP8 = {
    **QWEN3_235B_FP8,
    "num_hidden_layers": 62,
    "hidden_size": 6144,
    "num_attention_heads": 96,
    "num_key_value_heads": 8,
    "intermediate_size": 8192,
    "moe_intermediate_size": 2560,
    "num_experts": 160,
    "max_position_embeddings": 262144,
}
# A dense fp8 checkpoint whose MLP is 1.5 blocks wide per rank at TP=8 (a made-up width, real shape).
DENSE_FP8 = {
    "architectures": ["LlamaForCausalLM"],
    "num_hidden_layers": 32,
    "hidden_size": 4096,
    "num_attention_heads": 32,
    "num_key_value_heads": 8,
    "intermediate_size": 12288 + 1536,
    "max_position_embeddings": 32768,
    "quantization_config": FP8_BLOCKS,
}


def facts(config: dict[str, Any], model_id: str, params: float) -> ModelFacts:
    read = facts_from_config(config, model_id)
    return dataclasses.replace(read, total_params=int(params), active_params=int(params))


QWEN_235B = facts(QWEN3_235B_FP8, "Qwen/Qwen3-235B-A22B-FP8", 235e9)
QWEN_CODER = facts(QWEN3_CODER_480B_FP8, "Qwen/Qwen3-Coder-480B-A35B-Instruct-FP8", 480e9)
DENSE = facts(DENSE_FP8, "org/dense-fp8", 8e9)


@dataclass(frozen=True)
class Case:
    name: str
    model: ModelFacts
    request: dict[str, Any]
    feasible: bool
    says: str = ""  # the engine's words, in the first reason
    layout: tuple[int, int, bool] | None = None  # TP, PP, expert parallel


CASES = [
    Case(
        "qwen3-235b-fp8-tp8-no-ep-vllm",
        QWEN_235B,
        {"gpu": "H200", "tensor_parallel": 8, "expert_parallel": False},
        False,
        "The output_size of gate's and up's weight = 192 is not divisible by weight quantization block_n = 128.",
    ),
    Case(
        "qwen3-235b-fp8-tp8-no-ep-sglang",
        QWEN_235B,
        {"gpu": "H200", "tensor_parallel": 8, "expert_parallel": False, "engine": Engine.SGLANG},
        False,
        "sglang refuses to start: \"The output_size of gate's and up's weight = 192",
    ),
    Case(
        "qwen3-coder-480b-fp8-tp8-no-ep",
        QWEN_CODER,
        {"gpu": "H200", "tensor_parallel": 8, "expert_parallel": False},
        False,
        "The output_size of gate's and up's weight = 320 is not divisible by weight quantization block_n = 128.",
    ),
    Case(
        "qwen3-235b-fp8-tp4-starts",
        QWEN_235B,
        {"gpu": "H200", "tensor_parallel": 4, "expert_parallel": False},
        True,
        layout=(4, 1, False),
    ),
    Case(
        "qwen3-coder-480b-fp8-tp8-with-ep-starts",
        QWEN_CODER,
        {"gpu": "H200", "tensor_parallel": 8, "expert_parallel": True},
        True,
        layout=(8, 1, True),
    ),
    Case(
        "qwen3-coder-480b-fp8-tp4-pp2-starts",
        QWEN_CODER,
        {"gpu": "H200", "tensor_parallel": 4, "pipeline_parallel": 2, "expert_parallel": False},
        True,
        layout=(4, 2, False),
    ),
    Case(
        "dense-fp8-tp8-mlp-slice",
        DENSE,
        {"gpu": "H100-80GB", "tensor_parallel": 8},
        False,
        "Weight output_partition_size = 1728 is not divisible by weight quantization block_n = 128.",
    ),
    Case(
        "dense-fp8-tp2-starts",
        DENSE,
        {"gpu": "H100-80GB", "tensor_parallel": 2},
        True,
        layout=(2, 1, False),
    ),
]


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_block_quantized_layouts_match_the_engines(case: Case) -> None:
    result = plan(PlanRequest(case.model.id, **case.request), case.model, gpu_catalog())
    assert result.feasible is case.feasible, result.reasons
    if case.says:
        assert case.says in result.reasons[0]
    if case.layout is not None:
        assert result.chosen is not None
        chosen = result.chosen
        assert (chosen.tensor_parallel, chosen.pipeline_parallel, chosen.expert_parallel) == case.layout


def test_the_unpinned_plan_never_picks_a_layout_the_engine_refuses() -> None:
    result = plan(PlanRequest(QWEN_CODER.id, gpu="H200", expert_parallel=False), QWEN_CODER, gpu_catalog())
    assert result.feasible and result.chosen is not None
    assert (2560 // result.chosen.tensor_parallel) % 128 == 0


def test_config_json_weight_block_size_is_read() -> None:
    assert (QWEN_235B.weight_block_n, QWEN_235B.weight_block_k) == (128, 128)
    assert QWEN_235B.native_dtype == "fp8"


def test_a_bf16_checkpoint_quantized_on_load_has_no_blocks_to_respect() -> None:
    bf16 = dataclasses.replace(QWEN_CODER, native_dtype="bf16", weight_block_n=None, weight_block_k=None)
    result = plan(
        PlanRequest(
            bf16.id, gpu="H200", tensor_parallel=8, expert_parallel=False, quantization=Quantization.FP8
        ),
        bf16,
        gpu_catalog(),
    )
    assert result.feasible, result.reasons


@pytest.mark.parametrize(
    "block",
    [[128], "128x128", [0, 128], [128, -1]],
    ids=["one-number", "string", "zero", "negative"],
)
def test_a_malformed_weight_block_size_names_the_field(block: Any) -> None:
    from modelfleet.catalog.errors import CatalogError

    config = {**QWEN3_235B_FP8, "quantization_config": {**FP8_BLOCKS, "weight_block_size": block}}
    with pytest.raises(CatalogError, match="weight_block_size"):
        facts_from_config(config, "org/broken")


DENSE_GPTQ = {
    **{k: v for k, v in DENSE_FP8.items() if k != "quantization_config"},
    "quantization_config": {"quant_method": "gptq", "bits": 4, "group_size": 128, "desc_act": False},
}


def test_gptq_group_size_is_read_from_config_json() -> None:
    assert facts_from_config(DENSE_GPTQ, "org/dense-gptq").weight_group_size == 128
    per_channel = {**DENSE_GPTQ, "quantization_config": {"quant_method": "awq", "group_size": -1}}
    assert facts_from_config(per_channel, "org/dense-awq").weight_group_size is None


@pytest.mark.parametrize(("tp", "feasible"), [(2, True), (8, False)])
def test_gptq_row_parallel_slices_must_hold_whole_groups(tp: int, feasible: bool) -> None:
    model = facts(DENSE_GPTQ, "org/dense-gptq", 8e9)
    result = plan(PlanRequest(model.id, gpu="H100-80GB", tensor_parallel=tp), model, gpu_catalog())
    assert result.feasible is feasible, result.reasons
    if not feasible:
        assert (
            "Weight input_size_per_partition = 1728 is not divisible by group_size = 128."
            in result.reasons[0]
        )
