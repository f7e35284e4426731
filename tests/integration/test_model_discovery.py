"""The operator reads a model's config.json from a Hub (testbed/hub.py on 127.0.0.1) and plans a model
that is in no catalog from it alone; a restarted operator takes the facts from the status, not the Hub."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from modelfleet.api import ModelFilesStatus, parse_spec
from modelfleet.cli.plan import make_plan
from testbed.cluster import LocalCluster
from testbed.hub import HubServer
from testbed.operator_process import OperatorProcess, install_crds
from tests.integration.kube import (
    apply,
    condition,
    get_json,
    get_or_none,
    make_namespace,
    wait_for,
    wait_for_a_whole_pass,
)
from tests.integration.test_operator import delete_and_wait
from tests.unit import hub_models

pytestmark = pytest.mark.cluster
NAMESPACE = "discovery"
NEW_MODEL = "acme/Llama-Next-40L"  # in no catalog: only its config.json describes it
GATED_MODEL = "acme/Gated-Llama"
TOKEN = "hf_cluster_test_token"
CONFIG = {**hub_models.LLAMA_31_8B_INSTRUCT, "num_hidden_layers": 40, "max_position_embeddings": 32768}
INDEX = {"metadata": {"total_size": 150_000_000_000}, "weight_map": {}}  # 150 GB: more than one H100


def files() -> dict[str, bytes]:
    return {
        "config.json": json.dumps(CONFIG).encode(),
        "model.safetensors.index.json": json.dumps(INDEX).encode(),
        "model-00001-of-00030.safetensors": b"\0" * 1024,
    }


@pytest.fixture(scope="module")
def hub() -> Iterator[HubServer]:
    with HubServer() as server:
        server.add_repo(NEW_MODEL, files(), card_data={"license": "apache-2.0"})
        server.add_repo(
            GATED_MODEL, files(), gated=True, tokens=(TOKEN,), card_data={"license": "apache-2.0"}
        )
        yield server


@pytest.fixture(scope="module")
def operator(
    cluster: LocalCluster, hub: HubServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[OperatorProcess]:
    install_crds(cluster)
    config = {
        "modelDiscovery": {
            "enabled": True,
            "endpoint": hub.url,
            "timeoutSeconds": 5,
            "retryMinSeconds": 1,
            "retryMaxSeconds": 4,
        }
    }
    proc = OperatorProcess(cluster, tmp_path_factory.mktemp("operator"), config=config)
    proc.start()
    make_namespace(cluster, NAMESPACE)
    yield proc
    proc.stop()


def md(name: str, model: dict[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": "modelfleet.io/v1alpha1",
        "kind": "ModelDeployment",
        "metadata": {"name": name, "namespace": NAMESPACE},
        "spec": {
            "model": model,
            "accelerator": {"type": "H100-80GB"},
            "replicas": 1,
            "serving": {"maxModelLen": 8192},
            "rollout": {"strategy": "RollingUpdate"},
        },
    }


def status(cluster: LocalCluster, name: str) -> dict[str, Any]:
    return dict((get_or_none(cluster, "md", name, "-n", NAMESPACE) or {}).get("status") or {})


def cond(cluster: LocalCluster, name: str, type_: str) -> dict[str, Any] | None:
    return condition({"status": status(cluster, name)}, type_)


def discovered(cluster: LocalCluster, name: str) -> dict[str, Any] | None:
    return cond(cluster, name, "ModelDiscovered")


class _Falsy(dict):  # type: ignore[type-arg]
    """A status that is not yet what a wait wants: falsy, and printed in full when the wait times out."""

    def __bool__(self) -> bool:
        return False


def reason_is(cluster: LocalCluster, name: str, type_: str, reason: str) -> Any:
    """For wait_for: truthy once the condition has the reason; else the status, so a timeout shows it."""
    got = status(cluster, name)
    return True if (condition({"status": got}, type_) or {}).get("reason") == reason else _Falsy(got)


def model_requests(hub: HubServer, repo: str) -> int:
    return sum(1 for r in hub.requests if repo in r.path)


@pytest.fixture(scope="module", autouse=True)
def leave_no_models(cluster: LocalCluster, operator: OperatorProcess) -> Iterator[None]:
    """The GPU nodes are shared with later modules: their pods must be gone when this one ends."""
    yield
    for item in get_json(cluster, "md", "-n", NAMESPACE)["items"]:
        delete_and_wait(cluster, NAMESPACE, item["metadata"]["name"])


def test_a_model_in_no_catalog_is_planned_from_its_config_json_and_a_restart_does_not_read_again(
    cluster: LocalCluster, hub: HubServer, operator: OperatorProcess
) -> None:
    body = md("fresh", {"id": NEW_MODEL})
    apply(cluster, body)
    wait_for(
        lambda: reason_is(cluster, "fresh", "Schedulable", "PlanFeasible"),
        "the new model's plan to be feasible",
        timeout=120,
    )
    got = status(cluster, "fresh")
    assert (discovered(cluster, "fresh") or {}).get("reason") == "FilesRead"
    assert got["model"]["commit"] == hub.repos[NEW_MODEL].branches["main"]
    assert (
        got["model"]["facts"]["numLayers"] == 40 and got["model"]["facts"]["weightBytes"] == 150_000_000_000
    )
    # The same facts planned in-process give the same layout; 150 GB of bf16 weights need several H100s.
    spec = parse_spec(body["spec"])
    expected, _ = make_plan(spec, files=ModelFilesStatus.model_validate(got["model"]))
    assert expected.chosen is not None
    gpus = got["plan"]["gpusPerReplica"]
    assert gpus == expected.chosen.gpus_per_replica and gpus > 1
    assert hub.fetched(".safetensors") == [], "weights are never fetched"

    before = model_requests(hub, NEW_MODEL)
    operator.stop()
    operator.start()
    wait_for_a_whole_pass(operator, NAMESPACE, "fresh", timeout=120)
    assert model_requests(hub, NEW_MODEL) == before, "a restarted operator takes the facts from status.model"
    assert status(cluster, "fresh")["plan"]["gpusPerReplica"] == gpus


def test_a_gated_model_says_401_until_its_token_secret_exists_then_reads_with_it(
    cluster: LocalCluster, hub: HubServer, operator: OperatorProcess, tmp_path: Path
) -> None:
    source = {"huggingface": {"tokenSecretRef": {"name": "hf-token", "key": "token"}}}
    apply(cluster, md("gated", {"id": GATED_MODEL, "source": source}))
    wait_for(
        lambda: reason_is(cluster, "gated", "ModelDiscovered", "TokenSecretUnreadable"),
        "the missing Secret to be reported",
        timeout=120,
    )
    assert (cond(cluster, "gated", "Schedulable") or {}).get("reason") == "UnknownModel"
    secret = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "hf-token", "namespace": NAMESPACE},
        "data": {"token": base64.b64encode(b"wrong").decode()},
    }
    apply(cluster, secret)
    wait_for(
        lambda: reason_is(cluster, "gated", "ModelDiscovered", "GatedRepo"),
        "the wrong token to be refused",
        timeout=120,
    )
    message = (discovered(cluster, "gated") or {}).get("message", "")
    assert "HTTP 403" in message and hub.url in message
    apply(cluster, {**secret, "data": {"token": base64.b64encode(TOKEN.encode()).decode()}})
    wait_for(
        lambda: reason_is(cluster, "gated", "ModelDiscovered", "FilesRead"),
        "the files to be read with the right token (after the backoff)",
        timeout=120,
    )
    assert f"Bearer {TOKEN}" in {r.authorization for r in hub.requests}
    wait_for(
        lambda: reason_is(cluster, "gated", "Schedulable", "PlanFeasible"),
        "the gated model to be planned",
        timeout=120,
    )
