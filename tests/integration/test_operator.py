"""The operator as a real process (`modelfleet run`) against the local control plane with simulated GPUs."""

from __future__ import annotations

import json
import subprocess
import threading
from typing import Any

import pytest
import yaml

from testbed.cluster import REPO, LocalCluster, kubectl_binary
from testbed.operator_process import OperatorProcess
from tests.integration.kube import (
    apply,
    condition,
    get_json,
    get_or_none,
    make_namespace,
    metric_value,
    passes,
    wait_for,
    wait_for_a_whole_pass,
)

pytestmark = pytest.mark.cluster
EXAMPLES = REPO / "manifests" / "examples"


def md(
    name: str, namespace: str, model_id: str, gpu: str = "auto", replicas: int = 1, **spec: Any
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "apiVersion": "modelfleet.io/v1alpha1",
        "kind": "ModelDeployment",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "model": {"id": model_id},
            "accelerator": {"type": gpu},
            "replicas": replicas,
            "serving": {"maxModelLen": 8192},
            "rollout": {"strategy": "RollingUpdate"},
        },
    }
    for key, value in spec.items():
        body["spec"][key] = value if not isinstance(value, dict) else {**body["spec"].get(key, {}), **value}
    return body


def status_of(cluster: LocalCluster, namespace: str, name: str) -> dict[str, Any]:
    got = get_or_none(cluster, "md", name, "-n", namespace)
    return (got or {}).get("status") or {}


def workloads(cluster: LocalCluster, namespace: str, name: str) -> list[dict[str, Any]]:
    return list(
        get_json(cluster, "deployments", "-n", namespace, "-l", f"modelfleet.io/name={name}")["items"]
    )


def wait_ready(cluster: LocalCluster, namespace: str, name: str, timeout: int = 90) -> dict[str, Any]:
    out = cluster.kubectl(
        "wait",
        "--for=condition=Ready",
        f"md/{name}",
        "-n",
        namespace,
        f"--timeout={timeout}s",
        check=False,
        timeout=timeout + 10,
    )
    got = get_json(cluster, "md", name, "-n", namespace)
    assert out.returncode == 0, f"{name} not Ready: {json.dumps(got.get('status'), indent=1)}"
    return dict(got)


def reconciles_ok(text: str) -> float | None:
    return metric_value(text, "modelfleet_reconciles_total", result="ok")


def delete_and_wait(cluster: LocalCluster, namespace: str, name: str) -> None:
    cluster.kubectl("delete", "md", name, "-n", namespace, "--wait=true", "--timeout=60s")
    wait_for(
        lambda: not get_json(cluster, "pods", "-n", namespace, "-l", f"modelfleet.io/name={name}")["items"],
        f"pods of {name} gone",
        timeout=60,
    )


def test_a_model_deployment_gets_a_plan_children_and_a_ready_status(
    cluster: LocalCluster, operator: OperatorProcess
) -> None:
    make_namespace(cluster, "op-basic")
    apply(cluster, md("qwen-small", "op-basic", "Qwen/Qwen3.5-9B", gpu="L4"))
    got = wait_ready(cluster, "op-basic", "qwen-small")
    status = got["status"]
    assert status["observedGeneration"] == got["metadata"]["generation"]
    assert status["phase"] == "Healthy"
    plan = status["plan"]
    assert plan["gpuType"] == "L4" and plan["gpusPerReplica"] >= 1
    assert condition(got, "Schedulable")["status"] == "True"
    assert condition(got, "LicenseAccepted")["status"] == "True"
    assert status["ready"] == "1/1" and status["selector"] == "modelfleet.io/name=qwen-small"

    [deployment] = workloads(cluster, "op-basic", "qwen-small")
    owner = deployment["metadata"]["ownerReferences"][0]
    assert (
        owner["kind"] == "ModelDeployment" and owner["uid"] == got["metadata"]["uid"] and owner["controller"]
    )
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    assert int(container["resources"]["limits"]["nvidia.com/gpu"]) == plan["gpusPerReplica"]
    pods = get_json(cluster, "pods", "-n", "op-basic", "-l", "modelfleet.io/name=qwen-small")["items"]
    assert len(pods) == 1
    node = get_json(cluster, "node", pods[0]["spec"]["nodeName"])
    assert node["metadata"]["labels"]["nvidia.com/gpu.product"] == "NVIDIA-L4"
    services = get_json(cluster, "services", "-n", "op-basic", "-l", "modelfleet.io/name=qwen-small")["items"]
    assert any(s["metadata"]["name"] == "qwen-small" for s in services), "the umbrella Service exists"

    table = cluster.kubectl("get", "md", "-n", "op-basic").stdout
    assert "Qwen/Qwen3.5-9B" in table and "L4" in table and "Healthy" in table
    # Events leave the operator from a background queue, just after the status they go with.
    wait_for(
        lambda: (
            {
                e["reason"]
                for e in get_json(
                    cluster, "events", "-n", "op-basic", "--field-selector", "involvedObject.name=qwen-small"
                )["items"]
            }
            >= {"PlanFeasible", "RolloutComplete"}
        ),
        "the plan and readiness events",
        timeout=10,
    )


def test_scale_subresource_scales_the_engine(cluster: LocalCluster, operator: OperatorProcess) -> None:
    cluster.kubectl("scale", "md/qwen-small", "-n", "op-basic", "--replicas=2")
    wait_for(
        lambda: status_of(cluster, "op-basic", "qwen-small").get("ready") == "2/2", "2/2 ready", timeout=60
    )
    [deployment] = workloads(cluster, "op-basic", "qwen-small")
    assert deployment["spec"]["replicas"] == 2
    scale = json.loads(
        cluster.kubectl(
            "get",
            "--raw",
            "/apis/modelfleet.io/v1alpha1/namespaces/op-basic/modeldeployments/qwen-small/scale",
        ).stdout
    )
    assert scale["spec"]["replicas"] == 2 and scale["status"]["selector"] == "modelfleet.io/name=qwen-small"


def test_a_change_to_the_pods_rolls_out_a_new_revision_ready_before_the_old_goes(
    cluster: LocalCluster, operator: OperatorProcess
) -> None:
    before = {
        d["metadata"]["labels"]["modelfleet.io/revision"]
        for d in workloads(cluster, "op-basic", "qwen-small")
    }
    watch = subprocess.Popen(
        [
            kubectl_binary(),
            "--kubeconfig",
            str(cluster.kubeconfig),
            "get",
            "deployments",
            "-n",
            "op-basic",
            "-l",
            "modelfleet.io/name=qwen-small",
            "-w",
            "-o",
            "json",
            "--output-watch-events",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    chunks: list[str] = []

    def read() -> None:
        assert watch.stdout is not None
        for line in watch.stdout:
            chunks.append(line)

    reader = threading.Thread(target=read, daemon=True)
    reader.start()

    def watched() -> list[dict[str, Any]]:
        return _complete_documents("".join(chunks))

    try:
        # The watch has listed the current revision before anything changes.
        wait_for(
            lambda: any(
                e["object"]["metadata"]["labels"]["modelfleet.io/revision"] in before for e in watched()
            ),
            "the watch to list the current revision",
            timeout=30,
        )
        cluster.kubectl(
            "patch",
            "md",
            "qwen-small",
            "-n",
            "op-basic",
            "--type=merge",
            "-p",
            json.dumps({"spec": {"model": {"revision": "0123abc"}}}),
        )

        def rolled() -> bool:
            revs = {
                d["metadata"]["labels"]["modelfleet.io/revision"]
                for d in workloads(cluster, "op-basic", "qwen-small")
            }
            return (
                bool(revs)
                and not (revs & before)
                and status_of(cluster, "op-basic", "qwen-small").get("phase") == "Healthy"
            )

        wait_for(rolled, "the new revision to replace the old one", timeout=90)
        wait_for(
            lambda: any(
                e["type"] == "DELETED"
                and e["object"]["metadata"]["labels"]["modelfleet.io/revision"] in before
                for e in watched()
            ),
            "the watch to see the old revision deleted",
            timeout=30,
        )
    finally:
        watch.terminate()
        watch.wait(timeout=10)
        reader.join(timeout=10)
    ready: dict[str, int] = {}
    for event in watched():
        obj = event["object"]
        revision = obj["metadata"]["labels"]["modelfleet.io/revision"]
        replicas = 0 if event["type"] == "DELETED" else int(obj["spec"].get("replicas", 0))
        ready[revision] = (
            0
            if event["type"] == "DELETED"
            else min(replicas, int((obj.get("status") or {}).get("readyReplicas") or 0))
        )
        # At every moment the watch shows, some revision serves with every replica ready.
        assert max(ready.values()) >= 2, f"capacity dropped during the rollout: {ready} after {event['type']}"


def _complete_documents(text: str) -> list[dict[str, Any]]:
    """The complete objects in kubectl's stream of pretty-printed JSON (a partial last one is left out)."""
    decoder, docs, i = json.JSONDecoder(), [], 0
    while i < len(text):
        if text[i].isspace():
            i += 1
            continue
        try:
            obj, end = decoder.raw_decode(text, i)
        except json.JSONDecodeError:
            break
        docs.append(obj)
        i = end
    return docs


def _versions(cluster: LocalCluster, namespace: str, name: str) -> tuple[str, ...]:
    """The resourceVersions of the object and of its Deployments."""
    md_rv = get_json(cluster, "md", name, "-n", namespace)["metadata"]["resourceVersion"]
    return (md_rv, *sorted(d["metadata"]["resourceVersion"] for d in workloads(cluster, namespace, name)))


def _settled_versions(
    cluster: LocalCluster, operator: OperatorProcess, namespace: str, name: str
) -> tuple[str, ...]:
    """The resourceVersions of the object and its Deployments once a whole pass of the operator, begun
    after they were read, left them as they were (the passes that follow a rollout, e.g. the one woken
    by the old revision's deletion, are done)."""

    def settled() -> tuple[str, ...] | None:
        first = _versions(cluster, namespace, name)
        wait_for_a_whole_pass(operator, namespace, name)
        return first if _versions(cluster, namespace, name) == first else None

    return tuple(wait_for(settled, f"{namespace}/{name} to settle", timeout=240, interval=0))


def test_an_unchanged_spec_is_not_rewritten(cluster: LocalCluster, operator: OperatorProcess) -> None:
    before = _settled_versions(cluster, operator, "op-basic", "qwen-small")
    assert len(before) == 2, "one Deployment"
    wait_for_a_whole_pass(operator, "op-basic", "qwen-small")  # nothing changes: a resync pass
    assert _versions(cluster, "op-basic", "qwen-small") == before


def test_operator_restart_recreates_nothing(cluster: LocalCluster, operator: OperatorProcess) -> None:
    def uids() -> dict[str, str]:
        out = {}
        for kind in ("deployments", "services", "pods"):
            for obj in get_json(cluster, kind, "-n", "op-basic", "-l", "modelfleet.io/name=qwen-small")[
                "items"
            ]:
                out[f"{kind}/{obj['metadata']['name']}"] = obj["metadata"]["uid"]
        return out

    before = uids()
    rv_before = _settled_versions(cluster, operator, "op-basic", "qwen-small")
    operator.kill()
    operator.start()
    # The restarted process counts from 0: its first pass is done, and with it whatever it would write.
    wait_for(
        lambda: passes(operator, "op-basic", "qwen-small") >= 1,
        "the restarted operator's first pass of op-basic/qwen-small",
        timeout=30,
        interval=0.2,
    )
    assert uids() == before
    assert _versions(cluster, "op-basic", "qwen-small") == rv_before


def test_deleting_removes_children_and_keeps_what_the_user_owns(
    cluster: LocalCluster, operator: OperatorProcess
) -> None:
    make_namespace(cluster, "op-delete")
    cluster.kubectl(
        "create", "secret", "generic", "hf-token", "-n", "op-delete", "--from-literal=token=hf_fake"
    )
    pvc = {
        "apiVersion": "v1",
        "kind": "PersistentVolumeClaim",
        "metadata": {
            "name": "user-cache",
            "namespace": "op-delete",
            "labels": {"modelfleet.io/name": "gemma"},
        },
        "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}},
    }
    route = {
        "apiVersion": "gateway.networking.k8s.io/v1",
        "kind": "HTTPRoute",
        "metadata": {
            "name": "user-route",
            "namespace": "op-delete",
            "labels": {"modelfleet.io/name": "gemma"},
        },
        "spec": {"parentRefs": [{"name": "gw"}], "rules": [{"backendRefs": [{"name": "gemma", "port": 80}]}]},
    }
    apply(cluster, pvc)
    apply(cluster, route)
    apply(
        cluster,
        md(
            "gemma",
            "op-delete",
            "google/gemma-4-31B-it",
            gpu="H100-80GB",
            model={
                "id": "google/gemma-4-31B-it",
                "source": {"huggingface": {"tokenSecretRef": {"name": "hf-token", "key": "token"}}},
            },
        ),
    )
    wait_ready(cluster, "op-delete", "gemma")
    assert workloads(cluster, "op-delete", "gemma")
    delete_and_wait(cluster, "op-delete", "gemma")
    wait_for(
        lambda: not workloads(cluster, "op-delete", "gemma"), "the garbage collector to remove the Deployment"
    )
    assert get_or_none(cluster, "secret", "hf-token", "-n", "op-delete") is not None
    assert get_or_none(cluster, "pvc", "user-cache", "-n", "op-delete") is not None
    assert get_or_none(cluster, "httproute", "user-route", "-n", "op-delete") is not None


def test_a_model_too_big_for_the_fleet_creates_no_pods(
    cluster: LocalCluster, operator: OperatorProcess
) -> None:
    make_namespace(cluster, "op-big")
    # 405B parameters in bf16 need two 8 x A100-80GB nodes; the fleet has one.
    apply(
        cluster,
        md(
            "llama-405b",
            "op-big",
            "meta-llama/Llama-3.1-405B-Instruct",
            gpu="A100-80GB",
            model={
                "id": "meta-llama/Llama-3.1-405B-Instruct",
                "licenseAccepted": True,
                "quantization": "bf16",
            },
        ),
    )

    def unschedulable() -> dict[str, Any] | None:
        got = get_or_none(cluster, "md", "llama-405b", "-n", "op-big") or {}
        cond = condition(got, "Schedulable")
        return cond if cond and cond["status"] == "False" else None

    cond = wait_for(unschedulable, "Schedulable=False", timeout=60)
    assert cond["reason"] in ("InsufficientCapacity", "PlanInfeasible")
    assert "A100-80GB" in cond["message"] and any(ch.isdigit() for ch in cond["message"])
    assert not workloads(cluster, "op-big", "llama-405b")
    assert not get_json(cluster, "leaderworkersets", "-n", "op-big")["items"]
    assert status_of(cluster, "op-big", "llama-405b")["phase"] in ("Pending", "Failed")


def test_a_refused_licence_stops_the_rollout(cluster: LocalCluster, operator: OperatorProcess) -> None:
    make_namespace(cluster, "op-licence")
    apply(cluster, md("minimax", "op-licence", "MiniMaxAI/MiniMax-M2.7", gpu="H200"))
    apply(cluster, md("kimi", "op-licence", "moonshotai/Kimi-K2.6", gpu="H200"))

    def licence(name: str) -> dict[str, Any] | None:
        cond = condition(get_or_none(cluster, "md", name, "-n", "op-licence") or {}, "LicenseAccepted")
        return cond if cond and cond["status"] == "False" else None

    refused = wait_for(lambda: licence("minimax"), "MiniMax M2.7 refused", timeout=60)
    assert refused["reason"] == "LicenseRefused"
    needs = wait_for(lambda: licence("kimi"), "Kimi K2.6 waiting for acceptance", timeout=60)
    assert needs["reason"] == "LicenseNeedsAcceptance" and "licenseAccepted" in needs["message"]
    assert not workloads(cluster, "op-licence", "minimax") and not workloads(cluster, "op-licence", "kimi")
    wait_for(
        lambda: any(
            e["reason"] == "LicenseRefused" and e["type"] == "Warning"
            for e in get_json(cluster, "events", "-n", "op-licence")["items"]
        ),
        "a LicenseRefused warning",
        timeout=10,
    )


@pytest.mark.parametrize(
    ("patch", "expected"),
    [
        ({"replicas": -1}, "spec.replicas"),
        ({"serving": {"concurrency": 0}}, "spec.serving.concurrency"),
        ({"engine": {"name": "llamacpp"}}, "spec.engine.name"),
        ({"rollout": {"canary": {"steps": [{"setWeight": 10, "pause": {}}]}}}, "exactly one of"),
        (
            {"accelerator": {"gpusPerReplica": 8, "tensorParallel": 4, "pipelineParallel": 1}},
            "gpusPerReplica must equal",
        ),
    ],
)
def test_bad_specs_are_rejected_by_the_api_server(
    cluster: LocalCluster, operator: OperatorProcess, patch: dict[str, Any], expected: str
) -> None:
    make_namespace(cluster, "op-bad")
    body = md("bad", "op-bad", "Qwen/Qwen3.5-9B")
    body["spec"].update(patch)
    out = cluster.kubectl("apply", "--server-side", "-f", "-", input=json.dumps(body), check=False)
    assert out.returncode != 0
    assert expected in out.stderr, out.stderr


def test_pending_pods_are_reported_from_the_scheduler(
    cluster: LocalCluster, operator: OperatorProcess
) -> None:
    make_namespace(cluster, "op-pending")
    # Pin 4 GPUs per replica on the fleet's one A100 node (8 GPUs): a third replica cannot be placed.
    # The L4 nodes are shared with other tests' small models; no other module here uses the A100.
    apply(
        cluster,
        md(
            "crowd",
            "op-pending",
            "Qwen/Qwen3.5-9B",
            gpu="A100-80GB",
            replicas=3,
            accelerator={"type": "A100-80GB", "gpusPerReplica": 4},
        ),
    )

    def pods_pending() -> dict[str, Any] | None:
        cond = condition(get_or_none(cluster, "md", "crowd", "-n", "op-pending") or {}, "Schedulable")
        return cond if cond and cond["reason"] == "PodsPending" else None

    cond = wait_for(pods_pending, "Schedulable=False PodsPending", timeout=60)
    assert "Insufficient nvidia.com/gpu" in cond["message"]

    # The scheduler's verdict can arrive before the placed replicas pass readiness: wait for
    # them, then check the third is still reported and the object is not called Healthy.
    def placed_ready() -> dict[str, Any] | None:
        status = status_of(cluster, "op-pending", "crowd")
        return status if status.get("ready") == "2/3" else None

    status = wait_for(placed_ready, "the placed replicas Ready", timeout=60)
    assert status["phase"] != "Healthy"
    cond = condition(get_or_none(cluster, "md", "crowd", "-n", "op-pending") or {}, "Schedulable")
    assert cond is not None and cond["reason"] == "PodsPending", cond
    delete_and_wait(cluster, "op-pending", "crowd")


def test_operator_metrics_count_reconciles_and_gpus(cluster: LocalCluster, operator: OperatorProcess) -> None:
    make_namespace(cluster, "op-metrics")
    apply(cluster, md("gauged", "op-metrics", "Qwen/Qwen3.5-9B", gpu="L4"))
    wait_ready(cluster, "op-metrics", "gauged")

    # The gauges are set just after the status write that made it Ready.
    def gauged() -> str | None:
        text = operator.metrics()
        phase = metric_value(
            text, "modelfleet_rollout_phase", namespace="op-metrics", name="gauged", phase="Healthy"
        )
        return text if phase == 1.0 else None

    text = wait_for(gauged, "the rollout-phase gauge of op-metrics/gauged", timeout=10)
    assert (reconciles_ok(text) or 0) > 0
    assert "modelfleet_reconcile_duration_seconds_bucket" in text
    assert (metric_value(text, "modelfleet_gpus_planned", gpu_type="L4") or 0) >= 1
    assert (metric_value(text, "modelfleet_modeldeployments", phase="Healthy") or 0) >= 1
    assert passes(operator, "op-metrics", "gauged") >= 1
    delete_and_wait(cluster, "op-metrics", "gauged")
    wait_for(
        lambda: passes(operator, "op-metrics", "gauged") == 0,
        "the pass counter of the deleted op-metrics/gauged removed",
        timeout=10,
    )


def test_every_example_applies_and_gets_a_plan(cluster: LocalCluster, operator: OperatorProcess) -> None:
    files = sorted(EXAMPLES.glob("*.yaml"))
    assert len(files) >= 12
    namespaces = {yaml.safe_load(f.read_text())["metadata"].get("namespace", "default") for f in files}
    for namespace in namespaces:
        make_namespace(cluster, namespace)
    for f in files:
        cluster.kubectl("apply", "--server-side", "-f", str(f))
    names = [
        (
            yaml.safe_load(f.read_text())["metadata"].get("namespace", "default"),
            yaml.safe_load(f.read_text())["metadata"]["name"],
        )
        for f in files
    ]

    def all_judged() -> bool:
        return all(
            condition(get_or_none(cluster, "md", n, "-n", ns) or {}, "Schedulable") is not None
            or condition(get_or_none(cluster, "md", n, "-n", ns) or {}, "LicenseAccepted") is not None
            for ns, n in names
        )

    wait_for(all_judged, "every example to get a verdict", timeout=120)
    for ns, name in names:
        got = get_json(cluster, "md", name, "-n", ns)
        status = got["status"]
        assert status["observedGeneration"] == got["metadata"]["generation"], name
        assert "Traceback" not in json.dumps(status), name
        schedulable = condition(got, "Schedulable")
        if schedulable and schedulable["status"] == "True":
            for pod in get_json(cluster, "pods", "-n", ns, "-l", f"modelfleet.io/name={name}")["items"]:
                if pod["spec"].get("nodeName"):
                    labels = get_json(cluster, "node", pod["spec"]["nodeName"])["metadata"]["labels"]
                    assert status["plan"]["gpuType"].split("-")[0].lower() in json.dumps(labels).lower(), name
    for ns, name in names:
        cluster.kubectl("delete", "md", name, "-n", ns, "--wait=false")
    # Their pods leave the simulated GPUs to the tests that follow.
    wait_for(
        lambda: (
            not any(
                get_json(cluster, "pods", "-n", ns, "-l", f"modelfleet.io/name={name}")["items"]
                for ns, name in names
            )
        ),
        "the examples' pods gone",
        timeout=90,
    )
