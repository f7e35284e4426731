"""Table of sizing decisions over catalog models, GPUs and engines: each row says what and why."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

import pytest

from modelfleet.catalog import get_model, gpu_catalog
from modelfleet.catalog.types import GIB, ModelFacts
from modelfleet.planner import Engine, GpuPool, Plan, PlanRequest, Quantization, plan

VLLM, SGLANG, TGI = Engine.VLLM, Engine.SGLANG, Engine.TGI
FP8, FP4 = Quantization.FP8, Quantization.FP4

LLAMA_8B = "meta-llama/Llama-3.1-8B-Instruct"
LLAMA_70B = "meta-llama/Llama-3.1-70B-Instruct"
LLAMA_405B = "meta-llama/Llama-3.1-405B-Instruct"
DSV3 = "deepseek-ai/DeepSeek-V3"
V4_FLASH = "deepseek-ai/DeepSeek-V4-Flash"
V4_PRO = "deepseek-ai/DeepSeek-V4-Pro"
QWEN_235B = "Qwen/Qwen3-235B-A22B"
GEMMA4_31B = "google/gemma-4-31B-it"
GEMMA4_26B = "google/gemma-4-26B-A4B-it"


def _catalog(model_id: str) -> ModelFacts:
    model = get_model(model_id)
    assert model is not None
    return model


def qwen235_fp8_checkpoint() -> ModelFacts:
    """Qwen/Qwen3-235B-A22B-FP8: the same architecture stored as block-quantized fp8 (128 x 128)."""
    base = get_model(QWEN_235B)
    assert base is not None
    return dataclasses.replace(base, id="Qwen/Qwen3-235B-A22B-FP8", native_dtype="fp8", weight_bytes=None)


@dataclass(frozen=True)
class Case:
    name: str
    model: str | ModelFacts
    why: str
    request: dict[str, Any] = field(default_factory=dict)
    feasible: bool = True
    layout: tuple[str, int, int, int, int] | None = None  # gpu type, gpus, nodes, TP, PP
    expert_parallel: bool | None = None
    says: tuple[str, ...] = ()  # substrings of the reasons (or of the first rejection)


CASES = [
    Case(
        "llama8b-one-l4-at-8k",
        LLAMA_8B,
        "15.3 GiB weights + 1 GiB KV + 2.4 GiB overhead < 21.6 GiB",
        {"gpu": "L4", "max_model_len": 8192},
        layout=("L4", 1, 1, 1, 1),
    ),
    Case(
        "llama8b-one-h100",
        LLAMA_8B,
        "an H100 holds it with 50 GiB to spare",
        {"gpu": "H100-80GB"},
        layout=("H100-80GB", 1, 1, 1, 1),
    ),
    Case(
        "llama70b-h100-tp4",
        LLAMA_70B,
        "at 32768 tokens TP=2 needs 76 GiB per GPU > 72 usable; TP=4 needs ~39",
        {"gpu": "H100-80GB", "max_model_len": 32768},
        layout=("H100-80GB", 4, 1, 4, 1),
        says=("134.1 GiB in bf16 -> 33.5 GiB per GPU",),
    ),
    Case(
        "llama70b-a100-tp4",
        LLAMA_70B,
        "same 80 GiB as H100, bf16 needs no fp8 hardware",
        {"gpu": "A100-80GB", "max_model_len": 32768},
        layout=("A100-80GB", 4, 1, 4, 1),
    ),
    Case(
        "llama70b-h100-sglang",
        LLAMA_70B,
        "SGLang's overhead is 0.5 GiB higher, still TP=4",
        {"gpu": "H100-80GB", "engine": SGLANG, "max_model_len": 32768},
        layout=("H100-80GB", 4, 1, 4, 1),
    ),
    Case(
        "llama70b-h100-tgi",
        LLAMA_70B,
        "single node is fine for TGI",
        {"gpu": "H100-80GB", "engine": TGI},
        layout=("H100-80GB", 4, 1, 4, 1),
    ),
    Case(
        "llama70b-h200-tp2",
        LLAMA_70B,
        "141 GB H200: 67 GiB of weights per GPU at TP=2",
        {"gpu": "H200"},
        layout=("H200", 2, 1, 2, 1),
    ),
    Case(
        "llama70b-mi300x-one",
        LLAMA_70B,
        "192 GB MI300X holds all 134 GiB of bf16 weights",
        {"gpu": "MI300X"},
        layout=("MI300X", 1, 1, 1, 1),
    ),
    Case(
        "llama70b-mi300x-tgi",
        LLAMA_70B,
        "TGI runs on ROCm too",
        {"gpu": "MI300X", "engine": TGI},
        layout=("MI300X", 1, 1, 1, 1),
    ),
    Case(
        "llama70b-128k-x8-needs-more",
        LLAMA_70B,
        "8 sequences of 131072 tokens: 80 GiB of KV per replica",
        {"gpu": "H100-80GB", "max_model_len": 131072, "concurrency": 8},
        layout=("H100-80GB", 8, 1, 8, 1),
    ),
    Case(
        "llama70b-fp8-l40s",
        LLAMA_70B,
        "Ada has fp8: 67 GiB of weights, 33.5 + 5 KV + 3.5 per GPU at TP=2",
        {"gpu": "L40S", "quantization": FP8},
        layout=("L40S", 2, 1, 2, 1),
    ),
    Case(
        "llama405b-fp8-h100-one-node",
        LLAMA_405B,
        "385 GiB fp8 / 8 = 48 GiB per GPU",
        {"gpu": "H100-80GB", "quantization": FP8},
        layout=("H100-80GB", 8, 1, 8, 1),
    ),
    Case(
        "llama405b-bf16-h100-vllm-pp",
        LLAMA_405B,
        "770 GiB bf16: vLLM spans 2 nodes with PP",
        {"gpu": "H100-80GB"},
        layout=("H100-80GB", 16, 2, 8, 2),
    ),
    Case(
        "llama405b-bf16-h100-sglang-tp16",
        LLAMA_405B,
        "SGLang spans nodes with TP (--nnodes 2)",
        {"gpu": "H100-80GB", "engine": SGLANG},
        layout=("H100-80GB", 16, 2, 16, 1),
    ),
    Case(
        "llama405b-bf16-h100-tgi-refused",
        LLAMA_405B,
        "TGI is single node and 8 GPUs are too few",
        {"gpu": "H100-80GB", "engine": TGI},
        feasible=False,
        says=("single node",),
    ),
    Case(
        "dsv3-fp8-h200-one-node",
        DSV3,
        "654 GiB fp8 / 8 = 82 GiB per GPU < 127 usable",
        {"gpu": "H200", "max_model_len": 32768},
        layout=("H200", 8, 1, 8, 1),
        expert_parallel=True,
    ),
    Case(
        "dsv3-fp8-h100-two-nodes",
        DSV3,
        "82 GiB per GPU at TP=8 > 72: TP=8 x PP=2 over 2 nodes",
        {"gpu": "H100-80GB", "max_model_len": 32768},
        layout=("H100-80GB", 16, 2, 8, 2),
        expert_parallel=True,
    ),
    Case(
        "dsv3-fp8-h100-sglang",
        DSV3,
        "SGLang: TP=16 across 2 nodes, 256 experts over 16 EP ranks",
        {"gpu": "H100-80GB", "engine": SGLANG},
        layout=("H100-80GB", 16, 2, 16, 1),
        expert_parallel=True,
    ),
    Case(
        "dsv3-fp8-a100-vllm-marlin",
        DSV3,
        "no fp8 cores on sm 8.0: vLLM's weight-only FP8 Marlin",
        {"gpu": "A100-80GB"},
        layout=("A100-80GB", 16, 2, 8, 2),
        says=("Marlin",),
    ),
    Case(
        "dsv3-fp8-a100-sglang-refused",
        DSV3,
        "SGLang has no weight-only fp8 fallback on Ampere",
        {"gpu": "A100-80GB", "engine": SGLANG},
        feasible=False,
        says=("native fp8 hardware",),
    ),
    Case(
        "dsv3-fp8-mi300x",
        DSV3,
        "CDNA3 has fp8; 4 x 192 GB hold 654 GiB",
        {"gpu": "MI300X"},
        layout=("MI300X", 4, 1, 4, 1),
        expert_parallel=True,
    ),
    Case(
        "v4-flash-h200",
        V4_FLASH,
        "158 GiB of fp8/fp4 weights: 2 x H200 with measured compressed KV",
        {"gpu": "H200"},
        layout=("H200", 2, 1, 2, 1),
        says=("measured",),
    ),
    Case(
        "v4-pro-one-h200-node",
        V4_PRO,
        "821 GiB of fp8/fp4 weights / 8 = 103 GiB per H200, with vLLM's published compressed KV size",
        {"gpu": "H200"},
        layout=("H200", 8, 1, 8, 1),
        expert_parallel=True,
        says=("measured 9851 bytes/token",),
    ),
    Case(
        "qwen235b-fp8-h100-tp4",
        QWEN_235B,
        "223 GiB fp8 / 4 = 56 GiB per GPU; 4 KV heads split 1 per rank",
        {"gpu": "H100-80GB", "quantization": FP8},
        layout=("H100-80GB", 4, 1, 4, 1),
        expert_parallel=True,
    ),
    Case(
        "qwen235b-fp8-tp8-replicates-kv",
        QWEN_235B,
        "TP=8 > 4 KV heads: each rank keeps a whole head",
        {"gpu": "H100-80GB", "quantization": FP8, "tensor_parallel": 8},
        layout=("H100-80GB", 8, 1, 8, 1),
    ),
    Case(
        "qwen235b-fp8-block-tp8-without-ep",
        qwen235_fp8_checkpoint(),
        "1536 / 8 = 192 per rank is not a multiple of the 128-wide fp8 blocks",
        {"gpu": "H100-80GB", "tensor_parallel": 8, "expert_parallel": False},
        feasible=False,
        says=(
            "The output_size of gate's and up's weight = 192 is not divisible by weight quantization block_n = 128",
        ),
    ),
    Case(
        "qwen235b-fp8-block-tp8-with-ep",
        qwen235_fp8_checkpoint(),
        "EP keeps experts whole: no slicing",
        {"gpu": "H100-80GB", "tensor_parallel": 8},
        layout=("H100-80GB", 8, 1, 8, 1),
        expert_parallel=True,
    ),
    Case(
        "qwen235b-tp3-pin-refused",
        QWEN_235B,
        "64 attention heads do not split over 3 ranks",
        {"gpu": "H100-80GB", "tensor_parallel": 3},
        feasible=False,
        says=("not divisible by TP=3",),
    ),
    Case(
        "gemma4-31b-one-h100",
        GEMMA4_31B,
        "59 GiB weights + 3.3 GiB KV: windowed layers hold 1024 tokens",
        {"gpu": "H100-80GB"},
        layout=("H100-80GB", 1, 1, 1, 1),
    ),
    Case(
        "gemma4-31b-tgi-refused",
        GEMMA4_31B,
        "TGI 3.3 has no Gemma 4 implementation (its supported-models list)",
        {"gpu": "H100-80GB", "engine": TGI},
        feasible=False,
        says=("tgi 3.3 has no implementation of Gemma4ForConditionalGeneration", "use engine vllm or sglang"),
    ),
    Case(
        "gemma3-27b-tgi-keeps-windowed-tokens",
        "google/gemma-3-27b-it",
        "TGI keeps every token in windowed layers too: 15.5 GiB KV against vLLM's 2.9 GiB",
        {"gpu": "H100-80GB", "engine": TGI, "max_model_len": 32768},
        layout=("H100-80GB", 1, 1, 1, 1),
    ),
    Case(
        "v4-pro-without-its-kv-figure-is-estimated",
        dataclasses.replace(_catalog(V4_PRO), kv_bytes_per_token_override=None),
        "compressed attention with no measured figure: bounded by full MHA on every layer, marked estimated",
        {"gpu": "H200"},
        says=("estimated plan", "kv_bytes_per_token_override", "full multi-head attention on all 61 layers"),
    ),
    Case(
        "gemma4-26b-one-h100",
        GEMMA4_26B,
        "48 GiB of bf16 weights + 5 global layers of 2 x 512 KV: the vLLM recipe's single 80 GB GPU",
        {"gpu": "H100-80GB"},
        layout=("H100-80GB", 1, 1, 1, 1),
    ),
    Case(
        "llama5-unknown-architecture",
        "meta-llama/Llama-5",
        "no architecture facts and not even a parameter count: nothing to estimate from",
        {},
        feasible=False,
        says=("not even the weight size is known", "totalParams or weightBytes", "num_layers", "config.json"),
    ),
    Case(
        "fp4-on-h100-refused",
        LLAMA_8B,
        "Hopper has no fp4 tensor cores",
        {"gpu": "H100-80GB", "quantization": FP4},
        feasible=False,
        says=("Blackwell",),
    ),
    Case(
        "fp4-on-b200",
        LLAMA_8B,
        "Blackwell has fp4",
        {"gpu": "B200", "quantization": FP4},
        layout=("B200", 1, 1, 1, 1),
    ),
    Case(
        "fp4-tgi-refused",
        LLAMA_8B,
        "TGI ships no NVFP4 kernels",
        {"gpu": "B200", "quantization": FP4, "engine": TGI},
        feasible=False,
        says=("TGI has no fp4",),
    ),
    Case(
        "gpt-oss-120b-one-h100",
        "openai/gpt-oss-120b",
        "mxfp4 experts: ~61 GiB",
        {"gpu": "H100-80GB"},
        layout=("H100-80GB", 1, 1, 1, 1),
    ),
    Case(
        "qwen35-397b-h200-linear-hybrid",
        "Qwen/Qwen3.5-397B-A17B",
        "757 GiB bf16 over 8 x H200; only 15 of 60 layers grow with tokens",
        {"gpu": "H200"},
        layout=("H200", 8, 1, 8, 1),
        expert_parallel=True,
    ),
    Case(
        "mixtral-8x7b-no-ep",
        "mistralai/Mixtral-8x7B-Instruct-v0.1",
        "8 coarse experts: TP inside experts",
        {"gpu": "H100-80GB"},
        layout=("H100-80GB", 2, 1, 2, 1),
        expert_parallel=False,
    ),
    Case(
        "pin-gpus-too-few",
        LLAMA_405B,
        "2 GPUs cannot hold 385 GiB; the pin is not silently raised",
        {"gpu": "H100-80GB", "gpus_per_replica": 2, "quantization": FP8},
        feasible=False,
        says=("pinned gpus_per_replica=2", "short by"),
    ),
    Case(
        "pin-tp4-pp2-wins",
        LLAMA_70B,
        "pins win even when 4 GPUs would do",
        {"gpu": "H100-80GB", "tensor_parallel": 4, "pipeline_parallel": 2},
        layout=("H100-80GB", 8, 1, 4, 2),
    ),
    Case(
        "pin-tgi-pp-refused",
        LLAMA_70B,
        "TGI has no pipeline parallel",
        {"gpu": "H100-80GB", "engine": TGI, "pipeline_parallel": 2},
        feasible=False,
        says=("no pipeline",),
    ),
    Case(
        "max-len-over-context",
        "Qwen/Qwen3-32B",
        "Qwen3-32B has a 40960-token context",
        {"max_model_len": 131072},
        feasible=False,
        says=("exceeds the model's context of 40960",),
    ),
    Case(
        "auto-picks-what-the-cluster-holds",
        LLAMA_70B,
        "no node has 4 free A100s; 4 x H100 fit the free node",
        {"pool": GpuPool({"A100-80GB": (2, 2, 3), "H100-80GB": (8,)}), "max_model_len": 32768},
        layout=("H100-80GB", 4, 1, 4, 1),
    ),
    Case(
        "gpu-name-in-any-case",
        LLAMA_70B,
        "the catalog name matches whatever the letter case",
        {"gpu": "h100-80gb", "max_model_len": 32768},
        layout=("H100-80GB", 4, 1, 4, 1),
    ),
    Case(
        "unknown-gpu-named",
        LLAMA_70B,
        "a GPU the catalog does not know is named back with the known ones",
        {"gpu": "TPUv9"},
        feasible=False,
        says=("unknown GPU type 'TPUv9'", "H100-80GB"),
    ),
    Case(
        "ep-on-a-dense-model-is-ignored-and-said",
        LLAMA_70B,
        "a dense model has no experts to spread",
        {"gpu": "H100-80GB", "expert_parallel": True, "max_model_len": 32768},
        layout=("H100-80GB", 4, 1, 4, 1),
        expert_parallel=False,
        says=("model is dense",),
    ),
    Case(
        "auto-refuses-an-empty-cluster",
        LLAMA_70B,
        "nothing free at all",
        {"pool": GpuPool({"H100-80GB": (0, 0)})},
        feasible=False,
        says=("no free",),
    ),
]


def _plan(case: Case) -> Plan:
    model = case.model if isinstance(case.model, ModelFacts) else get_model(case.model)
    assert model is not None, f"{case.model} is not in the catalog"
    return plan(PlanRequest(model.id, **case.request), model, gpu_catalog())


def _layout(result: Plan) -> tuple[str, int, int, int, int] | None:
    c = result.chosen
    return (
        (c.gpu_type, c.gpus_per_replica, c.nodes_per_replica, c.tensor_parallel, c.pipeline_parallel)
        if c
        else None
    )


def test_the_table_has_at_least_thirty_cases() -> None:
    assert len(CASES) >= 30
    assert len({case.name for case in CASES}) == len(CASES)


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
def test_plan_matches_the_table(case: Case) -> None:
    result = _plan(case)
    explanation = " | ".join(result.reasons + tuple(r.reason for r in result.rejected[:3]))
    assert result.feasible is case.feasible, f"{case.why}: {explanation}"
    if case.layout is not None:
        assert _layout(result) == case.layout, f"{case.why}: {explanation}"
    if case.expert_parallel is not None:
        assert result.chosen is not None and result.chosen.expert_parallel is case.expert_parallel
    for text in case.says:
        assert text in explanation, f"{case.why}: {text!r} not in {explanation}"
    if result.feasible:
        assert result.memory is not None and result.memory.free >= 0
    else:
        assert result.chosen is None and result.reasons


def _case(name: str) -> Case:
    return next(case for case in CASES if case.name == name)


def _gib(value: int) -> float:
    return round(value / GIB, 1)


def test_llama70b_h100_breakdown_matches_the_docstring_example() -> None:
    result = _plan(_case("llama70b-h100-tp4"))
    memory = result.memory
    assert memory is not None
    assert (_gib(memory.weights), _gib(memory.kv_cache), _gib(memory.overhead)) == (33.5, 2.5, 3.1)
    assert result.rejected[0].reason.startswith("vLLM refuses to start: To serve at least one request")
    assert (
        "needs 75.6 GiB per GPU (weights 67.1 GiB + KV 5.0 GiB + overhead 3.5 GiB) but usable is 72.0 GiB"
        in result.rejected[0].reason
    )
    assert result.kv_bytes_per_token == 327_680
    assert result.max_model_len == 32768
    assert result.rejected[0].candidate.tensor_parallel == 2
    assert "short by" in result.rejected[0].reason


def test_dsv3_breakdowns_match_the_docstring_example() -> None:
    h200 = _plan(_case("dsv3-fp8-h200-one-node"))
    assert h200.memory is not None
    assert (_gib(h200.memory.weights), _gib(h200.memory.kv_cache), _gib(h200.memory.overhead)) == (
        81.8,
        2.1,
        3.8,
    )
    assert "weights 654.1 GiB in fp8 -> 81.8 GiB per GPU at TP=8" in h200.reasons[1]
    h100 = _plan(_case("dsv3-fp8-h100-two-nodes"))
    assert h100.memory is not None
    assert (_gib(h100.memory.weights), _gib(h100.memory.kv_cache), _gib(h100.memory.overhead)) == (
        40.9,
        1.1,
        3.8,
    )
    one_node = [r for r in h100.rejected if r.candidate.gpus_per_replica == 8]
    assert one_node and "needs 87.7 GiB per GPU" in one_node[0].reason


def test_qwen235b_kv_per_gpu_is_the_same_at_tp4_and_tp8() -> None:
    tp4 = _plan(_case("qwen235b-fp8-h100-tp4"))
    tp8 = _plan(_case("qwen235b-fp8-tp8-replicates-kv"))
    assert tp4.memory is not None and tp8.memory is not None
    assert tp4.memory.kv_cache == tp8.memory.kv_cache


def test_unset_max_model_len_is_auto_fitted_past_the_old_32k_default_and_said() -> None:
    model = get_model(V4_FLASH)
    assert model is not None and model.max_context == 1_048_576
    result = plan(PlanRequest(model.id, gpu="H200"), model, gpu_catalog())
    assert result.max_model_len is not None and 32768 < result.max_model_len <= 1_048_576
    assert any(f"auto-fit to {result.max_model_len} tokens" in reason for reason in result.reasons)
    assert any(f"--max-model-len {result.max_model_len}" in reason for reason in result.reasons)


def test_quantizing_up_is_allowed_and_noted() -> None:
    model = get_model(DSV3)
    assert model is not None and model.native_dtype == "fp8"
    result = plan(PlanRequest(model.id, gpu="H200", quantization=Quantization.BF16), model, gpu_catalog())
    assert result.feasible and result.quantization == "bf16"
    assert any("from a fp8 checkpoint" in reason for reason in result.reasons)
    assert result.chosen is not None and result.chosen.gpus_per_replica == 16


def test_auto_chooses_the_cheapest_gpu_type() -> None:
    model = get_model(LLAMA_70B)
    assert model is not None
    gpus = gpu_catalog()
    result = plan(PlanRequest(model.id), model, gpus)
    assert result.chosen is not None
    chosen_cost = result.chosen.gpus_per_replica * gpus[result.chosen.gpu_type].relative_cost
    for name in gpus:
        alone = plan(PlanRequest(model.id, gpu=name), model, gpus)
        if alone.chosen is not None:
            assert chosen_cost <= alone.chosen.gpus_per_replica * gpus[name].relative_cost


def test_a_measured_kv_size_still_keeps_tp_to_the_kv_heads() -> None:
    """A GQA model whose KV size is given as a measured bytes/token figure (no layer count) still has
    its KV heads split by tensor parallel: TP=3 over 2 KV heads is refused, as the engine refuses it."""
    model = dataclasses.replace(
        get_model("meta-llama/Llama-3.1-8B-Instruct"),
        id="test/measured-kv",
        num_layers=None,
        num_attention_heads=12,
        num_kv_heads=2,
        kv_bytes_per_token_override=1,
    )
    result = plan(PlanRequest(model.id, gpu="H100-80GB", tensor_parallel=3), model, gpu_catalog())
    assert result.chosen is None
    assert any("2 KV heads and TP=3" in r.reason for r in result.rejected), result.rejected
