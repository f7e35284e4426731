"""The built-in templates of every engine (vLLM, SGLang, TGI) against a real Prometheus (Debian's
package) scraping loopback exporters, with each engine's own metric names, through the documented
relabelling; no cluster needed."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from modelfleet.api import Verdict, parse_spec
from modelfleet.reconcile.measure import measure_templates
from testbed.prometheus import LoopbackPrometheus, ScrapeTarget
from tests.e2e.engine_exporter import FAILING, IDLE, SLOW_TTFT, EngineExporter

ENGINES = ("vllm", "sglang", "tgi")
TEMPLATES = ("ttft-p95", "itl-p95", "error-rate", "queue-depth")
PODS = [("good", "p0"), ("good", "p1"), ("slow", "p2"), ("idle", "p3"), ("failing", "p4")]
# p95 as histogram_quantile interpolates it in the profile's bucket: healthy TTFT 0.2 s lies in
# (0.1, 0.25] -> 0.1 + 0.95 x 0.15. TGI has no TTFT histogram: queue p95 + prefill p95, with the
# exporter's 25 % / 75 % split: 0.05 s in (0.04, 0.06] and 0.15 s in (0.1, 0.25].
HEALTHY_TTFT_P95 = {"vllm": 0.2425, "sglang": 0.2425, "tgi": 0.059 + 0.2425}
SLOW_TTFT_P95 = {"vllm": 4.875, "sglang": 4.875, "tgi": 0.9875 + 4.875}  # 4 s; TGI 1 s + 3 s


@pytest.fixture(scope="module")
def prometheus() -> Iterator[LoopbackPrometheus]:
    """One Prometheus scraping one exporter per engine; each engine's pods live in a namespace named after it."""
    exporters = {engine: EngineExporter(engine=engine).start() for engine in ENGINES}
    for exporter in exporters.values():
        exporter.set_revision("slow", SLOW_TTFT)
        exporter.set_revision("idle", IDLE)
        exporter.set_revision("failing", FAILING)
    with LoopbackPrometheus() as prom:
        prom.set_targets(
            ScrapeTarget(
                exporter.address,
                f"/pods/{engine}/{pod}/{revision}/metrics",
                {
                    "__meta_kubernetes_namespace": engine,
                    "__meta_kubernetes_pod_name": pod,
                    "__meta_kubernetes_pod_label_modelfleet_io_revision": revision,
                },
            )
            for engine, exporter in exporters.items()
            for revision, pod in PODS
        )
        yield prom
    for exporter in exporters.values():
        exporter.stop()


def measure(prom: LoopbackPrometheus, engine: str, revision: str) -> dict[str, tuple[Verdict, float | None]]:
    spec = parse_spec({"model": {"id": "mistralai/Mistral-7B-Instruct-v0.3"}, "engine": {"name": engine}})
    results = measure_templates(
        base_url=prom.url,
        names=TEMPLATES,
        spec=spec,
        revision=revision,
        namespace=engine,
        name="m",
        now=datetime.now(UTC),
    )
    return {r.name: (r.verdict, r.value) for r in results}


def wait_measured(
    prom: LoopbackPrometheus, engine: str, revision: str, timeout_seconds: float = 30
) -> dict[str, tuple[Verdict, float | None]]:
    deadline = time.monotonic() + timeout_seconds
    while True:
        got = measure(prom, engine, revision)
        if all(verdict != Verdict.INCONCLUSIVE for verdict, _ in got.values()) or time.monotonic() > deadline:
            return got
        time.sleep(0.5)


def test_relabelled_targets_carry_the_labels_the_templates_select_on(prometheus: LoopbackPrometheus) -> None:
    deadline = time.monotonic() + 20
    while len(prometheus.active_targets()) < len(ENGINES) * len(PODS) and time.monotonic() < deadline:
        time.sleep(0.2)
    labels = sorted(
        (t["labels"]["namespace"], t["labels"]["modelfleet_io_revision"], t["labels"]["pod"])
        for t in prometheus.active_targets()
    )
    assert labels == sorted((engine, revision, pod) for engine in ENGINES for revision, pod in PODS)


@pytest.mark.parametrize("engine", ENGINES)
def test_a_healthy_revision_passes_every_builtin_template(
    prometheus: LoopbackPrometheus, engine: str
) -> None:
    got = wait_measured(prometheus, engine, "good")
    assert {name: verdict for name, (verdict, _) in got.items()} == dict.fromkeys(
        TEMPLATES, Verdict.SUCCESS
    ), got
    assert got["ttft-p95"][1] == pytest.approx(HEALTHY_TTFT_P95[engine])
    assert got["itl-p95"][1] == pytest.approx(0.025 + 0.95 * 0.025)  # 0.03 s in (0.025, 0.05]
    assert got["error-rate"][1] == 0.0, "a canary that never failed has ratio 0, not no data"
    assert got["queue-depth"][1] == 1.0


@pytest.mark.parametrize("engine", ENGINES)
def test_a_slow_revision_fails_ttft_only(prometheus: LoopbackPrometheus, engine: str) -> None:
    got = wait_measured(prometheus, engine, "slow")
    assert got["ttft-p95"][0] == Verdict.FAILURE and got["ttft-p95"][1] == pytest.approx(
        SLOW_TTFT_P95[engine]
    )
    assert {name: verdict for name, (verdict, _) in got.items() if name != "ttft-p95"} == dict.fromkeys(
        ("itl-p95", "error-rate", "queue-depth"), Verdict.SUCCESS
    ), got


@pytest.mark.parametrize("engine", ENGINES)
def test_a_failing_revision_fails_the_error_rate_only(prometheus: LoopbackPrometheus, engine: str) -> None:
    got = wait_measured(prometheus, engine, "failing")
    assert got["error-rate"][0] == Verdict.FAILURE and got["error-rate"][1] == pytest.approx(0.1, rel=0.01), (
        got
    )  # counters have 3 decimals
    assert {name: verdict for name, (verdict, _) in got.items() if name != "error-rate"} == dict.fromkeys(
        ("ttft-p95", "itl-p95", "queue-depth"), Verdict.SUCCESS
    ), got


@pytest.mark.parametrize("engine", ENGINES)
def test_a_revision_without_requests_is_inconclusive(prometheus: LoopbackPrometheus, engine: str) -> None:
    wait_measured(prometheus, engine, "good")  # by now the idle pod has been scraped as often
    assert {verdict for verdict, _ in measure(prometheus, engine, "idle").values()} == {Verdict.INCONCLUSIVE}
