"""The evaluation Job of an analysis step: success passes the step, failure and timeout abort.

Kwok runs no containers; the testbed's kwok stages (testbed/kwok-stages/pod-job-outcome.yaml) give
a Job's pod its outcome by image: ``...:exit-1`` fails, ``...:hang`` never finishes, any other completes.
"""

from __future__ import annotations

import re
import time
from typing import Any

import pytest

from tests.e2e.api import Api
from tests.e2e.helpers import (
    Rig,
    Sampler,
    aborted,
    assert_back_on_stable,
    patch_spec,
    promoted_from,
    report,
    start_stable,
    unique,
    wait_status,
)

pytestmark = pytest.mark.cluster
IMAGE = "modelfleet.invalid/e2e-evaluation"


def steps_with_job(image: str, timeout: str = "30s") -> list[dict[str, Any]]:
    job = {
        "image": image,
        "command": ["python", "-m", "evaluate"],
        "args": ["--prompts", "/data/prompts.jsonl"],
        "timeout": timeout,
    }
    return [{"setWeight": 25}, {"analysis": {"templates": ["ttft-p95"], "job": job}}, {"setWeight": 50}]


def roll_out_with(rig: Rig, namespace: str, name: str, steps: list[dict[str, Any]]) -> None:
    """A new revision whose canary runs `steps` (one patch: the rollout spec and the model revision)."""
    patch_spec(
        rig.cluster,
        namespace,
        name,
        {"model": {"revision": unique("r")}, "rollout": {"canary": {"steps": steps}}},
    )


def job_entry(status: dict[str, Any]) -> dict[str, Any]:
    return next(r for r in status["rollout"]["analysis"] if r["name"] == "evaluation-job")


def test_an_evaluation_job_gates_its_step_success_failure_and_timeout(
    rig: Rig, api: Api, cleanup: list[tuple[str, str]]
) -> None:
    ns, name = "e2e-job", "evaluated"
    cleanup.append((ns, name))
    stable = start_stable(rig, api, ns, name, steps=steps_with_job(f"{IMAGE}:exit-0"))

    # 1. The Job succeeds: the step passes (with its template) and the canary is promoted.
    with Sampler(api, ns, name) as sampler:
        began = time.monotonic()
        roll_out_with(rig, ns, name, steps_with_job(f"{IMAGE}:exit-0"))
        running = wait_status(
            api, ns, name, lambda s: (s.get("rollout") or {}).get("step") == 1, "analysis step"
        )
        canary = running["revisions"]["canary"]
        status = wait_status(
            api, ns, name, promoted_from(stable), "promoted after the Job passed", timeout=60
        )
        took_success = time.monotonic() - began
    report(sampler, "evaluation Job succeeds, patch to promotion", took_success)
    assert not sampler.violations, sampler.violations
    job = api.get(f"/apis/batch/v1/namespaces/{ns}/jobs/{name}-{canary}-eval-1")
    assert job is not None, "the Job is named after the ModelDeployment, the revision and the step"
    assert job["metadata"]["ownerReferences"][0]["kind"] == "ModelDeployment"
    container = job["spec"]["template"]["spec"]["containers"][0]
    env = {e["name"]: e["value"] for e in container["env"]}
    assert env["MODELFLEET_ENDPOINT"] == f"http://{name}-{canary}.{ns}.svc:80/v1"
    assert container["image"] == f"{IMAGE}:exit-0" and container["args"] == [
        "--prompts",
        "/data/prompts.jsonl",
    ]
    assert job["spec"]["backoffLimit"] == 0 and job["spec"]["activeDeadlineSeconds"] == 30
    stable = status["revisions"]["stable"]

    # 2. The Job fails: the canary aborts with AnalysisFailed and all traffic returns to the stable.
    began = time.monotonic()
    roll_out_with(rig, ns, name, steps_with_job(f"{IMAGE}:exit-1"))
    failed = wait_status(api, ns, name, aborted("AnalysisFailed"), "aborted by the failed Job", timeout=60)
    took_failure = time.monotonic() - began
    assert_back_on_stable(api, ns, name, stable, failed["revisions"]["canary"])
    assert "evaluation Job failed" in failed["rollout"]["abortReason"]
    assert job_entry(failed)["verdict"] == "failure"

    # 3. The Job never finishes: its timeout aborts the canary.
    began = time.monotonic()
    roll_out_with(rig, ns, name, steps_with_job(f"{IMAGE}:hang", timeout="6s"))
    waiting = wait_status(
        api,
        ns,
        name,
        lambda s: (s.get("rollout") or {}).get("step") == 1 and job_entry(s)["verdict"] == "inconclusive",
        "the Job running",
    )
    timed_out = wait_status(
        api, ns, name, aborted("AnalysisFailed"), "aborted by the Job's timeout", timeout=60
    )
    took_timeout = time.monotonic() - began
    assert_back_on_stable(api, ns, name, stable, timed_out["revisions"]["canary"])
    assert "evaluation Job" in timed_out["rollout"]["abortReason"]
    assert re.search(r"evaluation Job is (starting|running) \(timeout 6s\)", job_entry(waiting)["message"])
    print(
        f"\n[e2e] evaluation Job fails, patch to abort: {took_failure:.1f}s; "
        f"times out (6s), patch to abort: {took_timeout:.1f}s"
    )
