"""Node shapes from reality: a replica spans whole nodes of the shapes the cluster (or the user) has,
not the catalog's typical board."""

from __future__ import annotations

import json

import pytest

from modelfleet.catalog import get_model, gpu_catalog
from modelfleet.cli import main
from modelfleet.decide.inventory import Inventory, NodeGpus
from modelfleet.planner import GpuPool, PlanRequest, plan
from modelfleet.planner.types import Engine

LLAMA_70B = "meta-llama/Llama-3.1-70B-Instruct"


def llama70(**request: object) -> object:
    facts = get_model(LLAMA_70B)
    assert facts is not None
    return plan(PlanRequest(LLAMA_70B, **request), facts, gpu_catalog())  # type: ignore[arg-type]


def nvl_nodes(count: int, gpus: int = 2) -> Inventory:
    nodes = tuple(
        NodeGpus(f"nvl-{i}", "H100-NVL", "NVIDIA-H100-NVL", "nvidia.com/gpu", gpus, True)
        for i in range(count)
    )
    return Inventory(nodes)


def test_twelve_gpus_on_six_two_gpu_nodes_is_a_six_node_replica() -> None:
    inventory = nvl_nodes(6)
    pool = GpuPool(free_per_node=inventory.free_per_node(), node_shapes=inventory.node_shapes())
    result = llama70(gpu="H100-NVL", gpus_per_replica=12, pool=pool)
    assert result.feasible, result.reasons  # type: ignore[attr-defined]
    chosen = result.chosen  # type: ignore[attr-defined]
    assert (chosen.nodes_per_replica, chosen.tensor_parallel, chosen.pipeline_parallel) == (6, 2, 6)


def test_the_catalog_board_alone_refuses_twelve_gpus_as_not_whole_nodes() -> None:
    result = llama70(gpu="H100-NVL", gpus_per_replica=12)
    assert not result.feasible  # type: ignore[attr-defined]
    assert "do not fill whole H100-NVL nodes of 8 GPUs" in result.reasons[0]  # type: ignore[attr-defined]


def test_mixed_shapes_use_the_largest_shape_that_divides_the_replica() -> None:
    pool = GpuPool(node_shapes={"H100-NVL": (8, 4)})
    result = llama70(gpu="H100-NVL", gpus_per_replica=12, pool=pool)
    assert result.feasible, result.reasons  # type: ignore[attr-defined]
    assert (result.chosen.nodes_per_replica, result.chosen.tensor_parallel) == (3, 4)  # type: ignore[attr-defined]


def test_a_replica_that_fits_one_node_stays_on_one_node() -> None:
    result = llama70(gpu="H100-80GB", pool=GpuPool(node_shapes={"H100-80GB": (8, 2)}))
    assert result.feasible and result.chosen.nodes_per_replica == 1  # type: ignore[attr-defined]


def test_tgi_cannot_span_two_gpu_nodes_and_says_so() -> None:
    pool = GpuPool(node_shapes={"H100-NVL": (2,)})
    result = llama70(gpu="H100-NVL", engine=Engine.TGI, gpus_per_replica=4, pool=pool)
    assert not result.feasible  # type: ignore[attr-defined]
    assert any("single node" in r.reason for r in result.rejected)  # type: ignore[attr-defined]


def test_inventory_node_shapes_ignore_cordoned_and_unknown_nodes() -> None:
    nodes = (
        NodeGpus("a", "L4", "NVIDIA-L4", "nvidia.com/gpu", 4, True),
        NodeGpus("b", "L4", "NVIDIA-L4", "nvidia.com/gpu", 1, True),
        NodeGpus("c", "L4", "NVIDIA-L4", "nvidia.com/gpu", 8, False),
        NodeGpus("d", None, "Mystery-GPU", "nvidia.com/gpu", 8, True),
    )
    assert Inventory(nodes).node_shapes() == {"L4": (4, 1)}


def test_every_catalog_gpu_lists_its_default_shape_first() -> None:
    for gpu in gpu_catalog().values():
        assert gpu.shapes[0] == gpu.gpus_per_node
        if len(gpu.shapes) > 1:
            assert any(line.startswith("node_shapes:") for line in gpu.source), gpu.name


def test_cli_gpus_per_node_plans_two_gpu_machines(capsys: pytest.CaptureFixture[str]) -> None:
    qwen = "Qwen/Qwen3-235B-A22B"  # 8 x H100-NVL in bf16: four 2-GPU machines
    assert main(["plan", "--model", qwen, "--gpu", "H100-NVL", "--gpus-per-node", "2", "-o", "json"]) == 0
    chosen = json.loads(capsys.readouterr().out)
    assert chosen["gpusPerReplica"] > 2
    assert chosen["nodesPerReplica"] == chosen["gpusPerReplica"] // 2


def test_cli_gpus_per_node_below_one_is_bad_input(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["plan", "--model", LLAMA_70B, "--gpus-per-node", "0"]) == 2
    assert "--gpus-per-node" in capsys.readouterr().err
