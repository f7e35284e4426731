"""Weights staged once, before pods need them, against the real control plane.

The operator runs as a real process; the cache's PersistentVolumeClaim is bound by the real PV controller
to a statically provisioned volume of the StorageClass ``modelfleet-local``; the download Job is run by
the real Job controller and its pod by kwok, whose part (the download) the test plays
(:mod:`tests.e2e.fetch_pod`) against a Hub-compatible server on 127.0.0.1.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import pytest

from modelfleet.api.fetch import COMPLETE_MARKER, FetchPhase, FetchProgress
from modelfleet.render.names import CACHE_LABEL, STAGED_ANNOTATION
from testbed.cluster import LOCAL_STORAGE_CLASS, LocalCluster
from testbed.hub import HubServer
from testbed.operator_process import OperatorProcess, install_crds
from tests.e2e.api import Api
from tests.e2e.fetch_pod import FetchPodPlayer, now
from tests.e2e.helpers import MODEL, patch_spec, progressing_reason, stable_and_healthy, wait_status
from tests.integration.kube import condition, make_namespace, wait_for, wait_for_a_whole_pass

pytestmark = [pytest.mark.cluster, pytest.mark.loopback_hub]

NAMESPACES = (
    "e2e-weights-order",
    "e2e-weights-share",
    "e2e-weights-canary",
    "e2e-weights-fail",
    "e2e-weights-kill",
)
FILES = {
    "config.json": json.dumps({"architectures": ["MistralForCausalLM"]}).encode(),
    "model-00001-of-00001.safetensors": b"\0" * 200_000,
    "tokenizer.json": b"{}",
}


@dataclass
class Weights:
    cluster: LocalCluster
    operator: OperatorProcess
    hub: HubServer
    player: FetchPodPlayer
    api: Api
    first: str  # the Hub commit every scenario starts from


@pytest.fixture(scope="module")
def weights(cluster: LocalCluster, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Weights]:
    install_crds(cluster)
    for namespace in NAMESPACES:
        make_namespace(cluster, namespace)
    cluster.add_local_volumes("weights", 16)
    workdir = tmp_path_factory.mktemp("weights")
    with HubServer() as hub:
        first = hub.add_repo(MODEL, FILES)
        operator = OperatorProcess(
            cluster,
            workdir,
            config={
                "namespaces": list(NAMESPACES),
                "resyncSeconds": 10,
                "gatewayApi": False,
                "cache": {
                    "storageClassName": LOCAL_STORAGE_CLASS,
                    "fetchImage": "modelfleet.invalid/fetch:e2e",
                },
            },
        )
        try:
            operator.start()
            yield Weights(
                cluster, operator, hub, FetchPodPlayer(cluster, hub, workdir / "pods"), Api(cluster), first
            )
        finally:
            operator.stop()
    assert "Traceback" not in operator.log(), operator.log()[-6000:]


def cached_md(name: str, namespace: str, revision: str, retain: int = 1, replicas: int = 1) -> dict[str, Any]:
    return {
        "apiVersion": "modelfleet.io/v1alpha1",
        "kind": "ModelDeployment",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "model": {"id": MODEL, "revision": revision, "cache": {"mode": "shared", "retain": retain}},
            "accelerator": {"type": "L4"},
            "replicas": replicas,
            "serving": {"maxModelLen": 8192},
            "rollout": {
                "canary": {
                    "steps": [{"setWeight": 50}, {"pause": {"duration": "1s"}}],
                    "trafficRouting": {"provider": "replicas"},
                },
                "progressDeadline": "60s",
            },
        },
    }


def create(w: Weights, md: dict[str, Any]) -> None:
    w.cluster.kubectl("apply", "--server-side", "-f", "-", input=json.dumps(md))


def delete(w: Weights, namespace: str, name: str) -> None:
    w.cluster.kubectl("delete", "md", name, "-n", namespace, "--wait=true", "--timeout=90s", check=False)


def listed(w: Weights, path: str, cache: str) -> list[dict[str, Any]]:
    return list((w.api.get(f"{path}?labelSelector={quote(f'{CACHE_LABEL}={cache}')}") or {}).get("items", []))


def claims(w: Weights, namespace: str, cache: str) -> list[dict[str, Any]]:
    return listed(w, f"/api/v1/namespaces/{namespace}/persistentvolumeclaims", cache)


def jobs(w: Weights, namespace: str, cache: str) -> list[dict[str, Any]]:
    return listed(w, f"/apis/batch/v1/namespaces/{namespace}/jobs", cache)


def staging_cache(w: Weights, namespace: str, name: str, other_than: str | None = None) -> str:
    status = wait_status(
        w.api,
        namespace,
        name,
        lambda s: (s.get("staging") or {}).get("cache") not in (None, other_than),
        "a weight cache to stage",
    )
    return str(status["staging"]["cache"])


def bound_claim(w: Weights, namespace: str, cache: str) -> dict[str, Any]:
    def bound() -> dict[str, Any] | None:
        found = claims(w, namespace, cache)
        return found[0] if found and found[0].get("status", {}).get("phase") == "Bound" else None

    return dict(wait_for(bound, f"claim {namespace}/{cache} Bound by the PV controller", timeout=60))


def job_finished(w: Weights, namespace: str, cache: str, kind: str) -> dict[str, Any]:
    def finished() -> dict[str, Any] | None:
        found = jobs(w, namespace, cache)
        return found[0] if found and condition(found[0], kind) else None

    return dict(wait_for(finished, f"Job {namespace}/{cache} {kind}", timeout=90))


def staged(w: Weights, namespace: str, cache: str, files: dict[str, bytes] = FILES) -> dict[str, Any]:
    """The claim once the operator marked it staged and removed the finished Job (and its pod, which
    would otherwise keep the claim from ever being deleted)."""

    def marked() -> dict[str, Any] | None:
        found = claims(w, namespace, cache)
        annotations = found[0]["metadata"].get("annotations") or {} if found else {}
        return found[0] if STAGED_ANNOTATION in annotations and not jobs(w, namespace, cache) else None

    claim = dict(wait_for(marked, f"claim {namespace}/{cache} marked staged, its Job gone", timeout=90))
    report = json.loads(claim["metadata"]["annotations"][STAGED_ANNOTATION])
    assert report["phase"] == "Complete" and report["bytesDone"] == sum(len(b) for b in files.values())
    return claim


def stage(w: Weights, namespace: str, cache: str) -> str:
    """Play the download pod through; when it ended (RFC 3339, whole seconds)."""
    pod = w.player.wait_pod(namespace, cache)
    ended = now()
    assert w.player.run(pod) == 0
    staged(w, namespace, cache)
    return ended


def serving(w: Weights, namespace: str, name: str) -> dict[str, Any]:
    return wait_status(
        w.api, namespace, name, stable_and_healthy, "Healthy on one stable revision", timeout=120
    )


def test_staging_comes_before_pods_and_pods_before_ready(weights: Weights) -> None:
    w, namespace, name = weights, "e2e-weights-order", "order"
    create(w, cached_md(name, namespace, w.first))
    cache = staging_cache(w, namespace, name)
    claim = bound_claim(w, namespace, cache)
    assert claim["spec"]["accessModes"] == ["ReadWriteMany"]
    assert claim["spec"]["storageClassName"] == LOCAL_STORAGE_CLASS
    pod = w.player.wait_pod(namespace, cache)
    assert w.api.status(namespace, name)["phase"] == "Staging"
    half = sum(len(b) for b in FILES.values()) // 2
    w.player.report(
        pod,
        FetchProgress(
            phase=FetchPhase.DOWNLOADING,
            source=pod.source,
            bytes_done=half,
            bytes_total=2 * half,
            rate_bytes_per_second=50_000,
            eta_seconds=2,
            updated_at=now(),
        ),
    )
    wait_status(
        w.api, namespace, name, lambda s: (s.get("staging") or {}).get("progress") == "Staging 50%", "50%"
    )
    table = w.cluster.kubectl("get", "md", name, "-n", namespace).stdout
    assert "Staging 50%" in table and "Staging" in table.split("\n")[1], table
    described = w.cluster.kubectl("describe", "md", name, "-n", namespace).stdout
    assert "Bytes Done" in described and "Eta Seconds" in described, described
    assert w.api.deployments(namespace, name) == {}, "no engine pod before the weights are verified"

    ended = now()
    assert w.player.run(pod) == 0
    downloaded = w.player.dest(pod)
    assert {p.name for p in downloaded.iterdir()} >= {*FILES, COMPLETE_MARKER}, "verified and marked"
    staged(w, namespace, cache)
    status = serving(w, namespace, name)
    assert status["staging"]["progress"] == "Staged"
    [deployment] = w.api.deployments(namespace, name).values()
    assert deployment["metadata"]["creationTimestamp"] >= ended
    template = deployment["spec"]["template"]["spec"]
    [volume] = [v for v in template["volumes"] if v["name"] == "model"]
    assert volume["persistentVolumeClaim"] == {"claimName": cache, "readOnly": True}
    env = {e["name"]: e.get("value") for e in template["containers"][0]["env"]}
    assert env["HF_HUB_OFFLINE"] == "1"
    delete(w, namespace, name)


def test_two_model_deployments_serving_the_same_weights_share_one_cache(weights: Weights) -> None:
    w, namespace = weights, "e2e-weights-share"
    create(w, cached_md("share-a", namespace, w.first))
    create(w, cached_md("share-b", namespace, w.first))
    cache = staging_cache(w, namespace, "share-a")
    assert staging_cache(w, namespace, "share-b") == cache
    w.player.wait_pod(namespace, cache)
    for name in ("share-a", "share-b"):
        wait_status(w.api, namespace, name, lambda s: s.get("phase") == "Staging", "Staging, its pod waiting")
    assert len(claims(w, namespace, cache)) == 1 and len(jobs(w, namespace, cache)) == 1, "one download"
    stage(w, namespace, cache)
    for name in ("share-a", "share-b"):
        serving(w, namespace, name)
    uids = {w.api.md(namespace, n)["metadata"]["uid"] for n in ("share-a", "share-b")}
    [claim] = claims(w, namespace, cache)
    assert {r["uid"] for r in claim["metadata"]["ownerReferences"]} == uids

    delete(w, namespace, "share-a")
    wait_for(
        lambda: (
            [r["name"] for r in claims(w, namespace, cache)[0]["metadata"]["ownerReferences"]] == ["share-b"]
        ),
        "the cache to outlive share-a, claimed by share-b alone",
        timeout=60,
    )
    delete(w, namespace, "share-b")
    wait_for(lambda: not claims(w, namespace, cache), "the cache to go with its last claimant", timeout=120)
    wait_for(lambda: not jobs(w, namespace, cache), "its download Job to go with it", timeout=60)


def test_a_canary_stages_its_weights_before_its_pods_exist_and_the_old_cache_goes_after_promotion(
    weights: Weights,
) -> None:
    w, namespace, name = weights, "e2e-weights-canary", "canary"
    create(w, cached_md(name, namespace, w.first, retain=0))
    old = staging_cache(w, namespace, name)
    stage(w, namespace, old)
    stable = serving(w, namespace, name)["revisions"]["stable"]

    files = {**FILES, "tokenizer.json": b'{"v": 2}'}
    second = w.hub.add_commit(MODEL, files)
    patch_spec(w.cluster, namespace, name, {"model": {"revision": second}})
    new = staging_cache(w, namespace, name, other_than=old)
    pod = w.player.wait_pod(namespace, new)
    status = wait_status(w.api, namespace, name, lambda s: s.get("phase") == "Staging", "phase Staging")
    assert condition({"status": status}, "Ready")["status"] == "True", (
        "the stable serves while the canary stages"
    )
    assert list(w.api.deployments(namespace, name)) == [stable], "no canary before its weights are verified"

    ended = now()
    assert w.player.run(pod) == 0
    staged(w, namespace, new, files)
    promoted = wait_status(
        w.api,
        namespace,
        name,
        lambda s: stable_and_healthy(s) and s["revisions"]["stable"] != stable,
        "the canary promoted",
        timeout=120,
    )
    canary = w.api.deployments(namespace, name)[promoted["revisions"]["stable"]]
    assert canary["metadata"]["creationTimestamp"] >= ended
    assert canary["metadata"]["labels"][CACHE_LABEL] == new
    # retain: 0 and the old revision's workload gone: its cache is released and, unclaimed, deleted.
    wait_for(lambda: not claims(w, namespace, old), "the old revision's cache deleted", timeout=90)
    assert wait_status(w.api, namespace, name, lambda s: s.get("caches") == [new], "only the new cache held")
    delete(w, namespace, name)


def test_a_failed_download_blocks_the_canary_and_the_stable_keeps_serving(weights: Weights) -> None:
    w, namespace, name = weights, "e2e-weights-fail", "fail"
    create(w, cached_md(name, namespace, w.first))
    good = staging_cache(w, namespace, name)
    stage(w, namespace, good)
    stable = serving(w, namespace, name)["revisions"]["stable"]

    patch_spec(w.cluster, namespace, name, {"model": {"revision": "no-such-revision"}})
    broken = staging_cache(w, namespace, name, other_than=good)
    pod = w.player.wait_pod(namespace, broken)
    assert w.player.run(pod) == 2
    job_finished(w, namespace, broken, "Failed")
    status = wait_status(
        w.api, namespace, name, lambda s: progressing_reason(s) == "StagingFailed", "StagingFailed"
    )
    progressing = condition({"status": status}, "Progressing")
    assert progressing["status"] == "False" and "HTTP 404" in progressing["message"], progressing
    assert status["phase"] == "Degraded" and status["staging"]["progress"] == "Failed"
    assert condition({"status": status}, "Ready")["status"] == "True"
    assert list(w.api.deployments(namespace, name)) == [stable], "the failed revision never gets a pod"
    assert status["revisions"] == {"stable": stable}
    delete(w, namespace, name)


def test_kill_9_of_the_operator_during_staging_loses_and_duplicates_nothing(weights: Weights) -> None:
    w, namespace, name = weights, "e2e-weights-kill", "kill"
    create(w, cached_md(name, namespace, w.first))
    cache = staging_cache(w, namespace, name)
    pod = w.player.wait_pod(namespace, cache)
    w.operator.kill()
    w.operator.start()
    wait_for_a_whole_pass(w.operator, namespace, name)
    assert len(claims(w, namespace, cache)) == 1 and len(jobs(w, namespace, cache)) == 1
    pods = w.api.get(f"/api/v1/namespaces/{namespace}/pods?labelSelector={quote(f'{CACHE_LABEL}={cache}')}")
    assert [p["metadata"]["name"] for p in (pods or {}).get("items", [])] == [pod.name], "one download"
    assert w.player.run(pod) == 0
    staged(w, namespace, cache)
    serving(w, namespace, name)
    [claim] = claims(w, namespace, cache)
    assert [r["name"] for r in claim["metadata"]["ownerReferences"]] == [name], "claimed once"
    delete(w, namespace, name)
