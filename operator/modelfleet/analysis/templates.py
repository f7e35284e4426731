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

Metric names, verified against each engine's source:

* vLLM ``vllm/v1/metrics/loggers.py``: histograms ``vllm:time_to_first_token_seconds``,
  ``vllm:inter_token_latency_seconds`` (older releases: ``vllm:time_per_output_token_seconds``;
  releases in between emit both, identical), gauge ``vllm:num_requests_waiting``, counter
  ``vllm:request_success_total`` labelled ``finished_reason`` in stop | length | abort | error |
  repetition (``vllm/v1/engine/__init__.py`` FinishReason; every finished request is counted).
* SGLang ``python/sglang/srt/metrics/collector.py``: histograms
  ``sglang:time_to_first_token_seconds``, ``sglang:inter_token_latency_seconds`` (older:
  ``sglang:time_per_output_token_seconds``), gauge ``sglang:num_queue_reqs``, counters
  ``sglang:num_requests_total``, ``sglang:num_aborted_requests_total``.
* TGI ``router/src/server.rs``, ``backends/v3/src/{backend,queue}.rs``, ``docs/source/reference/
  metrics.md``: histograms ``tgi_request_queue_duration``, ``tgi_batch_inference_duration``
  (label ``method`` prefill | decode), ``tgi_request_mean_time_per_token_duration``; counters
  ``tgi_request_count``, ``tgi_request_success``, ``tgi_request_failure`` (label ``err``); gauge
  ``tgi_queue_size``. TGI's exporter (metrics-exporter-prometheus 0.15) adds no ``_total`` suffix,
  and every ``*duration`` histogram gets buckets, so ``_bucket`` series exist.
"""

from __future__ import annotations

from modelfleet.api import AnalysisTemplate, RolloutSpec
from modelfleet.catalog.types import Engine

SELECTOR = 'modelfleet_io_revision="{{revision}}",namespace="{{namespace}}"'
WINDOW = "5m"  # long enough for a p95 at modest traffic, short enough to see a bad canary quickly
MIN_REQUESTS = 20

TTFT_P95_MAX_SECONDS = 2.0
ITL_P95_MAX_SECONDS = 0.2
ERROR_RATE_MAX = 0.05  # ratio 0-1
QUEUE_DEPTH_MAX = 32  # requests waiting in one pod's engine queue


def _p95(histogram: str, extra_labels: str = "") -> str:
    labels = SELECTOR + (f",{extra_labels}" if extra_labels else "")
    return f"histogram_quantile(0.95, sum by (le) (rate({histogram}_bucket{{{labels}}}[{WINDOW}])))"


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


_VLLM_REQUESTS = "vllm:request_success_total"
_SGLANG_REQUESTS = "sglang:num_requests_total"
_TGI_REQUESTS = "tgi_request_count"
_PREFILL = 'method="prefill"'

# name -> (query, request counter used for the minimum-requests gate)
_QUERIES: dict[Engine, dict[str, tuple[str, str]]] = {
    Engine.VLLM: {
        "ttft-p95": (_p95("vllm:time_to_first_token_seconds"), _VLLM_REQUESTS),
        "itl-p95": (
            f"{_p95('vllm:inter_token_latency_seconds')} or {_p95('vllm:time_per_output_token_seconds')}",
            _VLLM_REQUESTS,
        ),
        # abort counts too: older releases report engine errors as abort (client cancels as well).
        "error-rate": (
            _ratio(_VLLM_REQUESTS, _VLLM_REQUESTS, 'finished_reason=~"error|abort"'),
            _VLLM_REQUESTS,
        ),
        "queue-depth": (_queue("vllm:num_requests_waiting"), _VLLM_REQUESTS),
    },
    Engine.SGLANG: {
        "ttft-p95": (_p95("sglang:time_to_first_token_seconds"), _SGLANG_REQUESTS),
        "itl-p95": (
            f"{_p95('sglang:inter_token_latency_seconds')} or {_p95('sglang:time_per_output_token_seconds')}",
            _SGLANG_REQUESTS,
        ),
        "error-rate": (_ratio("sglang:num_aborted_requests_total", _SGLANG_REQUESTS), _SGLANG_REQUESTS),
        "queue-depth": (_queue("sglang:num_queue_reqs"), _SGLANG_REQUESTS),
    },
    Engine.TGI: {
        # TGI has no TTFT histogram: queue time p95 + prefill batch p95 approximates it from above.
        "ttft-p95": (
            f"{_p95('tgi_request_queue_duration')} + on() {_p95('tgi_batch_inference_duration', _PREFILL)}",
            _TGI_REQUESTS,
        ),
        "itl-p95": (_p95("tgi_request_mean_time_per_token_duration"), _TGI_REQUESTS),
        # Validation failures are the client's request, not the canary's fault.
        "error-rate": (_ratio("tgi_request_failure", _TGI_REQUESTS, 'err!="validation"'), _TGI_REQUESTS),
        "queue-depth": (_queue("tgi_queue_size"), _TGI_REQUESTS),
    },
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
        name: AnalysisTemplate(name=name, query=_gated(query, requests), max=_THRESHOLDS[name])
        for name, (query, requests) in _QUERIES[engine].items()
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
