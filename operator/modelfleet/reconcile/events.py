"""Kubernetes Events posted off the reconcile path, in order, by one background thread.

An Event is a record for people, not state the operator reads back, so a pass never waits for one:
it hands the Event to the sink and moves on (like client-go's event broadcaster). One thread posts
them in the order the passes decided them. When the queue is full (the API server is unreachable
for long) new Events are dropped with a warning rather than held without bound; ``flush`` waits for
the queue to drain (used on shutdown).

Events are also rate-limited, like the kubelet's ``--event-qps``/``--event-burst``: a burst of
``burst`` Events goes out at once, then ``qps`` per second. When a whole fleet is applied at once, the
Events wait in the queue instead of competing with the writes that converge it (children, status);
they are posted, in order, once the burst is over. ``qps`` 0 turns the limit off.

Repeats are counted, not posted again, as client-go's event correlator does: an Event with the same
object, type, reason and message as one posted in the last ``SERIES_WINDOW_SECONDS`` raises that
Event's ``count`` and ``lastTimestamp`` with one PATCH (the ``events.k8s.io/v1`` series, in the core
Event's fields ``kubectl get events`` shows). The sink remembers the last ``SERIES_MEMORY`` Events it
posted; one that expired on the API server meanwhile (404) is posted anew.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

log = logging.getLogger("modelfleet.events")
MAX_QUEUED = 10_000
DEFAULT_QPS = 10.0
DEFAULT_BURST = 100
# client-go's EventCorrelator: repeats within 10 minutes join the first Event, 4,096 remembered.
SERIES_WINDOW_SECONDS = 600.0
SERIES_MEMORY = 4096

Post = Callable[[dict[str, Any]], Any]
Update = Callable[[str, str, dict[str, Any]], Any]  # (namespace, name, merge patch) of a posted Event
SeriesKey = tuple[str, str, str, str]  # involved object's uid, type, reason, message


@dataclass
class Series:
    namespace: str
    name: str  # of the Event the API server holds
    count: int
    started: float  # monotonic seconds of the first post


def series_key(body: dict[str, Any]) -> SeriesKey:
    involved = body.get("involvedObject") or {}
    return (
        str(involved.get("uid", "")),
        body.get("type", ""),
        body.get("reason", ""),
        body.get("message", ""),
    )


class TokenBucket:
    """`burst` tokens, refilled at `qps` per second; `reserve` takes one and says how long to wait for it.

    >>> clock = iter([0.0, 0.0, 0.0, 0.5]).__next__
    >>> bucket = TokenBucket(qps=2, burst=2, clock=clock)
    >>> [bucket.reserve() for _ in range(4)]
    [0.0, 0.0, 0.5, 0.5]
    """

    def __init__(self, qps: float, burst: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.qps = qps
        self.burst = max(1, burst)
        self._clock = clock
        self._tokens = float(self.burst)
        self._last: float | None = None

    def reserve(self) -> float:
        if self.qps <= 0:
            return 0.0
        now = self._clock()
        if self._last is not None:
            self._tokens = min(float(self.burst), self._tokens + (now - self._last) * self.qps)
        self._last = now
        self._tokens -= 1
        return 0.0 if self._tokens >= 0 else -self._tokens / self.qps


class EventSink:
    def __init__(
        self,
        post: Post,
        update: Update | None = None,
        max_queued: int = MAX_QUEUED,
        qps: float = DEFAULT_QPS,
        burst: int = DEFAULT_BURST,
        sleep: Callable[[float], Any] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._post = post
        self._update = update  # None: every Event is posted, none aggregated
        self._clock = clock
        self._series: OrderedDict[SeriesKey, Series] = OrderedDict()
        self.aggregated = 0  # repeats counted on an earlier Event instead of posted
        self._bucket = TokenBucket(qps, burst, clock)
        self._sleep = sleep
        self.delayed = 0
        self._queue: queue.Queue[dict[str, Any]] = queue.Queue(maxsize=max_queued)
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self.dropped = 0

    def __call__(self, body: dict[str, Any]) -> None:
        self._start()
        try:
            self._queue.put_nowait(body)
        except queue.Full:
            self.dropped += 1
            log.warning(
                "event queue full (%d): dropped %s %s",
                self._queue.maxsize,
                body.get("reason"),
                (body.get("involvedObject") or {}).get("name"),
            )

    def pending(self) -> int:
        return self._queue.unfinished_tasks

    def flush(self, timeout_seconds: float = 5.0) -> bool:
        """Wait until every queued Event was posted (or given up on); False on timeout."""
        done = threading.Event()

        def wait() -> None:
            self._queue.join()
            done.set()

        threading.Thread(target=wait, daemon=True).start()
        return done.wait(timeout_seconds)

    def _start(self) -> None:
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="events", daemon=True)
                self._thread.start()

    def _run(self) -> None:
        while True:
            body = self._queue.get()
            try:
                wait = self._bucket.reserve()
                if wait > 0:
                    self.delayed += 1
                    self._sleep(wait)
                self._send(body)
            except Exception as error:  # best effort: an Event never fails anything
                log.warning(
                    "could not post event %s on %s: %s",
                    body.get("reason"),
                    (body.get("involvedObject") or {}).get("name"),
                    error,
                )
            finally:
                self._queue.task_done()

    def _send(self, body: dict[str, Any]) -> None:
        """Post `body`, or count it on the Event it repeats."""
        key = series_key(body)
        series = self._series.get(key)
        now = self._clock()
        if self._update is not None and series is not None and now - series.started < SERIES_WINDOW_SECONDS:
            series.count += 1
            patch = {"count": series.count, "lastTimestamp": body.get("lastTimestamp")}
            try:
                self._update(series.namespace, series.name, patch)
                self.aggregated += 1
                self._series.move_to_end(key)
                return
            except Exception as error:  # expired (404) or unreadable: start a new series
                log.debug("event %s could not be counted again (%s): posting it anew", series.name, error)
        posted = self._post(body)
        name = ((posted or {}).get("metadata") or {}).get("name") if isinstance(posted, dict) else None
        if self._update is None or not name:
            return
        self._series[key] = Series(
            (body.get("metadata") or {}).get("namespace", ""), name, int(body.get("count") or 1), now
        )
        self._series.move_to_end(key)
        while len(self._series) > SERIES_MEMORY:
            self._series.popitem(last=False)
