"""Canaries of SGLang and TGI ModelDeployments: the operator renders each engine's pods, the
exporter answers each pod in the metric names of the engine its label names, and the built-in
templates judge them through the real Prometheus."""

from __future__ import annotations

import time

import pytest

from modelfleet.render.names import ENGINE_LABEL
from tests.e2e.api import Api
from tests.e2e.engine_exporter import HEALTHY, SLOW_TTFT, Profile
from tests.e2e.helpers import (
    Rig,
    Sampler,
    aborted,
    assert_back_on_stable,
    new_revision,
    promoted_from,
    report,
    start_stable,
    wait_status,
)

pytestmark = pytest.mark.cluster
STEPS = [
    {"setWeight": 25},
    {"analysis": {"templates": ["ttft-p95", "itl-p95", "error-rate", "queue-depth"]}},
    {"setWeight": 50},
]


def engine_pod_labels(api: Api, namespace: str) -> set[str]:
    pods = (api.get(f"/api/v1/namespaces/{namespace}/pods") or {})["items"]
    return {(p["metadata"].get("labels") or {}).get(ENGINE_LABEL, "") for p in pods}


@pytest.mark.parametrize(
    ("engine", "canary", "expected"),
    [
        ("sglang", HEALTHY, "promoted"),
        ("sglang", SLOW_TTFT, "ttft-p95"),
        ("tgi", HEALTHY, "promoted"),
        ("tgi", SLOW_TTFT, "ttft-p95"),
    ],
)
def test_a_canary_of_each_engine_is_judged_by_its_own_metric_names(
    rig: Rig, api: Api, cleanup: list[tuple[str, str]], engine: str, canary: Profile, expected: str
) -> None:
    ns, name = f"e2e-{engine}", f"{engine}-{'healthy' if canary is HEALTHY else 'slow'}"
    cleanup.append((ns, name))
    stable = start_stable(rig, api, ns, name, canary=canary, steps=STEPS, engine=engine)
    assert engine_pod_labels(api, ns) == {engine}
    with Sampler(api, ns, name) as sampler:
        began = time.monotonic()
        new_revision(rig.cluster, ns, name)
        done = promoted_from(stable) if expected == "promoted" else aborted("AnalysisFailed")
        status = wait_status(api, ns, name, done, f"{engine} canary {expected}", timeout=90)
        took = time.monotonic() - began
        if expected != "promoted":
            assert_back_on_stable(api, ns, name, stable, status["revisions"]["canary"])
    report(
        sampler,
        f"{engine} canary, {'healthy' if canary is HEALTHY else 'slow TTFT'}, patch to "
        f"{'promotion' if expected == 'promoted' else 'abort'}",
        took,
    )
    assert not sampler.violations, sampler.violations
    if expected == "promoted":
        # An inconclusive template (no data under these names) holds until the deadline and aborts,
        # so a promotion means all four returned a number inside their threshold.
        assert status["revisions"]["stable"] != stable
        return
    results = {r["name"]: r for r in status["rollout"]["analysis"]}
    assert results[expected]["verdict"] == "failure" and results[expected]["value"] > 2.0, results
    assert {n for n, r in results.items() if r["verdict"] == "failure"} == {expected}, results
