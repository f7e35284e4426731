"""A loopback stand-in for vLLM's /metrics, one target per engine pod, driven by the test.

Kwok pods run no engine and their IPs are fake, so nothing in the cluster can be scraped. Instead
:class:`PodDiscovery` lists the engine pods every second (as Prometheus' Kubernetes service discovery
would) and registers one target per Running pod with the pod's meta labels; every target points at
:class:`EngineExporter` on 127.0.0.1, which answers with vLLM's metric names for that pod, shaped by
the :class:`Profile` the test chose for the pod's revision (healthy, slow, erroring, idle).

Counters grow with wall time: every scrape adds ``requests_per_second x elapsed`` requests, each
with the profile's TTFT and inter-token latency, so ``rate()``, ``increase()`` and
``histogram_quantile()`` see what they would see on a real engine under steady load.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import quote

from testbed.prometheus import LoopbackPrometheus, ScrapeTarget
from tests.e2e.api import Api

# vLLM's bucket boundaries (vllm/v1/metrics/loggers.py), so quantiles interpolate as they would there.
TTFT_BUCKETS = (0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0,
                20.0, 40.0, 80.0, 160.0, 640.0, 2560.0)
ITL_BUCKETS = (0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0, 20.0,
               40.0, 80.0)
TOKENS_PER_REQUEST = 50
ENGINE_POD_SELECTOR = "app.kubernetes.io/managed-by=modelfleet,modelfleet.io/role=server"


@dataclass(frozen=True)
class Profile:
    """How one revision's pods behave. The defaults are a healthy engine under light load."""

    requests_per_second: float = 20.0
    ttft_seconds: float = 0.2
    itl_seconds: float = 0.03
    error_ratio: float = 0.0
    waiting: int = 1


HEALTHY = Profile()
SLOW_TTFT = Profile(ttft_seconds=4.0)  # p95 ~4.9 s against the built-in 2 s threshold
IDLE = Profile(requests_per_second=0.0)  # below the minimum-requests gate: no data


@dataclass
class _PodCounters:
    last_seconds: float | None = None
    requests: float = 0.0
    errors: float = 0.0
    ttft: list[float] = field(default_factory=lambda: [0.0] * len(TTFT_BUCKETS))
    ttft_sum: float = 0.0
    itl: list[float] = field(default_factory=lambda: [0.0] * len(ITL_BUCKETS))
    itl_sum: float = 0.0
    itl_count: float = 0.0

    def advance(self, profile: Profile, now_seconds: float) -> None:
        elapsed = 0.0 if self.last_seconds is None else max(0.0, now_seconds - self.last_seconds)
        self.last_seconds = now_seconds
        n = profile.requests_per_second * elapsed
        if n <= 0:
            return
        self.requests += n * (1 - profile.error_ratio)
        self.errors += n * profile.error_ratio
        self.ttft_sum += n * profile.ttft_seconds
        for i, le in enumerate(TTFT_BUCKETS):
            if profile.ttft_seconds <= le:
                self.ttft[i] += n
        tokens = n * TOKENS_PER_REQUEST
        self.itl_sum += tokens * profile.itl_seconds
        self.itl_count += tokens
        for i, le in enumerate(ITL_BUCKETS):
            if profile.itl_seconds <= le:
                self.itl[i] += tokens


def _histogram(name: str, labels: str, buckets: tuple[float, ...], counts: list[float], total: float,
               sum_value: float) -> list[str]:
    lines = [f"# TYPE {name} histogram"]
    lines += [f'{name}_bucket{{{labels},le="{le:g}"}} {c:.3f}' for le, c in zip(buckets, counts, strict=True)]
    lines += [f'{name}_bucket{{{labels},le="+Inf"}} {total:.3f}', f"{name}_sum{{{labels}}} {sum_value:.3f}",
              f"{name}_count{{{labels}}} {total:.3f}"]
    return lines


class EngineExporter:
    """Serves ``/pods/<namespace>/<pod>/<revision>/metrics`` on 127.0.0.1 (a free port)."""

    def __init__(self, model_name: str = "model") -> None:
        self.model_name = model_name
        self._lock = threading.Lock()
        self._pods: dict[tuple[str, str], _PodCounters] = {}
        self._by_revision: dict[str, Profile] = {}
        self._by_namespace: dict[str, Profile] = {}
        self.scrapes = 0
        exporter = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - the http.server API
                parts = self.path.strip("/").split("/")
                if len(parts) != 5 or parts[0] != "pods" or parts[4] != "metrics":
                    self.send_error(404)
                    return
                body = exporter.exposition(parts[1], parts[2], parts[3]).encode()
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
        self._thread = threading.Thread(target=self._server.serve_forever, name="engine-exporter", daemon=True)

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
    def exposition(self, namespace: str, pod: str, revision: str) -> str:
        profile = self.profile(namespace, revision)
        with self._lock:
            self.scrapes += 1
            counters = self._pods.setdefault((namespace, pod), _PodCounters())
            counters.advance(profile, time.monotonic())
            labels = f'model_name="{self.model_name}",engine="0"'
            lines = _histogram("vllm:time_to_first_token_seconds", labels, TTFT_BUCKETS, counters.ttft,
                               counters.requests + counters.errors, counters.ttft_sum)
            lines += _histogram("vllm:inter_token_latency_seconds", labels, ITL_BUCKETS, counters.itl,
                                counters.itl_count, counters.itl_sum)
            lines += ["# TYPE vllm:request_success_total counter",
                      f'vllm:request_success_total{{{labels},finished_reason="stop"}} {counters.requests:.3f}',
                      f'vllm:request_success_total{{{labels},finished_reason="error"}} {counters.errors:.3f}',
                      "# TYPE vllm:num_requests_waiting gauge",
                      f"vllm:num_requests_waiting{{{labels}}} {profile.waiting}"]
        return "\n".join(lines) + "\n"


class PodDiscovery:
    """Every second: the Running engine pods of `namespaces` become the Prometheus targets."""

    def __init__(self, api: Api, namespaces: set[str], exporter: EngineExporter,
                 prometheus: LoopbackPrometheus, interval_seconds: float = 1.0) -> None:
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
        pods: list[dict[str, Any]] = (self._api.get(f"/api/v1/pods?labelSelector={quote(ENGINE_POD_SELECTOR)}") or {})["items"]
        found = []
        for pod in pods:
            meta = pod["metadata"]
            revision = (meta.get("labels") or {}).get("modelfleet.io/revision", "")
            if meta["namespace"] not in self.namespaces or (pod.get("status") or {}).get("phase") != "Running":
                continue
            found.append(ScrapeTarget(
                self.exporter.address, f"/pods/{meta['namespace']}/{meta['name']}/{revision}/metrics",
                {"__meta_kubernetes_namespace": meta["namespace"], "__meta_kubernetes_pod_name": meta["name"],
                 "__meta_kubernetes_pod_label_modelfleet_io_revision": revision}))
        return found

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.prometheus.set_targets(self.targets())
            except Exception:  # the API server may be busy; the next round catches up
                self.errors += 1
            self._stop.wait(self.interval_seconds)
