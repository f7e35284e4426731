"""DP x EP layouts for large MoE: one replica = DP attention ranks x TP, routed experts split over all
of its GPUs, as the vLLM and SGLang recipes for DeepSeek V3 and Kimi K2 run them."""

from __future__ import annotations

import dataclasses

import pytest

from modelfleet.api import parse_spec
from modelfleet.api.errors import SpecError
from modelfleet.catalog import get_model, gpu_catalog
from modelfleet.catalog.types import GIB, ModelFacts
from modelfleet.planner import Engine, GpuPool, Plan, PlanRequest, plan
from modelfleet.render import launch_spec

DSV3 = "deepseek-ai/DeepSeek-V3"
KIMI_K2 = "moonshotai/Kimi-K2-Instruct"


def facts(model_id: str) -> ModelFacts:
    found = get_model(model_id)
    assert found is not None
    return found


def plan_for(model_id: str, **request: object) -> Plan:
    return plan(PlanRequest(model_id, **request), facts(model_id), gpu_catalog())  # type: ignore[arg-type]


@pytest.mark.parametrize("engine", [Engine.VLLM, Engine.SGLANG])
def test_deepseek_v3_dp8_ep_on_one_h200_node_as_the_recipes_run_it(engine: Engine) -> None:
    result = plan_for(DSV3, engine=engine, gpu="H200", data_parallel=8, max_model_len=8192)
    assert result.feasible, result.reasons
    chosen = result.chosen
    assert chosen is not None and result.memory is not None
    assert (
        chosen.gpus_per_replica,
        chosen.tensor_parallel,
        chosen.data_parallel,
        chosen.expert_parallel,
    ) == (
        8,
        1,
        8,
        True,
    )
    # Attention and dense layers are on every GPU: more weight per GPU than TP=8 (81.8 GiB).
    assert 90 * GIB < result.memory.weights < 100 * GIB
    assert "DP=8" in result.reasons[0] and "expert parallel over 8 ranks" in " ".join(result.reasons)


def test_dp_replicates_the_dense_part_so_it_needs_more_memory_than_tp() -> None:
    tp8 = plan_for(DSV3, gpu="H200", gpus_per_replica=8, max_model_len=8192)
    dp8 = plan_for(DSV3, gpu="H200", data_parallel=8, max_model_len=8192)
    assert tp8.memory is not None and dp8.memory is not None
    assert dp8.memory.weights > tp8.memory.weights


def test_each_dp_rank_holds_only_its_own_sequences_kv() -> None:
    one = plan_for(DSV3, gpu="H200", data_parallel=8, max_model_len=8192, concurrency=1)
    eight = plan_for(DSV3, gpu="H200", data_parallel=8, max_model_len=8192, concurrency=8)
    assert one.memory is not None and eight.memory is not None
    assert one.memory.kv_cache == eight.memory.kv_cache  # one sequence per DP rank either way


def test_kimi_k2_dp16_spans_two_h200_nodes_on_sglang() -> None:
    result = plan_for(KIMI_K2, engine=Engine.SGLANG, gpu="H200", data_parallel=16, max_model_len=8192)
    assert result.feasible, result.reasons
    assert result.chosen is not None and result.chosen.nodes_per_replica == 2


def test_vllm_dp_across_nodes_is_refused_with_what_to_do() -> None:
    result = plan_for(KIMI_K2, engine=Engine.VLLM, gpu="H200", data_parallel=16, max_model_len=8192)
    assert not result.feasible
    assert "use engine sglang" in result.reasons[0]


@pytest.mark.parametrize(
    ("model_id", "request_fields", "says"),
    [
        ("meta-llama/Llama-3.1-8B-Instruct", {"data_parallel": 2}, "is dense"),
        (
            DSV3,
            {"data_parallel": 8, "engine": Engine.TGI, "gpu": "H200"},
            "tgi has no data-parallel attention",
        ),
        (DSV3, {"data_parallel": 8, "expert_parallel": False}, "needs expert parallel"),
        (DSV3, {"data_parallel": 3, "gpu": "H200"}, "not divisible by the expert-parallel size 3"),
    ],
    ids=["dense", "tgi", "ep-off", "experts-do-not-split"],
)
def test_impossible_dp_pins_say_why(model_id: str, request_fields: dict[str, object], says: str) -> None:
    result = plan_for(model_id, **request_fields)
    assert not result.feasible
    assert says in result.reasons[0]


def test_dp_without_parameter_counts_is_refused_naming_them() -> None:
    bare = dataclasses.replace(facts(DSV3), active_params=None)
    result = plan(PlanRequest(DSV3, gpu="H200", data_parallel=8), bare, gpu_catalog())
    assert not result.feasible and "total and active" in result.reasons[0]


def test_the_spec_requires_gpus_to_equal_tp_pp_dp() -> None:
    with pytest.raises(SpecError, match="dataParallel"):
        parse_spec(
            {
                "model": {"id": DSV3},
                "accelerator": {
                    "gpusPerReplica": 8,
                    "tensorParallel": 1,
                    "pipelineParallel": 1,
                    "dataParallel": 4,
                },
            }
        )
    spec = parse_spec({"model": {"id": DSV3}, "accelerator": {"dataParallel": 8}})
    assert spec.accelerator.data_parallel == 8


@pytest.mark.parametrize(
    ("engine", "flags"),
    [
        ("vllm", ["--tensor-parallel-size=1", "--data-parallel-size=8", "--enable-expert-parallel"]),
        ("sglang", ["--tp-size=8", "--dp-size=8", "--enable-dp-attention", "--ep-size=8"]),
    ],
)
def test_a_dp_ep_plan_renders_the_recipes_flags(engine: str, flags: list[str]) -> None:
    spec = parse_spec(
        {
            "model": {"id": DSV3},
            "engine": {"name": engine},
            "serving": {"maxModelLen": 8192},
            "accelerator": {"type": "H200", "dataParallel": 8},
        }
    )
    result = plan_for(DSV3, engine=Engine(engine), gpu="H200", data_parallel=8, max_model_len=8192)
    launch = launch_spec(
        spec,
        result,
        name="m",
        namespace="ns",
        revision="0123456789",
        gpu=gpu_catalog()["H200"],
        facts=facts(DSV3),
    )
    for expected in flags:
        assert expected in launch.leader.argv


def test_dp_on_two_gpu_nodes_uses_whole_nodes() -> None:
    pool = GpuPool(node_shapes={"H200": (4,)})
    result = plan_for(DSV3, engine=Engine.SGLANG, gpu="H200", data_parallel=8, max_model_len=8192, pool=pool)
    assert result.feasible and result.chosen is not None
    assert result.chosen.nodes_per_replica == 2
