"""Draining an H200 node through the Eviction API, the way `kubectl drain` does, while a model serves.

The budgets are enforced by the API server's eviction endpoint with the disruption controller of the
local kube-controller-manager (it runs every default controller). A Ready-replica sampler runs in a
background thread, as the reliability checker does, and records the fewest Ready serving pods seen.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from testbed.cluster import LocalCluster
from testbed.operator_process import OperatorProcess
from tests.integration.kube import apply, condition, get_json, make_namespace, wait_for
from tests.integration.test_operator import delete_and_wait
from tests.reliability.reader import Reader, Unavailable

pytestmark = pytest.mark.cluster
H200_NODES = ("gpu-h200-0", "gpu-h200-1")
SAMPLE_INTERVAL_SECONDS = 0.1


@pytest.fixture(autouse=True)
def models_deleted(cluster: LocalCluster) -> Iterator[None]:
    """Each test leaves the H200 nodes empty and uncordoned for the next, even when it fails."""
    yield
    for node in H200_NODES:
        cluster.kubectl("uncordon", node)
    for namespace in get_json(cluster, "namespaces")["items"]:
        if namespace["metadata"]["name"].startswith("drain-"):
            for md in get_json(cluster, "md", "-n", namespace["metadata"]["name"])["items"]:
                delete_and_wait(cluster, namespace["metadata"]["name"], md["metadata"]["name"])


class ReadySampler:
    """Counts the model's Ready, not terminating, serving pods per revision until stopped; keeps
    the fewest seen per revision (of the revisions present when it starts)."""

    def __init__(self, cluster: LocalCluster, namespace: str, name: str) -> None:
        self.reader = Reader(cluster)
        self.path = f"/api/v1/namespaces/{namespace}/pods"
        self.selector = f"modelfleet.io/name={name},modelfleet.io/role=server"
        self.fewest_ready: dict[str, int] = {}
        self.samples = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> ReadySampler:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                pods = self.reader.items(self.path, self.selector)
            except Unavailable:
                pods = None
            if pods is not None:
                self._count(pods)
            self._stop.wait(SAMPLE_INTERVAL_SECONDS)

    def _count(self, pods: list[dict[str, Any]]) -> None:
        ready: dict[str, int] = {}
        for pod in pods:
            revision = pod["metadata"]["labels"]["modelfleet.io/revision"]
            ready[revision] = ready.get(revision, 0) + int(_serving(pod))
        if not self.samples:
            self.fewest_ready = dict(ready)
        for revision in self.fewest_ready:
            self.fewest_ready[revision] = min(self.fewest_ready[revision], ready.get(revision, 0))
        self.samples += 1


def _serving(pod: dict[str, Any]) -> bool:
    if pod["metadata"].get("deletionTimestamp"):
        return False  # out of the Service endpoints already
    conditions = {c["type"]: c["status"] for c in pod.get("status", {}).get("conditions", [])}
    return conditions.get("Ready") == "True"


def model(name: str, namespace: str, replicas: int, revision: str = "r1", **rollout: Any) -> dict[str, Any]:
    return {
        "apiVersion": "modelfleet.io/v1alpha1",
        "kind": "ModelDeployment",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "model": {"id": "Qwen/Qwen3.5-9B", "revision": revision},
            "accelerator": {"type": "H200"},
            "replicas": replicas,
            "serving": {"maxModelLen": 8192},
            "rollout": rollout or {"strategy": "RollingUpdate"},
        },
    }


def pods_on(cluster: LocalCluster, namespace: str, name: str, node: str) -> list[dict[str, Any]]:
    items = get_json(cluster, "pods", "-n", namespace, "-l", f"modelfleet.io/name={name}")["items"]
    return [
        p for p in items if p["spec"].get("nodeName") == node and not p["metadata"].get("deletionTimestamp")
    ]


def ready_pods(cluster: LocalCluster, namespace: str, name: str) -> list[dict[str, Any]]:
    items = get_json(cluster, "pods", "-n", namespace, "-l", f"modelfleet.io/name={name}")["items"]
    return [p for p in items if _serving(p)]


def evict(cluster: LocalCluster, namespace: str, pod: str) -> tuple[bool, str]:
    """POST the pod's eviction subresource (policy/v1), as kubectl drain does: (evicted, what the server said)."""
    body = {"apiVersion": "policy/v1", "kind": "Eviction", "metadata": {"name": pod, "namespace": namespace}}
    out = cluster.kubectl(
        "create",
        "--raw",
        f"/api/v1/namespaces/{namespace}/pods/{pod}/eviction",
        "-f",
        "-",
        input=json.dumps(body),
        check=False,
    )
    return out.returncode == 0, (out.stdout + out.stderr).strip()


def budgets_settled(cluster: LocalCluster, namespace: str, name: str) -> bool:
    """Every budget of the model has been computed by the disruption controller for its current pods."""
    items = get_json(cluster, "pdb", "-n", namespace, "-l", f"modelfleet.io/name={name}")["items"]
    return bool(items) and all(
        b.get("status", {}).get("observedGeneration") == b["metadata"]["generation"]
        and b["status"].get("currentHealthy") == b["status"].get("expectedPods")
        for b in items
    )


def drain(cluster: LocalCluster, namespace: str, name: str, node: str) -> list[str]:
    """Cordon `node`, then evict every pod of the model on it at once (kubectl drain evicts in
    parallel), retrying refused evictions once the budget allows again; returns the refusals."""
    cluster.kubectl("cordon", node)
    refusals: list[str] = []
    while remaining := pods_on(cluster, namespace, name, node):
        with ThreadPoolExecutor(max_workers=len(remaining)) as pool:
            answers = list(
                pool.map(lambda pod: evict(cluster, namespace, pod["metadata"]["name"]), remaining)
            )
        for evicted, said in answers:
            if not evicted:
                assert "disruption budget" in said, said
                refusals.append(said)
        wait_for(
            lambda: budgets_settled(cluster, namespace, name) or not pods_on(cluster, namespace, name, node),
            "the budget to allow the next eviction",
            timeout=60,
            interval=0.2,
        )
    return refusals


def test_a_drain_keeps_all_but_one_replica_ready_and_moves_them_to_another_node(
    cluster: LocalCluster, operator: OperatorProcess
) -> None:
    namespace, name = "drain-serving", "drained"
    make_namespace(cluster, namespace)
    # Both replicas start on gpu-h200-0 while gpu-h200-1 is cordoned. The drain begins before it is
    # uncordoned, so the first replacement stays Pending and the budget must refuse the second
    # eviction (the simulated kubelet makes a scheduled pod Ready at once, so without this the
    # replacement could be Ready before the second eviction arrives, and nothing would be refused).
    cluster.kubectl("cordon", H200_NODES[1])
    apply(cluster, model(name, namespace, replicas=2))
    wait_for(lambda: len(ready_pods(cluster, namespace, name)) == 2, "2 Ready replicas", timeout=120)
    assert len(pods_on(cluster, namespace, name, H200_NODES[0])) == 2
    wait_for(lambda: budgets_settled(cluster, namespace, name), "the budget computed", timeout=60)
    with ReadySampler(cluster, namespace, name) as sampler:
        cluster.kubectl("cordon", H200_NODES[0])
        first = pods_on(cluster, namespace, name, H200_NODES[0])
        with ThreadPoolExecutor(max_workers=2) as pool:
            answers = list(pool.map(lambda pod: evict(cluster, namespace, pod["metadata"]["name"]), first))
        assert sorted(evicted for evicted, _ in answers) == [False, True], answers
        [left] = pods_on(cluster, namespace, name, H200_NODES[0])
        evicted, said = evict(cluster, namespace, left["metadata"]["name"])
        assert not evicted and "disruption budget" in said, said  # still refused: nothing replaced it
        cluster.kubectl("uncordon", H200_NODES[1])  # room appears: the replacement lands there
        refusals = drain(cluster, namespace, name, H200_NODES[0])
        wait_for(lambda: len(ready_pods(cluster, namespace, name)) == 2, "2 Ready again", timeout=120)
    assert sampler.samples >= 3
    assert list(sampler.fewest_ready.values()) == [1], (
        f"fewest Ready replicas seen: {sampler.fewest_ready} of 2"
    )
    nodes = {p["spec"]["nodeName"] for p in ready_pods(cluster, namespace, name)}
    assert nodes == {H200_NODES[1]}, nodes
    print(
        f"drain of 2 replicas: {2 + len(refusals)} evictions refused, {sampler.samples} samples, fewest Ready 1 of 2"
    )


def test_a_drain_during_a_canary_never_relaxes_the_stable_budget(
    cluster: LocalCluster, operator: OperatorProcess
) -> None:
    namespace, name = "drain-canary", "canaried"
    make_namespace(cluster, namespace)
    steps = [{"setWeight": 50}, {"pause": {}}]
    rollout = {"canary": {"steps": steps, "trafficRouting": {"provider": "replicas"}}}
    apply(cluster, model(name, namespace, replicas=2, **rollout))

    def stable_healthy() -> bool:
        # A new revision that arrives before the first one is recorded as stable is a first deploy.
        status = get_json(cluster, "md", name, "-n", namespace).get("status") or {}
        return status.get("phase") == "Healthy" and bool((status.get("revisions") or {}).get("stable"))

    wait_for(stable_healthy, "the first revision Healthy and stable", timeout=120)
    apply(cluster, model(name, namespace, replicas=2, revision="r2", **rollout))

    seen: list[dict[str, Any]] = [{}]

    def at_half() -> dict[str, Any] | None:
        status = seen[0] = get_json(cluster, "md", name, "-n", namespace).get("status") or {}
        revisions = status.get("revisions") or {}
        in_pause = (status.get("rollout") or {}).get("step") == 1  # setWeight 50 done, pausing
        return revisions if revisions.get("canary") and in_pause else None

    try:
        revisions = wait_for(at_half, "the canary at 50%, pausing", timeout=120)
    except AssertionError as error:
        raise AssertionError(f"{error}\nstatus: {json.dumps(seen[0], indent=1)}") from None

    def all_ready() -> bool:
        status = get_json(cluster, "md", name, "-n", namespace).get("status") or {}
        return len(ready_pods(cluster, namespace, name)) == status.get("replicas", -1)

    wait_for(all_ready, "every stable and canary replica Ready", timeout=60)
    wait_for(lambda: budgets_settled(cluster, namespace, name), "both budgets computed", timeout=60)
    stable_budget = budget_of(cluster, namespace, name, revisions["stable"])
    per_revision = {
        revision: sum(
            1
            for p in ready_pods(cluster, namespace, name)
            if p["metadata"]["labels"]["modelfleet.io/revision"] == revision
        )
        for revision in (revisions["stable"], revisions["canary"])
    }
    busiest = max(H200_NODES, key=lambda node: len(pods_on(cluster, namespace, name, node)))
    try:
        with ReadySampler(cluster, namespace, name) as sampler:
            refusals = drain(cluster, namespace, name, busiest)
            wait_for(all_ready, "every replica Ready again", timeout=120)
    finally:
        cluster.kubectl("uncordon", busiest)
    after = budget_of(cluster, namespace, name, revisions["stable"])
    # Its status moves with every eviction; its spec (and so its generation) must not.
    assert after["metadata"]["generation"] == stable_budget["metadata"]["generation"], (
        "the stable budget was rewritten"
    )
    assert after["spec"] == stable_budget["spec"]
    assert after["spec"]["maxUnavailable"] == 1
    for revision, replicas in per_revision.items():
        assert sampler.fewest_ready.get(revision, 0) >= replicas - 1, (
            revision,
            sampler.fewest_ready,
            per_revision,
        )
    print(
        f"drain during a canary at 50% ({per_revision}): {len(refusals)} evictions refused, "
        f"{sampler.samples} samples, fewest Ready {sampler.fewest_ready}"
    )


@pytest.mark.skipif(
    os.environ.get("MODELFLEET_SOAK") != "1",
    reason="soak only (MODELFLEET_SOAK=1): failed once in three full-suite runs, cause not yet found",
)
def test_a_replacement_with_no_room_is_reported_with_the_schedulers_numbers(
    cluster: LocalCluster, operator: OperatorProcess
) -> None:
    namespace, name = "drain-full", "full"
    make_namespace(cluster, namespace)
    # 8 GPUs per replica: each H200 node holds one replica, so the drained one has nowhere to go.
    body = model(name, namespace, replicas=2)
    body["spec"]["accelerator"]["gpusPerReplica"] = 8
    apply(cluster, body)
    wait_for(lambda: len(ready_pods(cluster, namespace, name)) == 2, "2 Ready replicas", timeout=120)
    wait_for(lambda: budgets_settled(cluster, namespace, name), "the budget computed", timeout=60)
    try:
        [pod] = pods_on(cluster, namespace, name, H200_NODES[0])
        cluster.kubectl("cordon", H200_NODES[0])
        evicted, said = evict(cluster, namespace, pod["metadata"]["name"])
        assert evicted, said

        def pending() -> dict[str, Any] | None:
            got = get_json(cluster, "md", name, "-n", namespace)
            cond = condition(got, "Schedulable")
            return got if cond and cond["reason"] == "PodsPending" else None

        got = wait_for(pending, "Schedulable=False PodsPending", timeout=60)
    finally:
        cluster.kubectl("uncordon", H200_NODES[0])
    message = condition(got, "Schedulable")["message"]
    assert (
        "0/" in message and "nodes are available" in message and "Insufficient nvidia.com/gpu" in message
    ), message
    # The Deployment controller's count of Ready replicas reaches the status a moment later.
    wait_for(
        lambda: (get_json(cluster, "md", name, "-n", namespace).get("status") or {}).get("ready") == "1/2",
        "status.ready 1/2",
        timeout=30,
    )
    print(f"no room for the replacement: {message}")


def budget_of(cluster: LocalCluster, namespace: str, name: str, revision: str) -> dict[str, Any]:
    selector = f"modelfleet.io/name={name},modelfleet.io/revision={revision}"
    [budget] = get_json(cluster, "pdb", "-n", namespace, "-l", selector)["items"]
    return dict(budget)


def test_users_add_tolerations_and_a_priority_class_to_engine_pods_without_forking_templates(
    cluster: LocalCluster, operator: OperatorProcess
) -> None:
    namespace, name = "drain-user-pods", "tolerant"
    make_namespace(cluster, namespace)
    priority = {
        "apiVersion": "scheduling.k8s.io/v1",
        "kind": "PriorityClass",
        "metadata": {"name": "llm-serving"},
    }
    apply(cluster, {**priority, "value": 1000})
    body = model(name, namespace, replicas=1)
    toleration = {"key": "maintenance", "operator": "Exists", "effect": "NoSchedule"}
    body["spec"]["podTemplate"] = {
        "metadata": {"labels": {"team": "search"}},
        "spec": {"tolerations": [toleration], "priorityClassName": "llm-serving"},
    }
    apply(cluster, body)
    wait_for(lambda: len(ready_pods(cluster, namespace, name)) == 1, "the Ready replica", timeout=120)
    [pod] = ready_pods(cluster, namespace, name)
    assert pod["spec"]["priorityClassName"] == "llm-serving" and pod["spec"]["priority"] == 1000
    assert toleration in pod["spec"]["tolerations"]
    assert pod["metadata"]["labels"]["team"] == "search"


def test_the_api_server_refuses_a_pod_template_that_sets_what_modelfleet_owns(
    cluster: LocalCluster, operator: OperatorProcess
) -> None:
    make_namespace(cluster, "drain-owned")
    body = model("owned", "drain-owned", replicas=1)
    body["spec"]["podTemplate"] = {"spec": {"containers": [{"name": "engine", "command": ["sh"]}]}}
    out = cluster.kubectl("apply", "--server-side", "-f", "-", input=json.dumps(body), check=False)
    assert out.returncode != 0
    assert "containers is owned by ModelFleet and cannot be set" in out.stderr, out.stderr
