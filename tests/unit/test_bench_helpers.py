"""The benchmarks' pure helpers: counting API requests, reading /proc, convergence, statistics, the doc."""

from __future__ import annotations

import doctest
from collections import Counter
from pathlib import Path

from bench import __main__ as bench_main
from bench import audit, doc, kubeapi, operator, procstat, profile, report, stats
from bench.audit import client_name
from bench.kubeapi import delta, request_counts, writes
from bench.operator import reconciles_total
from bench.procstat import parse_cpu_seconds, parse_status_kib
from bench.rollouts import Timeline, step_durations
from bench.stats import median_spread, percentile
from bench.tracker import Progress, Tracker, children_done, converged

METRICS = """\
# HELP apiserver_request_total Counter of apiserver requests
apiserver_request_total{code="201",component="apiserver",dry_run="",group="",resource="events",scope="namespace",subresource="",verb="POST",version="v1"} 7
apiserver_request_total{code="409",component="apiserver",dry_run="",group="",resource="events",scope="namespace",subresource="",verb="POST",version="v1"} 1
apiserver_request_total{code="200",component="apiserver",dry_run="",group="modelfleet.io",resource="modeldeployments",scope="namespace",subresource="status",verb="PATCH",version="v1alpha1"} 3
apiserver_request_total{code="200",component="apiserver",dry_run="",group="coordination.k8s.io",resource="leases",scope="namespace",subresource="",verb="PUT",version="v1"} 40
apiserver_request_total{code="200",component="apiserver",dry_run="",group="apps",resource="deployments",scope="cluster",subresource="",verb="LIST",version="v1"} 2
"""


def test_request_counts_fold_response_codes_and_keep_the_subresource() -> None:
    counts = request_counts(METRICS)
    assert counts[("POST", "events", "")] == 8
    assert counts[("PATCH", "modeldeployments", "status")] == 3


def test_writes_leave_out_reads_and_ignored_resources() -> None:
    counts = request_counts(METRICS)
    assert set(writes(counts, frozenset({"leases"}))) == {
        ("POST", "events", ""),
        ("PATCH", "modeldeployments", "status"),
    }


def test_delta_keeps_only_what_moved() -> None:
    before = Counter({("POST", "events", ""): 5, ("LIST", "pods", ""): 2})
    after = Counter({("POST", "events", ""): 8, ("LIST", "pods", ""): 2})
    assert delta(after, before) == Counter({("POST", "events", ""): 3})


def test_proc_readings_parse_kib_and_clock_ticks() -> None:
    assert parse_status_kib("VmPeak:\t 300 kB\nVmHWM:\t  2048 kB\n", "VmHWM") == 2048
    # A command name with spaces and a parenthesis must not shift the fields.
    assert parse_cpu_seconds("7 (a b) c) R 1 1 1 0 -1 0 0 0 0 0 150 50 0 0", 100) == 2.0


def test_reconciles_total_sums_every_result() -> None:
    text = (
        'modelfleet_reconciles_total{result="ok"} 10.0\n'
        'modelfleet_reconciles_created{result="ok"} 1.7e+09\n'
        'modelfleet_reconciles_total{result="error"} 2.0\n'
    )
    assert reconciles_total(text) == 12


def test_audit_client_names_split_controller_manager_controllers() -> None:
    agent = "kube-controller-manager/v1.36.4 (linux/amd64) kubernetes/6f1f4d8/system:serviceaccount:kube-system:deployment-controller"
    assert (
        client_name(agent)
        == "kube-controller-manager/system:serviceaccount:kube-system:deployment-controller"
    )
    assert client_name("modelfleet") == "modelfleet"


def test_a_model_deployment_converges_only_with_every_child_and_a_current_status() -> None:
    key = ("ns", "m")
    tracker = Tracker([key])
    labels = {"modelfleet.io/name": "m"}
    tracker.on_child("Deployment")(
        "ADDED", {"metadata": {"namespace": "ns", "name": "m-abc", "labels": labels}}, 1.0
    )
    tracker.on_child("Service")(
        "ADDED", {"metadata": {"namespace": "ns", "name": "m-abc", "labels": labels}}, 2.0
    )
    assert children_done(tracker.progress[key]) is None
    tracker.on_child("Service")(
        "ADDED", {"metadata": {"namespace": "ns", "name": "m", "labels": labels}}, 3.0
    )
    assert children_done(tracker.progress[key]) == 3.0
    stale = {
        "metadata": {"namespace": "ns", "name": "m", "generation": 2},
        "status": {"observedGeneration": 1},
    }
    tracker.on_model_deployment("MODIFIED", stale, 4.0)
    assert converged(tracker.progress[key]) is None
    current = {
        "metadata": {"namespace": "ns", "name": "m", "generation": 2},
        "status": {"observedGeneration": 2},
    }
    tracker.on_model_deployment("MODIFIED", current, 5.0)
    assert converged(tracker.progress[key]) == 5.0
    assert tracker.wait(converged, timeout_seconds=1) == 5.0


def test_children_of_unknown_model_deployments_are_ignored() -> None:
    tracker = Tracker([("ns", "m")])
    other = {"metadata": {"namespace": "ns", "name": "x", "labels": {"modelfleet.io/name": "x"}}}
    tracker.on_child("Deployment")("ADDED", other, 1.0)
    assert tracker.progress[("ns", "m")] == Progress()


def test_rollout_steps_are_timed_between_arrivals() -> None:
    line = Timeline(stable_before="old", steps={0: 10.5, 1: 11.0, 2: 21.25}, done_at=23.0)
    assert step_durations(line, started=10.0, pause_seconds=10) == {
        "start": 0.5,
        "setWeight 50": 0.5,
        "pause 10s": 10.25,
        "promote": 1.75,
    }


def test_percentiles_interpolate_and_spread_names_the_runs() -> None:
    assert percentile([0.1, 0.2, 0.3, 10.0], 50) == 0.25
    assert percentile([5.0], 99) == 5.0
    assert median_spread([3.0, 1.0, 2.0], unit=" s") == "2.0 s (1.0-3.0, 3 runs)"


def _results(
    ratio_seconds: float, steady_writes: int, rss_mib: int, events: int = 2, cpu_seconds: float = 20.0
) -> dict:
    """One run of each mode at N = 100 and N = 1,000; the operator posts `events` per ModelDeployment
    beside the 3 of the controllers, writes status twice and applies three children."""

    def run(mode: str, count: int, seconds: float) -> dict:
        operator = mode == "operator"
        return {
            "mode": mode,
            "count": count,
            "seconds": seconds,
            "reconciles": 2 * count,
            "requests": {
                "POST events": (3 + (events if operator else 0)) * count,
                "PATCH modeldeployments/status": 2 * count if operator else 0,
                "APPLY deployments": count,
                "APPLY services": 2 * count,
            },
            "peak_rss_bytes": rss_mib * report.MIB,
            "idle_rss_bytes": 0,
            "cpu_seconds": cpu_seconds * count / 1000 if operator else 0.0,
            "ready_seconds": seconds,
            "pods_ready_seconds": seconds,
            "loadavg_at_start": [0.5, 0.5, 0.5],
            "steady": {
                "seconds": 300,
                "reconciles": 5000,
                "cpu_seconds": 1.0,
                "peak_rss_bytes": 0,
                "writes": {"POST events": steady_writes} if steady_writes else {},
                "requests": {},
            },
        }

    return {
        "converge": [
            run(mode, n, seconds)
            for n in (100, 1000)
            for mode, seconds in (
                ("baseline", 10.0),
                ("baseline-same-work", 12.0),
                ("operator", ratio_seconds),
            )
        ],
        "latency": [
            {"children_seconds": [0.2] * 50, "ready_seconds": [0.5] * 50, "loadavg_at_start": [0.5, 0.5, 0.5]}
        ],
        "planner": [
            {
                "processes": 2,
                "per_cpu_second": 25_000.0,
                "per_wall_second": 24_000.0,
                "loadavg_at_start": [0.5, 0.5, 0.5],
            }
        ],
    }


def test_targets_are_judged_from_the_stored_runs() -> None:
    met = {t.name: t.met for t in report.targets(_results(12.0, 0, 150, events=2, cpu_seconds=15.0))}
    assert all(met.values()), met
    missed = {t.name: t.met for t in report.targets(_results(20.0, 3, 250, events=3, cpu_seconds=40.0))}
    assert missed["converge ratio at N = 1,000, same work"] is False
    assert missed["converge ratio at N = 1,000, SSA only (the first definition)"] is False
    assert missed["steady-state writes"] is False
    assert missed["operator peak RSS at N = 1,000"] is False
    assert missed["Events per ModelDeployment (N = 100 and 1,000)"] is False
    assert missed["operator CPU per ModelDeployment at N = 1,000"] is False


def test_the_cost_table_counts_only_the_operators_events_and_shows_each_floor() -> None:
    table = report.cost_table(_results(12.0, 0, 150, events=2, cpu_seconds=15.0))
    rows = {row[0]: dict(zip(table.header, row, strict=True)) for row in table.rows}
    assert (
        rows["1,000"]["Events (POST + PATCH)"].startswith("2.00")
        and "(floor 1)" in rows["100"]["Events (POST + PATCH)"]
    )
    assert rows["100"]["status writes"].startswith("2.00") and rows["100"]["status writes"].endswith(
        "(floor 1)"
    )
    assert rows["100"]["applies"].startswith("3.00") and rows["100"]["applies"].endswith("(floor 3)")
    assert rows["1,000"]["operator CPU"].startswith("15.0 ms")
    assert rows["1,000"]["converge ratio, same work"].startswith("1.00")


def test_regenerating_the_doc_keeps_the_hand_written_analysis(tmp_path: Path) -> None:
    path = tmp_path / "BENCHMARKS.md"
    doc.write(path, _results(12.0, 0, 150))
    assert doc.PLACEHOLDER in path.read_text()
    path.write_text(path.read_text().replace(doc.PLACEHOLDER, "Events dominate the extra requests."))
    doc.write(path, _results(13.0, 0, 150))
    text = path.read_text()
    assert "Events dominate the extra requests." in text and doc.PLACEHOLDER not in text
    assert "| converge ratio at N = 1,000, same work | <= 1.5 | 1.08 | met |" in text


def test_the_worked_examples_in_the_bench_docstrings_hold() -> None:
    for module in (audit, kubeapi, operator, procstat, profile, stats):
        failures, tried = doctest.testmod(module)
        assert tried > 0 and failures == 0, module.__name__


def test_a_smoke_run_writes_no_results_and_no_doc_unless_told() -> None:
    assert bench_main.output_paths(bench_main.parse_args(["--smoke"])) == (None, None)
    results, document = bench_main.output_paths(bench_main.parse_args([]))
    assert results == bench_main.RESULTS and document == bench_main.DOC
    told = bench_main.output_paths(bench_main.parse_args(["--smoke", "--doc", "/tmp/x.md"]))
    assert told == (None, Path("/tmp/x.md"))
