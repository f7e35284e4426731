"""Kubernetes Events posted off the reconcile path, in order, by one background thread.

An Event is a record for people, not state the operator reads back, so a pass never waits for one:
it hands the Event to the sink and moves on (like client-go's event broadcaster). One thread posts
them in the order the passes decided them. When the queue is full (the API server is unreachable
for long) new Events are dropped with a warning rather than held without bound; ``flush`` waits for
the queue to drain (used on shutdown).
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable
from typing import Any

log = logging.getLogger("modelfleet.events")
MAX_QUEUED = 10_000

Post = Callable[[dict[str, Any]], Any]


class EventSink:
    def __init__(self, post: Post, max_queued: int = MAX_QUEUED) -> None:
        self._post = post
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
            log.warning("event queue full (%d): dropped %s %s", self._queue.maxsize, body.get("reason"),
                        (body.get("involvedObject") or {}).get("name"))

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
                self._post(body)
            except Exception as error:  # best effort: an Event never fails anything
                log.warning("could not post event %s on %s: %s", body.get("reason"),
                            (body.get("involvedObject") or {}).get("name"), error)
            finally:
                self._queue.task_done()
