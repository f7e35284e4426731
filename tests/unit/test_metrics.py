"""The fleet gauges kept per change equal a recount of every ModelDeployment's last record."""

from __future__ import annotations

import random
import re
from pathlib import Path

from modelfleet.reconcile.metrics import OperatorMetrics


def samples(metrics: OperatorMetrics, name: str, label: str) -> dict[str, float]:
    return {
        s.labels[label]: s.value
        for family in metrics.registry.collect()
        if family.name == name
        for s in family.samples
    }


def test_fleet_gauges_follow_records_and_forgets() -> None:
    rng = random.Random(7)
    metrics = OperatorMetrics()
    fleet: dict[tuple[str, str], tuple[str, str | None, int]] = {}
    for _ in range(2000):
        key = ("ns", f"m{rng.randrange(30)}")
        if rng.random() < 0.1:
            metrics.forget(key)
            fleet.pop(key, None)
        else:
            entry = (
                rng.choice(["Pending", "Progressing", "Healthy", "Degraded"]),
                rng.choice([None, "L4", "H100-80GB"]),
                rng.randrange(0, 9),
            )
            metrics.record(key, *entry, canary_weight=None)
            fleet[key] = entry
        phases: dict[str, float] = {}
        planned: dict[str, float] = {}
        for phase, gpu, gpus in fleet.values():
            phases[phase] = phases.get(phase, 0) + 1
            if gpu and gpus:
                planned[gpu] = planned.get(gpu, 0) + gpus
        assert samples(metrics, "modelfleet_modeldeployments", "phase") == phases
        assert {
            k: v for k, v in samples(metrics, "modelfleet_gpus_planned", "gpu_type").items() if v
        } == planned


def test_every_registered_metric_is_in_the_operator_docs_table() -> None:
    """docs/operator.md's metrics table lists exactly what the operator exports."""
    doc = (Path(__file__).resolve().parents[2] / "docs" / "operator.md").read_text()
    table = doc.split("## Metrics", 1)[1].split("\n## ", 1)[0]
    documented = set(re.findall(r"^\| `(modelfleet_\w+)`", table, flags=re.MULTILINE))
    # prometheus_client names a counter's family without _total; the exported series carries it.
    registered = {
        family.name + ("_total" if family.type == "counter" else "")
        for family in OperatorMetrics().registry.collect()
    }
    assert registered == documented


def passes(metrics: OperatorMetrics) -> dict[tuple[str, str], float]:
    return {
        (s.labels["namespace"], s.labels["name"]): s.value
        for family in metrics.registry.collect()
        if family.name == "modelfleet_modeldeployment_passes"
        for s in family.samples
        if s.name == "modelfleet_modeldeployment_passes_total"
    }


def test_passes_are_counted_per_object_until_it_is_forgotten() -> None:
    metrics = OperatorMetrics()
    for key in [("a", "m"), ("a", "m"), ("b", "m")]:
        metrics.passed(key)
    assert passes(metrics) == {("a", "m"): 2, ("b", "m"): 1}
    metrics.forget(("a", "m"))
    assert passes(metrics) == {("b", "m"): 1}
