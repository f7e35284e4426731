"""What one ModelDeployment costs the API server on the real control plane: from nothing to Ready in
two status writes and two Events, then nothing at all while it stays as it is, resync after resync."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from testbed.cluster import LocalCluster
from testbed.operator_process import OperatorProcess, install_crds
from tests.integration.kube import apply, get_json, make_namespace, wait_for, wait_for_a_whole_pass
from tests.integration.test_operator import delete_and_wait, md, wait_ready

pytestmark = pytest.mark.cluster
NS = "op-cost"
RESYNC_SECONDS = 3  # short, so the test sees several resyncs of the converged object
MD_PATH = f"/apis/modelfleet.io/v1alpha1/namespaces/{NS}/modeldeployments"


@pytest.fixture(scope="module")
def operator(cluster: LocalCluster, tmp_path_factory: pytest.TempPathFactory) -> Iterator[OperatorProcess]:
    install_crds(cluster)
    proc = OperatorProcess(
        cluster, tmp_path_factory.mktemp("operator"), config={"resyncSeconds": RESYNC_SECONDS}
    ).start()
    yield proc
    proc.stop()


def changes_since(cluster: LocalCluster, resource_version: str, name: str) -> list[dict[str, Any]]:
    """Every watch event of ModelDeployment `name` after `resource_version`, as the API server's watch
    replays them (each write that changed the object is one event; a patch that changes nothing is none)."""
    out = cluster.kubectl(
        "get",
        "--raw",
        f"{MD_PATH}?watch=1&resourceVersion={resource_version}&timeoutSeconds=2",
        timeout=30,
    ).stdout
    events = [json.loads(line) for line in out.splitlines() if line.strip()]
    return [e for e in events if e["object"]["metadata"].get("name") == name]


def operator_events(cluster: LocalCluster, name: str) -> list[tuple[str, int]]:
    items = get_json(cluster, "events", "-n", NS, "--field-selector", f"involvedObject.name={name}")["items"]
    mine = [e for e in items if (e.get("source") or {}).get("component") == "modelfleet"]
    return [(e["reason"], int(e.get("count") or 1)) for e in sorted(mine, key=lambda e: e["firstTimestamp"])]


def test_a_model_deployment_converges_in_two_status_writes_and_two_events_then_resyncs_write_nothing(
    cluster: LocalCluster, operator: OperatorProcess
) -> None:
    make_namespace(cluster, NS)
    before = json.loads(cluster.kubectl("get", "--raw", MD_PATH).stdout)["metadata"]["resourceVersion"]
    apply(cluster, md("quiet", NS, "Qwen/Qwen3.5-9B", gpu="L4"))
    ready = wait_ready(cluster, NS, "quiet")
    wait_for(
        lambda: any(reason == "RolloutComplete" for reason, _ in operator_events(cluster, "quiet")),
        "the RolloutComplete Event",
        timeout=30,
    )
    for _ in range(3):  # past several resyncs of the converged object
        wait_for_a_whole_pass(operator, NS, "quiet", timeout=10 * RESYNC_SECONDS)

    after = get_json(cluster, "md", "quiet", "-n", NS)
    assert after["metadata"]["resourceVersion"] == ready["metadata"]["resourceVersion"], (
        "a resync rewrote the status",
        ready["status"],
        after["status"],
    )
    assert after["status"] == ready["status"]

    changes = changes_since(cluster, before, "quiet")
    assert changes[0]["type"] == "ADDED" and not changes[0]["object"].get("status"), changes[0]
    writes = [c["object"]["status"] for c in changes if c["type"] == "MODIFIED"]
    assert len(writes) <= 2, [(w.get("phase"), w.get("message")) for w in writes]
    assert writes[0]["observedGeneration"] == 1 and writes[0]["plan"]["gpuType"] == "L4"
    assert writes[-1]["phase"] == "Healthy" and writes[-1]["readyReplicas"] == 1

    # Sorted by reason: Event timestamps have whole seconds, and a fast converge posts both in one.
    events = sorted(operator_events(cluster, "quiet"))
    assert events == [("PlanFeasible", 1), ("RolloutComplete", 1)], get_json(
        cluster, "events", "-n", NS, "--field-selector", "involvedObject.name=quiet"
    )["items"]
    delete_and_wait(cluster, NS, "quiet")
