"""Where ``modelfleet fetch`` reports: its Job's annotation, the termination message, stderr.

The operator reads the first two from the Job it watches (``api.fetch``), never by dialling the pod. A
report that cannot be sent is logged and dropped: progress is advisory, the download goes on, and the
final report is written to the termination message whatever the API server says.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol

from modelfleet.api.fetch import FetchProgress
from modelfleet.api.fetch_plan import TransferMeter, report_due
from modelfleet.render.names import FETCH_PROGRESS_ANNOTATION

JOB_ENV = "MODELFLEET_FETCH_JOB"  # <namespace>/<job-name>: patch the annotation on this Job
TERMINATION_LOG_ENV = "MODELFLEET_TERMINATION_LOG"
DEFAULT_TERMINATION_LOG = "/dev/termination-log"
# The kubelet keeps at most 4096 bytes of a termination message; the report stays well under it.
TERMINATION_MESSAGE_MAX_BYTES = 4096


class Sink(Protocol):
    def send(self, progress: FetchProgress) -> None: ...


def wire_json(progress: FetchProgress) -> str:
    """The report as the operator reads it: camelCase, without the marker's file list."""
    return progress.model_copy(update={"files": None}).model_dump_json(by_alias=True, exclude_none=True)


def now_rfc3339() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class StderrSink:
    def send(self, progress: FetchProgress) -> None:
        print(f"modelfleet fetch: {wire_json(progress)}", file=sys.stderr, flush=True)


class JobAnnotationSink:
    """Merge-patches FETCH_PROGRESS_ANNOTATION on the Job, with in-cluster config or KUBECONFIG."""

    def __init__(self, namespace: str, name: str) -> None:
        from modelfleet.reconcile.kube import Kube  # loaded only when a Job is named

        self.namespace, self.name = namespace, name
        self.kube = Kube.from_environment(timeout_seconds=10, user_agent="modelfleet/fetch")

    def send(self, progress: FetchProgress) -> None:
        patch = {"metadata": {"annotations": {FETCH_PROGRESS_ANNOTATION: wire_json(progress)}}}
        try:
            self.kube.patch("batch/v1", "Job", self.namespace, self.name, patch)
        except Exception as error:  # advisory: a lost report must not fail the download
            print(
                f"modelfleet fetch: cannot annotate Job {self.namespace}/{self.name}: {error}",
                file=sys.stderr,
            )


def sinks_from_environment(environ: dict[str, str]) -> list[Sink]:
    sinks: list[Sink] = [StderrSink()]
    job = environ.get(JOB_ENV, "").strip()
    if job:
        namespace, sep, name = job.partition("/")
        if not sep or not namespace or not name:
            raise ValueError(f"{JOB_ENV}={job!r}: expected <namespace>/<job-name>")
        sinks.append(JobAnnotationSink(namespace, name))
    return sinks


def write_termination_message(progress: FetchProgress, environ: dict[str, str]) -> None:
    path = Path(environ.get(TERMINATION_LOG_ENV) or DEFAULT_TERMINATION_LOG)
    text = wire_json(progress)
    if len(text.encode()) > TERMINATION_MESSAGE_MAX_BYTES and progress.error is not None:
        short = progress.error.model_copy(update={"message": progress.error.message[:1000]})
        text = wire_json(progress.model_copy(update={"error": short}))
    try:
        path.write_text(text)
    except OSError as error:  # outside a pod there is no /dev/termination-log
        print(f"modelfleet fetch: cannot write {path}: {error.strerror}", file=sys.stderr)


class Reporter:
    """Sends reports to every sink, throttled by ``report_due``; a thread samples progress meanwhile.

    ``clock`` gives seconds (monotonic), ``wait`` sleeps until the next sample or until stopped; both
    are parameters so a test can drive the reporter on its own time.
    """

    def __init__(
        self,
        sinks: list[Sink],
        interval_seconds: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.sinks = sinks
        self.interval_seconds = interval_seconds
        self.clock = clock
        self.meter = TransferMeter()
        self.last: FetchProgress | None = None
        self._last_at = 0.0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def report(self, progress: FetchProgress, force: bool = False) -> FetchProgress:
        """Adds rate and ETA from the meter when bytes are counted, then sends it if due."""
        with self._lock:
            now = self.clock()
            if progress.bytes_total is not None and progress.error is None:
                self.meter.add(now, progress.bytes_done)
                progress = progress.model_copy(
                    update={
                        "rate_bytes_per_second": self.meter.rate_bytes_per_second(),
                        "eta_seconds": self.meter.eta_seconds(progress.bytes_total),
                    }
                )
            if force or report_due(self.last, progress, now - self._last_at, self.interval_seconds):
                for sink in self.sinks:
                    sink.send(progress)
                self.last, self._last_at = progress, now
            return progress

    def watch(self, sample: Callable[[], FetchProgress], every_seconds: float) -> None:
        """Samples ``sample()`` every ``every_seconds`` on a thread until ``stop()``."""

        def loop() -> None:
            while not self._stop.wait(every_seconds):
                self.report(sample())

        self._stop.clear()
        self._thread = threading.Thread(target=loop, name="fetch-progress", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None


def environment() -> dict[str, str]:
    return dict(os.environ)
