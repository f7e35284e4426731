"""A loopback stand-in for an inference engine's /metrics, one target per engine pod, driven by the test.

Kwok pods run no engine and their IPs are fake, so nothing in the cluster can be scraped. Instead
:class:`PodDiscovery` lists the engine pods every second (as Prometheus' Kubernetes service discovery
would) and registers one target per Running pod with the pod's meta labels; every target points at
:class:`EngineExporter` on 127.0.0.1, which answers with one engine's metric names (vLLM by default,
SGLang or TGI) for that pod, shaped by the :class:`Profile` the test chose for the pod's revision
(healthy, slow, erroring, idle).

Counters grow with wall time: every scrape adds ``requests_per_second x elapsed`` requests, each
with the profile's TTFT and inter-token latency, so ``rate()``, ``increase()`` and
``histogram_quantile()`` see what they would see on a real engine under steady load.
"""

from __future__ import annotations

import re
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import quote

from modelfleet.render.names import ENGINE_LABEL, MANAGED_BY, MANAGED_BY_LABEL, ROLE_LABEL, ROLE_SERVER
from testbed.prometheus import LoopbackPrometheus, ScrapeTarget
from tests.e2e.api import Api

# vLLM's bucket boundaries (vllm/v1/metrics/loggers.py), so quantiles interpolate as they would there.
TTFT_BUCKETS = (
    0.001,
    0.005,
    0.01,
    0.02,
    0.04,
    0.06,
    0.08,
    0.1,
    0.25,
    0.5,
    0.75,
    1.0,
    2.5,
    5.0,
    7.5,
    10.0,
    20.0,
    40.0,
    80.0,
    160.0,
    640.0,
    2560.0,
)
ITL_BUCKETS = (
    0.01,
    0.025,
    0.05,
    0.075,
    0.1,
    0.15,
    0.2,
    0.3,
    0.4,
    0.5,
    0.75,
    1.0,
    2.5,
    5.0,
    7.5,
    10.0,
    20.0,
    40.0,
    80.0,
)
TOKENS_PER_REQUEST = 50
PROMPT_TOKENS_PER_REQUEST = 200
# TGI's per-request token histograms (tgi_request_input_length, tgi_request_generated_tokens).
TOKEN_BUCKETS = (10.0, 50.0, 100.0, 500.0, 1000.0, 5000.0)
ENGINE_POD_SELECTOR = f"{MANAGED_BY_LABEL}={MANAGED_BY},{ROLE_LABEL}={ROLE_SERVER}"


@dataclass(frozen=True)
class Profile:
    """How one revision's pods behave. The defaults are a healthy engine under light load."""

    requests_per_second: float = 20.0
    ttft_seconds: float = 0.2
    itl_seconds: float = 0.03
    error_ratio: float = 0.0
    waiting: int = 1
    kv_cache_usage: float = 0.4  # fraction 0-1
    preemption_ratio: float = 0.01  # preemptions per request


HEALTHY = Profile()
SLOW_TTFT = Profile(ttft_seconds=4.0)  # p95 ~4.9 s against the built-in 2 s threshold
IDLE = Profile(requests_per_second=0.0)  # below the minimum-requests gate: no data
FAILING = Profile(error_ratio=0.1)  # one request in ten fails, against the built-in 5 %


# TGI has no TTFT histogram: its time to first token is queue time + the prefill batch.
TGI_QUEUE_SHARE = 0.25


@dataclass
class _Histogram:
    buckets: tuple[float, ...]
    counts: list[float] = field(default_factory=list)
    total: float = 0.0
    sum: float = 0.0

    def observe(self, value: float, n: float) -> None:
        if not self.counts:
            self.counts = [0.0] * len(self.buckets)
        self.total += n
        self.sum += n * value
        for i, le in enumerate(self.buckets):
            if value <= le:
                self.counts[i] += n

    def exposition(self, name: str, labels: str) -> list[str]:
        counts = self.counts or [0.0] * len(self.buckets)
        sep = f"{labels}," if labels else ""
        lines = [f"# TYPE {name} histogram"]
        lines += [
            f'{name}_bucket{{{sep}le="{le:g}"}} {c:.3f}' for le, c in zip(self.buckets, counts, strict=True)
        ]
        braces = f"{{{labels}}}" if labels else ""
        return lines + [
            f'{name}_bucket{{{sep}le="+Inf"}} {self.total:.3f}',
            f"{name}_sum{braces} {self.sum:.3f}",
            f"{name}_count{braces} {self.total:.3f}",
        ]


@dataclass
class _PodCounters:
    last_seconds: float | None = None
    requests: float = 0.0
    errors: float = 0.0
    preemptions: float = 0.0
    ttft: _Histogram = field(default_factory=lambda: _Histogram(TTFT_BUCKETS))
    itl: _Histogram = field(default_factory=lambda: _Histogram(ITL_BUCKETS))  # one observation per token
    # TGI's own histograms: per request
    queue: _Histogram = field(default_factory=lambda: _Histogram(TTFT_BUCKETS))
    prefill: _Histogram = field(default_factory=lambda: _Histogram(TTFT_BUCKETS))
    per_token: _Histogram = field(default_factory=lambda: _Histogram(ITL_BUCKETS))
    prompt_tokens: _Histogram = field(default_factory=lambda: _Histogram(TOKEN_BUCKETS))
    generated_tokens: _Histogram = field(default_factory=lambda: _Histogram(TOKEN_BUCKETS))

    def advance(self, profile: Profile, now_seconds: float) -> None:
        elapsed = 0.0 if self.last_seconds is None else max(0.0, now_seconds - self.last_seconds)
        self.last_seconds = now_seconds
        n = profile.requests_per_second * elapsed
        if n <= 0:
            return
        self.requests += n * (1 - profile.error_ratio)
        self.errors += n * profile.error_ratio
        self.ttft.observe(profile.ttft_seconds, n)
        self.itl.observe(profile.itl_seconds, n * TOKENS_PER_REQUEST)
        self.queue.observe(profile.ttft_seconds * TGI_QUEUE_SHARE, n)
        self.prefill.observe(profile.ttft_seconds * (1 - TGI_QUEUE_SHARE), n)
        self.per_token.observe(profile.itl_seconds, n)
        self.prompt_tokens.observe(PROMPT_TOKENS_PER_REQUEST, n)
        self.generated_tokens.observe(TOKENS_PER_REQUEST, n)
        self.preemptions += n * profile.preemption_ratio


class EngineExporter:
    """Serves ``/pods/<namespace>/<pod>/<revision>/metrics`` on 127.0.0.1 (a free port)."""

    def __init__(self, model_name: str = "model", engine: str = "vllm") -> None:
        if engine not in _EXPOSITIONS:
            raise ValueError(f"unknown engine {engine!r}; one of {sorted(_EXPOSITIONS)}")
        self.model_name = model_name
        self.engine = engine
        self._lock = threading.Lock()
        self._pods: dict[tuple[str, str], _PodCounters] = {}
        self._by_revision: dict[str, Profile] = {}
        self._by_namespace: dict[str, Profile] = {}
        self.scrapes = 0
        exporter = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - the http.server API
                # /pods/<namespace>/<pod>/<revision>[/<engine>]/metrics
                parts = self.path.strip("/").split("/")
                if (
                    len(parts) not in (5, 6)
                    or parts[0] != "pods"
                    or parts[-1] != "metrics"
                    or (len(parts) == 6 and parts[4] not in _EXPOSITIONS)
                ):
                    self.send_error(404)
                    return
                engine = parts[4] if len(parts) == 6 else None
                body = exporter.exposition(parts[1], parts[2], parts[3], engine).encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/plain; version=0.0.4")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.port = int(self._server.server_address[1])
        self.address = f"127.0.0.1:{self.port}"
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="engine-exporter", daemon=True
        )

    def start(self) -> EngineExporter:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    # ---- what the test drives ------------------------------------------------------------------
    def set_revision(self, revision: str, profile: Profile) -> None:
        with self._lock:
            self._by_revision[revision] = profile

    def set_namespace_default(self, namespace: str, profile: Profile) -> None:
        """The profile of every revision in `namespace` without one of its own (e.g. the next canary)."""
        with self._lock:
            self._by_namespace[namespace] = profile

    def profile(self, namespace: str, revision: str) -> Profile:
        with self._lock:
            return self._by_revision.get(revision) or self._by_namespace.get(namespace) or HEALTHY

    # ---- what Prometheus reads -----------------------------------------------------------------
    def exposition(self, namespace: str, pod: str, revision: str, engine: str | None = None) -> str:
        """The pod's metrics in `engine`'s names (default: the exporter's engine)."""
        profile = self.profile(namespace, revision)
        with self._lock:
            self.scrapes += 1
            counters = self._pods.setdefault((namespace, pod), _PodCounters())
            counters.advance(profile, time.monotonic())
            lines = _EXPOSITIONS[engine or self.engine](self.model_name, counters, profile)
        return "\n".join(lines) + "\n"


def _vllm(model_name: str, counters: _PodCounters, profile: Profile) -> list[str]:
    labels = f'model_name="{model_name}",engine="0"'
    lines = counters.ttft.exposition("vllm:time_to_first_token_seconds", labels)
    lines += counters.itl.exposition("vllm:inter_token_latency_seconds", labels)
    return lines + [
        "# TYPE vllm:request_success_total counter",
        f'vllm:request_success_total{{{labels},finished_reason="stop"}} {counters.requests:.3f}',
        f'vllm:request_success_total{{{labels},finished_reason="error"}} {counters.errors:.3f}',
        "# TYPE vllm:num_requests_waiting gauge",
        f"vllm:num_requests_waiting{{{labels}}} {profile.waiting}",
        "# TYPE vllm:prompt_tokens_total counter",
        f"vllm:prompt_tokens_total{{{labels}}} {counters.prompt_tokens.sum:.3f}",
        "# TYPE vllm:generation_tokens_total counter",
        f"vllm:generation_tokens_total{{{labels}}} {counters.generated_tokens.sum:.3f}",
        "# TYPE vllm:kv_cache_usage_perc gauge",
        f"vllm:kv_cache_usage_perc{{{labels}}} {profile.kv_cache_usage}",
        "# TYPE vllm:num_preemptions_total counter",
        f"vllm:num_preemptions_total{{{labels}}} {counters.preemptions:.3f}",
    ]


def _sglang(model_name: str, counters: _PodCounters, profile: Profile) -> list[str]:
    """SGLang's names (python/sglang/srt/metrics/collector.py): every request is counted in
    num_requests_total, the failed ones also in num_aborted_requests_total."""
    labels = f'model_name="{model_name}"'
    lines = counters.ttft.exposition("sglang:time_to_first_token_seconds", labels)
    lines += counters.itl.exposition("sglang:inter_token_latency_seconds", labels)
    return lines + [
        "# TYPE sglang:num_requests_total counter",
        f"sglang:num_requests_total{{{labels}}} {counters.requests + counters.errors:.3f}",
        "# TYPE sglang:num_aborted_requests_total counter",
        f"sglang:num_aborted_requests_total{{{labels}}} {counters.errors:.3f}",
        "# TYPE sglang:num_queue_reqs gauge",
        f"sglang:num_queue_reqs{{{labels}}} {profile.waiting}",
        "# TYPE sglang:prompt_tokens_total counter",
        f"sglang:prompt_tokens_total{{{labels}}} {counters.prompt_tokens.sum:.3f}",
        "# TYPE sglang:generation_tokens_total counter",
        f"sglang:generation_tokens_total{{{labels}}} {counters.generated_tokens.sum:.3f}",
        "# TYPE sglang:token_usage gauge",
        f"sglang:token_usage{{{labels}}} {profile.kv_cache_usage}",
    ]


def _tgi(model_name: str, counters: _PodCounters, profile: Profile) -> list[str]:
    """TGI's names (router/src/server.rs, backends/v3): no `_total` suffix on counters, failures
    labelled by `err`, batch durations by `method`, and no model label (one model per server)."""
    del model_name
    lines = counters.queue.exposition("tgi_request_queue_duration", "")
    lines += counters.prefill.exposition("tgi_batch_inference_duration", 'method="prefill"')
    lines += counters.per_token.exposition("tgi_request_mean_time_per_token_duration", "")
    lines += counters.prompt_tokens.exposition("tgi_request_input_length", "")
    lines += counters.generated_tokens.exposition("tgi_request_generated_tokens", "")
    return lines + [
        "# TYPE tgi_request_count counter",
        f"tgi_request_count {counters.requests + counters.errors:.3f}",
        "# TYPE tgi_request_success counter",
        f"tgi_request_success {counters.requests:.3f}",
        "# TYPE tgi_request_failure counter",
        f'tgi_request_failure{{err="generation"}} {counters.errors:.3f}',
        "# TYPE tgi_queue_size gauge",
        f"tgi_queue_size {profile.waiting}",
    ]


_EXPOSITIONS = {"vllm": _vllm, "sglang": _sglang, "tgi": _tgi}


def engine_of(pod: dict[str, Any]) -> str:
    """Which engine a rendered pod runs (its engine label), so each pod is
    answered in the metric names of the engine the operator rendered for it."""
    engine = ((pod.get("metadata") or {}).get("labels") or {}).get(ENGINE_LABEL, "vllm")
    return engine if engine in _EXPOSITIONS else "vllm"


def pod_label_meta(key: str) -> str:
    """The meta label Kubernetes service discovery gives a pod label: every character that is not
    a letter, digit or underscore becomes `_` (modelfleet.io/revision ->
    __meta_kubernetes_pod_label_modelfleet_io_revision)."""
    return "__meta_kubernetes_pod_label_" + re.sub(r"[^a-zA-Z0-9_]", "_", key)


class PodDiscovery:
    """Every second: the Running engine pods of `namespaces` become the Prometheus targets."""

    def __init__(
        self,
        api: Api,
        namespaces: set[str],
        exporter: EngineExporter,
        prometheus: LoopbackPrometheus,
        interval_seconds: float = 1.0,
    ) -> None:
        self.namespaces = namespaces
        self.exporter = exporter
        self.prometheus = prometheus
        self.interval_seconds = interval_seconds
        self._api = api
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="pod-discovery", daemon=True)
        self.errors = 0

    def start(self) -> PodDiscovery:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def targets(self) -> list[ScrapeTarget]:
        pods: list[dict[str, Any]] = (
            self._api.get(f"/api/v1/pods?labelSelector={quote(ENGINE_POD_SELECTOR)}") or {}
        )["items"]
        found = []
        for pod in pods:
            meta = pod["metadata"]
            labels = meta.get("labels") or {}
            revision = labels.get("modelfleet.io/revision", "")
            if (
                meta["namespace"] not in self.namespaces
                or (pod.get("status") or {}).get("phase") != "Running"
            ):
                continue
            found.append(
                ScrapeTarget(
                    self.exporter.address,
                    f"/pods/{meta['namespace']}/{meta['name']}/{revision}/{engine_of(pod)}/metrics",
                    {
                        "__meta_kubernetes_namespace": meta["namespace"],
                        "__meta_kubernetes_pod_name": meta["name"],
                        "__meta_kubernetes_pod_container_port_name": "http",  # the engine's port
                        **{pod_label_meta(key): value for key, value in labels.items()},
                    },
                )
            )
        return found

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.prometheus.set_targets(self.targets())
            except Exception:  # the API server may be busy; the next round catches up
                self.errors += 1
            self._stop.wait(self.interval_seconds)
