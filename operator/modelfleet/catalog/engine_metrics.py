"""Each engine's own Prometheus metric names: the one home of them.

The canary analysis templates (:mod:`modelfleet.analysis.templates`) and the autoscaler's triggers
(:mod:`modelfleet.render.autoscaling`) both read them from here.

Verified against each engine's source:

* vLLM ``vllm/v1/metrics/loggers.py``: histograms ``vllm:time_to_first_token_seconds``,
  ``vllm:inter_token_latency_seconds`` (older releases: ``vllm:time_per_output_token_seconds``;
  releases in between emit both, identical), gauges ``vllm:num_requests_waiting``,
  ``vllm:num_requests_running``, ``vllm:kv_cache_usage_perc`` (0-1; releases before v0.10:
  ``vllm:gpu_cache_usage_perc``), counter ``vllm:request_success_total`` labelled
  ``finished_reason`` in stop | length | abort | error | repetition.
* SGLang ``python/sglang/srt/metrics/collector.py``: histograms
  ``sglang:time_to_first_token_seconds``, ``sglang:inter_token_latency_seconds`` (older:
  ``sglang:time_per_output_token_seconds``), gauges ``sglang:num_queue_reqs``,
  ``sglang:num_running_reqs``, ``sglang:token_usage`` (KV-cache tokens in use / capacity, 0-1),
  counters ``sglang:num_requests_total``, ``sglang:num_aborted_requests_total``.
* TGI ``router/src/server.rs``, ``backends/v3/src/{backend,queue}.rs``, ``docs/source/reference/
  metrics.md``: histograms ``tgi_request_queue_duration``, ``tgi_batch_inference_duration``
  (label ``method`` prefill | decode), ``tgi_request_mean_time_per_token_duration``; counters
  ``tgi_request_count``, ``tgi_request_success``, ``tgi_request_failure`` (label ``err``); gauges
  ``tgi_queue_size``, ``tgi_batch_current_size`` (requests in the running batch). TGI exports no
  KV-cache usage. Its exporter (metrics-exporter-prometheus 0.15) adds no ``_total`` suffix, and
  every ``*duration`` histogram gets buckets, so ``_bucket`` series exist.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

from modelfleet.catalog.types import Engine


@dataclass(frozen=True)
class EngineMetrics:
    """One engine's metric names; ``None`` where the engine exports no such metric."""

    requests_total: str  # counter of finished requests (the minimum-requests gate, error ratios)
    waiting: str  # gauge: requests queued, not yet scheduled
    running: str  # gauge: requests in the running batch
    kv_cache_usage: str | None  # gauge 0-1: KV-cache blocks (tokens) in use
    kv_cache_usage_legacy: str | None  # the same gauge under an older release's name
    ttft_histogram: str | None  # time to first token, seconds (no _bucket suffix)
    itl_histogram: str  # inter-token latency, seconds
    itl_histogram_legacy: str | None
    # TGI has no TTFT histogram: queue time + prefill batch time approximate it from above.
    queue_duration_histogram: str | None = None
    batch_duration_histogram: str | None = None
    errors_total: str | None = None  # counter of failed requests, when the engine has its own


ENGINE_METRICS: Mapping[Engine, EngineMetrics] = MappingProxyType(
    {
        Engine.VLLM: EngineMetrics(
            requests_total="vllm:request_success_total",
            waiting="vllm:num_requests_waiting",
            running="vllm:num_requests_running",
            kv_cache_usage="vllm:kv_cache_usage_perc",
            kv_cache_usage_legacy="vllm:gpu_cache_usage_perc",
            ttft_histogram="vllm:time_to_first_token_seconds",
            itl_histogram="vllm:inter_token_latency_seconds",
            itl_histogram_legacy="vllm:time_per_output_token_seconds",
        ),
        Engine.SGLANG: EngineMetrics(
            requests_total="sglang:num_requests_total",
            waiting="sglang:num_queue_reqs",
            running="sglang:num_running_reqs",
            kv_cache_usage="sglang:token_usage",
            kv_cache_usage_legacy=None,
            ttft_histogram="sglang:time_to_first_token_seconds",
            itl_histogram="sglang:inter_token_latency_seconds",
            itl_histogram_legacy="sglang:time_per_output_token_seconds",
            errors_total="sglang:num_aborted_requests_total",
        ),
        Engine.TGI: EngineMetrics(
            requests_total="tgi_request_count",
            waiting="tgi_queue_size",
            running="tgi_batch_current_size",
            kv_cache_usage=None,
            kv_cache_usage_legacy=None,
            ttft_histogram=None,
            itl_histogram="tgi_request_mean_time_per_token_duration",
            itl_histogram_legacy=None,
            queue_duration_histogram="tgi_request_queue_duration",
            batch_duration_histogram="tgi_batch_inference_duration",
            errors_total="tgi_request_failure",
        ),
    }
)


def histogram_p95(histogram: str, selector: str, window: str, extra_labels: str = "") -> str:
    """The p95 of a histogram over the series ``selector`` picks, across every pod.

    >>> histogram_p95("vllm:time_to_first_token_seconds", 'namespace="llm"', "1m")
    'histogram_quantile(0.95, sum by (le) (rate(vllm:time_to_first_token_seconds_bucket{namespace="llm"}[1m])))'
    """
    labels = selector + (f",{extra_labels}" if extra_labels else "")
    return f"histogram_quantile(0.95, sum by (le) (rate({histogram}_bucket{{{labels}}}[{window}])))"


PREFILL = 'method="prefill"'


def ttft_p95(engine: Engine, selector: str, window: str) -> str:
    """Time to first token, p95, in seconds: the engine's histogram, or TGI's queue p95 + prefill p95
    (TGI has no TTFT histogram; the sum errs high)."""
    metrics = ENGINE_METRICS[engine]
    if metrics.ttft_histogram is not None:
        return histogram_p95(metrics.ttft_histogram, selector, window)
    assert metrics.queue_duration_histogram and metrics.batch_duration_histogram
    return (
        f"{histogram_p95(metrics.queue_duration_histogram, selector, window)} + on() "
        f"{histogram_p95(metrics.batch_duration_histogram, selector, window, PREFILL)}"
    )
