"""Every query of the Grafana dashboards (docs/dashboards/*.json) runs against a real Prometheus and
returns data of the shape its panel draws, so a renamed metric or label fails here, not on a wall.
The same Prometheus loads the alert rules of the chart and evaluates them on the live series.

The Prometheus scrapes the simulated engines with the plain scrape config of docs/monitoring.md
(read from the page, so the page is tested too) and the operator with `honor_labels`. The fleet:
a vLLM model whose canary holds at 50 % beside its stable revision, an SGLang model whose canary was
aborted, a TGI model, and a model no node can hold. Grafana's variables are filled in the way
Grafana does: `$revision` (All) with every value its own variable query lists.
"""

from __future__ import annotations

import json
import math
import re
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from testbed.prometheus import LoopbackPrometheus
from testbed.wait import wait_for
from tests.e2e.api import Api
from tests.e2e.engine_exporter import FAILING, PodDiscovery
from tests.e2e.helpers import Rig, aborted, canary_md, new_revision, start_stable, wait_status
from tests.integration.kube import apply

pytestmark = pytest.mark.cluster

REPO = Path(__file__).resolve().parents[2]
BOARDS = REPO / "docs" / "dashboards"
RULES = REPO / "charts" / "modelfleet" / "rules"
NS, ABORT_NS = "e2e-dash", "e2e-dash-abort"
ENGINES = ("vllm", "sglang", "tgi")
RATE_INTERVAL = "30s"  # what Grafana's $__rate_interval comes to at a 1 s scrape and a short range
RANGE = "15m"
HELD = [{"setWeight": 50}, {"pause": {}}]  # the canary stays beside the stable until the module ends
ABORTING = [{"setWeight": 25}, {"analysis": {"templates": ["error-rate"]}}]
# Panels an engine has no metric for (docs/monitoring.md says so on the dashboard's behalf).
NOT_EXPORTED = {"vllm": set(), "sglang": {"Preemptions/s"}, "tgi": {"KV-cache usage", "Preemptions/s"}}


def documented_engine_relabelling() -> list[dict[str, Any]]:
    """The `modelfleet-engines` job's relabel_configs from docs/monitoring.md."""
    text = (REPO / "docs" / "monitoring.md").read_text()
    for block in re.findall(r"```yaml\n(.*?)```", text, re.DOTALL):
        config = yaml.safe_load(block)
        if isinstance(config, dict) and "scrape_configs" in config:
            [job] = [j for j in config["scrape_configs"] if j["job_name"] == "modelfleet-engines"]
            return list(job["relabel_configs"])
    raise AssertionError("docs/monitoring.md has no scrape_configs block")


class DashboardPrometheus(LoopbackPrometheus):
    """Engines relabelled as docs/monitoring.md says; the operator scraped as the chart's monitors
    do, with a `namespace` target label of its own that `honor_labels` must not let win."""

    def __init__(self, workdir: Path, operator_port: int) -> None:
        super().__init__(workdir)
        self.operator_port = operator_port

    def config(self) -> dict[str, Any]:
        config = super().config()
        config["rule_files"] = [str(path) for path in sorted(RULES.glob("*.yaml"))]
        config["scrape_configs"][0]["relabel_configs"] = documented_engine_relabelling()
        config["scrape_configs"].append(
            {
                "job_name": "modelfleet-operator",
                "honor_labels": True,
                "static_configs": [
                    {
                        "targets": [f"127.0.0.1:{self.operator_port}"],
                        "labels": {"namespace": "modelfleet-system"},
                    }
                ],
            }
        )
        return config

    def query_at(self, promql: str, at_seconds: float) -> list[dict[str, Any]]:
        params = urllib.parse.urlencode({"query": promql, "time": f"{at_seconds:.3f}"})
        return list(self._get(f"/api/v1/query?{params}")["result"])

    def rules(self) -> list[dict[str, Any]]:
        """Every loaded rule with its health and last error, once each has been evaluated."""
        return [rule for group in self._get("/api/v1/rules")["groups"] for rule in group["rules"]]

    def _get(self, path: str) -> dict[str, Any]:
        with urllib.request.urlopen(f"{self.url}{path}", timeout=5) as response:
            return dict(json.loads(response.read())["data"])


@dataclass(frozen=True)
class Fleet:
    prometheus: DashboardPrometheus
    revisions: dict[str, set[str]]  # model -> its revisions now serving
    weight_changed_at: float  # epoch seconds when the vLLM canary reached 50 %


@pytest.fixture(scope="module")
def fleet(rig: Rig, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fleet]:
    api = Api(rig.cluster)
    prometheus = DashboardPrometheus(tmp_path_factory.mktemp("dashboards"), rig.operator.metrics_port)
    prometheus.start()
    discovery = PodDiscovery(api, {NS, ABORT_NS}, rig.exporter, prometheus).start()
    models = [(NS, "chat"), (ABORT_NS, "code"), (NS, "tgi-chat"), (NS, "huge")]
    try:
        code_stable = start_stable(
            rig, api, ABORT_NS, "code", canary=FAILING, steps=ABORTING, engine="sglang"
        )
        new_revision(rig.cluster, ABORT_NS, "code")
        wait_status(api, ABORT_NS, "code", aborted("AnalysisFailed"), "SGLang canary aborted", timeout=90)
        tgi_stable = start_stable(rig, api, NS, "tgi-chat", engine="tgi")
        # 16 GPUs in one replica of A100s: the fleet has one node of 8.
        apply(rig.cluster, canary_md("huge", NS, gpu="A100", gpus_per_replica=16))
        wait_status(api, NS, "huge", lambda s: s.get("phase") in ("Pending", "Failed"), "not placed")
        chat_stable = start_stable(rig, api, NS, "chat", steps=HELD)
        new_revision(rig.cluster, NS, "chat")
        status = wait_status(
            api, NS, "chat", lambda s: (s.get("rollout") or {}).get("weight") == 50, "canary at 50 %"
        )
        yield Fleet(
            prometheus,
            {
                "chat": {chat_stable, status["revisions"]["canary"]},
                "code": {code_stable},
                "tgi-chat": {tgi_stable},
            },
            time.time(),
        )
    finally:
        discovery.stop()
        prometheus.stop()
        for namespace, name in models:
            rig.cluster.kubectl(
                "delete", "md", name, "-n", namespace, "--wait=true", "--timeout=60s", check=False
            )


# ---- reading the dashboards -------------------------------------------------------------------------
def board(name: str) -> dict[str, Any]:
    return dict(json.loads((BOARDS / name).read_text()))


def targets(dashboard: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    return [(panel["title"], t) for panel in dashboard["panels"] for t in panel["targets"]]


def engine_of(target: dict[str, Any]) -> str | None:
    """The engine a Model dashboard query is for (its legend starts with it); None: the operator's."""
    first = target["legendFormat"].split(" ", 1)[0]
    return first if first in ENGINES else None


def fill(expr: str, variables: dict[str, str]) -> str:
    for name in sorted(variables, key=len, reverse=True):  # $model before $mod...
        expr = expr.replace(f"${name}", variables[name])
    return expr


def variable_values(prometheus: LoopbackPrometheus, definition: str, variables: dict[str, str]) -> set[str]:
    """What Grafana lists for `label_values(SELECTOR, LABEL)`."""
    match = re.fullmatch(r"label_values\((.*), (\w+)\)", fill(definition, variables))
    assert match, definition
    selector, label = match.groups()
    return {r["metric"][label] for r in prometheus.query(f"group by ({label}) ({selector})")}


def model_variables(fleet: Fleet, namespace: str, model: str) -> dict[str, str]:
    """$namespace, $model and $revision (All) as Grafana sets them, each checked against its query."""
    definitions = {v["name"]: v.get("query") for v in board("model.json")["templating"]["list"]}
    variables = {"__rate_interval": RATE_INTERVAL, "__range": RANGE}
    assert namespace in variable_values(fleet.prometheus, definitions["namespace"], variables)
    variables["namespace"] = namespace
    assert model in variable_values(fleet.prometheus, definitions["model"], variables)
    variables["model"] = model
    revisions = wait_for(
        lambda: (
            found
            if (found := variable_values(fleet.prometheus, definitions["revision"], variables))
            >= fleet.revisions[model]
            else None
        ),
        f"revisions of {model} in the $revision variable",
        timeout=60,
    )
    variables["revision"] = "(" + "|".join(sorted(revisions)) + ")"
    return variables


def data(prometheus: LoopbackPrometheus, expr: str, what: str) -> list[dict[str, Any]]:
    """The query's result once it has one (rates need a few scrapes of a new series)."""
    return list(wait_for(lambda: prometheus.query(expr) or None, what, timeout=60))


def assert_numbers(results: list[dict[str, Any]], what: str) -> None:
    for r in results:
        assert math.isfinite(float(r["value"][1])), f"{what}: {r}"


# ---- the Model dashboard ----------------------------------------------------------------------------
MODELS = [("chat", NS, "vllm"), ("code", ABORT_NS, "sglang"), ("tgi-chat", NS, "tgi")]


@pytest.mark.parametrize(("model", "namespace", "engine"), MODELS, ids=[m[2] for m in MODELS])
def test_every_model_panel_draws_each_revision_in_its_engines_metric_names(
    fleet: Fleet, model: str, namespace: str, engine: str
) -> None:
    variables = model_variables(fleet, namespace, model)
    drawn: set[str] = set()
    for title, target in targets(board("model.json")):
        expr = fill(target["expr"], variables)
        what = f"{model} ({engine}) {title} [{target['legendFormat']}]: {expr}"
        if engine_of(target) not in (engine, None):
            assert fleet.prometheus.query(expr) == [], f"another engine's query found data: {what}"
            continue
        results = data(fleet.prometheus, expr, what)
        assert_numbers(results, what)
        if engine_of(target) is None:
            assert {(r["metric"]["namespace"], r["metric"]["name"]) for r in results} == {(namespace, model)}
            continue
        revisions = wait_for(
            lambda expr=expr: (
                found
                if (found := {r["metric"]["modelfleet_io_revision"] for r in fleet.prometheus.query(expr)})
                >= fleet.revisions[model]
                else None
            ),
            f"every serving revision in {what}",
            timeout=60,
        )
        assert revisions <= set(variables["revision"].strip("()").split("|")), what
        drawn.add(title)
    engine_panels = {title for title, t in targets(board("model.json")) if engine_of(t) is not None}
    assert drawn == engine_panels - NOT_EXPORTED[engine]


def test_the_canary_is_drawn_beside_the_stable_revision_with_its_weight(fleet: Fleet) -> None:
    variables = model_variables(fleet, NS, "chat")
    requests = next(
        t for title, t in targets(board("model.json")) if title == "Requests/s" and engine_of(t) == "vllm"
    )
    by_revision = {
        r["metric"]["modelfleet_io_revision"]: float(r["value"][1])
        for r in data(fleet.prometheus, fill(requests["expr"], variables), "requests/s")
    }
    assert set(by_revision) == fleet.revisions["chat"]
    assert all(rate > 0 for rate in by_revision.values()), by_revision
    weight = next(t for title, t in targets(board("model.json")) if title == "Canary weight")
    [result] = data(fleet.prometheus, fill(weight["expr"], variables), "canary weight")
    assert float(result["value"][1]) == 50.0


def test_the_weight_change_is_an_annotation(fleet: Fleet) -> None:
    [annotation] = board("model.json")["annotations"]["list"]
    expr = fill(annotation["expr"], {"namespace": NS, "model": "chat"})
    # Within the annotation's 1-minute window after the change (the test may run later than that).
    at = min(time.time(), fleet.weight_changed_at + 20)
    found = wait_for(
        lambda: fleet.prometheus.query_at(expr, at) or None, "the weight-change annotation", timeout=30
    )
    assert [(r["metric"]["namespace"], r["metric"]["name"]) for r in found] == [(NS, "chat")]


# ---- the Fleet dashboard ----------------------------------------------------------------------------
def test_every_fleet_panel_has_data(fleet: Fleet) -> None:
    variables = {"__rate_interval": RATE_INTERVAL, "__range": RANGE}
    results = {}
    for title, target in targets(board("fleet.json")):
        expr = fill(target["expr"], variables)
        results[title] = data(fleet.prometheus, expr, f"{title}: {expr}")
        assert_numbers(results[title], title)
    not_serving = {(r["metric"]["namespace"], r["metric"]["name"]) for r in results["Not serving"]}
    assert (NS, "huge") in not_serving and (NS, "chat") not in not_serving
    assert (NS, "chat") in {
        (r["metric"]["namespace"], r["metric"]["name"]) for r in results["Canary weights"]
    }
    assert "AnalysisFailed" in {r["metric"]["reason"] for r in results["Canary aborts by reason"]}
    legends = {r["metric"]["gpu_type"] for r in results["GPUs allocated and planned by type"]}
    assert any("H200" in gpu_type for gpu_type in legends), legends
    assert {r["metric"]["result"] for r in results["Reconciles/s by result"]} >= {"ok"}
    assert float(results["Operator instances scraped"][0]["value"][1]) == 1.0


# ---- the alert rules --------------------------------------------------------------------------------
def test_every_alert_rule_evaluates_without_error_on_the_live_series(fleet: Fleet) -> None:
    alerts = {
        rule["alert"]
        for path in RULES.glob("*.yaml")
        for group in yaml.safe_load(path.read_text())["groups"]
        for rule in group["rules"]
    }

    def evaluated() -> list[dict[str, Any]] | None:
        rules = fleet.prometheus.rules()
        # Not yet evaluated: Go's zero time.
        return None if any(r["lastEvaluation"].startswith("0001") for r in rules) else rules

    rules = wait_for(evaluated, "every rule evaluated once", timeout=30)
    assert {r["name"] for r in rules} == alerts
    assert [(r["name"], r["lastError"]) for r in rules if r["health"] != "ok"] == []


def test_a_model_no_node_can_hold_is_caught_by_the_not_ready_alert(fleet: Fleet) -> None:
    def not_ready() -> set[tuple[str, str]]:
        found = fleet.prometheus.query('ALERTS{alertname="ModelFleetModelNotReady"}')
        return {(r["metric"]["namespace"], r["metric"]["name"]) for r in found}

    caught = wait_for(lambda: not_ready() or None, "ModelFleetModelNotReady pending", timeout=30)
    assert (NS, "huge") in caught and (NS, "chat") not in caught
    # The operator is scraped, under the name the alert looks for.
    assert fleet.prometheus.query('ALERTS{alertname="ModelFleetOperatorDown"}') == []
