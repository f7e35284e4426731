"""One level-based reconcile loop per ModelDeployment, woken by watch events and a resync timer.

The loop holds no state a restart would lose: it only remembers the newest copy of the object the
watch delivered (to avoid a GET per pass) and an asyncio.Event to wake on. Reconciles run in a
thread pool bounded by ``workers``; every decision is taken from the object's status and the indexes.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from modelfleet.reconcile.inventory import NodeGpus, PodGpus
from modelfleet.reconcile.observed import Child, PodSummary

log = logging.getLogger("modelfleet.worker")
Key = tuple[str, str]  # (namespace, name)
INDEX_NAMES = ("gpu_nodes", "gpu_pods", "engine_pods", "deployments", "services", "httproutes", "leaderworkersets")
# Coalesce bursts of watch events (a Deployment, its ReplicaSet's pods ...) into one pass.
DEBOUNCE_SECONDS = 0.05


@dataclass(frozen=True)
class Snapshot:
    """What the indexes say about one ModelDeployment and the GPU inventory, copied on the event loop."""

    children: tuple[Child, ...]
    pods: tuple[PodSummary, ...]
    nodes: tuple[NodeGpus, ...]
    gpu_pods: tuple[PodGpus, ...]


@dataclass(frozen=True)
class Outcome:
    result: str  # "ok" | "waiting" | "invalid" | "error"
    requeue_after_seconds: float | None = None
    waiting_for_capacity: bool = False


ReconcileFn = Callable[[dict[str, Any], Snapshot], Outcome]
ForgetFn = Callable[[Key], None]


class Workers:
    def __init__(self, reconcile: ReconcileFn, workers: int, resync_seconds: float,
                 lws_enabled: bool = False, on_forget: ForgetFn | None = None) -> None:
        self._reconcile = reconcile
        self._on_forget = on_forget
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="reconcile")
        self._slots: asyncio.Semaphore | None = None
        self._workers = workers
        self.resync_seconds = resync_seconds
        self.lws_enabled = lws_enabled
        self._latest: dict[Key, dict[str, Any]] = {}
        self._wake: dict[Key, asyncio.Event] = {}
        self._tasks: dict[Key, asyncio.Task[None]] = {}
        self._waiting_capacity: set[Key] = set()
        self._nodes: dict[str, NodeGpus | None] = {}
        self._indexes: dict[str, Any] = {}
        self._inventory_cache: tuple[int, tuple[NodeGpus, ...], tuple[PodGpus, ...]] | None = None
        self._inventory_version = 0
        self._errors: dict[Key, int] = {}

    # ---- called from kopf handlers (event loop thread) ------------------------------------------------
    def bind_indexes(self, kwargs: Mapping[str, Any]) -> None:
        if not self._indexes:
            self._indexes = {name: kwargs[name] for name in INDEX_NAMES if name in kwargs}

    def observe(self, key: Key, obj: dict[str, Any]) -> None:
        self._latest[key] = obj
        if key not in self._tasks:
            self._wake[key] = asyncio.Event()
            self._tasks[key] = asyncio.get_running_loop().create_task(self._loop(key), name=f"reconcile {key}")
        self.trigger(key)

    def forget(self, key: Key) -> None:
        task = self._tasks.pop(key, None)
        if task:
            task.cancel()
        self._latest.pop(key, None)
        self._wake.pop(key, None)
        self._waiting_capacity.discard(key)
        self._errors.pop(key, None)
        if self._on_forget is not None:
            self._on_forget(key)

    def trigger(self, key: Key) -> None:
        event = self._wake.get(key)
        if event is not None:
            event.set()

    def note_node(self, name: str, summary: NodeGpus | None) -> bool:
        """Remember a node's GPU summary; True when it changed (capacity appeared, went or moved)."""
        if self._nodes.get(name) == summary and name in self._nodes:
            return False
        self._nodes[name] = summary
        self.inventory_changed()
        return True

    def inventory_changed(self) -> None:
        self._inventory_version += 1

    def trigger_waiting_for_capacity(self) -> None:
        self.inventory_changed()
        for key in list(self._waiting_capacity):
            self.trigger(key)

    async def shutdown(self) -> None:
        for task in self._tasks.values():
            task.cancel()
        for task in list(self._tasks.values()):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._pool.shutdown(wait=False, cancel_futures=True)

    # ---- the loop ---------------------------------------------------------------------------------------
    async def _loop(self, key: Key) -> None:
        loop = asyncio.get_running_loop()
        if self._slots is None:
            self._slots = asyncio.Semaphore(self._workers)
        wake = self._wake[key]
        while True:
            await asyncio.sleep(DEBOUNCE_SECONDS)
            wake.clear()
            obj = self._latest.get(key)
            if obj is None:
                return
            snapshot = self._snapshot(key)
            async with self._slots:
                try:
                    outcome = await loop.run_in_executor(self._pool, self._reconcile, obj, snapshot)
                    self._errors.pop(key, None)
                except Exception:  # a bug or an API outage must not kill the loop: back off and retry
                    failures = self._errors[key] = self._errors.get(key, 0) + 1
                    log.exception("reconcile of %s/%s failed (attempt %d)", key[0], key[1], failures)
                    outcome = Outcome("error", requeue_after_seconds=min(300.0, 2.0 ** min(failures, 8)))
            if outcome.waiting_for_capacity:
                self._waiting_capacity.add(key)
            else:
                self._waiting_capacity.discard(key)
            delay = outcome.requeue_after_seconds or self.resync_seconds
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(wake.wait(), timeout=min(delay, self.resync_seconds))

    def _snapshot(self, key: Key) -> Snapshot:
        children: list[Child] = []
        for name in ("deployments", "services", "httproutes", "leaderworkersets"):
            index = self._indexes.get(name)
            if index is not None and key in index:
                children.extend(index[key])
        pods_index = self._indexes.get("engine_pods")
        pods = tuple(pods_index[key]) if pods_index is not None and key in pods_index else ()
        nodes, gpu_pods = self._inventory()
        return Snapshot(children=tuple(children), pods=pods, nodes=nodes, gpu_pods=gpu_pods)

    def _inventory(self) -> tuple[tuple[NodeGpus, ...], tuple[PodGpus, ...]]:
        cache = self._inventory_cache
        if cache is not None and cache[0] == self._inventory_version:
            return cache[1], cache[2]
        nodes_index, pods_index = self._indexes.get("gpu_nodes"), self._indexes.get("gpu_pods")
        nodes = tuple(v for store in (nodes_index.values() if nodes_index is not None else ()) for v in store)
        pods = tuple(v for store in (pods_index.values() if pods_index is not None else ()) for v in store)
        self._inventory_cache = (self._inventory_version, nodes, pods)
        return nodes, pods
