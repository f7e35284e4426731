"""Feasible means the engine starts and serves: each engine's start-up rule, auto-fit context, the
concurrency goal, ``serving.strict`` and estimated plans."""

from __future__ import annotations

import dataclasses

import pytest

from modelfleet.api import parse_spec
from modelfleet.api.to_request import plan_request_from_spec
from modelfleet.catalog import get_model, gpu_catalog, model_catalog
from modelfleet.catalog.license import LicensePolicy
from modelfleet.catalog.types import GIB, AttentionKind, ModelFacts
from modelfleet.decide import Context, Observed, decide
from modelfleet.decide.inventory import Inventory, NodeGpus
from modelfleet.planner import Engine, PlanRequest, plan
from modelfleet.planner.estimate import estimated_kv_shape
from modelfleet.planner.kv import kv_element_bytes, kv_shape
from modelfleet.planner.report import plan_to_dict
from modelfleet.planner.requests import CONTEXT_FLOOR, fit_context
from modelfleet.planner.startup import pool_tokens, sglang_refusal, startup_refusal, tgi_refusal, vllm_refusal
from modelfleet.render import launch_spec
from modelfleet.render.config import OperatorConfig

VLLM, SGLANG, TGI = Engine.VLLM, Engine.SGLANG, Engine.TGI
LLAMA_8B = "meta-llama/Llama-3.1-8B-Instruct"
LLAMA_70B = "meta-llama/Llama-3.1-70B-Instruct"


# --- each engine's own start-up rule ---------------------------------------------------------------

# (engine, KV pool bytes, bytes of what must fit, max_model_len) -> start of the refusal, or None.
STARTUP_TABLE = [
    (VLLM, 4 * GIB, 2 * GIB, 32768, None),
    (VLLM, 2 * GIB, 2 * GIB, 32768, None),  # exactly one sequence is enough
    (VLLM, 2 * GIB - 1, 2 * GIB, 32768, "vLLM refuses to start: To serve at least one request"),
    (VLLM, 0, 2 * GIB, 32768, "vLLM refuses to start: No available memory for the cache blocks"),
    (VLLM, -GIB, 2 * GIB, 32768, "vLLM refuses to start: No available memory for the cache blocks"),
    (SGLANG, 4 * GIB, 2 * GIB, 32768, None),
    (SGLANG, GIB, 2 * GIB, 32768, "SGLang starts but caps requests at 16383 tokens"),
    (SGLANG, 0, 2 * GIB, 32768, "SGLang refuses to start: Not enough memory. Please try to increase"),
    (TGI, 4 * GIB, 2 * GIB, 4096, None),
    (TGI, GIB, 2 * GIB, 4096, "TGI refuses to start: Not enough memory to handle `max_total_tokens=4096`"),
    (TGI, 0, 2 * GIB, 4096, "TGI refuses to start: Not enough memory to handle `max_total_tokens=4096`"),
]


@pytest.mark.parametrize(("engine", "pool", "needed", "tokens", "refusal"), STARTUP_TABLE)
def test_each_engine_refuses_in_its_own_words_exactly_when_the_sequence_exceeds_its_pool(
    engine: Engine, pool: int, needed: int, tokens: int, refusal: str | None
) -> None:
    said = startup_refusal(engine, pool, needed, tokens)
    if refusal is None:
        assert said is None
    else:
        assert said is not None and said.startswith(refusal), said


def test_vllm_names_the_length_it_could_serve_as_its_error_does() -> None:
    said = vllm_refusal(GIB, 4 * GIB, 131072)
    assert said is not None
    assert "max seq len (131072), (4.00 GiB KV cache is needed" in said
    assert "available KV cache memory (1.00 GiB)" in said
    assert "estimated maximum model length is 32768" in said


def test_sglang_and_tgi_count_the_pool_in_tokens() -> None:
    assert pool_tokens(3 * GIB, GIB, 8192) == 24576
    assert "room for 2048 tokens" in (tgi_refusal(GIB, 2 * GIB, 4096) or "")
    assert "token pool of 16384 tokens" in (sglang_refusal(GIB, 2 * GIB, 32768) or "")


# --- auto-fit context ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("limit", "floor", "ceiling", "chosen"),
    [
        (10**9, 4096, 131072, 131072),  # the whole context fits: exactly the model's maximum
        (50_000, 4096, 131072, 49152),  # else a multiple of 1024 tokens, the largest that fits
        (4096, 4096, 131072, 4096),  # only the floor
        (40_000, 4096, 32768, 32768),
        (5000, 2048, 2048, 2048),  # a short-context model: floor = ceiling
    ],
)
def test_auto_fit_picks_the_longest_context_that_fits(
    limit: int, floor: int, ceiling: int, chosen: int
) -> None:
    assert fit_context(lambda tokens: tokens <= limit, floor, ceiling) == chosen


def _model(model_id: str) -> ModelFacts:
    model = get_model(model_id)
    assert model is not None
    return model


def test_an_unpinned_llama_8b_on_one_l4_serves_the_longest_context_vllm_starts_with() -> None:
    model = _model(LLAMA_8B)
    result = plan(PlanRequest(model.id, gpu="L4"), model, gpu_catalog())
    assert result.feasible and result.chosen is not None and result.chosen.gpus_per_replica == 1
    assert result.max_model_len is not None and CONTEXT_FLOOR <= result.max_model_len < 131072
    assert result.max_model_len % 1024 == 0
    # The KV of one such sequence fits what is left; one more step of 1024 tokens would not.
    memory = result.memory
    assert memory is not None and memory.free >= 0
    per_token = memory.kv_cache / result.max_model_len
    assert memory.free < 1024 * per_token
    assert result.concurrency_at_max_len == 1
    assert any(f"auto-fit to {result.max_model_len} tokens" in r for r in result.reasons)
    assert any(f"--max-model-len {result.max_model_len}" in r for r in result.reasons)


@pytest.mark.parametrize(
    ("engine", "flags"),
    [
        (VLLM, "--max-model-len 131072"),
        (SGLANG, "--context-length 131072"),
        (TGI, "--max-total-tokens 131072"),
    ],
)
def test_a_roomy_layout_serves_the_models_whole_context_and_says_the_engines_flag(
    engine: Engine, flags: str
) -> None:
    model = _model(LLAMA_8B)
    result = plan(PlanRequest(model.id, gpu="H100-80GB", engine=engine), model, gpu_catalog())
    assert result.max_model_len == 131072
    assert any("the model's whole context" in r and flags in r for r in result.reasons), result.reasons


def test_a_pinned_max_model_len_is_served_as_pinned() -> None:
    model = _model(LLAMA_8B)
    result = plan(PlanRequest(model.id, gpu="H100-80GB", max_model_len=8192), model, gpu_catalog())
    assert result.max_model_len == 8192
    assert not any("auto-fit" in r for r in result.reasons)


def test_the_engine_cannot_start_below_the_floor_so_the_layout_is_rejected_in_its_words() -> None:
    model = _model(LLAMA_70B)
    result = plan(PlanRequest(model.id, gpu="H100-80GB", max_model_len=32768), model, gpu_catalog())
    two = [r for r in result.rejected if r.candidate.gpus_per_replica == 2]
    assert two and two[0].reason.startswith("vLLM refuses to start: To serve at least one request")


# --- concurrency: a goal that ranks, or a hard requirement under strict ------------------------------


def _llama70(**request: object):  # type: ignore[no-untyped-def]
    model = _model(LLAMA_70B)
    return plan(PlanRequest(model.id, gpu="H100-80GB", max_model_len=32768, **request), model, gpu_catalog())  # type: ignore[arg-type]


def test_a_concurrency_goal_that_some_layout_meets_ranks_that_layout_first() -> None:
    # TP=4 holds 14 sequences of 32768 tokens (35 GiB pool / 2.5 GiB); TP=8 holds 41.
    result = _llama70(concurrency=30)
    assert result.chosen is not None and result.chosen.tensor_parallel == 8
    assert result.concurrency_at_max_len is not None and result.concurrency_at_max_len >= 30
    assert any("concurrency goal of 30 sequences of 32768 tokens: met" in r for r in result.reasons)


def test_a_goal_no_layout_meets_still_plans_the_cheapest_that_starts_and_says_so() -> None:
    result = _llama70(concurrency=1000)
    assert result.feasible and result.chosen is not None and result.chosen.tensor_parallel == 4
    assert result.concurrency_at_max_len == 14
    assert any("not met by any layout tried" in r and "serving.strict" in r for r in result.reasons)


def test_strict_makes_the_goal_a_hard_requirement_as_before() -> None:
    assert _llama70(concurrency=16, strict=True).chosen.tensor_parallel == 8  # type: ignore[union-attr]
    refused = _llama70(concurrency=1000, strict=True)
    assert not refused.feasible
    assert any(
        "serving.strict: KV for 1000 sequences of 32768 tokens must fit" in r.reason for r in refused.rejected
    )


def test_the_report_says_how_many_sequences_fit_at_full_length_and_at_8k() -> None:
    model = _model(LLAMA_8B)
    result = plan(PlanRequest(model.id, gpu="H100-80GB"), model, gpu_catalog())
    assert result.concurrency_at_max_len is not None and result.concurrency_at_max_len >= 3
    sentence = next(r for r in result.reasons if r.startswith("at 131072 tokens this replica holds"))
    assert f"holds {result.concurrency_at_max_len} full-length sequences; ~" in sentence
    assert sentence.endswith("at 8192")
    data = plan_to_dict(result)
    assert (data["maxModelLen"], data["concurrencyAtMaxLen"], data["estimated"]) == (
        131072,
        result.concurrency_at_max_len,
        False,
    )


# --- estimated plans ---------------------------------------------------------------------------------


def _bare(model_id: str, **facts: object) -> ModelFacts:
    base = ModelFacts(model_id, None, None, None, None, None, None, None, None, None, AttentionKind.UNKNOWN)
    return dataclasses.replace(base, **facts)  # type: ignore[arg-type]


def test_a_model_known_only_by_its_parameter_count_is_planned_and_marked_estimated() -> None:
    model = _bare("acme/only-params", total_params=8_000_000_000, native_dtype="bf16", max_context=32768)
    result = plan(PlanRequest(model.id, gpu="H100-80GB"), model, gpu_catalog())
    assert result.feasible and result.estimated
    assert any("128 KiB per billion total parameters" in a for a in result.assumptions)
    assert any(r.startswith("estimated plan: unknown") for r in result.reasons)
    assert plan_to_dict(result)["estimated"] is True


def test_layers_and_hidden_size_bound_the_cache_by_full_multi_head_attention() -> None:
    model = _bare(
        "acme/layers", total_params=70_000_000_000, num_layers=80, hidden_size=8192, num_attention_heads=64
    )
    result = plan(PlanRequest(model.id, gpu="H100-80GB", max_model_len=8192), model, gpu_catalog())
    assert result.feasible and result.estimated and result.kv_bytes_per_token == 2 * 80 * 8192 * 2
    assert any("full multi-head attention on all 80 layers" in a for a in result.assumptions)


def test_a_model_without_even_a_weight_size_is_refused_naming_the_two_facts_that_would_do() -> None:
    model = _bare("acme/nothing", num_layers=32)
    result = plan(PlanRequest(model.id), model, gpu_catalog())
    assert not result.feasible and not result.estimated
    assert "not even the weight size is known" in result.reasons[0]
    assert "totalParams or weightBytes" in result.reasons[0]


def test_a_fully_known_model_is_not_estimated() -> None:
    model = _model(LLAMA_70B)
    result = plan(PlanRequest(model.id, gpu="H100-80GB"), model, gpu_catalog())
    assert not result.estimated and result.assumptions == ()


@pytest.mark.parametrize("kv_dtype", ["auto", "fp8"])
def test_the_kv_bound_is_never_below_the_real_cache_of_any_catalog_model(kv_dtype: str) -> None:
    checked = 0
    for model in model_catalog().values():
        real = kv_shape(model, kv_dtype).shape
        if real is None:
            continue
        element = kv_element_bytes(kv_dtype)
        for known in (
            # What the bound may use: layers and hidden size, or only the parameter count.
            _bare(model.id, num_layers=model.num_layers, hidden_size=model.hidden_size),
            _bare(model.id, total_params=model.total_params, active_params=model.active_params),
        ):
            bound = estimated_kv_shape(known, element)
            if bound is None:
                continue
            checked += 1
            assert bound[0].bytes_per_token >= real.bytes_per_token, (model.id, bound[1])
    assert checked >= 20


def test_an_estimated_plan_sets_the_sizing_estimated_condition_with_its_assumptions() -> None:
    from datetime import UTC, datetime

    spec = {
        "model": {
            "id": "acme/new-model",
            "overrides": {"totalParams": 8_000_000_000, "nativeDtype": "bf16", "license": "apache-2.0"},
        },
        "accelerator": {"type": "H100-80GB"},
        "rollout": {"strategy": "RollingUpdate"},
    }
    node = NodeGpus("h100-0", "H100-80GB", "NVIDIA-H100-80GB-HBM3", "nvidia.com/gpu", 8, True)
    observed = Observed(
        name="m",
        namespace="llm",
        uid="uid-1",
        generation=1,
        annotations={},
        spec=spec,
        status={},
        children=(),
        pods=(),
        inventory=Inventory((node,), ()),
        now=datetime(2026, 11, 1, 12, 0, tzinfo=UTC),
    )
    ctx = Context(license_policy=LicensePolicy(), render=OperatorConfig(), gateway_api=True)
    decision = decide(observed, ctx)
    conditions = {c["type"]: c for c in decision.status["conditions"]}
    estimated = conditions["SizingEstimated"]
    assert (estimated["status"], estimated["reason"]) == ("True", "ArchitectureUnknown")
    assert "128 KiB per billion" in estimated["message"]
    assert decision.status["plan"]["estimated"] is True and decision.status["plan"]["assumptions"]
    assert conditions["Schedulable"]["status"] == "True"


@pytest.mark.parametrize(
    ("engine", "flags"),
    [
        (VLLM, ("--max-model-len={n}",)),
        (SGLANG, ("--context-length={n}",)),
        (TGI, ("--max-input-tokens={m}", "--max-total-tokens={n}")),
    ],
)
def test_the_auto_fitted_context_is_rendered_with_each_engines_flag(
    engine: Engine, flags: tuple[str, ...]
) -> None:
    spec = parse_spec(
        {"model": {"id": LLAMA_8B}, "engine": {"name": engine.value}, "accelerator": {"type": "L4"}}
    )
    assert spec.serving.max_model_len is None
    request, facts = plan_request_from_spec(spec)
    result = plan(request, facts, gpu_catalog())
    n = result.max_model_len
    assert result.feasible and n is not None and n < 131072  # fitted below the model's context on one L4
    launch = launch_spec(
        spec, result, name="m", namespace="ns", revision="0123456789", gpu=gpu_catalog()["L4"]
    )
    for expected in flags:
        assert expected.format(n=n, m=n - 1) in launch.leader.argv, launch.leader.argv
