"""The leader election of a running operator: the elector's thread, wired to the fence, the metrics,
the log, an Event on the Lease, and the flag that stops kopf when the Lease is lost.

A standby builds everything it can (catalogs, templates, the CRD checks) and then waits for the
Lease without starting kopf, so it holds no watch and no cache. While it waits it answers the
liveness probe itself (kopf's endpoint starts with kopf). Once it leads, kopf starts; once the Lease
is lost, kopf is stopped and the process exits with :data:`EXIT_LEASE_LOST`, and its Deployment
starts it again as a standby (as controller-runtime does).
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import threading
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from modelfleet.reconcile.config import LeaderElectionConfig
from modelfleet.reconcile.leader import (
    LEASE_API_VERSION,
    LEASE_KIND,
    Candidate,
    Fence,
    LeaderElector,
    LeaseStore,
    LeaseTiming,
    micro_time,
)
from modelfleet.reconcile.metrics import OperatorMetrics

log = logging.getLogger("modelfleet.leader")
EXIT_LEASE_LOST = 4  # `modelfleet run` ends with it when another process took the Lease over
SERVICE_ACCOUNT_NAMESPACE = Path("/var/run/secrets/kubernetes.io/serviceaccount/namespace")


def identity() -> str:
    """The pod's name (or the host's) and a random suffix: two processes on one host stay distinct."""
    return f"{os.environ.get('POD_NAME') or socket.gethostname()}_{uuid.uuid4().hex[:8]}"


def lease_namespace(config: LeaderElectionConfig) -> str:
    if config.lease_namespace:
        return config.lease_namespace
    if os.environ.get("POD_NAMESPACE"):
        return os.environ["POD_NAMESPACE"]
    with contextlib.suppress(OSError):
        return SERVICE_ACCOUNT_NAMESPACE.read_text().strip()
    return "default"


def timing(config: LeaderElectionConfig) -> LeaseTiming:
    return LeaseTiming(
        config.lease_duration_seconds, config.renew_deadline_seconds, config.retry_period_seconds
    )


class Leadership:
    """Runs for the Lease; `stop_flag` is set once it is lost (kopf watches it)."""

    def __init__(
        self,
        candidate: Candidate,
        fence: Fence,
        leases: LeaseStore,
        events: LeaseStore,
        metrics: OperatorMetrics,
        *,
        elector_options: dict[str, Any] | None = None,
    ) -> None:
        """`leases` must have no fence (it renews the Lease), `events` should (it posts as the leader);
        `elector_options` are the :class:`LeaderElector`'s clock, wall and sleep (tests)."""
        self.candidate = candidate
        self._events = events
        self._metrics = metrics
        self.leading = threading.Event()
        self.lost = threading.Event()
        self.stop_flag = threading.Event()
        self._elector = LeaderElector(leases, candidate, fence, self._changed, **(elector_options or {}))
        self._thread = threading.Thread(target=self._elector.run, name="leader-election", daemon=True)

    def start(self) -> None:
        self._metrics.leader.set(0)
        self._thread.start()

    def wait_until_leading(self) -> bool:
        """Block until this process leads; False if the election ended first."""
        while not self.leading.wait(1.0):
            if not self._thread.is_alive():
                return False
        return True

    def shutdown(self) -> None:
        """Stop running for the Lease and give it up (once the passes have stopped); idempotent."""
        self._elector.stop()
        if self._thread.is_alive():
            self._thread.join(timeout=self.candidate.timing.renew_deadline_seconds + 5)
        self._elector.release()

    def _changed(self, leading: bool) -> None:
        self._metrics.leading(leading)
        c = self.candidate
        if leading:
            log.info("%s became the leader (lease %s/%s)", c.identity, c.namespace, c.name)
            self._post_event(f"{c.identity} became leader")
            self.leading.set()
        else:
            log.warning(
                "%s lost the lease %s/%s: no more writes; stopping so that the new leader reconciles alone",
                c.identity,
                c.namespace,
                c.name,
            )
            self.lost.set()
            self.stop_flag.set()

    def _post_event(self, message: str) -> None:
        """An Event on the Lease, as client-go posts (reason LeaderElection); best effort."""
        c, now = self.candidate, micro_time(datetime.now(UTC))
        lease = self._events.get(LEASE_API_VERSION, LEASE_KIND, c.namespace, c.name) or {}
        body = {
            "apiVersion": "v1",
            "kind": "Event",
            "metadata": {"generateName": f"{c.name}.", "namespace": c.namespace},
            "involvedObject": {
                "apiVersion": LEASE_API_VERSION,
                "kind": LEASE_KIND,
                "name": c.name,
                "namespace": c.namespace,
                "uid": (lease.get("metadata") or {}).get("uid", ""),
            },
            "type": "Normal",
            "reason": "LeaderElection",
            "message": message,
            "source": {"component": "modelfleet"},
            "reportingComponent": "modelfleet.io/operator",
            "reportingInstance": c.identity[:128],
            "firstTimestamp": now,
            "lastTimestamp": now,
            "count": 1,
        }
        try:
            self._events.create(body)
        except Exception as error:  # a record for people: never fails the election
            log.warning("could not post the LeaderElection event: %s", error)


class _Healthy(BaseHTTPRequestHandler):
    path_served = "/healthz"

    def do_GET(self) -> None:  # noqa: N802 - the name http.server calls
        ok = urlsplit(self.path).path == self.path_served
        self.send_response(200 if ok else 404)
        self.end_headers()
        self.wfile.write(b"standby\n" if ok else b"")

    def log_message(self, format: str, *args: Any) -> None:
        return None  # a probe every few seconds is not news


@contextlib.contextmanager
def standby_health(liveness_url: str | None) -> Iterator[None]:
    """Answer the liveness probe at `liveness_url` while a standby waits (kopf serves it once it leads)."""
    if not liveness_url:
        yield
        return
    url = urlsplit(liveness_url)
    handler = type("Healthy", (_Healthy,), {"path_served": url.path or "/"})
    server = ThreadingHTTPServer((url.hostname or "0.0.0.0", url.port or 80), handler)
    thread = threading.Thread(target=server.serve_forever, name="standby-health", daemon=True)
    thread.start()
    try:
        yield
    finally:
        server.shutdown()
        server.server_close()  # the port is free for kopf's own endpoint
