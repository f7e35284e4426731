"""The memory formulas: weights, KV cache per token and per GPU, engine overhead; docstring examples hold."""

from __future__ import annotations

import dataclasses
import doctest
import importlib

import pytest

from modelfleet.catalog import get_model
from modelfleet.catalog.types import GIB, AttentionKind, ModelFacts
from modelfleet.planner.dtypes import bytes_per_param, normalize_dtype
from modelfleet.planner.engines import PROFILES, overhead_bytes
from modelfleet.planner.kv import (
    LINEAR_STATE_BYTES_PER_LAYER,
    KvShape,
    LayerGroup,
    kv_bytes_per_gpu,
    kv_shape,
)
from modelfleet.planner.types import Engine
from modelfleet.planner.weights import estimate_weight_bytes

PLANNER_MODULES = [
    "modelfleet.planner.dtypes",
    "modelfleet.planner.weights",
    "modelfleet.planner.kv",
    "modelfleet.planner.engines",
    "modelfleet.planner.fit",
    "modelfleet.planner.ranking",
    "modelfleet.planner.sizing",
    "modelfleet.planner.requests",
    "modelfleet.planner.report",
]


def catalog(model_id: str) -> ModelFacts:
    model = get_model(model_id)
    assert model is not None
    return model


def bare(**facts: object) -> ModelFacts:
    base = ModelFacts("test/model", None, None, None, None, None, None, None, None, None, AttentionKind.GQA)
    return dataclasses.replace(base, **facts)  # type: ignore[arg-type]


@pytest.mark.parametrize("module", PLANNER_MODULES)
def test_docstring_worked_examples_hold(module: str) -> None:
    result = doctest.testmod(importlib.import_module(module), optionflags=doctest.ELLIPSIS)
    assert result.failed == 0


@pytest.mark.parametrize(
    ("model_id", "bytes_per_token"),
    [
        ("meta-llama/Llama-3.1-8B-Instruct", 131_072),  # HF blog: 0.125 GB per 1k tokens
        ("meta-llama/Llama-3.1-70B-Instruct", 327_680),
        ("meta-llama/Llama-3.1-405B-Instruct", 516_096),  # HF blog: ~63 GB at 128k
        ("Qwen/Qwen3-235B-A22B", 192_512),
        ("deepseek-ai/DeepSeek-V3", 70_272),  # 61 x (512 + 64) x 2
        ("google/gemma-4-31B-it", 81_920),  # only the 10 global layers keep every token
        ("Qwen/Qwen3.5-397B-A17B", 30_720),  # 15 full-attention layers x 2 KV heads x 256
    ],
)
def test_kv_bytes_per_token_match_the_published_figures(model_id: str, bytes_per_token: int) -> None:
    shape = kv_shape(catalog(model_id)).shape
    assert shape is not None and shape.bytes_per_token == bytes_per_token


def test_fp8_kv_cache_halves_the_bytes_per_token() -> None:
    model = catalog("meta-llama/Llama-3.1-70B-Instruct")
    bf16, fp8 = kv_shape(model).shape, kv_shape(model, "fp8").shape
    assert bf16 is not None and fp8 is not None
    assert fp8.bytes_per_token * 2 == bf16.bytes_per_token


def test_gqa_kv_splits_over_tp_until_each_rank_has_one_head() -> None:
    shape = KvShape((LayerGroup(80, 8, 512),))
    per_gpu = [kv_bytes_per_gpu(shape, tp, 1, 1000, 1) for tp in (1, 2, 4, 8, 16)]
    assert per_gpu[0] == 80 * 8 * 512 * 1000
    assert per_gpu[1] * 2 == per_gpu[0] and per_gpu[3] * 8 == per_gpu[0]
    assert per_gpu[4] == per_gpu[3]  # TP=16 > 8 heads: one replicated head per rank


def test_mla_kv_is_replicated_on_every_tp_rank_and_split_by_pp() -> None:
    shape = kv_shape(catalog("deepseek-ai/DeepSeek-V3")).shape
    assert shape is not None
    at_tp1, at_tp8 = kv_bytes_per_gpu(shape, 1, 1, 32768, 1), kv_bytes_per_gpu(shape, 8, 1, 32768, 1)
    assert at_tp1 == at_tp8 == 70_272 * 32768
    assert kv_bytes_per_gpu(shape, 8, 2, 32768, 1) == 31 * 576 * 2 * 32768  # ceil(61 / 2) layers


def test_sliding_window_layers_stop_growing_at_the_window() -> None:
    shape = kv_shape(catalog("google/gemma-4-31B-it")).shape
    assert shape is not None
    short, long = kv_bytes_per_gpu(shape, 1, 1, 2_000, 1), kv_bytes_per_gpu(shape, 1, 1, 102_000, 1)
    # Past the window only the 81,920 B/token of the global layers grow.
    assert long - short == 100_000 * 81_920


def test_tgi_keeps_every_token_in_windowed_layers() -> None:
    shape = kv_shape(catalog("google/gemma-4-31B-it")).shape
    assert shape is not None
    windowed = kv_bytes_per_gpu(shape, 1, 1, 32768, 1, windows_save_memory=True)
    full = kv_bytes_per_gpu(shape, 1, 1, 32768, 1, windows_save_memory=False)
    assert full == (81_920 + 50 * 16 * 256 * 2 * 2) * 32768 and full > 8 * windowed


def test_linear_attention_layers_add_constant_state_per_sequence() -> None:
    shape = kv_shape(catalog("Qwen/Qwen3.5-397B-A17B")).shape
    assert shape is not None and shape.state_layers == 45
    one, two = kv_bytes_per_gpu(shape, 1, 1, 1, 1), kv_bytes_per_gpu(shape, 1, 1, 2, 1)
    assert two - one == 30_720
    assert one == 30_720 + 45 * LINEAR_STATE_BYTES_PER_LAYER


def test_compressed_attention_uses_the_measured_figure_or_asks_for_it() -> None:
    flash = kv_shape(catalog("deepseek-ai/DeepSeek-V4-Flash"))
    assert flash.shape is not None
    assert 0 <= flash.shape.bytes_per_token - 7_455 < 43  # spread over 43 layers, rounded up
    unmeasured = dataclasses.replace(catalog("deepseek-ai/DeepSeek-V4-Pro"), kv_bytes_per_token_override=None)
    pro = kv_shape(unmeasured)
    assert pro.shape is None and pro.missing == ("kv_bytes_per_token_override",)


def test_head_dim_is_derived_from_hidden_size_only_when_missing() -> None:
    result = kv_shape(bare(num_layers=2, num_kv_heads=2, hidden_size=1024, num_attention_heads=8))
    assert result.shape is not None and result.shape.bytes_per_token == 2 * 2 * 2 * 128 * 2
    assert "head_dim not given" in result.notes[0]


def test_unknown_attention_names_every_missing_fact() -> None:
    result = kv_shape(bare(attention=AttentionKind.UNKNOWN))
    assert result.shape is None
    assert set(result.missing) >= {"attention", "num_layers", "num_kv_heads", "head_dim"}


def test_weights_come_from_the_checkpoint_size_when_serving_its_dtype() -> None:
    model = catalog("deepseek-ai/DeepSeek-V3")
    assert model.weight_bytes is not None
    assert estimate_weight_bytes(model, "fp8", "fp8").total_bytes == int(model.weight_bytes * 1.02)


def test_weights_come_from_parameters_when_quantizing() -> None:
    model = catalog("meta-llama/Llama-3.1-70B-Instruct")
    awq = estimate_weight_bytes(model, "awq", "bf16").total_bytes
    assert awq == int(70_600_000_000 * 0.5 * 1.03 * 1.02)
    assert round(estimate_weight_bytes(model, "fp8", "bf16").total_bytes / GIB, 1) == 67.1


def test_weights_scale_from_the_checkpoint_when_parameters_are_unknown() -> None:
    model = bare(weight_bytes=100 * GIB, native_dtype="bf16")
    estimate = estimate_weight_bytes(model, "fp8", "bf16")
    assert estimate.total_bytes == int(50 * GIB * 1.02) and "scaled" in estimate.notes[0]


def test_weights_without_parameters_or_size_are_missing() -> None:
    assert estimate_weight_bytes(bare(), "bf16", "bf16").missing == ("total_params",)


@pytest.mark.parametrize(
    ("name", "canonical", "size"),
    [
        ("bfloat16", "bf16", 2.0),
        ("FP8", "fp8", 1.0),
        ("int8", "int8", 1.0),
        ("gptq", "gptq", 0.515),
        ("nvfp4", "fp4", 0.515),
        ("float8_e4m3fn", "fp8", 1.0),
    ],
)
def test_dtype_names_normalise_to_known_sizes(name: str, canonical: str, size: float) -> None:
    assert normalize_dtype(name) == canonical
    assert bytes_per_param(canonical) == pytest.approx(size)


def test_overhead_grows_with_hidden_size_and_shrinks_with_tp() -> None:
    vllm = PROFILES[Engine.VLLM]
    small, big = overhead_bytes(vllm, (4096, 14336), 1, 1), overhead_bytes(vllm, (16384, 53248), 1, 1)
    assert big > small
    assert overhead_bytes(vllm, (16384, 53248), 8, 8) < big + GIB  # NCCL added, MLP share divided
    assert 2 * GIB < small < 4 * GIB


def test_tgi_overhead_exceeds_vllm_overhead() -> None:
    width = (8192, 28672)
    assert overhead_bytes(PROFILES[Engine.TGI], width, 4, 4) > overhead_bytes(
        PROFILES[Engine.VLLM], width, 4, 4
    )


def test_expert_parallel_adds_all_to_all_buffers() -> None:
    vllm, width = PROFILES[Engine.VLLM], (7168, 18432)
    assert overhead_bytes(vllm, width, 8, 8, expert_parallel=True) == overhead_bytes(vllm, width, 8, 8) + GIB


def test_missing_fact_messages_name_the_real_override_keys() -> None:
    from modelfleet.api.spec_model import override_name
    from modelfleet.planner.requests import override_key

    for fact in (
        "total_params",
        "num_layers",
        "num_kv_heads",
        "head_dim",
        "num_attention_heads",
        "attention",
        "kv_lora_rank",
        "qk_rope_head_dim",
        "sliding_window",
        "full_attention_layers",
        "full_attention_kv_heads",
        "full_attention_head_dim",
        "kv_bytes_per_token_override",
    ):
        assert override_key(fact) == override_name(fact), fact
