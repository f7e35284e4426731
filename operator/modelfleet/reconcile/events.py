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
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from typing import Any

log = logging.getLogger("modelfleet.events")
MAX_QUEUED = 10_000
DEFAULT_QPS = 10.0
DEFAULT_BURST = 100

Post = Callable[[dict[str, Any]], Any]


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
        max_queued: int = MAX_QUEUED,
        qps: float = DEFAULT_QPS,
        burst: int = DEFAULT_BURST,
        sleep: Callable[[float], Any] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._post = post
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
                self._post(body)
            except Exception as error:  # best effort: an Event never fails anything
                log.warning(
                    "could not post event %s on %s: %s",
                    body.get("reason"),
                    (body.get("involvedObject") or {}).get("name"),
                    error,
                )
            finally:
                self._queue.task_done()
