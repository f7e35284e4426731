"""A model no catalog knows, described only by its parameter count: the operator plans it, marks the plan
estimated on the cluster, and renders the auto-fitted context."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from testbed.cluster import LocalCluster
from testbed.operator_process import OperatorProcess
from tests.integration.kube import apply, condition, get_json, get_or_none, make_namespace, wait_for
from tests.integration.test_operator import delete_and_wait

pytestmark = pytest.mark.cluster


@pytest.fixture(scope="module", autouse=True)
def leave_no_models(cluster: LocalCluster, operator: OperatorProcess) -> Iterator[None]:
    """The GPU nodes are shared with later modules: their pods must be gone when this one ends."""
    yield
    for item in get_json(cluster, "md", "-n", "op-estimated")["items"]:
        delete_and_wait(cluster, "op-estimated", item["metadata"]["name"])


def test_a_model_known_only_by_its_size_is_served_with_sizing_estimated(
    cluster: LocalCluster, operator: OperatorProcess
) -> None:
    make_namespace(cluster, "op-estimated")
    apply(
        cluster,
        {
            "apiVersion": "modelfleet.io/v1alpha1",
            "kind": "ModelDeployment",
            "metadata": {"name": "newcomer", "namespace": "op-estimated"},
            "spec": {
                "model": {
                    "id": "acme/Newcomer-8B",
                    "overrides": {
                        "totalParams": 8_000_000_000,
                        "nativeDtype": "bf16",
                        "license": "apache-2.0",
                    },
                },
                "accelerator": {"type": "H100-80GB"},
                "replicas": 1,
                "rollout": {"strategy": "RollingUpdate"},
            },
        },
    )

    def estimated() -> dict[str, Any] | None:
        got = get_or_none(cluster, "md", "newcomer", "-n", "op-estimated") or {}
        cond = condition(got, "SizingEstimated")
        return got if cond and cond["status"] == "True" else None

    got = wait_for(estimated, "SizingEstimated=True", timeout=90)
    cond = condition(got, "SizingEstimated")
    assert cond is not None and cond["reason"] == "ArchitectureUnknown"
    assert "128 KiB per billion" in cond["message"]
    plan = got["status"]["plan"]
    assert plan["estimated"] is True and plan["assumptions"]
    max_model_len = plan["maxModelLen"]
    assert 4096 <= max_model_len <= 32768  # auto-fit, capped where the model's context is unknown

    def workload_args() -> list[str] | None:
        items = get_json(cluster, "deployments", "-n", "op-estimated", "-l", "modelfleet.io/name=newcomer")[
            "items"
        ]
        if not items:
            return None
        container = items[0]["spec"]["template"]["spec"]["containers"][0]
        return list(container.get("command", [])) + list(container.get("args", []))

    argv = wait_for(workload_args, "the newcomer's Deployment", timeout=60)
    assert f"--max-model-len={max_model_len}" in argv, argv
