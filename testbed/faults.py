"""Faults for reliability tests, injected into the local control plane by PID (never by name).

    faults = Faults(cluster)
    faults.pause_etcd(10)          # SIGSTOP etcd, SIGCONT it 10 s later: the API server hangs, then recovers
    faults.restart_apiserver()     # SIGTERM kube-apiserver, start it again on the same port
    faults.kill_operator(op)       # SIGKILL the operator (OperatorProcess.kill), then start it again
    print(faults.summary())        # what was injected, how often, and for how long

A stopped process is always continued, even when the code between stop and continue raises: a
test that failed must not leave etcd frozen for the next one.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field

from testbed.cluster import LocalCluster
from testbed.operator_process import OperatorProcess


@contextlib.contextmanager
def stopped(pid: int) -> Iterator[None]:
    """The process `pid` is stopped (SIGSTOP) inside the block and continued (SIGCONT) after it."""
    os.kill(pid, signal.SIGSTOP)
    try:
        yield
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGCONT)


@dataclass(frozen=True)
class Fault:
    kind: str  # "etcd-pause" | "apiserver-restart" | "operator-kill"
    at_seconds: float  # since the Faults object was made
    duration_seconds: float  # how long the component was unavailable


@dataclass
class Faults:
    """Injects faults into one cluster and records each one, for the test's report."""

    cluster: LocalCluster
    injected: list[Fault] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._began = time.monotonic()

    def pause_etcd(self, seconds: float) -> float:
        """Freeze etcd for `seconds` (the API server's requests hang, then time out or complete)."""
        began = time.monotonic()
        with stopped(self.cluster.procs["etcd"].pid):
            time.sleep(seconds)
        return self._record("etcd-pause", began)

    def restart_apiserver(self, sig: int = signal.SIGTERM, down_seconds: float = 0.0) -> float:
        """Stop kube-apiserver and start it again on the same port; returns seconds until /readyz."""
        began = time.monotonic()
        self.cluster.restart_apiserver(sig=sig, down_seconds=down_seconds)
        return self._record("apiserver-restart", began)

    def kill_operator(self, operator: OperatorProcess, down_seconds: float = 0.0) -> float:
        """SIGKILL the operator (no cleanup runs, as when a node dies), then start it again."""
        began = time.monotonic()
        operator.kill()
        time.sleep(down_seconds)
        operator.start()
        return self._record("operator-kill", began)

    def count(self, kind: str) -> int:
        return sum(1 for f in self.injected if f.kind == kind)

    def summary(self) -> str:
        """``3 x operator-kill (unavailable 2.1-3.4 s)`` per kind, one line each."""
        lines = []
        for kind, n in sorted(Counter(f.kind for f in self.injected).items()):
            spans = [f.duration_seconds for f in self.injected if f.kind == kind]
            lines.append(f"{n} x {kind} (unavailable {min(spans):.1f}-{max(spans):.1f} s)")
        return "\n".join(lines) or "no faults injected"

    def _record(self, kind: str, began: float) -> float:
        duration = time.monotonic() - began
        self.injected.append(Fault(kind, began - self._began, duration))
        return duration
