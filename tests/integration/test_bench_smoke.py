"""The fleet-scale benchmarks stay runnable: ``python -m bench --smoke`` on its own small cluster.

The smoke run starts its own control plane (bench/fleet-smoke.yaml, so the shared session cluster's
GPUs are left alone), runs every scenario with a tiny N and writes no file; no timing is asserted.
"""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

from testbed.cluster import REPO

pytestmark = pytest.mark.cluster

TABLES = (
    "Converge: N ModelDeployments",
    "Cost per ModelDeployment",
    "Latency on an idle operator",
    "API requests, converge of N = 3",
    "Steady state",
    "Operator memory and CPU",
    "Planner throughput",
    "Rollouts: 2 concurrent canaries",
    "Targets (2-core machine)",
)


@pytest.fixture(scope="module")
def smoke_run() -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(
        [sys.executable, "-m", "bench", "--smoke"], cwd=REPO, capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    assert "wrote" not in proc.stderr, "--smoke must not write the doc"
    return proc


@pytest.fixture(scope="module")
def smoke_output(smoke_run: subprocess.CompletedProcess[str]) -> str:
    return smoke_run.stdout


def test_the_smoke_run_reports_each_run_done_with_the_time_left(
    smoke_run: subprocess.CompletedProcess[str],
) -> None:
    counts = re.findall(r"\[(\d+)/(\d+) done, \d+:\d\d elapsed", smoke_run.stderr)
    assert [int(done) for done, _ in counts] == list(range(1, len(counts) + 1)), smoke_run.stderr
    assert {int(total) for _, total in counts} == {len(counts)} and len(counts) == 7, smoke_run.stderr
    assert "about" in smoke_run.stderr.split("[1/7 done", 1)[1].splitlines()[0], (
        "an estimate after the first run"
    )


def test_the_smoke_run_prints_every_table(smoke_output: str) -> None:
    missing = [title for title in TABLES if title not in smoke_output]
    assert not missing, f"missing tables {missing} in:\n{smoke_output}"


def cells(output: str, title: str, first: str) -> list[str]:
    """The cells of the row starting with ``first`` in the table titled ``title`` (columns: 2+ spaces)."""
    table = output.split(title, 1)[1].split("\n\n", 1)[0]
    row = next(line for line in table.splitlines() if line.startswith(first))
    return [c.strip() for c in row.split("  ") if c.strip()]


def test_the_smoke_run_measures_the_same_work_baseline_and_each_floor(smoke_output: str) -> None:
    same_work = cells(smoke_output, "Converge: N ModelDeployments", "3 ")[4]
    assert same_work.endswith("s (1 run)"), same_work
    events, status, applies = cells(smoke_output, "Cost per ModelDeployment", "3 ")[1:4]
    # The children's floor is what the baseline applies: a Deployment, two Services, a PodDisruptionBudget.
    assert events.endswith("(floor 1)") and status.endswith("(floor 1)") and applies.endswith("(floor 4)")
    assert float(status.split()[0]) <= 2, f"more than planned + Ready: {status}"
    assert float(events.split()[0]) <= 2, (
        f"the operator's own Events: PlanFeasible, RolloutComplete: {events}"
    )


def test_the_smoke_run_measures_both_the_operator_and_the_baseline(smoke_output: str) -> None:
    operator, baseline, ratio = cells(smoke_output, "Converge: N ModelDeployments", "3 ")[1:4]
    assert operator.endswith("(1 run)") and baseline.endswith("(1 run)")
    assert float(ratio.split()[0]) > 0


def test_the_smoke_run_counts_steady_state_writes_and_api_requests(smoke_output: str) -> None:
    assert cells(smoke_output, "Steady state", "3 ")[3].split()[0].isdigit()
    status_patches = cells(smoke_output, "API requests, converge of N = 3", "PATCH modeldeployments/status")
    assert int(status_patches[1]) >= 3, "every ModelDeployment got at least one status write"
