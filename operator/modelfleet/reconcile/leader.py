"""Leader election on a ``coordination.k8s.io/v1`` Lease, and the fence that stops writes when it is lost.

Several operator processes may run; the one holding the Lease reconciles, the others wait without
watching anything. The algorithm is client-go's ``leaderelection`` (the one controller-runtime uses):

* a candidate reads the Lease; when nobody holds it, or the holder's record has not changed for
  ``leaseDurationSeconds`` *as this candidate observed it* (its own monotonic clock, never the
  timestamps in the Lease, so clocks need not agree between machines), it writes itself in as the
  holder. The write carries the resourceVersion it read, so of two candidates only one succeeds;
* the holder renews every ``retry_period_seconds``; when it has not renewed for
  ``renew_deadline_seconds`` it gives up and the process exits (the Deployment starts it again,
  as a candidate).

The fence: every write of the operator is checked just before it is sent
(:class:`Fence`, given to :class:`~modelfleet.reconcile.kube.Kube`): it is allowed only while
``now < sent + renew_deadline``, where ``sent`` is when the last renewal that succeeded was sent.
The others wait at least ``leaseDurationSeconds`` after *seeing* that renewal, which came after it
was sent, so a stale leader stops writing ``lease - renew_deadline`` seconds (5 s by default)
before anyone else may start, even when its renewing thread is stuck or the process was frozen.

Why not ``kubernetes.leaderelection`` (the Python client's own): its retry period must be a whole
second or more (a test cannot use 0.5 s), its configuration errors call ``sys.exit``, it measures time
with the wall clock, a connection error escapes its loop and ends the thread, its requests have no
timeout, it cannot be stopped while waiting, and it never releases the Lease on shutdown (so an
upgrade waits a whole lease duration). None of that is fixable from outside without rewriting its
lock, so this module is the same algorithm in ~200 lines on the operator's own client.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from modelfleet.reconcile.kube import ApiError

log = logging.getLogger("modelfleet.leader")
LEASE_API_VERSION, LEASE_KIND = "coordination.k8s.io/v1", "Lease"
Clock = Callable[[], float]


@dataclass(frozen=True)
class LeaseTiming:
    """Seconds; the defaults are controller-runtime's."""

    lease_duration_seconds: int = 15
    renew_deadline_seconds: float = 10.0
    retry_period_seconds: float = 2.0


def may_write(now: float, renewed_at: float | None, renew_deadline_seconds: float) -> bool:
    """True while the last renewal that succeeded (sent at `renewed_at`, monotonic seconds) still
    covers a write at `now`.

    >>> may_write(100.0, 95.0, 10.0), may_write(105.0, 95.0, 10.0), may_write(100.0, None, 10.0)
    (True, False, False)
    """
    return renewed_at is not None and now < renewed_at + renew_deadline_seconds


def lease_expired(now: float, observed_at: float, lease_duration_seconds: float) -> bool:
    """A holder whose record this candidate saw change last at `observed_at` has lost the Lease.

    >>> lease_expired(114.9, 100.0, 15), lease_expired(115.0, 100.0, 15)
    (False, True)
    """
    return now >= observed_at + lease_duration_seconds


class NotLeader(RuntimeError):
    """A write was stopped because this process does not hold the Lease (any more)."""


class Fence:
    """Says, just before each write, whether this process may still make it (see the module doc)."""

    def __init__(self, renew_deadline_seconds: float, clock: Clock = time.monotonic) -> None:
        self.renew_deadline_seconds = renew_deadline_seconds
        self._clock = clock
        self._renewed_at: float | None = None
        self.refused = 0  # writes stopped, for the logs and the tests

    def renewed(self, sent_at: float) -> None:
        self._renewed_at = sent_at

    def revoke(self) -> None:
        self._renewed_at = None

    @property
    def open(self) -> bool:
        return may_write(self._clock(), self._renewed_at, self.renew_deadline_seconds)

    def __call__(self, what: str) -> None:
        """Raise :class:`NotLeader` unless the Lease still covers the write `what` (``PATCH /apis/...``)."""
        if not self.open:
            self.refused += 1
            raise NotLeader(f"not the leader: {what} not sent")


class LeaseStore(Protocol):
    """The three calls the elector makes (a :class:`~modelfleet.reconcile.kube.Kube` without a fence)."""

    def get(self, api_version: str, kind: str, namespace: str | None, name: str) -> dict[str, Any] | None: ...

    def create(self, obj: dict[str, Any]) -> dict[str, Any]: ...

    def replace(self, obj: dict[str, Any]) -> dict[str, Any]: ...


def micro_time(moment: datetime) -> str:
    """A Lease's MicroTime: RFC 3339 in UTC with microseconds."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@dataclass(frozen=True)
class Candidate:
    """Who runs for the Lease, and where it is."""

    identity: str
    namespace: str
    name: str = "modelfleet"
    timing: LeaseTiming = LeaseTiming()


class LeaderElector:
    """Runs for the Lease in a thread of its own; ``on_change(True)`` once it leads, ``on_change(False)``
    once it has lost it (then :meth:`run` returns)."""

    def __init__(
        self,
        leases: LeaseStore,
        candidate: Candidate,
        fence: Fence,
        on_change: Callable[[bool], None],
        *,
        clock: Clock = time.monotonic,
        wall: Callable[[], datetime] = lambda: datetime.now(UTC),
        sleep: Callable[[float], Any] | None = None,
    ) -> None:
        self._leases = leases
        self.candidate = candidate
        self._fence = fence
        self._on_change = on_change
        self._clock = clock
        self._wall = wall
        self._stopping = threading.Event()
        self._sleep = sleep or self._stopping.wait  # the real wait ends early on stop()
        self._observed: tuple[Any, ...] | None = None  # the holder's record as last read
        self._observed_at = 0.0  # when it last changed, on our clock
        self._lease: dict[str, Any] | None = None  # the Lease as last read or written
        self.leading = False

    # ---- one attempt ----------------------------------------------------------------------------------
    def try_acquire_or_renew(self) -> bool:
        """Read the Lease and, when it is ours or free or expired, write ourselves in. True when we hold it."""
        sent_at = self._clock()
        c = self.candidate
        try:
            lease = self._leases.get(LEASE_API_VERSION, LEASE_KIND, c.namespace, c.name)
            if lease is None:
                self._lease = self._leases.create(self._new_lease(transitions=0))
            else:
                spec = lease.get("spec") or {}
                # Any write changes the resourceVersion, whatever the writer's wall clock put in renewTime.
                record = (lease["metadata"].get("resourceVersion"), spec.get("holderIdentity"))
                if record != self._observed:
                    self._observed, self._observed_at = record, sent_at
                holder = spec.get("holderIdentity") or ""
                duration = float(spec.get("leaseDurationSeconds") or c.timing.lease_duration_seconds)
                if (
                    holder
                    and holder != c.identity
                    and not lease_expired(sent_at, self._observed_at, duration)
                ):
                    return False
                self._lease = self._leases.replace(self._renewed(lease, holder == c.identity))
        except ApiError as error:
            if error.status != 409:  # 409: another candidate wrote first, an ordinary loss
                log.warning("lease %s/%s: %s", c.namespace, c.name, error)
            return False
        except Exception as error:  # the API server unreachable: try again next period
            log.warning("lease %s/%s: %s", c.namespace, c.name, error)
            return False
        self._fence.renewed(sent_at)
        return True

    def _new_lease(self, transitions: int) -> dict[str, Any]:
        c, now = self.candidate, micro_time(self._wall())
        return {
            "apiVersion": LEASE_API_VERSION,
            "kind": LEASE_KIND,
            "metadata": {"name": c.name, "namespace": c.namespace},
            "spec": {
                "holderIdentity": c.identity,
                "leaseDurationSeconds": c.timing.lease_duration_seconds,
                "acquireTime": now,
                "renewTime": now,
                "leaseTransitions": transitions,
            },
        }

    def _renewed(self, lease: dict[str, Any], ours: bool) -> dict[str, Any]:
        spec = lease.get("spec") or {}
        transitions = int(spec.get("leaseTransitions") or 0)
        fresh = self._new_lease(transitions if ours else transitions + 1)
        if ours:
            fresh["spec"]["acquireTime"] = spec.get("acquireTime") or fresh["spec"]["acquireTime"]
        fresh["metadata"]["resourceVersion"] = lease["metadata"]["resourceVersion"]  # one writer wins
        return fresh

    # ---- the loop ---------------------------------------------------------------------------------------
    def run(self) -> None:
        """Wait for the Lease, lead while renewing it, return once it is lost or :meth:`stop` is called."""
        t = self.candidate.timing
        log.info(
            "%s runs for lease %s/%s", self.candidate.identity, self.candidate.namespace, self.candidate.name
        )
        while not self._stopping.is_set() and not self.try_acquire_or_renew():
            self._sleep(t.retry_period_seconds)
        if self._stopping.is_set():
            return
        self._change(True)
        while not self._stopping.is_set():
            deadline = self._clock() + t.renew_deadline_seconds
            while not self.try_acquire_or_renew():
                if self._stopping.is_set():
                    return  # a shutdown: the caller releases the Lease once nothing writes
                if self._clock() >= deadline:
                    self._fence.revoke()
                    self._change(False)
                    return
                self._sleep(t.retry_period_seconds)
            self._sleep(t.retry_period_seconds)

    def _change(self, leading: bool) -> None:
        self.leading = leading
        self._on_change(leading)

    def stop(self) -> None:
        self._stopping.set()

    def release(self) -> None:
        """Give the Lease up at once (on a clean shutdown), so a standby need not wait for it to expire.
        As client-go's ReleaseOnCancel: holder emptied, duration 1 s. Call once nothing writes any more."""
        self._fence.revoke()
        lease = self._lease
        if not self.leading or lease is None:
            return
        self.leading = False
        released = self._renewed(lease, ours=True)
        released["spec"].update(holderIdentity="", leaseDurationSeconds=1)
        try:
            self._leases.replace(released)
            log.info("%s released the lease", self.candidate.identity)
        except Exception as error:  # it expires on its own
            log.warning("could not release the lease: %s", error)
