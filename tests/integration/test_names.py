"""ModelDeployment names at the limit, on the real control plane: the longest name the CRD accepts
becomes Ready with a selector the API server takes, and a longer one is refused with a clear message."""

from __future__ import annotations

import json

import pytest

from modelfleet import NAME_MAX_LENGTH
from testbed.cluster import LocalCluster
from testbed.operator_process import OperatorProcess
from tests.integration.kube import apply, get_json, make_namespace
from tests.integration.test_operator import delete_and_wait, md, wait_ready

pytestmark = pytest.mark.cluster
NS = "op-names"


def test_the_longest_accepted_name_becomes_ready_with_a_usable_selector(
    cluster: LocalCluster, operator: OperatorProcess
) -> None:
    name = "qwen-" + "n" * (NAME_MAX_LENGTH - len("qwen-"))
    assert len(name) == 63
    make_namespace(cluster, NS)
    apply(cluster, md(name, NS, "Qwen/Qwen3.5-9B", gpu="L4"))
    got = wait_ready(cluster, NS, name)
    assert got["status"]["phase"] == "Healthy" and got["status"]["ready"] == "1/1"
    selector = got["status"]["selector"]
    assert selector == f"modelfleet.io/name={name}"
    pods = get_json(cluster, "pods", "-n", NS, "-l", selector)["items"]
    assert len(pods) == 1, "the status selector finds the model's pod"
    scale = json.loads(
        cluster.kubectl(
            "get", "--raw", f"/apis/modelfleet.io/v1alpha1/namespaces/{NS}/modeldeployments/{name}/scale"
        ).stdout
    )
    assert scale["status"]["selector"] == selector
    delete_and_wait(cluster, NS, name)


@pytest.mark.parametrize("length", [64, 253])
def test_a_longer_name_is_refused_by_the_api_server_with_what_to_do(
    cluster: LocalCluster, operator: OperatorProcess, length: int
) -> None:
    make_namespace(cluster, NS)
    name = "qwen-" + "n" * (length - len("qwen-"))
    body = md(name, NS, "Qwen/Qwen3.5-9B", gpu="L4")
    out = cluster.kubectl("apply", "--server-side", "-f", "-", input=json.dumps(body), check=False)
    assert out.returncode != 0
    assert f"metadata.name must be at most {NAME_MAX_LENGTH} characters" in out.stderr, out.stderr
    assert cluster.kubectl("get", "md", name, "-n", NS, check=False).returncode != 0, "nothing was stored"
