"""A real Prometheus (Debian's ``prometheus`` package) on loopback, for tests of canary analysis.

It scrapes the targets listed in a file (``file_sd_configs``) every second, and relabels them the
way docs/rollout.md tells users to: the pod label ``modelfleet.io/revision`` (as Kubernetes service
discovery exposes it, ``__meta_kubernetes_pod_label_modelfleet_io_revision``) becomes the series
label ``modelfleet_io_revision``, and ``__meta_kubernetes_namespace`` becomes ``namespace``. A test
writes one target per engine pod with those meta labels (:meth:`LoopbackPrometheus.set_targets`), so
the analysis queries run against exactly the label set a cluster's scrape produces.

    with LoopbackPrometheus(workdir) as prom:
        prom.set_targets([ScrapeTarget("127.0.0.1:9400", "/pods/ns/p/rev/metrics", {...})])
        prom.query('up')

The process binds 127.0.0.1 on a free port, keeps its TSDB in a temp dir and is stopped by its own PID.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import tempfile
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from testbed.cluster import free_port
from testbed.wait import wait_for

SCRAPE_INTERVAL = "1s"
# The relabelling docs/rollout.md gives for kubernetes_sd_configs (role: pod), the model's name (the
# autoscaler's queries select it, docs/autoscaling.md), plus the pod name so
# that two pods of one revision stay two series (Prometheus drops targets with identical labels).
RELABEL_CONFIGS: list[dict[str, Any]] = [
    {
        "source_labels": ["__meta_kubernetes_pod_label_modelfleet_io_revision"],
        "target_label": "modelfleet_io_revision",
    },
    {
        "source_labels": ["__meta_kubernetes_pod_label_modelfleet_io_name"],
        "target_label": "modelfleet_io_name",
    },
    {"source_labels": ["__meta_kubernetes_namespace"], "target_label": "namespace"},
    {"source_labels": ["__meta_kubernetes_pod_name"], "target_label": "pod"},
]


class PrometheusNotInstalled(RuntimeError):
    pass


def prometheus_binary() -> str:
    found = shutil.which("prometheus") or (
        "/usr/bin/prometheus" if os.path.exists("/usr/bin/prometheus") else None
    )
    if not found:
        raise PrometheusNotInstalled(
            "prometheus not found: apt-get install -y prometheus (.ci/run does it in CI)"
        )
    return found


@dataclass(frozen=True)
class ScrapeTarget:
    """One scrape target: ``address`` (host:port), the metrics path, and labels for relabelling."""

    address: str
    metrics_path: str = "/metrics"
    labels: dict[str, str] = field(default_factory=dict)

    def file_sd_entry(self) -> dict[str, Any]:
        return {"targets": [self.address], "labels": {"__metrics_path__": self.metrics_path, **self.labels}}


class LoopbackPrometheus:
    def __init__(self, workdir: Path | None = None, port: int | None = None) -> None:
        self._own_workdir = workdir is None
        self.workdir = Path(workdir or tempfile.mkdtemp(prefix="modelfleet-prometheus-"))
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.targets_path = self.workdir / "targets.json"
        self.config_path = self.workdir / "prometheus.yml"
        self.log_path = self.workdir / "prometheus.log"
        self.proc: subprocess.Popen[bytes] | None = None
        self._targets: tuple[ScrapeTarget, ...] | None = None

    def __enter__(self) -> LoopbackPrometheus:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
        if self._own_workdir:
            shutil.rmtree(self.workdir, ignore_errors=True)

    def start(self, timeout_seconds: float = 60) -> LoopbackPrometheus:
        """Start (or restart, on the same port and data) and wait until it answers queries."""
        self.workdir.mkdir(parents=True, exist_ok=True)
        if not self.targets_path.exists():
            self._write_targets(())
        self.config_path.write_text(yaml.safe_dump(self.config()))
        args = [
            prometheus_binary(),
            f"--config.file={self.config_path}",
            f"--storage.tsdb.path={self.workdir / 'data'}",
            f"--web.listen-address=127.0.0.1:{self.port}",
            "--storage.tsdb.retention.time=1h",
            "--log.level=warn",
        ]
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(
                args, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True
            )
        wait_for(self._ready, f"Prometheus on {self.url}", timeout=timeout_seconds)
        return self

    def stop(self) -> None:
        """Stop the process this object started (TERM, then KILL after 10 s)."""
        proc, self.proc = self.proc, None
        if proc is None or proc.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def config(self) -> dict[str, Any]:
        return {
            "global": {
                "scrape_interval": SCRAPE_INTERVAL,
                "scrape_timeout": SCRAPE_INTERVAL,
                "evaluation_interval": SCRAPE_INTERVAL,
            },
            "scrape_configs": [
                {
                    "job_name": "engines",
                    "scrape_interval": SCRAPE_INTERVAL,
                    "file_sd_configs": [
                        {"files": [str(self.targets_path)], "refresh_interval": SCRAPE_INTERVAL}
                    ],
                    "relabel_configs": RELABEL_CONFIGS,
                }
            ],
        }

    def set_targets(self, targets: Iterable[ScrapeTarget]) -> bool:
        """Replace the scraped targets (Prometheus re-reads the file within a second). True when changed."""
        wanted = tuple(sorted(targets, key=lambda t: (t.address, t.metrics_path)))
        if wanted == self._targets:
            return False
        self._write_targets(wanted)
        return True

    def _write_targets(self, targets: tuple[ScrapeTarget, ...]) -> None:
        # Write then rename, so Prometheus never reads half a file.
        partial = self.targets_path.with_suffix(".tmp")
        partial.write_text(json.dumps([t.file_sd_entry() for t in targets]))
        partial.replace(self.targets_path)
        self._targets = targets

    # ---- the HTTP API ------------------------------------------------------------------------------
    def query(self, promql: str) -> list[dict[str, Any]]:
        """The result vector of an instant query."""
        data = self._api("/api/v1/query?" + urllib.parse.urlencode({"query": promql}))
        return list(data.get("result") or [])

    def active_targets(self) -> list[dict[str, Any]]:
        return list(self._api("/api/v1/targets?state=active").get("activeTargets") or [])

    def _api(self, path: str) -> dict[str, Any]:
        with urllib.request.urlopen(self.url + path, timeout=5) as response:
            payload = json.loads(response.read())
        if payload.get("status") != "success":
            raise RuntimeError(f"Prometheus {path}: {payload}")
        return dict(payload.get("data") or {})

    def _ready(self) -> bool:
        if self.proc is not None and self.proc.poll() is not None:
            tail = self.log_path.read_text(errors="replace")[-3000:] if self.log_path.exists() else ""
            raise RuntimeError(f"prometheus exited with {self.proc.returncode}:\n{tail}")
        try:
            with urllib.request.urlopen(self.url + "/-/ready", timeout=2) as response:
                return bool(response.status == 200)
        except (urllib.error.URLError, OSError):
            return False
