"""The reconciler's pure decision during canaries: the HTTPRoute before anything serves, one event
per reason on an abort, and the evaluation Job of an analysis step (named, rendered, replaced)."""

from __future__ import annotations

import doctest
from datetime import timedelta
from typing import Any

from modelfleet.api import AnalysisResult, Verdict
from modelfleet.decide import Decision, decide, evaluation_job
from modelfleet.decide.observed import Child
from modelfleet.rollout.types import JobState
from tests.unit.test_decide import CTX, NOW, created, observed

PARENT = {"provider": "gatewayAPI", "gatewayAPI": {"parentRefs": [{"name": "gw"}]}}
JOB = {"image": "eval:1", "args": ["--prompts", "p.jsonl"], "timeout": "5m"}
STEPS = [{"setWeight": 10}, {"analysis": {"templates": ["ttft-p95"], "job": JOB}}, {"setWeight": 50}]


def canary_spec(revision: str = "a", steps: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    return {
        "model": {"id": "Qwen/Qwen3.5-9B", "revision": revision},
        "accelerator": {"type": "L4"},
        "serving": {"maxModelLen": 8192},
        "rollout": {"canary": {"steps": steps or STEPS, "trafficRouting": PARENT}, "analysisInterval": "10s"},
    }


def passes(
    spec: dict[str, Any],
    status: dict[str, Any],
    children: tuple[Child, ...],
    count: int,
    start_seconds: int = 0,
) -> tuple[Decision, tuple[Child, ...], int]:
    """Run `count` passes like the operator: status and children fed back, every pod Ready, and the
    route's weights as applied (the API server stores what we wrote)."""
    decision = None
    seconds = start_seconds
    for _ in range(count):
        seconds += 1
        decision = decide(
            observed(spec, status=status, children=children, now=NOW + timedelta(seconds=seconds)), CTX
        )
        by_name = {(c.kind, c.name): c for c in children}
        for c in created(decision):
            by_name[(c.kind, c.name)] = c
        for c in decision.delete:
            by_name.pop((c.kind, c.name), None)
        children, status = tuple(by_name.values()), decision.status
    assert decision is not None
    return decision, children, seconds


def at_analysis_step() -> tuple[dict[str, Any], Decision, tuple[Child, ...], int]:
    """A stable revision "a", then a canary of revision "b" walked to its analysis step (index 1)."""
    decision, children, seconds = passes(canary_spec("a"), {}, (), 3)
    assert decision.status["revisions"]["stable"]
    spec = canary_spec("b")
    decision, children, seconds = passes(spec, decision.status, children, 3, seconds)
    assert decision.status["rollout"]["step"] == 1, decision.status["rollout"]
    return spec, decision, children, seconds


def test_no_route_is_rendered_before_a_revision_serves_and_an_existing_one_is_kept() -> None:
    decision = decide(observed(canary_spec()), CTX)  # nothing Ready: a route would have no backend
    assert "HTTPRoute" not in {o["kind"] for o in decision.apply}
    route = Child(
        "gateway.networking.k8s.io/v1", "HTTPRoute", "m", "uid-r", None, "h", weights=(("m-x", 100),)
    )
    again = decide(observed(canary_spec(), status=decision.status, children=(route,)), CTX)
    assert route not in again.delete


def test_the_route_appears_with_the_first_ready_revision() -> None:
    decision, children, _ = passes(canary_spec(), {}, (), 2)
    routes = [c for c in children if c.kind == "HTTPRoute"]
    assert len(routes) == 1 and sum(w for _, w in routes[0].weights) == 100


def test_an_abort_posts_one_event_for_its_reason() -> None:
    spec, decision, children, seconds = at_analysis_step()
    obs = observed(spec, status=decision.status, children=children, now=NOW + timedelta(seconds=seconds + 1))
    failed = (AnalysisResult(name="ttft-p95", verdict=Verdict.FAILURE, value=3.0, threshold="<= 2"),)
    jobs = {1: JobState()}
    aborted = decide(obs, CTX, measurements=failed, jobs=jobs)
    reasons = [e.reason for e in aborted.events]
    assert aborted.status["phase"] == "Degraded"
    assert reasons.count("AnalysisFailed") == 1, reasons


def test_an_analysis_step_with_a_job_asks_the_reconciler_to_read_it_then_creates_it() -> None:
    spec, decision, children, seconds = at_analysis_step()
    canary = decision.status["revisions"]["canary"]
    obs = observed(spec, status=decision.status, children=children, now=NOW + timedelta(seconds=seconds + 1))
    first = decide(obs, CTX)
    assert first.evaluation_job is not None and not first.evaluation_job.looked_up
    assert first.evaluation_job.name == f"m-{canary}-eval-1"
    absent = decide(obs, CTX, jobs={1: None})
    plan = absent.evaluation_job
    assert plan is not None and plan.looked_up and not plan.delete and plan.create is not None
    job = plan.create
    assert job["metadata"]["name"] == f"m-{canary}-eval-1" and job["metadata"]["namespace"] == "llm"
    assert job["metadata"]["ownerReferences"][0]["uid"] == "uid-1"
    assert job["spec"]["activeDeadlineSeconds"] == 300 and job["spec"]["backoffLimit"] == 0
    container = job["spec"]["template"]["spec"]["containers"][0]
    assert {"name": "MODELFLEET_ENDPOINT", "value": f"http://m-{canary}.llm.svc:80/v1"} in container["env"]
    assert container["image"] == "eval:1" and container["args"] == ["--prompts", "p.jsonl"]
    assert "app.kubernetes.io/managed-by" not in job["spec"]["template"]["metadata"]["labels"], (
        "the Job's pods stay out of the engine-pod index"
    )
    running = decide(obs, CTX, jobs={1: JobState()})
    assert running.evaluation_job is not None and running.evaluation_job.create is None


def test_an_earlier_attempts_job_is_deleted_before_the_step_runs_it_again() -> None:
    spec, decision, children, seconds = at_analysis_step()
    obs = observed(spec, status=decision.status, children=children, now=NOW + timedelta(seconds=seconds + 1))
    stale = JobState(finished=True, succeeded=False, finished_at="2020-01-01T00:00:00Z", message="old")
    plan = decide(obs, CTX, jobs={1: stale}).evaluation_job
    assert plan is not None and plan.delete and plan.create is None
    assert decide(obs, CTX, jobs={1: stale}).status["phase"] != "Degraded"


def test_evaluation_job_examples_hold() -> None:
    assert doctest.testmod(evaluation_job).failed == 0
