"""The staging phase: a revision's weights are verified in the cache before it gets a pod (pure)."""

from __future__ import annotations

import copy
import json
from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest

from modelfleet.api import parse_spec
from modelfleet.api.fetch import FetchError, FetchPhase, FetchProgress
from modelfleet.decide import Decision, Observed, decide
from modelfleet.decide.caches import claim_summary, fetch_job_summary, has_claimants, without_claimant
from modelfleet.decide.observed import child_summary
from modelfleet.planner.types import Candidate, Engine, MemoryPerGpu, Plan
from modelfleet.render.cache import cache_name, cache_settings, default_size
from modelfleet.render.config import CacheDefaults
from modelfleet.render.names import CACHE_LABEL, FETCH_PROGRESS_ANNOTATION, STAGED_ANNOTATION
from tests.unit.test_decide import CTX, NOW, condition, observed, spec

SHARED = {"cache": {"mode": "shared"}}


def cached_spec(revision: str = "r1", **changes: Any) -> dict[str, Any]:
    return spec(model={"id": "Qwen/Qwen3.5-9B", "revision": revision, **SHARED}, **changes)


def name_of(spec_: dict[str, Any]) -> str:
    model = spec_["model"]
    return cache_name(model["id"], model.get("revision"), f"hf://{model['id']}")


def pvc(
    name: str,
    claimants: tuple[str, ...] = ("m",),
    phase: str = "Bound",
    deleting: bool = False,
    staged: FetchProgress | None = None,
) -> Any:
    meta: dict[str, Any] = {
        "name": name,
        "uid": f"uid-{name}",
        "resourceVersion": "7",
        "ownerReferences": [
            {"apiVersion": "modelfleet.io/v1alpha1", "kind": "ModelDeployment", "name": c, "uid": f"uid-{c}"}
            for c in claimants
        ],
    }
    if deleting:
        meta["deletionTimestamp"] = "2026-11-01T12:00:00Z"
    if staged is not None:
        meta["annotations"] = {STAGED_ANNOTATION: staged.model_dump_json(by_alias=True)}
    return claim_summary({"metadata": meta, "status": {"phase": phase}})


def job(
    name: str, progress: FetchProgress | None = None, complete: bool = False, failed: bool = False
) -> Any:
    conditions = []
    if complete:
        conditions.append({"type": "Complete", "status": "True"})
    if failed:
        conditions.append(
            {"type": "Failed", "status": "True", "reason": "PodFailurePolicy", "message": "exit 2"}
        )
    annotations = {FETCH_PROGRESS_ANNOTATION: progress.model_dump_json(by_alias=True)} if progress else {}
    return fetch_job_summary(
        {
            "metadata": {"name": name, "uid": f"uid-job-{name}", "annotations": annotations},
            "status": {"conditions": conditions},
        }
    )


def report(phase: FetchPhase, done: int = 0, total: int | None = 4_000_000_000, **more: Any) -> FetchProgress:
    return FetchProgress(
        phase=phase,
        source="hf://Qwen/Qwen3.5-9B",
        bytes_done=done,
        bytes_total=total,
        updated_at="2026-11-01T12:00:00Z",
        **more,
    )


def with_caches(obs: Observed, *caches: Any, jobs: tuple = (), **changes: Any) -> Observed:
    # The fixture's ModelDeployment has uid "uid-1"; claimants named "m" carry uid "uid-m".
    return replace(obs, uid="uid-m", caches=caches, fetch_jobs=jobs, **changes)


def workloads(decision: Decision) -> list[dict[str, Any]]:
    return [o for o in decision.apply if o["kind"] in ("Deployment", "LeaderWorkerSet")]


def test_a_first_deploy_creates_the_cache_and_no_engine_pod() -> None:
    decision = decide(with_caches(observed(cached_spec())), CTX)
    assert workloads(decision) == [] and decision.apply == []
    writes = decision.caches
    [claim] = writes.create_claims
    assert claim["metadata"]["name"] == name_of(cached_spec())
    assert claim["spec"]["accessModes"] == ["ReadWriteMany"]
    [owner] = claim["metadata"]["ownerReferences"]
    assert owner["uid"] == "uid-m" and owner["controller"] is False
    assert [o["kind"] for o in writes.apply] == ["ServiceAccount", "Role", "RoleBinding"]
    assert writes.create_jobs == [], "the Job needs the claim's uid: it comes once the claim exists"
    assert decision.status["phase"] == "Staging"
    assert decision.status["staging"]["progress"] == "Staging 0%"
    assert condition(decision, "Ready")["reason"] == "Staging"


def test_the_download_job_is_created_once_the_claim_exists_and_is_owned_by_it() -> None:
    name = name_of(cached_spec())
    decision = decide(with_caches(observed(cached_spec()), pvc(name)), CTX)
    [fetch] = decision.caches.create_jobs
    [owner] = fetch["metadata"]["ownerReferences"]
    assert owner["kind"] == "PersistentVolumeClaim" and owner["uid"] == f"uid-{name}" and owner["controller"]
    command = fetch["spec"]["template"]["spec"]["containers"][0]["command"]
    assert command == [
        "modelfleet",
        "fetch",
        "hf://Qwen/Qwen3.5-9B",
        "--revision",
        "r1",
        "--dest",
        "/weights/model",
    ]
    env = {e["name"]: e.get("value") for e in fetch["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert env["MODELFLEET_FETCH_JOB"] == f"llm/{name}"
    rule = fetch["spec"]["podFailurePolicy"]["rules"][0]
    assert rule["action"] == "FailJob" and rule["onExitCodes"]["values"] == [2]
    assert decision.caches.create_claims == [] and decision.caches.claim == []


def test_progress_shows_bytes_rate_and_eta_while_no_pod_exists() -> None:
    name = name_of(cached_spec())
    progress = report(FetchPhase.DOWNLOADING, 1_640_000_000, rate_bytes_per_second=120e6, eta_seconds=20)
    decision = decide(with_caches(observed(cached_spec()), pvc(name), jobs=(job(name, progress),)), CTX)
    assert workloads(decision) == []
    staging = decision.status["staging"]
    assert staging["progress"] == "Staging 41%" and staging["phase"] == "Downloading"
    assert staging["bytesDone"] == 1_640_000_000 and staging["etaSeconds"] == 20
    assert "41% (1.6 GB of 4.0 GB, 120.0 MB/s, ETA 20s)" in condition(decision, "Progressing")["message"]


def test_a_completed_job_without_a_verified_report_gives_no_pod() -> None:
    name = name_of(cached_spec())
    unverified = job(name, report(FetchPhase.VERIFYING, 4_000_000_000), complete=True)
    decision = decide(with_caches(observed(cached_spec()), pvc(name), jobs=(unverified,)), CTX)
    assert workloads(decision) == []
    assert decision.status["phase"] == "Failed"
    assert "without a verified Complete report" in condition(decision, "Progressing")["message"]


def test_verified_weights_give_pods_that_mount_the_cache_read_only_and_run_offline() -> None:
    name = name_of(cached_spec())
    done = job(name, report(FetchPhase.COMPLETE, 4_000_000_000), complete=True)
    decision = decide(with_caches(observed(cached_spec()), pvc(name), jobs=(done,)), CTX)
    [deployment] = workloads(decision)
    assert deployment["metadata"]["labels"][CACHE_LABEL] == name
    pod = deployment["spec"]["template"]["spec"]
    [volume] = [v for v in pod["volumes"] if v["name"] == "model"]
    assert volume["persistentVolumeClaim"] == {"claimName": name, "readOnly": True}
    [mount] = [m for m in pod["containers"][0]["volumeMounts"] if m["name"] == "model"]
    assert mount == {"name": "model", "mountPath": "/model", "readOnly": True, "subPath": "model"}
    env = {e["name"]: e.get("value") for e in pod["containers"][0]["env"]}
    assert env["HF_HUB_OFFLINE"] == "1"
    assert pod["containers"][0]["command"][2] == "/model", "vLLM serves the local path"
    assert decision.status["staging"]["progress"] == "Staged"
    assert [claim for claim, _ in decision.caches.mark_staged] == [name], (
        "the claim remembers it, the Job goes"
    )


def test_a_claim_marked_staged_needs_no_job_and_gets_no_new_download() -> None:
    name = name_of(cached_spec())
    staged = pvc(name, staged=report(FetchPhase.COMPLETE, 4_000_000_000))
    decision = decide(with_caches(observed(cached_spec()), staged), CTX)
    assert decision.caches.create_jobs == [] and decision.caches.mark_staged == []
    assert len(workloads(decision)) == 1
    assert decision.status["staging"]["bytesDone"] == 4_000_000_000


def test_a_second_model_deployment_claims_the_existing_cache_instead_of_creating_one() -> None:
    name = name_of(cached_spec())
    decision = decide(with_caches(observed(cached_spec()), pvc(name, claimants=("other",))), CTX)
    assert decision.caches.create_claims == [] and decision.caches.claim == [name]
    assert [j["metadata"]["name"] for j in decision.caches.create_jobs] == [name], "its Job was missing"


def stable_world(revision: str = "r1") -> tuple[Observed, Decision]:
    """A ModelDeployment serving revision `revision` from its verified cache."""
    name = name_of(cached_spec(revision))
    done = job(name, report(FetchPhase.COMPLETE, 4_000_000_000), complete=True)
    obs = with_caches(
        observed(cached_spec(revision, rollout={"strategy": "Canary"})), pvc(name), jobs=(done,)
    )
    decision = decide(obs, CTX)
    children = []
    for obj in decision.apply:
        obj = copy.deepcopy(obj)
        obj["metadata"]["uid"] = f"uid-{obj['metadata']['name']}"
        obj["metadata"]["generation"] = 1
        if obj["kind"] == "Deployment":
            obj["status"] = {"observedGeneration": 1, "readyReplicas": 1, "updatedReplicas": 1}
        children.append(child_summary(obj))
    obs = replace(obs, children=tuple(children), status=decision.status, now=NOW + timedelta(seconds=5))
    decision = decide(obs, CTX)
    assert decision.status["phase"] == "Healthy", decision.status
    return replace(obs, status=decision.status), decision


def test_a_new_revision_stages_before_its_canary_exists_and_the_stable_keeps_serving() -> None:
    obs, before = stable_world("r1")
    stable = before.status["revisions"]["stable"]
    new = cached_spec("r2", rollout={"strategy": "Canary"})
    progress = report(FetchPhase.DOWNLOADING, 1_000_000_000)
    caches = (*obs.caches, pvc(name_of(new)))
    decision = decide(
        replace(
            obs,
            spec=new,
            generation=2,
            caches=caches,
            fetch_jobs=(*obs.fetch_jobs, job(name_of(new), progress)),
        ),
        CTX,
    )
    assert workloads(decision) == [], "no canary workload before the weights are verified"
    assert decision.delete == [] and decision.scale == []
    assert decision.status["phase"] == "Staging"
    assert decision.status["revisions"] == {"stable": stable}
    assert condition(decision, "Ready")["status"] == "True", "the stable serves on"
    assert condition(decision, "Progressing")["reason"] == "Staging"
    assert decision.status["caches"] == [name_of(new), name_of(cached_spec("r1"))]


def test_a_failed_download_blocks_the_canary_with_the_http_status_and_bytes_done() -> None:
    obs, _ = stable_world("r1")
    new = cached_spec("r2", rollout={"strategy": "Canary"})
    error = FetchError(message="gated repo", http_status=401, retryable=False)
    failed = job(name_of(new), report(FetchPhase.FAILED, 0, error=error), failed=True)
    decision = decide(
        replace(
            obs,
            spec=new,
            generation=2,
            caches=(*obs.caches, pvc(name_of(new))),
            fetch_jobs=(*obs.fetch_jobs, failed),
        ),
        CTX,
    )
    assert workloads(decision) == []
    assert decision.status["phase"] == "Degraded"
    progressing = condition(decision, "Progressing")
    assert progressing["status"] == "False" and progressing["reason"] == "StagingFailed"
    assert "HTTP 401: gated repo (0 B of 4.0 GB done)" in progressing["message"]
    assert condition(decision, "Ready")["status"] == "True"
    assert any(e.type == "Warning" and e.reason == "StagingFailed" for e in decision.events)


def test_once_staged_the_canary_starts_and_mounts_the_new_cache() -> None:
    obs, _ = stable_world("r1")
    new = cached_spec("r2", rollout={"strategy": "Canary"})
    done = job(name_of(new), report(FetchPhase.COMPLETE, 4_000_000_000), complete=True)
    decision = decide(
        replace(
            obs,
            spec=new,
            generation=2,
            caches=(*obs.caches, pvc(name_of(new))),
            fetch_jobs=(*obs.fetch_jobs, done),
        ),
        CTX,
    )
    [canary] = workloads(decision)
    assert canary["metadata"]["labels"][CACHE_LABEL] == name_of(new)
    assert decision.status["revisions"]["canary"] == canary["metadata"]["labels"]["modelfleet.io/revision"]


@pytest.mark.parametrize(
    ("retain", "released"),
    [(0, ["old"]), (1, [])],
    ids=["retain 0 releases the earlier revision", "retain 1 keeps it"],
)
def test_retain_decides_whether_an_earlier_revisions_cache_is_released(
    retain: int, released: list[str]
) -> None:
    obs, _ = stable_world("r2")
    current = name_of(cached_spec("r2"))
    status = {**obs.status, "caches": [current, "weights-old"]}
    new_spec = copy.deepcopy(obs.spec)
    new_spec["model"]["cache"]["retain"] = retain
    decision = decide(
        replace(obs, spec=new_spec, status=status, caches=(*obs.caches, pvc("weights-old"))), CTX
    )
    assert decision.caches.release == [f"weights-{n}" for n in released]
    assert decision.status["caches"] == [current, *(["weights-old"] if retain else [])]


def test_mode_none_and_a_users_pvc_source_use_no_cache() -> None:
    plain = decide(observed(spec()), CTX)
    assert not plain.caches and "staging" not in plain.status
    pvc_source = spec(model={"id": "Qwen/Qwen3.5-9B", "source": {"pvc": {"claimName": "mine"}}})
    shared_ctx = replace(CTX, render=replace(CTX.render, cache=CacheDefaults(mode="shared")))
    decision = decide(observed(pvc_source), shared_ctx)
    assert not decision.caches and len(workloads(decision)) == 1, "the user's PVC is mounted as it is"


def test_the_operator_default_turns_the_cache_on_for_specs_that_say_nothing() -> None:
    shared_ctx = replace(
        CTX, render=replace(CTX.render, cache=CacheDefaults(mode="shared", storage_class_name="rwx"))
    )
    decision = decide(observed(spec()), shared_ctx)
    [claim] = decision.caches.create_claims
    assert claim["spec"]["storageClassName"] == "rwx"
    assert workloads(decision) == []


def test_node_mode_is_refused_with_a_clear_message() -> None:
    decision = decide(observed(spec(model={"id": "Qwen/Qwen3.5-9B", "cache": {"mode": "node"}})), CTX)
    assert decision.status["phase"] == "Failed"
    assert "cache mode node" in condition(decision, "Ready")["message"]
    with pytest.raises(Exception, match="model.source.pvc already holds the weights"):
        parse_spec(
            {"model": {"id": "o/m", "cache": {"mode": "shared"}, "source": {"pvc": {"claimName": "x"}}}}
        )


def test_the_default_size_is_the_weights_times_1_1_plus_5_gib() -> None:
    gib = 1024**3
    memory = MemoryPerGpu(weights=131 * gib // 4, kv_cache=0, overhead=0, usable=0)
    plan = Plan(True, "o/m", Engine.VLLM, "bf16", 4096, Candidate("H100-80GB", 4, 1, 4, 1), memory, None, ())
    assert default_size(plan) == "150Gi"
    settings = cache_settings(
        parse_spec({"model": {"id": "o/m", "cache": {"mode": "shared", "size": "2Ti"}}}),
        plan,
        CacheDefaults(),
    )
    assert settings is not None and settings.size == "2Ti"


def test_the_last_claimant_leaving_means_the_cache_is_deleted() -> None:
    refs = [{"kind": "ModelDeployment", "uid": "a"}, {"kind": "ModelDeployment", "uid": "b"}]
    assert has_claimants(without_claimant(refs, "a"))
    assert not has_claimants(without_claimant(without_claimant(refs, "a"), "b"))


def test_a_progress_annotation_that_does_not_parse_counts_as_none() -> None:
    summary = fetch_job_summary({"metadata": {"name": "j", "annotations": {FETCH_PROGRESS_ANNOTATION: "{"}}})
    assert summary.progress is None
    good = json.dumps({"phase": "Complete", "source": "hf://o/m", "updatedAt": "2026-11-01T12:00:00Z"})
    assert fetch_job_summary(
        {"metadata": {"name": "j", "annotations": {FETCH_PROGRESS_ANNOTATION: good}}}
    ).progress


def test_modelfleet_render_shows_the_pods_the_operator_creates_once_staged() -> None:
    from modelfleet.cli.plan import make_plan
    from modelfleet.render import render_all

    spec_ = cached_spec()
    name = name_of(spec_)
    done = job(name, report(FetchPhase.COMPLETE, 4_000_000_000), complete=True)
    [operator_made] = workloads(decide(with_caches(observed(spec_), pvc(name), jobs=(done,)), CTX))
    plan, _ = make_plan(parse_spec(spec_))
    [rendered] = [
        o for o in render_all(parse_spec(spec_), plan, name="m", namespace="llm") if o["kind"] == "Deployment"
    ]
    assert rendered["metadata"]["labels"] == operator_made["metadata"]["labels"]
    assert (
        rendered["spec"]["template"]["spec"]["volumes"]
        == operator_made["spec"]["template"]["spec"]["volumes"]
    )
