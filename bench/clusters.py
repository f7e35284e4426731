"""Where a benchmark run gets its control plane: a fresh cluster per run (the figures), or one shared
cluster for every run (``--smoke``, where start-up time would dominate).

A fresh cluster is busy for a while after start (kwok's first node updates, the node controller's
events); :func:`wait_quiet` waits until only heartbeats are written, so a run does not count, or
compete with, the cluster's own start-up work.
"""

from __future__ import annotations

import contextlib
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from pathlib import Path

from bench.environment import wait_for_load
from bench.kubeapi import delta, scrape_requests, writes
from testbed.cluster import LocalCluster, TestbedError
from testbed.operator_process import install_crds

BENCH = Path(__file__).resolve().parent
FLEET = BENCH / "fleet-large.yaml"
SMOKE_FLEET = BENCH / "fleet-smoke.yaml"
# kwok's heartbeats: node leases every 10 s and node status every ~10 min per node. Never the operator's.
HEARTBEAT_RESOURCES = frozenset({"leases", "nodes"})
ClusterSource = Callable[[], AbstractContextManager[LocalCluster]]
QUIET_WINDOW_SECONDS = 3.0  # --smoke shortens it


def wait_quiet(
    cluster: LocalCluster, window_seconds: float | None = None, timeout_seconds: float = 120
) -> float:
    """Wait until a window passes with no write but heartbeats (so also none by the operator); the
    seconds it took. Settled means this, not "no reconcile": with N ModelDeployments resyncing every
    60 s a reconcile is always under way, and a pass that writes nothing is the steady state."""
    window_seconds = QUIET_WINDOW_SECONDS if window_seconds is None else window_seconds
    started = time.monotonic()
    before = scrape_requests(cluster)
    while time.monotonic() - started < timeout_seconds:
        time.sleep(window_seconds)
        after = scrape_requests(cluster)
        if not writes(delta(after, before), HEARTBEAT_RESOURCES):
            return time.monotonic() - started
        before = after
    return time.monotonic() - started


def fresh(fleet: Path = FLEET, max_load: float | None = None, max_wait_seconds: float = 0) -> ClusterSource:
    """A new cluster (fleet, CRDs, quiet) for every run, stopped after it. With ``max_load``, wait (up
    to ``max_wait_seconds``) for the machine's 1-minute load to drop that low before starting it."""

    @contextlib.contextmanager
    def open_cluster() -> Iterator[LocalCluster]:
        if max_load is not None:
            wait_for_load(max_load, max_wait_seconds, say=lambda m: print(m, file=sys.stderr, flush=True))
        cluster = start_cluster(fleet)
        try:
            install_crds(cluster)
            wait_quiet(cluster)
            yield cluster
        finally:
            cluster.stop()

    return open_cluster


def start_cluster(fleet: Path, attempts: int = 3) -> LocalCluster:
    """A started cluster; a start that fails is retried with new ports. The testbed picks free ports
    before its components bind them, and on a busy machine another process (or an outgoing connection's
    ephemeral port) sometimes takes one in between: "bind: address already in use"."""
    for attempt in range(1, attempts + 1):
        cluster = LocalCluster(fleet_file=fleet, quiet=True)
        try:
            return cluster.start()
        except TestbedError as error:
            cluster.stop()
            if attempt == attempts:
                raise
            print(
                f"cluster start failed ({str(error).splitlines()[0]}); retrying", file=sys.stderr, flush=True
            )
    raise AssertionError("unreachable")


def shared(cluster: LocalCluster) -> ClusterSource:
    """The same running cluster for every run; runs keep to their own namespaces and names."""
    install_crds(cluster)

    @contextlib.contextmanager
    def open_cluster() -> Iterator[LocalCluster]:
        yield cluster

    return open_cluster
