"""The status on the real control plane when replicas change: a scale-up is Progressing, never
Degraded; a stable revision that loses a ready replica is Degraded with ReplicasNotReady until it is back."""

from __future__ import annotations

from typing import Any

import pytest

from testbed.cluster import LocalCluster
from testbed.operator_process import OperatorProcess
from tests.integration.kube import apply, condition, get_json, get_or_none, make_namespace, wait_for
from tests.integration.test_operator import delete_and_wait, md, wait_ready

pytestmark = pytest.mark.cluster
NS = "op-status"
# The fleet's one A100 node (8 GPUs) holds two replicas of 4 GPUs, and no other test in this cluster
# places pods on it (the L4 nodes are shared with other modules' small models).
A100_NODE = "gpu-a100-0"
HALF_NODE = {"type": "A100-80GB", "gpusPerReplica": 4}


def conditions(cluster: LocalCluster, name: str) -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
    got = get_or_none(cluster, "md", name, "-n", NS) or {}
    types = ("Ready", "Progressing", "Degraded", "Schedulable")
    return got.get("status") or {}, {t: condition(got, t) or {} for t in types}


def warnings(cluster: LocalCluster, name: str) -> list[str]:
    items = get_json(cluster, "events", "-n", NS, "--field-selector", f"involvedObject.name={name}")["items"]
    return [e["reason"] for e in items if e["type"] == "Warning"]


def test_a_scale_up_short_of_gpus_is_progressing_not_degraded(
    cluster: LocalCluster, operator: OperatorProcess
) -> None:
    make_namespace(cluster, NS)
    apply(cluster, md("grow", NS, "Qwen/Qwen3.5-9B", gpu="A100-80GB", accelerator=HALF_NODE))
    wait_ready(cluster, NS, "grow")
    cluster.kubectl("scale", "md/grow", "-n", NS, "--replicas=3")

    def short_of_one() -> tuple[dict[str, Any], dict[str, dict[str, Any]]] | None:
        status, conds = conditions(cluster, "grow")
        pending = conds["Schedulable"].get("reason") == "PodsPending"
        return (status, conds) if pending and status.get("ready") == "2/3" else None

    status, conds = wait_for(short_of_one, "two of three replicas Ready, the third Pending", timeout=90)
    assert status["phase"] == "Progressing", status
    assert (conds["Progressing"]["status"], conds["Progressing"]["reason"]) == ("True", "Scaling")
    assert (conds["Degraded"]["status"], conds["Degraded"]["reason"]) == ("False", "AsExpected")
    assert "ReplicasNotReady" not in warnings(cluster, "grow")
    delete_and_wait(cluster, NS, "grow")


def test_a_stable_that_loses_a_ready_replica_is_degraded_until_it_is_back(
    cluster: LocalCluster, operator: OperatorProcess
) -> None:
    make_namespace(cluster, NS)
    apply(cluster, md("lose", NS, "Qwen/Qwen3.5-9B", gpu="A100-80GB", replicas=2, accelerator=HALF_NODE))
    wait_ready(cluster, NS, "lose")
    cluster.kubectl("taint", "nodes", A100_NODE, "modelfleet.io/status=hold:NoSchedule")
    try:
        [victim, *_] = get_json(cluster, "pods", "-n", NS, "-l", "modelfleet.io/name=lose")["items"]
        cluster.kubectl("delete", "pod", victim["metadata"]["name"], "-n", NS, "--wait=false")

        def degraded() -> tuple[dict[str, Any], dict[str, dict[str, Any]]] | None:
            status, conds = conditions(cluster, "lose")
            return (status, conds) if conds["Degraded"].get("status") == "True" else None

        status, conds = wait_for(degraded, "Degraded after losing a replica", timeout=60)
    finally:
        cluster.kubectl("taint", "nodes", A100_NODE, "modelfleet.io/status-", check=False)
    assert status["phase"] == "Degraded" and status["ready"] == "1/2", status
    assert conds["Degraded"]["reason"] == "ReplicasNotReady", conds["Degraded"]
    assert conds["Progressing"]["reason"] == "RolloutComplete", conds["Progressing"]
    wait_for(
        lambda: "ReplicasNotReady" in warnings(cluster, "lose"), "a ReplicasNotReady Warning", timeout=10
    )
    assert "RolloutComplete" not in warnings(cluster, "lose")
    back = wait_ready(cluster, NS, "lose")
    assert back["status"]["phase"] == "Healthy"
    assert (condition(back, "Degraded") or {}).get("status") == "False"
    delete_and_wait(cluster, NS, "lose")
