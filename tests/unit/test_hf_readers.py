"""Reading config.json and model.safetensors.index.json files written the way Hugging Face ships them."""

from __future__ import annotations

import contextlib
import dataclasses
import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from modelfleet.catalog import (
    CatalogError,
    facts_from_config,
    get_model,
    merge_facts,
    read_config_json,
    weight_bytes_from_index,
)
from modelfleet.catalog.facts import MOE_FACTS
from modelfleet.catalog.types import AttentionKind, MoeFacts

LLAMA_31_8B = {
    "architectures": ["LlamaForCausalLM"],
    "model_type": "llama",
    "hidden_size": 4096,
    "intermediate_size": 14336,
    "num_attention_heads": 32,
    "num_hidden_layers": 32,
    "num_key_value_heads": 8,
    "max_position_embeddings": 131072,
    "torch_dtype": "bfloat16",
    "vocab_size": 128256,
}
DEEPSEEK_V3 = {
    "architectures": ["DeepseekV3ForCausalLM"],
    "hidden_size": 7168,
    "intermediate_size": 18432,
    "num_hidden_layers": 61,
    "num_attention_heads": 128,
    "num_key_value_heads": 128,
    "kv_lora_rank": 512,
    "q_lora_rank": 1536,
    "qk_rope_head_dim": 64,
    "qk_nope_head_dim": 128,
    "v_head_dim": 128,
    "n_routed_experts": 256,
    "n_shared_experts": 1,
    "num_experts_per_tok": 8,
    "moe_intermediate_size": 2048,
    "max_position_embeddings": 163840,
    "torch_dtype": "bfloat16",
    "quantization_config": {"quant_method": "fp8", "fmt": "e4m3", "weight_block_size": [128, 128]},
}
GEMMA4_31B = {
    "architectures": ["Gemma4ForConditionalGeneration"],
    "torch_dtype": "bfloat16",
    "vision_config": {"hidden_size": 1152},
    "text_config": {
        "hidden_size": 5376,
        "intermediate_size": 21504,
        "num_hidden_layers": 60,
        "num_attention_heads": 32,
        "num_key_value_heads": 16,
        "head_dim": 256,
        "num_global_key_value_heads": 4,
        "global_head_dim": 512,
        "sliding_window": 1024,
        "layer_types": (["sliding_attention"] * 5 + ["full_attention"]) * 10,
        "max_position_embeddings": 262144,
    },
}
QWEN35_9B = {
    "architectures": ["Qwen3_5ForConditionalGeneration"],
    "text_config": {
        "hidden_size": 4096,
        "num_hidden_layers": 32,
        "num_attention_heads": 16,
        "num_key_value_heads": 4,
        "head_dim": 256,
        "intermediate_size": 12288,
        "layer_types": (["linear_attention"] * 3 + ["full_attention"]) * 8,
        "full_attention_interval": 4,
        "max_position_embeddings": 262144,
        "dtype": "bfloat16",
    },
}
GEMMA3_OLD_STYLE = {
    "architectures": ["Gemma3ForCausalLM"],
    "hidden_size": 2560,
    "num_hidden_layers": 34,
    "num_attention_heads": 8,
    "num_key_value_heads": 4,
    "head_dim": 256,
    "sliding_window": 1024,
    "sliding_window_pattern": 6,
    "torch_dtype": "bfloat16",
}
GPT_OSS_20B = {
    "architectures": ["GptOssForCausalLM"],
    "hidden_size": 2880,
    "intermediate_size": 2880,
    "num_hidden_layers": 24,
    "num_attention_heads": 64,
    "num_key_value_heads": 8,
    "head_dim": 64,
    "sliding_window": 128,
    "layer_types": ["sliding_attention", "full_attention"] * 12,
    "num_local_experts": 32,
    "num_experts_per_tok": 4,
    "quantization_config": {"quant_method": "mxfp4"},
    "torch_dtype": "bfloat16",
}


def write_json(folder: Path, name: str, data: Any) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(json.dumps(data))
    return path


# ---- config.json ------------------------------------------------------------------------------------


def test_llama_gqa_config_reads_heads_and_derives_head_dim(tmp_path: Path) -> None:
    facts = read_config_json(write_json(tmp_path / "Llama-3.1-8B", "config.json", LLAMA_31_8B))
    assert facts.id == "Llama-3.1-8B"
    assert facts.attention is AttentionKind.GQA
    assert (facts.num_layers, facts.num_attention_heads, facts.num_kv_heads, facts.head_dim) == (
        32,
        32,
        8,
        128,
    )
    assert facts.native_dtype == "bf16" and facts.max_context == 131072 and facts.moe is None
    assert set(facts.unknown) == {"total_params", "active_params", "weight_bytes", "license"}


def test_explicit_head_dim_wins_over_hidden_over_heads() -> None:
    qwen3_32b = {**LLAMA_31_8B, "hidden_size": 5120, "num_attention_heads": 64, "head_dim": 128}
    assert facts_from_config(qwen3_32b, "Qwen/Qwen3-32B").head_dim == 128


def test_missing_kv_heads_means_multi_head_attention() -> None:
    config = {key: value for key, value in LLAMA_31_8B.items() if key != "num_key_value_heads"}
    assert facts_from_config(config, "m").num_kv_heads == 32


def test_deepseek_mla_config_reads_latent_and_moe(tmp_path: Path) -> None:
    facts = read_config_json(write_json(tmp_path, "config.json", DEEPSEEK_V3), "deepseek-ai/DeepSeek-V3")
    assert facts.attention is AttentionKind.MLA
    assert (facts.kv_lora_rank, facts.qk_rope_head_dim, facts.head_dim) == (512, 64, None)
    assert facts.moe is not None and facts.is_moe
    assert (facts.moe.routed_experts, facts.moe.shared_experts, facts.moe.experts_per_token) == (256, 1, 8)
    assert facts.moe.expert_intermediate_size == 2048
    assert facts.native_dtype == "fp8", "quantization_config describes the stored weights, not torch_dtype"


def test_dsa_indexer_dim_is_read_for_sparse_attention_models() -> None:
    facts = facts_from_config(
        {**DEEPSEEK_V3, "index_head_dim": 128, "index_topk": 2048}, "deepseek-ai/DeepSeek-V3.2"
    )
    assert facts.attention is AttentionKind.MLA and facts.indexer_head_dim == 128


def test_deepseek_v4_compressed_attention_needs_a_measured_kv_figure() -> None:
    config = {
        **DEEPSEEK_V3,
        "compress_ratios": [0, 0, 4, 128],
        "sliding_window": 128,
        "num_key_value_heads": 1,
    }
    facts = facts_from_config(config, "deepseek-ai/DeepSeek-V4-Flash")
    assert facts.attention is AttentionKind.COMPRESSED and facts.sliding_window == 128
    assert "kv_bytes_per_token_override" in facts.unknown


def test_gemma4_multimodal_config_is_read_from_text_config_with_global_kv_shape(tmp_path: Path) -> None:
    facts = read_config_json(write_json(tmp_path, "config.json", GEMMA4_31B), "google/gemma-4-31B-it")
    assert facts.vision and facts.architecture == "Gemma4ForConditionalGeneration"
    assert facts.attention is AttentionKind.SLIDING_HYBRID
    assert (facts.num_layers, facts.num_kv_heads, facts.head_dim, facts.sliding_window) == (60, 16, 256, 1024)
    assert (facts.full_attention_layers, facts.full_attention_kv_heads, facts.full_attention_head_dim) == (
        10,
        4,
        512,
    )
    assert facts.native_dtype == "bf16", "torch_dtype at the top level applies to the text model"


def test_gemma3_sliding_window_pattern_counts_global_layers() -> None:
    facts = facts_from_config(GEMMA3_OLD_STYLE, "google/gemma-3-4b-it")
    assert facts.attention is AttentionKind.SLIDING_HYBRID
    assert (facts.full_attention_layers, facts.full_attention_kv_heads, facts.full_attention_head_dim) == (
        5,
        4,
        256,
    )


def test_qwen35_hybrid_counts_full_attention_layers(tmp_path: Path) -> None:
    facts = read_config_json(write_json(tmp_path, "config.json", QWEN35_9B), "Qwen/Qwen3.5-9B")
    assert facts.attention is AttentionKind.LINEAR_HYBRID and facts.full_attention_layers == 8
    assert facts.native_dtype == "bf16" and facts.vision


def test_qwen3_next_interval_without_layer_types_gives_full_layers() -> None:
    text = {key: value for key, value in QWEN35_9B["text_config"].items() if key != "layer_types"}  # type: ignore[attr-defined]
    facts = facts_from_config({**text, "num_hidden_layers": 48}, "Qwen/Qwen3-Next-80B-A3B-Instruct")
    assert facts.attention is AttentionKind.LINEAR_HYBRID and facts.full_attention_layers == 12


def test_gpt_oss_alternating_layers_and_mxfp4_experts() -> None:
    facts = facts_from_config(GPT_OSS_20B, "openai/gpt-oss-20b")
    assert facts.attention is AttentionKind.SLIDING_HYBRID
    assert (facts.sliding_window, facts.full_attention_layers) == (128, 12)
    assert facts.native_dtype == "mxfp4"
    assert facts.moe is not None and facts.moe.routed_experts == 32 and facts.moe.shared_experts == 0
    assert facts.moe.expert_intermediate_size == 2880, (
        "without moe_intermediate_size experts use intermediate_size"
    )


def test_llama4_chunked_attention_counts_nope_layers_as_global() -> None:
    config = {
        **LLAMA_31_8B,
        "num_hidden_layers": 8,
        "attention_chunk_size": 8192,
        "no_rope_layers": [1, 1, 1, 0] * 2,
    }
    facts = facts_from_config(
        {"architectures": ["Llama4ForConditionalGeneration"], "text_config": config}, "m"
    )
    assert facts.attention is AttentionKind.SLIDING_HYBRID
    assert (facts.sliding_window, facts.full_attention_layers) == (8192, 2)


def test_qwen2_sliding_window_switched_off_is_plain_gqa() -> None:
    facts = facts_from_config({**LLAMA_31_8B, "sliding_window": 32768, "use_sliding_window": False}, "m")
    assert facts.attention is AttentionKind.GQA


def test_unrecognised_layer_type_makes_attention_unknown_rather_than_guessed() -> None:
    facts = facts_from_config(
        {**LLAMA_31_8B, "layer_types": ["full_attention", "quantum_attention"] * 16}, "m"
    )
    assert facts.attention is AttentionKind.UNKNOWN and "attention" in facts.unknown


@pytest.mark.parametrize(
    ("quantization_config", "expected"),
    [
        ({"quant_method": "awq", "bits": 4}, "awq"),
        ({"quant_method": "gptq", "bits": 4}, "gptq"),
        ({"quant_method": "modelopt", "quant_algo": "NVFP4"}, "fp4"),
        ({"quant_method": "bitsandbytes", "load_in_4bit": True}, "int4"),
        (
            {
                "quant_method": "compressed-tensors",
                "config_groups": {"g": {"weights": {"num_bits": 4, "type": "int"}}},
            },
            "int4",
        ),
        (
            {
                "quant_method": "compressed-tensors",
                "config_groups": {"g": {"weights": {"num_bits": 8, "type": "float"}}},
            },
            "fp8",
        ),
        ({"quant_method": "some-future-format"}, None),
    ],
)
def test_quantization_config_names_the_stored_dtype(
    quantization_config: dict[str, Any], expected: str | None
) -> None:
    facts = facts_from_config({**LLAMA_31_8B, "quantization_config": quantization_config}, "m")
    assert facts.native_dtype == expected


# ---- safetensors index ------------------------------------------------------------------------------


def test_safetensors_index_total_size_is_the_weight_bytes(tmp_path: Path) -> None:
    index = {
        "metadata": {"total_size": 16_060_522_496},
        "weight_map": {"lm_head.weight": "model-00004.safetensors"},
    }
    assert (
        weight_bytes_from_index(write_json(tmp_path, "model.safetensors.index.json", index)) == 16_060_522_496
    )


@pytest.mark.parametrize(
    ("content", "field"),
    [
        ({"weight_map": {}}, "metadata.total_size"),
        ({"metadata": {}}, "metadata.total_size"),
        ({"metadata": {"total_size": "16GB"}}, "metadata.total_size"),
        ({"metadata": {"total_size": -5}}, "metadata.total_size"),
        ({"metadata": {"total_size": 10**30}}, "metadata.total_size"),
        ({"metadata": ["total_size", 5]}, "metadata"),
        ([1, 2, 3], "JSON object"),
    ],
)
def test_bad_safetensors_index_names_the_file_and_field(tmp_path: Path, content: Any, field: str) -> None:
    path = write_json(tmp_path, "model.safetensors.index.json", content)
    with pytest.raises(CatalogError) as error:
        weight_bytes_from_index(path)
    assert str(path) in str(error.value) and field in str(error.value)


# ---- malformed and hostile files --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('{"num_hidden_layers": 32, "hidden_si', "truncated"),
        ("[1, 2, 3]", "JSON object"),
        ('"just a string"', "JSON object"),
        ("", "valid JSON"),
        ("[" * 100_000 + "]" * 100_000, "usable JSON"),
        ('{"num_hidden_layers": ' + "9" * 5000 + "}", "usable JSON"),
        ('{"num_hidden_layers": 1e400}', "num_hidden_layers"),
        ('{"num_hidden_layers": NaN}', "num_hidden_layers"),
        ('{"num_hidden_layers": -32}', "num_hidden_layers"),
        ('{"num_hidden_layers": true}', "num_hidden_layers"),
        ('{"num_hidden_layers": "32"}', "num_hidden_layers"),
        ('{"num_key_value_heads": 0}', "num_key_value_heads"),
        ('{"text_config": [1]}', "text_config"),
        ('{"architectures": "LlamaForCausalLM"}', "architectures"),
        ('{"architectures": [42]}', "architectures[0]"),
        ('{"quantization_config": "fp8"}', "quantization_config"),
        ('{"num_hidden_layers": 4, "layer_types": ["full_attention"]}', "layer_types"),
        ('{"layer_types": "sliding_attention"}', "layer_types"),
        ('{"n_routed_experts": 10000000000}', "n_routed_experts"),
    ],
)
def test_malformed_config_raises_catalog_error_naming_file_and_field(
    tmp_path: Path, text: str, expected: str
) -> None:
    path = tmp_path / "config.json"
    path.write_text(text)
    with pytest.raises(CatalogError) as error:
        read_config_json(path, "acme/model")
    assert str(path) in str(error.value) and expected in str(error.value)


def test_binary_and_oversized_files_are_refused(tmp_path: Path) -> None:
    binary = tmp_path / "binary.json"
    binary.write_bytes(b"\xff\xfe\x00garbage")
    huge = tmp_path / "huge.json"
    huge.write_text('{"pad": "' + "x" * (5 * 1024**2) + '"}')
    for path, expected in ((binary, "UTF-8"), (huge, "larger than")):
        with pytest.raises(CatalogError, match=expected):
            read_config_json(path)


def test_missing_file_says_to_check_the_path(tmp_path: Path) -> None:
    with pytest.raises(CatalogError, match="check the path"):
        read_config_json(tmp_path / "absent" / "config.json")


def test_non_mapping_config_object_is_refused() -> None:
    with pytest.raises(CatalogError, match="JSON object"):
        facts_from_config([("num_hidden_layers", 3)], "m")  # type: ignore[arg-type]


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=10), children, max_size=5)
    ),
    max_leaves=30,
)
CONFIG_KEYS = sorted(
    {*LLAMA_31_8B, *DEEPSEEK_V3, *GEMMA4_31B["text_config"], *QWEN35_9B["text_config"], *GPT_OSS_20B}  # type: ignore[arg-type]
    | {
        "text_config",
        "vision_config",
        "no_rope_layers",
        "attention_chunk_size",
        "sliding_window_pattern",
        "dtype",
    }
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.dictionaries(st.sampled_from(CONFIG_KEYS), JSON_VALUES, max_size=12))
def test_fuzzed_configs_give_facts_or_a_catalog_error(config: dict[str, Any]) -> None:
    try:
        facts = facts_from_config(config, "fuzz/model")
    except CatalogError as error:
        assert "config.json" in str(error)
    else:
        assert facts.id == "fuzz/model"


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(st.sampled_from(sorted(LLAMA_31_8B)), JSON_VALUES, max_size=6))
def test_fuzzed_values_in_a_real_config_give_facts_or_a_catalog_error(changes: dict[str, Any]) -> None:
    with contextlib.suppress(CatalogError):
        facts_from_config({**LLAMA_31_8B, **changes}, "fuzz/model")


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=200) | JSON_VALUES.map(lambda value: json.dumps(value).encode()))
def test_fuzzed_files_give_facts_or_a_catalog_error(
    tmp_path_factory: pytest.TempPathFactory, content: bytes
) -> None:
    path = tmp_path_factory.mktemp("fuzz") / "config.json"
    path.write_bytes(content)
    for read in (read_config_json, weight_bytes_from_index):
        try:
            read(path)
        except CatalogError as error:
            assert str(path) in str(error)


# ---- merging ----------------------------------------------------------------------------------------


def test_config_json_fills_the_unknowns_of_a_catalog_entry() -> None:
    llama5 = get_model("meta-llama/Llama-5")
    assert llama5 is not None
    merged = merge_facts(llama5, facts_from_config(LLAMA_31_8B, "meta-llama/Llama-5"))
    assert merged.id == "meta-llama/Llama-5" and merged.license == "llama5"
    assert (merged.num_layers, merged.attention) == (32, AttentionKind.GQA)
    assert "num_layers" not in merged.unknown and "moe" not in merged.unknown
    assert set(merged.unknown) == {"total_params", "active_params", "weight_bytes"}
    assert "config.json" in merged.source


def test_spec_override_wins_and_keeps_unknowns_named() -> None:
    pro = get_model("deepseek-ai/DeepSeek-V4-Pro")
    assert pro is not None
    # The catalog knows V4-Pro's figures; a checkpoint it knew nothing of shows what stays unknown.
    flash = dataclasses.replace(
        pro,
        kv_bytes_per_token_override=None,
        moe=MoeFacts(None, None, None, None),
        unknown=(*pro.unknown, "kv_bytes_per_token_override", *(f"moe.{name}" for name in MOE_FACTS)),
    )
    merged = merge_facts(flash, {"kv_bytes_per_token_override": 40_000, "moe": {"routed_experts": 384}})
    assert merged.kv_bytes_per_token_override == 40_000
    assert merged.moe is not None and merged.moe.routed_experts == 384
    assert "moe.experts_per_token" in merged.unknown and "kv_bytes_per_token_override" not in merged.unknown


def test_override_that_knows_nothing_about_moe_keeps_moe_unknown() -> None:
    llama5 = get_model("meta-llama/Llama-5")
    assert llama5 is not None
    assert "moe" in merge_facts(llama5, {"num_layers": 100}).unknown


@pytest.mark.parametrize(
    ("override", "expected"),
    [
        ({"num_layerz": 3}, "num_layerz"),
        ({"num_layers": -1}, "num_layers"),
        ({"attention": "quantum"}, "attention"),
        ({"moe": {"experts": 8}}, "experts"),
        ({"weight_bytes": "big"}, "weight_bytes"),
    ],
)
def test_bad_override_raises_catalog_error_naming_the_fact(override: dict[str, Any], expected: str) -> None:
    base = get_model("Qwen/Qwen3-32B")
    assert base is not None
    with pytest.raises(CatalogError, match=expected):
        merge_facts(base, override)
