"""The built-in vLLM templates against a real Prometheus (Debian's package) scraping the loopback
exporter through the documented relabelling; no cluster needed."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from modelfleet.analysis import measure_templates
from modelfleet.api import Verdict, parse_spec
from testbed.prometheus import LoopbackPrometheus, ScrapeTarget
from tests.e2e.engine_exporter import IDLE, SLOW_TTFT, EngineExporter

SPEC = parse_spec({"model": {"id": "mistralai/Mistral-7B-Instruct-v0.3"}})
TEMPLATES = ("ttft-p95", "itl-p95", "error-rate", "queue-depth")


@pytest.fixture(scope="module")
def prometheus() -> Iterator[LoopbackPrometheus]:
    exporter = EngineExporter().start()
    exporter.set_revision("slow", SLOW_TTFT)
    exporter.set_revision("idle", IDLE)
    pods = [("good", "p0"), ("good", "p1"), ("slow", "p2"), ("idle", "p3")]
    with LoopbackPrometheus() as prom:
        prom.set_targets(ScrapeTarget(exporter.address, f"/pods/ns/{pod}/{revision}/metrics", {
            "__meta_kubernetes_namespace": "ns", "__meta_kubernetes_pod_name": pod,
            "__meta_kubernetes_pod_label_modelfleet_io_revision": revision}) for revision, pod in pods)
        yield prom
    exporter.stop()


def measure(prom: LoopbackPrometheus, revision: str) -> dict[str, tuple[Verdict, float | None]]:
    results = measure_templates(base_url=prom.url, names=TEMPLATES, spec=SPEC, revision=revision, namespace="ns",
                                name="m", now=datetime.now(UTC))
    return {r.name: (r.verdict, r.value) for r in results}


def wait_measured(prom: LoopbackPrometheus, revision: str, timeout_seconds: float = 30) -> dict[str, tuple[Verdict, float | None]]:
    deadline = time.monotonic() + timeout_seconds
    while True:
        got = measure(prom, revision)
        if all(verdict != Verdict.INCONCLUSIVE for verdict, _ in got.values()) or time.monotonic() > deadline:
            return got
        time.sleep(0.5)


def test_relabelled_targets_carry_the_labels_the_templates_select_on(prometheus: LoopbackPrometheus) -> None:
    deadline = time.monotonic() + 20
    while len(prometheus.active_targets()) < 4 and time.monotonic() < deadline:
        time.sleep(0.2)
    labels = sorted((t["labels"]["modelfleet_io_revision"], t["labels"]["pod"], t["labels"]["namespace"])
                    for t in prometheus.active_targets())
    assert labels == [("good", "p0", "ns"), ("good", "p1", "ns"), ("idle", "p3", "ns"), ("slow", "p2", "ns")]


def test_a_healthy_revision_passes_every_builtin_template(prometheus: LoopbackPrometheus) -> None:
    got = wait_measured(prometheus, "good")
    assert {name: verdict for name, (verdict, _) in got.items()} == dict.fromkeys(TEMPLATES, Verdict.SUCCESS), got
    assert got["ttft-p95"][1] == pytest.approx(0.2425)  # 0.1 + 0.95 x (0.25 - 0.1): interpolated in its bucket
    assert got["error-rate"][1] == 0.0, "a canary that never failed has ratio 0, not no data"


def test_a_slow_revision_fails_ttft_only(prometheus: LoopbackPrometheus) -> None:
    got = wait_measured(prometheus, "slow")
    assert got["ttft-p95"][0] == Verdict.FAILURE and got["ttft-p95"][1] == pytest.approx(4.875)
    assert got["itl-p95"][0] == Verdict.SUCCESS


def test_a_revision_without_requests_is_inconclusive(prometheus: LoopbackPrometheus) -> None:
    wait_measured(prometheus, "good")  # by now the idle pod has been scraped as often
    assert {verdict for verdict, _ in measure(prometheus, "idle").values()} == {Verdict.INCONCLUSIVE}
