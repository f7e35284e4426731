"""Writes ModelFleet's Grafana dashboards (Fleet, Model) as JSON into docs/dashboards/ and the chart.

Built with grafana-foundation-sdk (Grafana Labs' generated builders for the dashboard schema), a
dev dependency: the operator never imports it. `--check` exits 1 when a written file differs from
what would be generated (tests/unit/test_dashboards.py runs the same comparison).

Every query selects engine series by the labels the chart's PodMonitor (and the plain scrape config
in docs/monitoring.md) copies from the pod: `namespace`, `modelfleet_io_name` and
`modelfleet_io_revision`. The operator's own series carry `namespace` and `name` where they are per
ModelDeployment. Engine metric names are those of analysis/templates.py, plus throughput, KV cache
and preemption names from each engine's metrics module.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from grafana_foundation_sdk.builders import common, dashboard, prometheus, stat, timeseries
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models.common import LegendDisplayMode, LegendPlacement
from grafana_foundation_sdk.models.dashboard import DataSourceRef, VariableRefresh

REPO = Path(__file__).resolve().parents[1]
OUTPUTS = (REPO / "docs" / "dashboards", REPO / "charts" / "modelfleet" / "dashboards")
DATASOURCE = DataSourceRef(type_val="prometheus", uid="${datasource}")
RATE = "$__rate_interval"
PREFILL = 'method="prefill"'
QUANTILES = (0.5, 0.95, 0.99)

# ---- engines ----------------------------------------------------------------------------------------
ENGINE_SELECTOR = 'namespace="$namespace",modelfleet_io_name="$model",modelfleet_io_revision=~"$revision"'
BY_REVISION = "sum by (modelfleet_io_revision)"


@dataclass(frozen=True)
class EngineMetrics:
    """One engine's metric names; None where the engine exports no such metric."""

    engine: str
    requests: str  # counter of finished requests
    errors: str  # the failed ones (with its label matcher, if any)
    ttft: str | None  # histogram of time to first token, seconds
    itl: str  # histogram of inter-token latency, seconds
    tokens_in: str  # counter of prompt tokens (or the _sum of a per-request histogram)
    tokens_out: str
    queue: str  # gauge: requests waiting
    kv_cache: str | None  # gauge: fraction 0-1 of the KV cache in use
    preemptions: str | None  # counter


ENGINES = (
    EngineMetrics(
        engine="vllm",
        requests="vllm:request_success_total",
        errors='vllm:request_success_total{finished_reason=~"error|abort",__SEL__}',
        ttft="vllm:time_to_first_token_seconds",
        itl="vllm:inter_token_latency_seconds",
        tokens_in="vllm:prompt_tokens_total",
        tokens_out="vllm:generation_tokens_total",
        queue="vllm:num_requests_waiting",
        kv_cache="vllm:kv_cache_usage_perc",
        preemptions="vllm:num_preemptions_total",
    ),
    EngineMetrics(
        engine="sglang",
        requests="sglang:num_requests_total",
        errors="sglang:num_aborted_requests_total{__SEL__}",
        ttft="sglang:time_to_first_token_seconds",
        itl="sglang:inter_token_latency_seconds",
        tokens_in="sglang:prompt_tokens_total",
        tokens_out="sglang:generation_tokens_total",
        queue="sglang:num_queue_reqs",
        kv_cache="sglang:token_usage",
        preemptions=None,
    ),
    EngineMetrics(
        engine="tgi",
        requests="tgi_request_count",
        errors='tgi_request_failure{err!="validation",__SEL__}',
        ttft=None,  # TGI has no TTFT histogram: its queue + prefill panel stands in
        itl="tgi_request_mean_time_per_token_duration",
        tokens_in="tgi_request_input_length_sum",
        tokens_out="tgi_request_generated_tokens_sum",
        queue="tgi_queue_size",
        kv_cache=None,
        preemptions=None,
    ),
)


def sel(metric: str) -> str:
    """`metric` restricted to the chosen ModelDeployment and revisions."""
    if "__SEL__" in metric:
        return metric.replace("__SEL__", ENGINE_SELECTOR)
    return f"{metric}{{{ENGINE_SELECTOR}}}"


def rate_by_revision(metric: str) -> str:
    return f"{BY_REVISION} (rate({sel(metric)}[{RATE}]))"


def quantile_by_revision(q: float, histogram: str, extra: str = "") -> str:
    labels = ENGINE_SELECTOR + (f",{extra}" if extra else "")
    return (
        f"histogram_quantile({q}, sum by (le, modelfleet_io_revision) "
        f"(rate({histogram}_bucket{{{labels}}}[{RATE}])))"
    )


def query(expr: str, legend: str, ref_id: str) -> prometheus.Dataquery:
    return prometheus.Dataquery().expr(expr).legend_format(legend).ref_id(ref_id).datasource(DATASOURCE)


def ref(n: int) -> str:
    return chr(ord("A") + n) if n < 26 else f"A{n}"


def series_panel(title: str, unit: str, queries: list[tuple[str, str]], description: str = "") -> Any:
    """A time series panel with one query per (expression, legend)."""
    # A table legend with the last and the highest value, so a canary's spike reads at a glance.
    legend = (
        common.VizLegendOptions()
        .display_mode(LegendDisplayMode.TABLE)
        .placement(LegendPlacement.BOTTOM)
        .show_legend(True)
        .calcs(["lastNotNull", "max"])
    )
    panel = (
        timeseries.Panel().title(title).unit(unit).datasource(DATASOURCE).height(8).span(12).legend(legend)
    )
    if description:
        panel = panel.description(description)
    for n, (expr, legend) in enumerate(queries):
        panel = panel.with_target(query(expr, legend, ref(n)))
    return panel


def per_engine(metric_of: str, build: Any) -> list[tuple[str, str]]:
    """(expression, legend) for each engine that has the metric `metric_of`."""
    found = []
    for engine in ENGINES:
        name = getattr(engine, metric_of)
        if name is not None:
            found.append((build(name), f"{engine.engine} {{{{modelfleet_io_revision}}}}"))
    return found


def latency_queries(metric_of: str) -> list[tuple[str, str]]:
    found = []
    for q in QUANTILES:
        for engine in ENGINES:
            name = getattr(engine, metric_of)
            if name is not None:
                found.append(
                    (
                        quantile_by_revision(q, name),
                        f"{engine.engine} p{round(q * 100)} {{{{modelfleet_io_revision}}}}",
                    )
                )
    return found


def tgi_ttft_queries() -> list[tuple[str, str]]:
    """TGI: queue time + prefill batch time, per quantile (an upper bound of its TTFT)."""
    return [
        (
            f"{quantile_by_revision(q, 'tgi_request_queue_duration')} + on (modelfleet_io_revision) "
            f"{quantile_by_revision(q, 'tgi_batch_inference_duration', PREFILL)}",
            f"tgi p{round(q * 100)} {{{{modelfleet_io_revision}}}}",
        )
        for q in QUANTILES
    ]


def error_ratio(engine: EngineMetrics) -> str:
    """Failed / all requests; `or 0 *` keeps a clean revision at 0 instead of "no data"."""
    total = rate_by_revision(engine.requests)
    return f"({rate_by_revision(engine.errors)} or 0 * {total}) / {total}"


OPERATOR_SELECTOR = 'namespace="$namespace",name="$model"'


def engine_panels() -> list[Any]:
    """The engines' panels: one query per engine that exports the metric, one series per revision."""
    tokens = [
        (rate_by_revision(e.tokens_in), f"{e.engine} in {{{{modelfleet_io_revision}}}}") for e in ENGINES
    ] + [(rate_by_revision(e.tokens_out), f"{e.engine} out {{{{modelfleet_io_revision}}}}") for e in ENGINES]
    return [
        series_panel("Requests/s", "reqps", per_engine("requests", rate_by_revision)),
        series_panel(
            "Error ratio",
            "percentunit",
            [(error_ratio(e), f"{e.engine} {{{{modelfleet_io_revision}}}}") for e in ENGINES],
            "vLLM: finished_reason error or abort; SGLang: aborted; TGI: failures other than validation.",
        ),
        series_panel(
            "Time to first token",
            "s",
            latency_queries("ttft") + tgi_ttft_queries(),
            "TGI has no TTFT histogram: queue time + prefill batch time bounds it from above.",
        ),
        series_panel("Inter-token latency", "s", latency_queries("itl")),
        series_panel("Tokens/s in and out", "short", tokens),
        series_panel(
            "Queue depth",
            "short",
            per_engine("queue", lambda m: f"{BY_REVISION} ({sel(m)})"),
            "Requests waiting in the engine's queue, summed over the revision's pods.",
        ),
        series_panel(
            "KV-cache usage",
            "percentunit",
            per_engine("kv_cache", lambda m: f"max by (modelfleet_io_revision) ({sel(m)})"),
            "The fullest pod of each revision. TGI exports no KV-cache gauge.",
        ),
        series_panel(
            "Preemptions/s",
            "short",
            per_engine("preemptions", rate_by_revision),
            "vLLM only: SGLang and TGI export no preemption counter.",
        ),
    ]


def rollout_panels() -> list[Any]:
    """ModelFleet's own view of the same ModelDeployment."""
    return [
        series_panel(
            "Canary weight",
            "percent",
            [(f"modelfleet_canary_weight_percent{{{OPERATOR_SELECTOR}}}", "canary weight")],
            "Percent of traffic the canary revision gets (ModelFleet's own metric).",
        ),
        series_panel(
            "Rollout phase",
            "short",
            [(f"modelfleet_rollout_phase{{{OPERATOR_SELECTOR}}} == 1", "{{phase}}")],
        ),
    ]


def model_dashboard() -> dashboard.Dashboard:
    weight_changes = (
        dashboard.AnnotationQuery()
        .name("Canary weight changes")
        .datasource(DATASOURCE)
        .enable(True)
        .icon_color("orange")
        .expr(f"changes(modelfleet_canary_weight_percent{{{OPERATOR_SELECTOR}}}[1m]) > 0")
    )
    builder = (
        dashboard.Dashboard("ModelFleet / Model")
        .uid("modelfleet-model")
        .tags(["modelfleet"])
        .description("One ModelDeployment per revision and engine: the canary beside the stable revision.")
        .refresh("30s")
        .time("now-3h", "now")
        .with_variable(datasource_variable())
        .with_variable(label_variable("namespace", "label_values(modelfleet_rollout_phase, namespace)"))
        .with_variable(
            label_variable("model", 'label_values(modelfleet_rollout_phase{namespace="$namespace"}, name)')
        )
        .with_variable(
            label_variable(
                "revision",
                'label_values(up{namespace="$namespace",modelfleet_io_name="$model"}, modelfleet_io_revision)',
                every=True,
            )
        )
        .annotation(weight_changes)
    )
    for panel in engine_panels() + rollout_panels():
        builder = builder.with_panel(panel)
    return builder.build()


# ---- fleet ------------------------------------------------------------------------------------------
def stat_panel(title: str, expr: str, legend: str, description: str = "") -> Any:
    panel = (
        stat.Panel()
        .title(title)
        .datasource(DATASOURCE)
        .height(6)
        .span(6)
        .with_target(query(expr, legend, "A"))
        .reduce_options(common.ReduceDataOptions().calcs(["lastNotNull"]).values(False))
    )
    return panel.description(description) if description else panel


def fleet_panels() -> list[Any]:
    """Headline numbers, then GPUs, phases and canaries over time."""
    return [
        stat_panel(
            "Operator instances scraped",
            "count(modelfleet_reconcile_duration_seconds_count)",
            "instances",
            "0 or no data: the operator is down or not scraped (alert ModelFleetOperatorDown).",
        ),
        stat_panel(
            "Not serving (Pending or Failed)",
            'count(modelfleet_rollout_phase{phase=~"Pending|Failed"} == 1)',
            "models",
            "Pending: no plan or pods not scheduled. Failed: invalid spec, no feasible plan, licence refused.",
        ),
        stat_panel("Canaries in flight", "count(modelfleet_canary_weight_percent > 0)", "canaries"),
        stat_panel(
            "Canary aborts (range)",
            "sum(increase(modelfleet_rollout_aborts_total[$__range]))",
            "aborts",
        ),
        series_panel(
            "GPUs allocated and planned by type",
            "short",
            [
                ("sum by (gpu_type) (modelfleet_gpus_allocated)", "allocated {{gpu_type}}"),
                ("sum by (gpu_type) (modelfleet_gpus_planned)", "planned {{gpu_type}}"),
            ],
            "Planned: GPUs per replica x replicas over every plan. Allocated: GPUs held by bound pods.",
        ),
        series_panel(
            "Models by phase",
            "short",
            [("sum by (phase) (modelfleet_modeldeployments)", "{{phase}}")],
        ),
        series_panel(
            "Models by namespace and phase",
            "short",
            [("sum by (namespace, phase) (modelfleet_rollout_phase)", "{{namespace}} {{phase}}")],
        ),
        series_panel(
            "Not serving",
            "short",
            [('modelfleet_rollout_phase{phase=~"Pending|Failed"} == 1', "{{namespace}}/{{name}} {{phase}}")],
            "Each ModelDeployment that is Pending (plan not placed) or Failed (`kubectl describe md` says why).",
        ),
        series_panel(
            "Canary weights",
            "percent",
            [("modelfleet_canary_weight_percent > 0", "{{namespace}}/{{name}}")],
        ),
        series_panel(
            "Canary aborts by reason",
            "short",
            [(f"sum by (reason) (increase(modelfleet_rollout_aborts_total[{RATE}]))", "{{reason}}")],
        ),
    ]


def operator_panels() -> list[Any]:
    """The operator's own health."""
    reconcile_total = f"sum(rate(modelfleet_reconciles_total[{RATE}]))"
    return [
        series_panel(
            "Reconciles/s by result",
            "ops",
            [(f"sum by (result) (rate(modelfleet_reconciles_total[{RATE}]))", "{{result}}")],
        ),
        series_panel(
            "Reconcile errors/s",
            "ops",
            [
                (
                    f'sum(rate(modelfleet_reconciles_total{{result="error"}}[{RATE}])) or 0 * {reconcile_total}',
                    "errors",
                )
            ],
            "Reconciles that raised (the operator retries them); `invalid` specs are not errors.",
        ),
        series_panel(
            "Reconcile latency",
            "s",
            [
                (
                    f"histogram_quantile({q}, sum by (le) "
                    f"(rate(modelfleet_reconcile_duration_seconds_bucket[{RATE}])))",
                    f"p{round(q * 100)}",
                )
                for q in QUANTILES
            ],
        ),
    ]


def fleet_dashboard() -> dashboard.Dashboard:
    builder = (
        dashboard.Dashboard("ModelFleet / Fleet")
        .uid("modelfleet-fleet")
        .tags(["modelfleet"])
        .description("Every ModelDeployment: GPUs, phases, canaries, and the operator's own health.")
        .refresh("30s")
        .time("now-6h", "now")
        .with_variable(datasource_variable())
    )
    for panel in fleet_panels() + operator_panels():
        builder = builder.with_panel(panel)
    return builder.build()


# ---- variables and output ---------------------------------------------------------------------------
def datasource_variable() -> Any:
    return dashboard.DatasourceVariable("datasource").label("Prometheus").type("prometheus")


def label_variable(name: str, definition: str, every: bool = False) -> Any:
    variable = (
        dashboard.QueryVariable(name)
        .label(name.capitalize())
        .datasource(DATASOURCE)
        .query(definition)
        .refresh(VariableRefresh.ON_TIME_RANGE_CHANGED)
    )
    return variable.multi(True).include_all(True) if every else variable


DASHBOARDS = {"fleet.json": fleet_dashboard, "model.json": model_dashboard}


def render(build: Any) -> str:
    return json.dumps(build(), cls=JSONEncoder, indent=2, sort_keys=True) + "\n"


def generated() -> dict[str, str]:
    """File name -> JSON text, for every dashboard."""
    return {name: render(build) for name, build in DASHBOARDS.items()}


def drifted() -> list[Path]:
    """Written files that differ from what would be generated (or are missing)."""
    files = generated()
    return [
        folder / name
        for folder in OUTPUTS
        for name, text in files.items()
        if not (folder / name).exists() or (folder / name).read_text() != text
    ]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if a written dashboard is out of date")
    args = parser.parse_args()
    if args.check:
        stale = drifted()
        for path in stale:
            print(f"out of date: {path.relative_to(REPO)} (run hack/gen_dashboards.py)", file=sys.stderr)
        return 1 if stale else 0
    for folder in OUTPUTS:
        folder.mkdir(parents=True, exist_ok=True)
        for name, text in generated().items():
            (folder / name).write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
