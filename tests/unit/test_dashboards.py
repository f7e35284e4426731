"""The Grafana dashboards: the JSON in docs/dashboards/ and the chart is what hack/gen_dashboards.py
generates, and every panel query is valid PromQL once Grafana's variables are filled in.
Each query is also run against a real Prometheus in tests/e2e/test_dashboards.py."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path
from typing import Any

import promql_parser
import pytest

REPO = Path(__file__).resolve().parents[2]
DASHBOARDS = sorted((REPO / "docs" / "dashboards").glob("*.json"))
# What Grafana puts in place of its variables, for parsing only.
VARIABLES = {
    "$__rate_interval": "1m",
    "$__range": "1h",
    "$namespace": "llm",
    "$model": "chat",
    "$revision": "r1|r2",
}


def generator() -> Any:
    spec = importlib.util.spec_from_file_location("gen_dashboards", REPO / "hack" / "gen_dashboards.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def substitute(expr: str) -> str:
    for name, value in VARIABLES.items():
        expr = expr.replace(name, value)
    return expr


def queries(board: dict[str, Any]) -> list[str]:
    found = [t["expr"] for panel in board["panels"] for t in panel.get("targets") or []]
    found += [a["expr"] for a in (board.get("annotations") or {}).get("list", []) if "expr" in a]
    return found


def test_written_dashboards_are_what_the_generator_makes() -> None:
    assert generator().drifted() == [], "run .venv/bin/python hack/gen_dashboards.py"


def test_the_chart_ships_the_same_dashboards_as_the_docs() -> None:
    chart = REPO / "charts" / "modelfleet" / "dashboards"
    assert [p.name for p in DASHBOARDS] == ["fleet.json", "model.json"]
    for path in DASHBOARDS:
        assert (chart / path.name).read_text() == path.read_text()


@pytest.mark.parametrize("path", DASHBOARDS, ids=lambda p: p.stem)
def test_every_query_is_valid_promql_with_its_variables_filled_in(path: Path) -> None:
    board = json.loads(path.read_text())
    exprs = queries(board)
    assert exprs
    for expr in exprs:
        promql_parser.parse(substitute(expr))
        assert "$" not in substitute(expr), f"a variable the dashboard does not define: {expr}"


@pytest.mark.parametrize("path", DASHBOARDS, ids=lambda p: p.stem)
def test_every_panel_reads_the_dashboards_prometheus_variable(path: Path) -> None:
    board = json.loads(path.read_text())
    names = [v["name"] for v in board["templating"]["list"]]
    assert names[0] == "datasource"
    for panel in board["panels"]:
        assert panel["datasource"]["uid"] == "${datasource}", panel["title"]
        assert panel["targets"], panel["title"]


def test_the_model_dashboard_draws_every_revision_of_one_model() -> None:
    board = json.loads((REPO / "docs" / "dashboards" / "model.json").read_text())
    variables = {v["name"]: v for v in board["templating"]["list"]}
    assert variables["revision"]["multi"] and variables["revision"]["includeAll"]
    engine_queries = [q for q in queries(board) if "modelfleet_io_revision" in q]
    assert engine_queries
    for expr in engine_queries:
        assert 'modelfleet_io_revision=~"$revision"' in expr and 'modelfleet_io_name="$model"' in expr
