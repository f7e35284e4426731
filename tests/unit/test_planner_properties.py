"""Properties of every plan over random model facts and requests (hypothesis)."""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from modelfleet.catalog import gpu_catalog
from modelfleet.catalog.types import AttentionKind, ModelFacts, MoeFacts
from modelfleet.planner import Engine, GpuPool, Plan, PlanRequest, Quantization, fit_in_inventory, plan
from modelfleet.planner.context import FP8_BLOCK
from modelfleet.planner.dtypes import normalize_dtype
from modelfleet.planner.ranking import MAX_REJECTED

GPUS = gpu_catalog()
GPU_NAMES = sorted(GPUS)


def maybe(strategy: st.SearchStrategy[Any], none_weight: int = 1) -> st.SearchStrategy[Any]:
    """Mostly a value, sometimes None (an unknown fact)."""
    return st.sampled_from([True] * 12 + [False] * none_weight).flatmap(
        lambda known: strategy if known else st.none()
    )


def rarely(odd: st.SearchStrategy[Any], usual: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """Usually ``usual``, about one draw in twenty ``odd`` (an invalid or edge value)."""
    return st.sampled_from([True] * 19 + [False]).flatmap(lambda common: usual if common else odd)


@st.composite
def moe_facts(draw: st.DrawFn) -> MoeFacts | None:
    if draw(st.booleans()):
        return None
    return MoeFacts(
        routed_experts=draw(maybe(st.sampled_from([1, 8, 16, 60, 64, 128, 160, 256, 384, 512]))),
        shared_experts=draw(maybe(st.integers(0, 2))),
        experts_per_token=draw(maybe(st.sampled_from([1, 2, 4, 6, 8, 10]))),
        expert_intermediate_size=draw(maybe(st.sampled_from([704, 768, 1024, 1408, 1536, 2048, 2560, 4096]))),
    )


@st.composite
def model_facts(draw: st.DrawFn) -> ModelFacts:
    layers = draw(maybe(st.integers(1, 128)))
    return ModelFacts(
        id="test/random-model",
        architecture=None,
        total_params=draw(maybe(st.integers(100_000_000, 2_000_000_000_000))),
        active_params=None,
        num_layers=layers,
        hidden_size=draw(maybe(st.sampled_from([1024, 2048, 2880, 4096, 5120, 7168, 8192, 16384]))),
        num_attention_heads=draw(maybe(st.sampled_from([1, 8, 12, 14, 16, 24, 28, 32, 40, 48, 64, 96, 128]))),
        num_kv_heads=draw(maybe(st.sampled_from([1, 2, 4, 8, 16, 32, 64, 128]))),
        head_dim=draw(maybe(st.sampled_from([64, 80, 128, 192, 256, 512]))),
        intermediate_size=draw(
            maybe(st.sampled_from([5632, 11008, 14336, 18432, 21504, 28672, 53248, 1000]))
        ),
        attention=draw(
            rarely(
                st.sampled_from(list(AttentionKind)),
                st.sampled_from(
                    [
                        AttentionKind.GQA,
                        AttentionKind.MLA,
                        AttentionKind.SLIDING_HYBRID,
                        AttentionKind.LINEAR_HYBRID,
                    ]
                ),
            )
        ),
        kv_lora_rank=draw(maybe(st.sampled_from([256, 512]))),
        qk_rope_head_dim=draw(maybe(st.sampled_from([32, 64]))),
        sliding_window=draw(maybe(st.sampled_from([128, 1024, 4096]))),
        full_attention_layers=draw(maybe(st.integers(0, layers or 1))),
        full_attention_kv_heads=draw(maybe(st.sampled_from([1, 2, 4, 8, 16]))),
        full_attention_head_dim=draw(maybe(st.sampled_from([128, 256, 512]))),
        indexer_head_dim=draw(st.one_of(st.none(), st.just(128))),
        moe=draw(moe_facts()),
        native_dtype=draw(
            rarely(
                st.sampled_from([None, "q5_k", "fp4"]),
                st.sampled_from(["bf16", "fp8", "int4", "mxfp4", "bfloat16"]),
            )
        ),
        weight_bytes=draw(maybe(st.integers(100_000_000, 4_000_000_000_000), none_weight=6)),
        kv_bytes_per_token_override=draw(st.one_of(st.none(), st.none(), st.integers(1, 1_000_000))),
        max_context=draw(maybe(st.sampled_from([4096, 32768, 40960, 131072, 262144, 1048576]))),
    )


@st.composite
def requests(draw: st.DrawFn) -> PlanRequest:
    pinned = st.one_of(st.none(), st.none(), st.sampled_from([1, 2, 3, 4, 6, 8, 16, 32]))
    pool = draw(
        st.one_of(
            st.just(GpuPool()),
            st.dictionaries(
                st.sampled_from(GPU_NAMES + ["NoSuchGPU"]),
                st.lists(st.integers(0, 8), max_size=6).map(tuple),
                max_size=4,
            ).map(GpuPool),
        )
    )
    return PlanRequest(
        model_id="test/random-model",
        engine=draw(st.sampled_from(list(Engine))),
        gpu=draw(rarely(st.just("TPUv9"), st.one_of(st.none(), st.just("auto"), st.sampled_from(GPU_NAMES)))),
        quantization=draw(st.one_of(st.none(), st.sampled_from(list(Quantization)))),
        kv_cache_dtype=draw(st.sampled_from(["auto", "fp8", "fp8_e5m2"])),
        max_model_len=draw(rarely(st.integers(-1, 2_000_000), st.one_of(st.none(), st.integers(1, 131072)))),
        concurrency=draw(rarely(st.integers(-1, 0), st.integers(1, 64))),
        strict=draw(st.booleans()),
        gpu_memory_utilization=draw(st.floats(0.3, 1.0)),
        gpus_per_replica=draw(pinned),
        tensor_parallel=draw(pinned),
        pipeline_parallel=draw(st.one_of(st.none(), st.none(), st.sampled_from([1, 2, 3, 4]))),
        expert_parallel=draw(st.sampled_from([None, None, True, False])),
        pool=pool,
    )


def _check_feasible(result: Plan, request: PlanRequest, model: ModelFacts) -> None:
    c, memory = result.chosen, result.memory
    assert c is not None and memory is not None
    gpu = GPUS[c.gpu_type]
    tp, pp = c.tensor_parallel, c.pipeline_parallel
    # Memory: the plan fits its own budget.
    assert memory.weights + memory.kv_cache + memory.overhead <= memory.usable
    assert memory.usable <= gpu.memory_bytes
    # Layout arithmetic and engine limits.
    assert tp * pp == c.gpus_per_replica
    assert c.nodes_per_replica == -(-c.gpus_per_replica // gpu.gpus_per_node)
    if request.engine is not Engine.SGLANG:
        assert tp <= gpu.gpus_per_node
    if request.engine is Engine.TGI:
        assert c.nodes_per_replica == 1 and pp == 1 and not c.expert_parallel
    # Model divisibility rules (unknown heads are an estimated plan that says so).
    if model.num_attention_heads is None:
        assert result.estimated and any("num_attention_heads" in a for a in result.assumptions)
    else:
        assert model.num_attention_heads % tp == 0
    if model.attention in (AttentionKind.GQA, AttentionKind.SLIDING_HYBRID, AttentionKind.LINEAR_HYBRID):
        for kv in (
            model.num_kv_heads,
            model.full_attention_kv_heads if model.attention is AttentionKind.SLIDING_HYBRID else None,
        ):
            if kv:
                assert kv % tp == 0 or tp % kv == 0
    if model.num_layers is not None:
        assert pp <= model.num_layers
    if c.expert_parallel:
        assert model.moe is not None and (model.moe.routed_experts or 0) % tp == 0
    _check_mlp_slices(result, model, tp, c.expert_parallel)
    # Hardware.
    if result.quantization == "fp4":
        assert gpu.fp4
    if result.quantization == "fp8" and not gpu.fp8:
        assert request.engine is Engine.VLLM and any("Marlin" in reason for reason in result.reasons)
    # Pins and requests win.
    if request.gpus_per_replica is not None:
        assert c.gpus_per_replica == request.gpus_per_replica
    if request.tensor_parallel is not None:
        assert tp == request.tensor_parallel
    if request.pipeline_parallel is not None:
        assert pp == request.pipeline_parallel
    if request.gpu not in (None, "auto"):
        assert c.gpu_type == request.gpu
    if request.pool.free_per_node is not None:
        assert fit_in_inventory(c, request.pool.free_per_node, 1).fits
    if model.max_context is not None:
        assert result.max_model_len is not None and result.max_model_len <= model.max_context
    # The engine starts: one sequence of the served context (the concurrency goal under strict) fits.
    assert result.concurrency_at_max_len is not None
    assert result.concurrency_at_max_len >= (request.concurrency if request.strict else 1)
    if request.max_model_len is not None:
        assert result.max_model_len == request.max_model_len


def _check_mlp_slices(result: Plan, model: ModelFacts, tp: int, expert_parallel: bool) -> None:
    if model.is_moe:
        width = None if expert_parallel or model.moe is None else model.moe.expert_intermediate_size
    else:
        width = model.intermediate_size
    if width is None:
        return
    assert width % tp == 0
    if result.quantization == "fp8" and normalize_dtype(model.native_dtype) == "fp8":
        block_n = model.weight_block_n or FP8_BLOCK[0]
        assert (width // tp) % block_n == 0


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(model=model_facts(), request=requests())
def test_every_plan_is_well_formed_and_every_feasible_plan_obeys_every_rule(
    model: ModelFacts, request: PlanRequest
) -> None:
    result = plan(request, model, GPUS)  # never raises
    assert result.model_id == model.id and result.engine is request.engine
    assert len(result.rejected) <= MAX_REJECTED
    assert all(r.reason for r in result.rejected)
    if result.feasible:
        _check_feasible(result, request, model)
    else:
        assert result.chosen is None and result.memory is None and result.reasons
    assert plan(request, model, GPUS) == result  # pure: same inputs, same plan


@settings(max_examples=200, deadline=None)
@given(model=model_facts(), request=requests())
def test_an_infeasible_pin_says_it_is_the_pin(model: ModelFacts, request: PlanRequest) -> None:
    pinned = (request.gpus_per_replica, request.tensor_parallel, request.pipeline_parallel) != (
        None,
        None,
        None,
    )
    result = plan(request, model, GPUS)
    if pinned and not result.feasible and result.rejected:
        assert result.reasons[0].startswith("pinned ")


@settings(max_examples=60, deadline=None)
@given(model=model_facts(), engine=st.sampled_from(list(Engine)))
def test_auto_is_never_more_expensive_than_any_single_gpu_type(model: ModelFacts, engine: Engine) -> None:
    auto = plan(PlanRequest(model.id, engine=engine), model, GPUS)
    for name in GPU_NAMES:
        alone = plan(PlanRequest(model.id, engine=engine, gpu=name), model, GPUS)
        assert alone.feasible <= auto.feasible
        if alone.chosen is not None and auto.chosen is not None:
            auto_cost = auto.chosen.gpus_per_replica * GPUS[auto.chosen.gpu_type].relative_cost
            assert auto_cost <= alone.chosen.gpus_per_replica * GPUS[name].relative_cost
