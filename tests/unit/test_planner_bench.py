"""The throughput benchmark stays runnable (a tiny run, no timing asserted)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[2] / "bench" / "plan_throughput.py"


def test_plan_throughput_benchmark_runs_a_tiny_mix() -> None:
    spec = importlib.util.spec_from_file_location("plan_throughput", BENCH)
    assert spec is not None and spec.loader is not None
    bench = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = bench  # dataclasses look their module up by name
    spec.loader.exec_module(bench)
    assert len(bench.workload()) > 100
    result = bench.run(max_plans=50)
    assert result.plans == 50 and 0 < result.feasible <= 50
