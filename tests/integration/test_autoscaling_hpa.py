"""Autoscaling with provider hpa on the real control plane (no KEDA): the operator renders an
autoscaling/v2 HPA on the ModelDeployment's scale subresource, the controller-manager's HPA
controller acts on it and its conditions reach status.autoscaling; a count beyond the free GPUs is
placed as far as it fits with ScalingLimited; removing spec.autoscaling deletes the HPA and keeps
spec.replicas. No External metrics adapter runs here, so the HPA reports that it cannot read its
metric: that is what the status must say."""

from __future__ import annotations

import json
from typing import Any

import pytest

from testbed.cluster import LocalCluster
from testbed.operator_process import OperatorProcess
from tests.integration.kube import apply, condition, get_json, get_or_none, make_namespace, wait_for
from tests.integration.test_operator import delete_and_wait, md, wait_ready, workloads

pytestmark = pytest.mark.cluster
NS = "op-autoscaling"
# The fleet's one MI300X node (8 GPUs) holds two replicas of 4 GPUs; no other test places pods on it.
HALF_MI300X = {"type": "MI300X", "gpusPerReplica": 4}
AUTOSCALING = {
    "provider": "hpa",
    "minReplicas": 1,
    "maxReplicas": 3,
    "metrics": [{"type": "waitingRequests", "target": 4}],
}


def md_status(cluster: LocalCluster, name: str) -> dict[str, Any]:
    return (get_or_none(cluster, "md", name, "-n", NS) or {}).get("status") or {}


def limited(cluster: LocalCluster, name: str) -> dict[str, Any]:
    return condition({"status": md_status(cluster, name)}, "ScalingLimited") or {}


def replicas_writers(obj: dict[str, Any]) -> set[str]:
    """Field managers that own spec.replicas of `obj`."""
    return {
        entry["manager"]
        for entry in obj["metadata"].get("managedFields") or []
        if "f:replicas" in ((entry.get("fieldsV1") or {}).get("f:spec") or {})
    }


def test_an_hpa_scales_the_model_deployment_and_its_reasons_reach_the_status(
    cluster: LocalCluster, operator: OperatorProcess
) -> None:
    make_namespace(cluster, NS)
    apply(
        cluster,
        md("elastic", NS, "Qwen/Qwen3.5-9B", gpu="MI300X", accelerator=HALF_MI300X, autoscaling=AUTOSCALING),
    )
    wait_ready(cluster, NS, "elastic")

    hpa = wait_for(
        lambda: get_or_none(cluster, "hpa", "elastic", "-n", NS), "the HorizontalPodAutoscaler", timeout=60
    )
    assert hpa["spec"]["scaleTargetRef"] == {
        "apiVersion": "modelfleet.io/v1alpha1",
        "kind": "ModelDeployment",
        "name": "elastic",
    }
    [owner] = hpa["metadata"]["ownerReferences"]
    assert owner["kind"] == "ModelDeployment" and owner["name"] == "elastic" and owner["controller"]
    assert hpa["spec"]["metrics"][0]["external"]["metric"]["name"] == "vllm_num_requests_waiting"

    # The real HPA controller looks at it: with no External metrics API it says so, in its words.
    said = wait_for(
        lambda: (
            "ScalingActive=False"
            in (md_status(cluster, "elastic").get("autoscaling") or {}).get("message", "")
        ),
        "the HPA's ScalingActive condition in status.autoscaling",
        timeout=120,
    )
    assert said
    autoscaling = md_status(cluster, "elastic")["autoscaling"]
    assert autoscaling["provider"] == "hpa" and autoscaling["object"] == "HorizontalPodAutoscaler/elastic"
    # Two replicas of 4 GPUs fill the node: maxReplicas 3 is beyond the fleet, said at once.
    assert (limited(cluster, "elastic")["status"], limited(cluster, "elastic")["reason"]) == (
        "True",
        "MaxReplicasAboveCapacity",
    )

    # The autoscaler's write, through the scale subresource: 3 asked, the GPUs hold 2.
    cluster.kubectl("scale", "md/elastic", "-n", NS, "--replicas=3")

    def placed_two() -> dict[str, Any] | None:
        status = md_status(cluster, "elastic")
        cond = limited(cluster, "elastic")
        done = cond.get("reason") == "InsufficientCapacity" and status.get("ready") == "2/2"
        return status if done else None

    status = wait_for(placed_two, "two replicas placed, ScalingLimited InsufficientCapacity", timeout=120)
    assert status["phase"] == "Healthy", json.dumps(status, indent=1)
    assert status["autoscaling"]["placedReplicas"] == 2
    assert "asks for 3 replicas; the free GPUs hold 2" in limited(cluster, "elastic")["message"]
    [deployment] = workloads(cluster, NS, "elastic")
    assert deployment["spec"]["replicas"] == 2
    assert not get_json(cluster, "pods", "-n", NS, "--field-selector=status.phase=Pending")["items"]
    warnings = get_json(cluster, "events", "-n", NS, "--field-selector", "involvedObject.name=elastic")[
        "items"
    ]
    assert any(e["type"] == "Warning" and e["reason"] == "InsufficientCapacity" for e in warnings)

    # The operator never wrote spec.replicas: only the user and kubectl scale did.
    got = get_json(cluster, "md", "elastic", "-n", NS)
    assert got["spec"]["replicas"] == 3
    assert "modelfleet" not in replicas_writers(got), replicas_writers(got)

    # Autoscaling removed: the HPA is deleted, spec.replicas stays where it was.
    cluster.kubectl(
        "patch", "md/elastic", "-n", NS, "--type=json", "-p", '[{"op":"remove","path":"/spec/autoscaling"}]'
    )
    wait_for(lambda: get_or_none(cluster, "hpa", "elastic", "-n", NS) is None, "the HPA deleted", timeout=60)
    wait_for(lambda: not limited(cluster, "elastic"), "ScalingLimited gone with autoscaling", timeout=60)
    final = get_json(cluster, "md", "elastic", "-n", NS)
    assert final["spec"]["replicas"] == 3 and "autoscaling" not in final["status"]
    delete_and_wait(cluster, NS, "elastic")
