"""Convergence from watch events: when each ModelDeployment first had its children, a current
``status.observedGeneration`` and ``Ready=True`` (times are ``time.monotonic()`` on arrival).

Fed by :class:`bench.kubeapi.Watch` threads; the same tracker serves the operator run and the
baseline (which has no ModelDeployments, so only the children count there).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from modelfleet.render.names import NAME_LABEL

Key = tuple[str, str]
SERVICES_PER_MODEL = 2  # the revision Service and the umbrella Service


@dataclass
class Progress:
    deployment_at: float | None = None
    services: dict[str, float] = field(default_factory=dict)
    pods_ready_at: float | None = None  # the Deployment's ready replicas reached spec.replicas
    observed_at: float | None = None  # status.observedGeneration == metadata.generation
    ready_at: float | None = None  # the ModelDeployment's condition Ready=True

    @property
    def children_at(self) -> float | None:
        if self.deployment_at is None or len(self.services) < SERVICES_PER_MODEL:
            return None
        return max(self.deployment_at, *sorted(self.services.values())[:SERVICES_PER_MODEL])


def is_ready(obj: dict[str, Any]) -> bool:
    conditions = (obj.get("status") or {}).get("conditions") or []
    return any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions)


def deployment_ready(obj: dict[str, Any]) -> bool:
    wanted = int((obj.get("spec") or {}).get("replicas", 1))
    return wanted > 0 and int((obj.get("status") or {}).get("readyReplicas") or 0) >= wanted


def is_observed(obj: dict[str, Any]) -> bool:
    meta, status = obj.get("metadata") or {}, obj.get("status") or {}
    return bool(status) and status.get("observedGeneration") == meta.get("generation")


class Tracker:
    """Progress of a known set of keys; ``wait(predicate)`` blocks until every key satisfies it."""

    def __init__(self, keys: Iterable[Key]) -> None:
        self.progress: dict[Key, Progress] = {k: Progress() for k in keys}
        self._changed = threading.Condition()
        self.listeners: list[Callable[[Key, dict[str, Any], float], None]] = []

    # ---- watch callbacks -----------------------------------------------------------------------------
    def on_child(self, kind: str) -> Callable[[str, dict[str, Any], float], None]:
        def handle(event_type: str, obj: dict[str, Any], now: float) -> None:
            meta = obj.get("metadata") or {}
            key = (meta.get("namespace", ""), (meta.get("labels") or {}).get(NAME_LABEL, ""))
            progress = self.progress.get(key)
            if progress is None or event_type == "DELETED":
                return
            with self._changed:
                if kind == "Deployment":
                    if progress.deployment_at is None:
                        progress.deployment_at = now
                    if progress.pods_ready_at is None and deployment_ready(obj):
                        progress.pods_ready_at = now
                elif kind == "Service":
                    progress.services.setdefault(meta.get("name", ""), now)
                self._changed.notify_all()

        return handle

    def on_model_deployment(self, event_type: str, obj: dict[str, Any], now: float) -> None:
        meta = obj.get("metadata") or {}
        key = (meta.get("namespace", ""), meta.get("name", ""))
        progress = self.progress.get(key)
        if progress is None or event_type == "DELETED":
            return
        with self._changed:
            if progress.observed_at is None and is_observed(obj):
                progress.observed_at = now
            if progress.ready_at is None and is_ready(obj):
                progress.ready_at = now
            for listener in self.listeners:
                listener(key, obj, now)
            self._changed.notify_all()

    # ---- waiting -------------------------------------------------------------------------------------
    def wait(
        self,
        done: Callable[[Progress], float | None],
        timeout_seconds: float,
        keys: Iterable[Key] | None = None,
        errors: Callable[[], BaseException | None] = lambda: None,
    ) -> float:
        """Block until ``done(progress)`` gives a time for every key; return the latest of those times."""
        wanted = list(keys) if keys is not None else list(self.progress)
        deadline = time.monotonic() + timeout_seconds
        with self._changed:
            while True:
                times = [done(self.progress[k]) for k in wanted]
                if all(t is not None for t in times):
                    return max([t for t in times if t is not None], default=time.monotonic())
                error = errors()
                if error is not None:
                    raise RuntimeError(f"a watch failed: {error!r}")
                left = deadline - time.monotonic()
                if left <= 0:
                    missing = sum(t is None for t in times)
                    raise TimeoutError(f"{missing} of {len(wanted)} not there after {timeout_seconds:.0f} s")
                self._changed.wait(min(left, 1.0))

    def count(self, done: Callable[[Progress], float | None]) -> int:
        with self._changed:
            return sum(done(p) is not None for p in self.progress.values())


def children_done(progress: Progress) -> float | None:
    return progress.children_at


def converged(progress: Progress) -> float | None:
    """Children exist and the status reflects the current generation."""
    children = progress.children_at
    if children is None or progress.observed_at is None:
        return None
    return max(children, progress.observed_at)


def ready(progress: Progress) -> float | None:
    return progress.ready_at


def pods_ready(progress: Progress) -> float | None:
    return progress.pods_ready_at
