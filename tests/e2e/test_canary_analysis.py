"""Canary rollouts gated by a real Prometheus: promotion, regression, provider outage, no traffic,
a canary that never becomes Ready. The operator runs as a real process against the local cluster."""

from __future__ import annotations

import re
import time

import pytest

from tests.e2e.api import Api
from tests.e2e.engine_exporter import IDLE, SLOW_TTFT
from tests.e2e.helpers import (
    STEPS,
    Rig,
    Sampler,
    aborted,
    assert_back_on_stable,
    epoch,
    events,
    new_revision,
    progressing_reason,
    promoted_from,
    report,
    start_stable,
    wait_status,
)
from tests.integration.kube import metric_value, wait_for_a_whole_pass

pytestmark = pytest.mark.cluster
L4_NODES = ("gpu-l4-0", "gpu-l4-1")


def test_a_healthy_canary_walks_every_step_to_promotion(
    rig: Rig, api: Api, cleanup: list[tuple[str, str]]
) -> None:
    ns, name = "e2e-healthy", "healthy"
    cleanup.append((ns, name))
    stable = start_stable(rig, api, ns, name)
    with Sampler(api, ns, name) as sampler:
        began = time.monotonic()
        new_revision(rig.cluster, ns, name)
        status = wait_status(api, ns, name, promoted_from(stable), "canary promoted", timeout=90)
        took = time.monotonic() - began
    report(sampler, "healthy canary, patch to promotion", took)
    assert not sampler.violations, sampler.violations
    new = status["revisions"]["stable"]
    steps = [
        int(m.group(1))
        for e in events(api, ns, name, until={"RolloutComplete"})
        if e["reason"] == "RolloutStep"
        for m in [re.search(r" step (\d+):", e["message"])]
        if m
    ]
    assert steps == list(range(1, len(STEPS) + 1)), steps
    assert {s.weight for s in sampler.samples if s.weight} >= {25, 50}
    assert {25, 50} <= {(s.route or {}).get(f"{name}-{new}", 0) for s in sampler.samples}
    assert api.route_weights(ns, name) == {f"{name}-{new}": 100}
    assert set(api.deployments(ns, name)) == {new}, "the old stable was deleted"
    reasons = {e["reason"] for e in events(api, ns, name, until={"RolloutComplete"})}
    assert {"NewRevision", "RolloutStep", "RolloutComplete"} <= reasons
    metrics = rig.operator.metrics()
    assert metric_value(metrics, "modelfleet_canary_weight_percent", name=name, namespace=ns) == 0.0, [
        line for line in metrics.splitlines() if "modelfleet_" in line and not line.startswith("#")
    ]
    assert metric_value(metrics, "modelfleet_rollout_phase", name=name, namespace=ns, phase="Healthy") == 1.0


def test_a_ttft_regression_aborts_and_returns_all_traffic_to_the_stable(
    rig: Rig, api: Api, cleanup: list[tuple[str, str]]
) -> None:
    ns, name = "e2e-regress", "regress"
    cleanup.append((ns, name))
    stable = start_stable(rig, api, ns, name, canary=SLOW_TTFT)
    with Sampler(api, ns, name) as sampler:
        began = time.monotonic()
        new_revision(rig.cluster, ns, name)
        status = wait_status(api, ns, name, aborted("AnalysisFailed"), "canary aborted", timeout=60)
        took = time.monotonic() - began
        canary = status["revisions"]["canary"]
        assert_back_on_stable(api, ns, name, stable, canary)
    report(sampler, "TTFT regression, patch to abort", took)
    assert not sampler.violations, sampler.violations
    rollout = status["rollout"]
    assert rollout["abortReason"].startswith("AnalysisFailed:")
    [ttft] = [r for r in rollout["analysis"] if r["name"] == "ttft-p95"]
    assert ttft["verdict"] == "failure" and ttft["value"] > 2.0 and ttft["threshold"] == "<= 2"
    assert 25 in {(s.route or {}).get(f"{name}-{canary}", 0) for s in sampler.samples}, "it had traffic first"
    assert sampler.phases()[-1] == "Degraded"
    metrics = rig.operator.metrics()
    assert metric_value(metrics, "modelfleet_rollout_aborts_total", reason="AnalysisFailed") >= 1.0  # type: ignore[operator]
    assert metric_value(metrics, "modelfleet_rollout_phase", name=name, namespace=ns, phase="Degraded") == 1.0
    warnings = [
        e
        for e in events(api, ns, name, until={"AnalysisFailed"})
        if e["type"] == "Warning" and e["reason"] == "AnalysisFailed"
    ]
    assert len(warnings) == 1, [e["message"] for e in warnings]


def test_prometheus_down_aborts_after_the_error_limit(
    rig: Rig, api: Api, cleanup: list[tuple[str, str]]
) -> None:
    ns, name = "e2e-promdown", "promdown"
    cleanup.append((ns, name))
    stable = start_stable(rig, api, ns, name)
    rig.prometheus.stop()
    try:
        with Sampler(api, ns, name) as sampler:
            began = time.monotonic()
            new_revision(rig.cluster, ns, name)
            status = wait_status(api, ns, name, aborted("AnalysisError"), "canary aborted", timeout=60)
            took = time.monotonic() - began
            assert_back_on_stable(api, ns, name, stable, status["revisions"]["canary"])
    finally:
        rig.prometheus.start()
    report(sampler, "Prometheus down, patch to abort", took)
    assert not sampler.violations, sampler.violations
    rollout = status["rollout"]
    assert rollout["errorCount"] == 2 and "cannot reach Prometheus" in rollout["abortReason"]
    assert {r["verdict"] for r in rollout["analysis"]} == {"error"}


def test_no_traffic_holds_then_aborts_at_the_deadline(
    rig: Rig, api: Api, cleanup: list[tuple[str, str]]
) -> None:
    ns, name = "e2e-idle", "idle"
    cleanup.append((ns, name))
    stable = start_stable(rig, api, ns, name, canary=IDLE, progressDeadline="10s")
    with Sampler(api, ns, name) as sampler:
        began = time.monotonic()
        new_revision(rig.cluster, ns, name)
        held = wait_status(
            api,
            ns,
            name,
            lambda s: (
                (s.get("rollout") or {}).get("step") == 2
                and any(r["verdict"] == "inconclusive" for r in s["rollout"].get("analysis", []))
            ),
            "inconclusive analysis",
        )
        status = wait_status(api, ns, name, aborted("ProgressDeadlineExceeded"), "canary aborted", timeout=60)
        took = time.monotonic() - began
        assert_back_on_stable(api, ns, name, stable, status["revisions"]["canary"])
    report(sampler, "no traffic, patch to abort", took)
    assert not sampler.violations, sampler.violations
    assert "no data" in held["rollout"]["message"]
    # The deadline of an analysis step is progressDeadline + one interval per required round,
    # counted from the step's start (both timestamps have whole seconds).
    [degraded] = [c for c in status["conditions"] if c["type"] == "Degraded"]
    assert epoch(degraded["lastTransitionTime"]) - epoch(held["rollout"]["stepStartedAt"]) >= 10, (
        degraded,
        held["rollout"],
    )
    assert status["rollout"]["successCount"] == 0 and status["rollout"]["failureCount"] == 0


def test_a_canary_that_never_becomes_ready_gets_no_weight_and_aborts_at_the_deadline(
    rig: Rig, api: Api, cleanup: list[tuple[str, str]]
) -> None:
    ns, name = "e2e-unready", "unready"
    cleanup.append((ns, name))
    stable = start_stable(rig, api, ns, name, gpu="L4", progressDeadline="10s")
    # New pods cannot land on the L4 nodes any more; the stable's pod keeps running.
    rig.cluster.kubectl("taint", "nodes", *L4_NODES, "modelfleet.io/e2e=unready:NoSchedule")
    try:
        with Sampler(api, ns, name) as sampler:
            began = time.monotonic()
            new_revision(rig.cluster, ns, name)
            pending = wait_status(
                api,
                ns,
                name,
                lambda s: "0/1 ready" in ((s.get("rollout") or {}).get("message") or ""),
                "waiting for canary pods",
            )
            status = wait_status(
                api, ns, name, aborted("ProgressDeadlineExceeded"), "canary aborted", timeout=60
            )
            took = time.monotonic() - began
            assert_back_on_stable(api, ns, name, stable, status["revisions"]["canary"])
    finally:
        rig.cluster.kubectl("taint", "nodes", *L4_NODES, "modelfleet.io/e2e-", check=False)
    report(sampler, "never Ready, patch to abort", took)
    assert not sampler.violations, sampler.violations
    assert {tuple(s.route or {}) for s in sampler.samples} == {(f"{name}-{stable}",)}, (
        "the canary never had weight"
    )
    assert pending["rollout"]["step"] == 0
    schedulable = [c for c in pending["conditions"] if c["type"] == "Schedulable"]
    assert schedulable and schedulable[0]["reason"] in ("PodsPending", "PlanFeasible")


def test_without_abort_on_deadline_an_overdue_canary_holds_and_goes_on_once_ready(
    rig: Rig, api: Api, cleanup: list[tuple[str, str]]
) -> None:
    ns, name = "e2e-hold", "hold"
    cleanup.append((ns, name))
    stable = start_stable(
        rig, api, ns, name, gpu="L4", steps=[{"setWeight": 50}], progressDeadline="6s", abortOnDeadline=False
    )
    rig.cluster.kubectl("taint", "nodes", *L4_NODES, "modelfleet.io/e2e=hold:NoSchedule")
    tainted = True
    try:
        with Sampler(api, ns, name) as sampler:
            began = time.monotonic()
            new_revision(rig.cluster, ns, name)
            overdue = wait_status(
                api,
                ns,
                name,
                lambda s: progressing_reason(s) == "ProgressDeadlineExceeded",
                "Progressing=False ProgressDeadlineExceeded",
                timeout=60,
            )
            canary = overdue["revisions"]["canary"]
            for _ in range(2):  # two whole passes after it: it keeps holding, nothing is aborted
                wait_for_a_whole_pass(rig.operator, ns, name)
            held, held_route = api.status(ns, name), api.route_weights(ns, name)
            rig.cluster.kubectl("taint", "nodes", *L4_NODES, "modelfleet.io/e2e-")
            tainted = False
            status = wait_status(
                api, ns, name, promoted_from(stable), "canary promoted once its pod landed", timeout=90
            )
            took = time.monotonic() - began
    finally:
        if tainted:
            rig.cluster.kubectl("taint", "nodes", *L4_NODES, "modelfleet.io/e2e-", check=False)
    report(sampler, "overdue without abort, patch to promotion", took)
    assert not sampler.violations, sampler.violations
    for seen in (overdue, held):
        # Argo CD's convention: a rollout past its progress deadline is Degraded, aborted or not.
        assert seen["phase"] == "Degraded" and "abortReason" not in seen["rollout"], seen
        [degraded] = [c for c in seen["conditions"] if c["type"] == "Degraded"]
        assert (degraded["status"], degraded["reason"]) == ("True", "ProgressDeadlineExceeded"), degraded
        assert seen["revisions"] == {"stable": stable, "canary": canary}, seen["revisions"]
        [progressing] = [c for c in seen["conditions"] if c["type"] == "Progressing"]
        assert progressing["status"] == "False" and "waited longer than 6s" in progressing["message"], (
            progressing
        )
    assert "Degraded" in sampler.phases(), sampler.timeline()
    assert status["revisions"]["stable"] == canary
    assert held_route == {f"{name}-{stable}": 100}, "no traffic to a canary that is not Ready"
    overdue_events = [
        e
        for e in events(api, ns, name, until={"RolloutComplete"})
        if e["reason"] == "ProgressDeadlineExceeded"
    ]
    assert [e["type"] for e in overdue_events] == ["Warning"], [e["message"] for e in overdue_events]


def test_a_user_template_with_count_three_passes_after_three_good_rounds(
    rig: Rig, api: Api, cleanup: list[tuple[str, str]]
) -> None:
    ns, name = "e2e-user", "user"
    cleanup.append((ns, name))
    # irate: a rate() window reaching back before the canary's first scrape extrapolates from too
    # little and reads far low (about 1 request/s of 20 in the first seconds).
    throughput = {
        "name": "throughput",
        "min": 5,
        "count": 3,
        "query": 'sum(irate(vllm:request_success_total{modelfleet_io_revision="{{revision}}",'
        'namespace="{{namespace}}"}[30s]))',
    }
    steps = [{"setWeight": 25}, {"analysis": {"templates": ["throughput"]}}]
    stable = start_stable(rig, api, ns, name, steps=steps, analysisTemplates=[throughput])
    with Sampler(api, ns, name) as sampler:
        began = time.monotonic()
        new_revision(rig.cluster, ns, name)
        two = wait_status(
            api,
            ns,
            name,
            lambda s: (
                (s.get("rollout") or {}).get("step") == 1
                and (s.get("rollout") or {}).get("successCount") == 2
            ),
            "two rounds passed",
            timeout=90,
        )
        status = wait_status(
            api, ns, name, promoted_from(stable), "promoted after the third round", timeout=30
        )
        took = time.monotonic() - began
    report(sampler, "user template with count 3, patch to promotion", took)
    assert not sampler.violations, sampler.violations
    assert "2/3 rounds passed" in two["rollout"]["message"], two["rollout"]["message"]
    [result] = two["rollout"]["analysis"]
    assert result["name"] == "throughput" and result["verdict"] == "success", result
    assert result["value"] == pytest.approx(20, rel=0.25), "one canary pod at the exporter's 20 requests/s"
    assert status["revisions"]["stable"] != stable
