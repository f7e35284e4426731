"""Built-in analysis templates: PromQL per engine for TTFT p95, inter-token latency p95, error
ratio and queue depth, selecting the canary's pods by revision.

Selecting the canary
--------------------
Every pod carries the label ``modelfleet.io/revision``. Prometheus only sees it when the scrape
config copies it onto the series, as label ``modelfleet_io_revision`` (Prometheus label names cannot
hold ``.`` or ``/``, so they become ``_``):

* prometheus-operator: ``PodMonitor``/``ServiceMonitor`` with
  ``podTargetLabels: [modelfleet.io/revision]`` (the operator sanitises the name), plus the
  ``namespace`` label it adds to every target;
* plain ``kubernetes_sd_configs`` (role ``pod``): relabel
  ``__meta_kubernetes_pod_label_modelfleet_io_revision`` -> ``modelfleet_io_revision`` and
  ``__meta_kubernetes_namespace`` -> ``namespace``.

The selector is ``modelfleet_io_revision="{{revision}}",namespace="{{namespace}}"``.

Too few requests
----------------
A p95 over a handful of requests is noise. Every built-in query ends with
``and on() (<requests in the window> >= MIN_REQUESTS)``, so with fewer requests Prometheus returns
no data and the verdict is *inconclusive* (the step holds, bounded by the progress deadline).

Metric names: :mod:`modelfleet.catalog.engine_metrics`, their one home (the autoscaler reads them too).
"""

from __future__ import annotations

from modelfleet.api import AnalysisTemplate, RolloutSpec
from modelfleet.catalog.engine_metrics import ENGINE_METRICS, histogram_p95, ttft_p95
from modelfleet.catalog.types import Engine

SELECTOR = 'modelfleet_io_revision="{{revision}}",namespace="{{namespace}}"'
WINDOW = "5m"  # long enough for a p95 at modest traffic, short enough to see a bad canary quickly
MIN_REQUESTS = 20

TTFT_P95_MAX_SECONDS = 2.0
ITL_P95_MAX_SECONDS = 0.2
ERROR_RATE_MAX = 0.05  # ratio 0-1
QUEUE_DEPTH_MAX = 32  # requests waiting in one pod's engine queue


def _p95(histogram: str) -> str:
    return histogram_p95(histogram, SELECTOR, WINDOW)


def _ratio(errors: str, total: str, error_labels: str = "") -> str:
    """errors / total; ``or vector(0)`` because a counter never incremented has no series at all,
    and an empty numerator would turn a clean canary into "no data"."""
    labels = SELECTOR + (f",{error_labels}" if error_labels else "")
    return (
        f"(sum(rate({errors}{{{labels}}}[{WINDOW}])) or vector(0))"
        f" / sum(rate({total}{{{SELECTOR}}}[{WINDOW}]))"
    )


def _queue(gauge: str) -> str:
    return f"max(max_over_time({gauge}{{{SELECTOR}}}[{WINDOW}]))"


def _gated(query: str, request_counter: str) -> str:
    return f"({query}) and on() (sum(increase({request_counter}{{{SELECTOR}}}[{WINDOW}])) >= {MIN_REQUESTS})"


def _itl(engine: Engine) -> str:
    metrics = ENGINE_METRICS[engine]
    query = _p95(metrics.itl_histogram)
    return f"{query} or {_p95(metrics.itl_histogram_legacy)}" if metrics.itl_histogram_legacy else query


def _error_rate(engine: Engine) -> str:
    metrics = ENGINE_METRICS[engine]
    if engine == Engine.VLLM:
        # abort counts too: older releases report engine errors as abort (client cancels as well).
        return _ratio(metrics.requests_total, metrics.requests_total, 'finished_reason=~"error|abort"')
    if engine == Engine.TGI:
        # Validation failures are the client's request, not the canary's fault.
        assert metrics.errors_total is not None
        return _ratio(metrics.errors_total, metrics.requests_total, 'err!="validation"')
    assert metrics.errors_total is not None
    return _ratio(metrics.errors_total, metrics.requests_total)


def _queries(engine: Engine) -> dict[str, str]:
    """name -> query; the minimum-requests gate is added by :func:`builtin_templates`."""
    return {
        "ttft-p95": ttft_p95(engine, SELECTOR, WINDOW),
        "itl-p95": _itl(engine),
        "error-rate": _error_rate(engine),
        "queue-depth": _queue(ENGINE_METRICS[engine].waiting),
    }


_THRESHOLDS = {
    "ttft-p95": TTFT_P95_MAX_SECONDS,
    "itl-p95": ITL_P95_MAX_SECONDS,
    "error-rate": ERROR_RATE_MAX,
    "queue-depth": float(QUEUE_DEPTH_MAX),
}


def builtin_templates(engine: Engine) -> dict[str, AnalysisTemplate]:
    """The four built-ins for an engine, with default thresholds and the minimum-requests gate."""
    return {
        name: AnalysisTemplate(
            name=name, query=_gated(query, ENGINE_METRICS[engine].requests_total), max=_THRESHOLDS[name]
        )
        for name, query in _queries(engine).items()
    }


def resolve_templates(spec: RolloutSpec, engine: Engine) -> dict[str, AnalysisTemplate]:
    """Every template an analysis step may name: built-ins, replaced by a user template of the
    same name (spec.rollout.analysisTemplates)."""
    templates = builtin_templates(engine)
    templates.update({t.name: t for t in spec.analysis_templates})
    return templates


def _label_value(text: str) -> str:
    """A PromQL string literal body: backslash and double quote escaped."""
    return text.replace("\\", "\\\\").replace('"', '\\"')


def render_query(template: AnalysisTemplate, *, revision: str, namespace: str, name: str) -> str:
    """The template's query with ``{{revision}}``, ``{{namespace}}`` and ``{{name}}`` filled in.

    >>> t = AnalysisTemplate(name="x", query='up{modelfleet_io_revision="{{revision}}"}', max=1)
    >>> render_query(t, revision="7f3a", namespace="llm", name="m")
    'up{modelfleet_io_revision="7f3a"}'
    """
    values = {"revision": revision, "namespace": namespace, "name": name}
    query = template.query
    for key, value in values.items():
        query = query.replace("{{" + key + "}}", _label_value(value))
        query = query.replace("{{ " + key + " }}", _label_value(value))
    return query
