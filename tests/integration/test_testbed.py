"""The local control plane is a real Kubernetes: RBAC, scheduling, controllers, GC and CRDs all work."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest

from testbed.cluster import LocalCluster, kubectl_binary
from tests.integration.kube import get_json, make_namespace, wait_for

pytestmark = pytest.mark.cluster


def gpu_pod(name: str, gpus: int, node_selector: dict[str, str]) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "labels": {"test": "binpack"}},
        "spec": {
            "nodeSelector": node_selector,
            "containers": [
                {"name": "c", "image": "engine:test", "resources": {"limits": {"nvidia.com/gpu": str(gpus)}}}
            ],
        },
    }


def test_api_server_reports_the_pinned_version(cluster: LocalCluster) -> None:
    version = json.loads(cluster.kubectl("get", "--raw", "/version").stdout)
    assert version["gitVersion"] == "v1.36.4"


def test_kubectl_from_the_wheel_talks_to_the_cluster(cluster: LocalCluster) -> None:
    out = cluster.kubectl("version", "-o", "json")
    versions = json.loads(out.stdout)
    assert versions["clientVersion"]["gitVersion"].startswith("v1.37")
    assert versions["serverVersion"]["gitVersion"] == "v1.36.4"


def test_the_simulated_fleet_has_gpu_nodes_with_feature_discovery_labels(cluster: LocalCluster) -> None:
    nodes = get_json(cluster, "nodes")["items"]
    by_product: dict[str, int] = {}
    for node in nodes:
        product = (
            node["metadata"]["labels"].get("nvidia.com/gpu.product")
            or node["metadata"]["labels"].get("amd.com/gpu.product-name")
            or "cpu"
        )
        by_product[product] = by_product.get(product, 0) + 1
    assert by_product["NVIDIA-H200"] >= 2
    assert by_product["NVIDIA-H100-80GB-HBM3"] >= 2
    assert by_product["NVIDIA-A100-SXM4-80GB"] >= 1
    assert by_product["NVIDIA-L4"] >= 2
    assert by_product["AMD_Instinct_MI300X_OAM"] >= 1
    assert by_product["cpu"] >= 2
    h200 = next(n for n in nodes if n["metadata"]["name"] == "gpu-h200-0")
    assert h200["status"]["allocatable"]["nvidia.com/gpu"] == "8"
    assert h200["metadata"]["labels"]["nvidia.com/gpu.count"] == "8"
    mi300x = next(n for n in nodes if n["metadata"]["name"] == "gpu-mi300x-0")
    assert mi300x["status"]["allocatable"]["amd.com/gpu"] == "8"
    assert all(
        any(c["type"] == "Ready" and c["status"] == "True" for c in n["status"]["conditions"]) for n in nodes
    )


def test_a_service_account_without_rights_is_forbidden(cluster: LocalCluster, tmp_path: Path) -> None:
    make_namespace(cluster, "rbac-check")
    cluster.kubectl("create", "serviceaccount", "nobody", "-n", "rbac-check")
    token = cluster.kubectl("create", "token", "nobody", "-n", "rbac-check").stdout.strip()
    kubeconfig = cluster.token_kubeconfig(token, tmp_path / "nobody.kubeconfig")
    out = subprocess.run(
        [kubectl_binary(), "--kubeconfig", str(kubeconfig), "get", "pods", "-n", "rbac-check"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert out.returncode != 0
    assert "forbidden" in out.stderr.lower()
    assert "system:serviceaccount:rbac-check:nobody" in out.stderr


def test_gpu_pods_bin_pack_and_the_fifth_stays_pending(cluster: LocalCluster) -> None:
    make_namespace(cluster, "binpack")
    selector = {"modelfleet.io/pool": "gpu-h100"}
    # The H100 pool starts empty (pods of earlier tests may still be terminating).
    h100 = {
        n["metadata"]["name"]
        for n in get_json(cluster, "nodes", "-l", "modelfleet.io/pool=gpu-h100")["items"]
    }
    wait_for(
        lambda: (
            not [p for p in get_json(cluster, "pods", "-A")["items"] if p["spec"].get("nodeName") in h100]
        ),
        "no pods on the H100 nodes",
        timeout=60,
    )
    for i in range(5):
        cluster.kubectl("apply", "-n", "binpack", "-f", "-", input=json.dumps(gpu_pod(f"p{i}", 4, selector)))
        if i < 4:
            # one at a time, so bin-packing (not arrival order) decides where each lands
            wait_for(
                lambda i=i: get_json(cluster, "pod", f"p{i}", "-n", "binpack")["spec"].get("nodeName"),
                f"p{i} scheduled",
            )

    def running_pods() -> list[dict[str, Any]]:
        pods = get_json(cluster, "pods", "-n", "binpack")["items"]
        running = [p for p in pods if p["status"].get("phase") == "Running"]
        return running if len(running) == 4 else []

    running = wait_for(running_pods, "four pods Running (kwok)")
    per_node: dict[str, int] = {}
    for pod in running:
        per_node[pod["spec"]["nodeName"]] = per_node.get(pod["spec"]["nodeName"], 0) + 1
        assert any(c["type"] == "Ready" and c["status"] == "True" for c in pod["status"]["conditions"])
    assert sorted(per_node.values()) == [2, 2]
    p0 = get_json(cluster, "pod", "p0", "-n", "binpack")
    p1 = get_json(cluster, "pod", "p1", "-n", "binpack")
    assert p0["spec"]["nodeName"] == p1["spec"]["nodeName"], "MostAllocated fills one node first"

    def pending_reason() -> str:
        pod = get_json(cluster, "pod", "p4", "-n", "binpack")
        cond = [c for c in pod["status"].get("conditions", []) if c["type"] == "PodScheduled"]
        return cond[0].get("message", "") if cond and cond[0]["status"] == "False" else ""

    message = wait_for(pending_reason, "p4 unschedulable")
    assert "Insufficient nvidia.com/gpu" in message
    assert get_json(cluster, "pod", "p4", "-n", "binpack")["status"]["phase"] == "Pending"
    cluster.kubectl("delete", "namespace", "binpack", "--wait=false")


def test_a_deployment_creates_ready_pods_through_the_controller_manager(cluster: LocalCluster) -> None:
    make_namespace(cluster, "deploy")
    cluster.kubectl("create", "deployment", "web", "--image=engine:test", "--replicas=2", "-n", "deploy")

    def ready() -> bool:
        d = get_json(cluster, "deployment", "web", "-n", "deploy")
        return d.get("status", {}).get("readyReplicas") == 2

    wait_for(ready, "deployment web 2/2 ready")
    pods = get_json(cluster, "pods", "-n", "deploy", "-l", "app=web")["items"]
    assert len(pods) == 2
    assert all(p["metadata"]["ownerReferences"][0]["kind"] == "ReplicaSet" for p in pods)


def test_deleting_an_owner_garbage_collects_its_children(cluster: LocalCluster) -> None:
    make_namespace(cluster, "gc")
    owner = json.loads(cluster.kubectl("create", "configmap", "owner", "-n", "gc", "-o", "json").stdout)
    child = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": "child",
            "namespace": "gc",
            "ownerReferences": [
                {"apiVersion": "v1", "kind": "ConfigMap", "name": "owner", "uid": owner["metadata"]["uid"]}
            ],
        },
    }
    cluster.kubectl("create", "-f", "-", input=json.dumps(child))
    cluster.kubectl("delete", "configmap", "owner", "-n", "gc")
    wait_for(
        lambda: cluster.kubectl("get", "configmap", "child", "-n", "gc", check=False).returncode != 0,
        "the garbage collector to delete the child",
    )


def test_gateway_api_and_leaderworkerset_objects_are_accepted(cluster: LocalCluster) -> None:
    make_namespace(cluster, "crds")
    route = {
        "apiVersion": "gateway.networking.k8s.io/v1",
        "kind": "HTTPRoute",
        "metadata": {"name": "r", "namespace": "crds"},
        "spec": {
            "parentRefs": [{"name": "gw"}],
            "rules": [
                {
                    "backendRefs": [
                        {"name": "a", "port": 8000, "weight": 90},
                        {"name": "b", "port": 8000, "weight": 10},
                    ]
                }
            ],
        },
    }
    lws = {
        "apiVersion": "leaderworkerset.x-k8s.io/v1",
        "kind": "LeaderWorkerSet",
        "metadata": {"name": "l", "namespace": "crds"},
        "spec": {
            "replicas": 1,
            "leaderWorkerTemplate": {
                "size": 2,
                "workerTemplate": {"spec": {"containers": [{"name": "c", "image": "engine:test"}]}},
            },
        },
    }
    for obj in (route, lws):
        cluster.kubectl("apply", "--server-side", "-f", "-", input=json.dumps(obj))
    got = get_json(cluster, "httproute", "r", "-n", "crds")
    assert [b["weight"] for b in got["spec"]["rules"][0]["backendRefs"]] == [90, 10]
    assert (
        get_json(cluster, "leaderworkerset", "l", "-n", "crds")["spec"]["leaderWorkerTemplate"]["size"] == 2
    )
    bad = dict(
        route,
        spec={
            "parentRefs": [{"name": "gw"}],
            "rules": [{"backendRefs": [{"name": "a", "port": 8000, "weight": -1}]}],
        },
    )
    out = cluster.kubectl("apply", "--server-side", "-f", "-", input=json.dumps(bad), check=False)
    assert out.returncode != 0 and "weight" in out.stderr


def test_two_clusters_side_by_side_do_not_collide(cluster: LocalCluster) -> None:
    with LocalCluster(install_crds=False, quiet=True) as second:
        assert second.ports.apiserver != cluster.ports.apiserver
        assert json.loads(second.kubectl("get", "--raw", "/version").stdout)["gitVersion"] == "v1.36.4"
        pids = list(second.pids().values())
    for pid in pids:
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)
