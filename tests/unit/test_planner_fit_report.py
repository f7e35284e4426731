"""Inventory fit and the plan's two report formats."""

from __future__ import annotations

import json

import yaml

from modelfleet.catalog import get_model, gpu_catalog
from modelfleet.planner import Candidate, PlanRequest, fit_in_inventory, plan
from modelfleet.planner.report import plan_to_dict, plan_to_table

EIGHT = Candidate("H100-80GB", 8, 1, 8, 1)
SIXTEEN = Candidate("H100-80GB", 16, 2, 8, 2)
FOUR = Candidate("A100-80GB", 4, 1, 4, 1)


def test_single_node_replicas_pack_into_free_blocks_per_node() -> None:
    assert fit_in_inventory(FOUR, {"A100-80GB": (8, 4)}, replicas=3).fits
    assert not fit_in_inventory(FOUR, {"A100-80GB": (8, 3)}, replicas=3).fits


def test_a_replica_never_spans_two_partly_free_nodes() -> None:
    result = fit_in_inventory(FOUR, {"A100-80GB": (2, 2, 3)}, replicas=1)
    assert not result.fits
    assert "largest free block is 3" in result.message and "4 x A100-80GB" in result.message


def test_multi_node_replica_needs_a_whole_block_on_each_node() -> None:
    assert fit_in_inventory(SIXTEEN, {"H100-80GB": (8, 8)}, replicas=1).fits
    result = fit_in_inventory(SIXTEEN, {"H100-80GB": (8, 7, 7)}, replicas=1)
    assert not result.fits
    assert result.message == (
        "needs 16 x H100-80GB on 2 nodes per replica (8 per node) for 1 replica; "
        "largest free block is 8 on one node, 1 node has 8 free"
    )


def test_two_multi_node_replicas_need_four_blocks() -> None:
    assert not fit_in_inventory(SIXTEEN, {"H100-80GB": (8, 8, 8)}, replicas=2).fits
    assert fit_in_inventory(SIXTEEN, {"H100-80GB": (8, 8, 8, 8)}, replicas=2).fits


def test_missing_gpu_type_says_there_is_none() -> None:
    result = fit_in_inventory(EIGHT, {"A100-80GB": (8,)}, replicas=1)
    assert not result.fits and "no free H100-80GB" in result.message


def test_zero_replicas_always_fit() -> None:
    assert fit_in_inventory(EIGHT, {}, replicas=0).fits


def _llama70b_plan(**request: object):  # type: ignore[no-untyped-def]
    model = get_model("meta-llama/Llama-3.1-70B-Instruct")
    assert model is not None
    return plan(PlanRequest(model.id, **request), model, gpu_catalog())  # type: ignore[arg-type]


def test_plan_dict_has_every_documented_key_and_survives_json_and_yaml() -> None:
    data = plan_to_dict(_llama70b_plan(gpu="H100-80GB", max_model_len=32768))
    for key in (
        "feasible",
        "gpuType",
        "gpusPerReplica",
        "nodesPerReplica",
        "tensorParallel",
        "pipelineParallel",
        "dataParallel",
        "expertParallel",
        "quantization",
        "maxModelLen",
        "concurrencyAtMaxLen",
        "estimated",
        "kvBytesPerToken",
        "memory",
        "reasons",
        "rejected",
    ):
        assert key in data
    assert data["gpuType"] == "H100-80GB" and data["tensorParallel"] == 4
    assert data["maxModelLen"] == 32768 and data["estimated"] is False
    # 35.3 GiB of KV pool per GPU at TP=4 over 2.5 GiB per 32768-token sequence.
    assert data["concurrencyAtMaxLen"] == 14
    memory = data["memory"]
    assert memory["free"] == memory["usable"] - memory["weights"] - memory["kvCache"] - memory["overhead"]
    assert set(data["rejected"][0]) >= {
        "gpuType",
        "gpusPerReplica",
        "tensorParallel",
        "pipelineParallel",
        "reason",
    }
    assert json.loads(json.dumps(data)) == data
    assert yaml.safe_load(yaml.safe_dump(data)) == data


def test_infeasible_plan_dict_has_no_layout_but_keeps_reasons() -> None:
    data = plan_to_dict(_llama70b_plan(gpu="H100-80GB", tensor_parallel=3))
    assert data["feasible"] is False and data["gpuType"] is None and data["memory"] is None
    assert "TP=3" in data["reasons"][0]


def test_table_shows_summary_memory_reasons_and_rejections() -> None:
    text = plan_to_table(_llama70b_plan(gpu="H100-80GB", max_model_len=32768))
    assert "Layout:        4 x H100-80GB on 1 node: TP=4 PP=1 DP=1" in text
    assert "Memory per GPU:" in text and "weights       33.5 GiB" in text
    assert "Reasons:" in text and "Rejected alternatives" in text and "2 x H100-80GB" in text


def test_table_of_an_infeasible_plan_says_no() -> None:
    text = plan_to_table(_llama70b_plan(gpu="H100-80GB", max_model_len=10**9))
    assert "Feasible:      no" in text and "Memory per GPU" not in text and "exceeds" in text
