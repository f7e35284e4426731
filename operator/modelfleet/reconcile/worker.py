"""One level-based reconcile loop per ModelDeployment, woken by watch events and a resync timer.

The loop holds no state a restart would lose: it only remembers the newest copy of the object the
watch delivered (to avoid a GET per pass) and an asyncio.Event to wake on. Reconciles run in a
thread pool bounded by ``workers``; every decision is taken from the object's status and the indexes.

When every worker is busy, a ModelDeployment whose spec (generation) or action annotation the operator
has not acted on yet goes before passes that only look again (children and pods moved, resync): a
user's change, or a fleet of new objects, does not queue behind pod-status follow-ups.

Time is given, not taken: the loops wait with the ``sleep`` and read the ``clock`` they are handed (the
event loop's own by default), and the debounces are a :class:`Debounce`, so the tests run the loops
on fake time and assert the order of passes rather than wall-clock luck.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import itertools
import logging
from collections.abc import Awaitable, Callable, Mapping
from concurrent.futures import Executor, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from modelfleet.api import ACTION_ANNOTATION
from modelfleet.decide.caches import CacheClaim, FetchJob
from modelfleet.decide.inventory import Inventory, NodeGpus, PodGpus, PodLedger
from modelfleet.decide.observed import Child, PodSummary

log = logging.getLogger("modelfleet.worker")
Key = tuple[str, str]  # (namespace, name)
CHILD_INDEX_NAMES = (
    "deployments",
    "services",
    "poddisruptionbudgets",
    "httproutes",
    "leaderworkersets",
    "scaledobjects",
    "horizontalpodautoscalers",
)
CACHE_INDEX_NAMES = ("cache_claims", "cache_jobs")  # by namespace: caches belong to no one object
INDEX_NAMES = CACHE_INDEX_NAMES  # kopf's indexes; the rest is fed by the informers (note_child, note_node)
Sleep = Callable[[float], Awaitable[None]]


@dataclass(frozen=True)
class Debounce:
    """How long a loop gathers watch events into one pass, in seconds.

    A change of the ModelDeployment itself is acted on almost at once; changes of its children and
    pods (a Deployment's status, its pods being scheduled, started and becoming Ready: several events
    within a second) are gathered a little longer. A resync waits the children's debounce too.
    """

    object_seconds: float = 0.05
    children_seconds: float = 0.5


@dataclass(frozen=True)
class Snapshot:
    """What the caches say about one ModelDeployment and the GPU inventory, copied on the event loop."""

    children: tuple[Child, ...]
    pods: tuple[PodSummary, ...]
    inventory: Inventory  # shared by every pass until the inventory changes
    caches: tuple[CacheClaim, ...] = ()  # the weight caches of the object's namespace
    fetch_jobs: tuple[FetchJob, ...] = ()


@dataclass(frozen=True)
class Outcome:
    result: str  # "ok" | "waiting" | "invalid" | "error"
    requeue_after_seconds: float | None = None
    waiting_for_capacity: bool = False
    status: dict[str, Any] | None = None  # the status this pass left on the object (None: unknown)


ReconcileFn = Callable[[dict[str, Any], Snapshot], Outcome]
ForgetFn = Callable[[Key], None]
CHANGED, FOLLOW_UP = 0, 1  # slot priorities: lower goes first


class PrioritySlots:
    """A semaphore whose waiters are served by priority, first come first served within one."""

    def __init__(self, slots: int) -> None:
        self._free = slots
        self._waiters: list[tuple[int, int, asyncio.Future[None]]] = []
        self._order = itertools.count()

    @contextlib.asynccontextmanager
    async def slot(self, priority: int) -> Any:
        await self._acquire(priority)
        try:
            yield
        finally:
            self._release()

    async def _acquire(self, priority: int) -> None:
        if self._free > 0 and not self._waiters:
            self._free -= 1
            return
        granted: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._waiters, (priority, next(self._order), granted))
        try:
            await granted
        except asyncio.CancelledError:
            if granted.done() and not granted.cancelled():
                self._release()  # handed a slot just as we were cancelled: pass it on
            raise

    def _release(self) -> None:
        while self._waiters:
            _, _, granted = heapq.heappop(self._waiters)
            if not granted.done():
                granted.set_result(None)  # the slot goes straight to the waiter
                return
        self._free += 1


def pass_priority(obj: Mapping[str, Any], why: set[str]) -> int:
    """CHANGED when the object itself changed in a way no pass has acted on yet."""
    if "object" not in why:
        return FOLLOW_UP
    meta = obj.get("metadata") or {}
    observed = (obj.get("status") or {}).get("observedGeneration")
    if observed != meta.get("generation") or ACTION_ANNOTATION in (meta.get("annotations") or {}):
        return CHANGED
    return FOLLOW_UP


class Workers:
    def __init__(
        self,
        reconcile: ReconcileFn,
        workers: int,
        resync_seconds: float,
        lws_enabled: bool = False,
        on_forget: ForgetFn | None = None,
        *,
        debounce: Debounce = Debounce(),
        sleep: Sleep = asyncio.sleep,
        clock: Callable[[], float] | None = None,
        pool: Executor | None = None,
    ) -> None:
        """`clock` is monotonic seconds (None: the running event loop's clock); `pool` runs the passes
        (None: a pool of `workers` threads)."""
        self._reconcile = reconcile
        self._on_forget = on_forget
        self._debounce = debounce
        self._sleep = sleep
        self._clock = clock
        self._pool = pool or ThreadPoolExecutor(max_workers=workers, thread_name_prefix="reconcile")
        self._slots: PrioritySlots | None = None
        self._workers = workers
        self.resync_seconds = resync_seconds
        self.lws_enabled = lws_enabled
        self._latest: dict[Key, dict[str, Any]] = {}
        self._wake: dict[Key, asyncio.Event] = {}
        self._tasks: dict[Key, asyncio.Task[None]] = {}
        self._waiting_capacity: set[Key] = set()
        self._nodes: dict[str, NodeGpus | None] = {}
        self._indexes: dict[str, Any] = {}
        self._inventory_version = 0
        self._pods = PodLedger()  # what every GPU pod holds, summed as pods change
        # The summary each child and engine pod had when last seen (by kind and uid): a watch event
        # that leaves it unchanged (a PDB's status, a pod's IP) wakes no one.
        # cache name ("engine_pods", "deployments" ...) -> owner -> uid -> summary, and who owns each uid
        self._caches: dict[str, dict[Key, dict[str, Any]]] = {}
        self._owner_of: dict[tuple[str, str], Key] = {}
        # Passes wait until every informer listed its collection once (client-go's WaitForCacheSync):
        # a first pass must not take a missing child for one to create, or busy GPUs for free ones.
        self._unsynced = 0
        self._synced: asyncio.Event | None = None
        self._inventory: tuple[int, Inventory] | None = None  # (the version it was built from, it)
        self._errors: dict[Key, int] = {}
        self._why: dict[Key, set[str]] = {}  # what woke each loop: "object" (the watch) or "children"
        # What each object looked like after its last pass, with the status that pass wrote: the watch
        # event of our own status patch matches it and needs no new pass.
        self._settled: dict[Key, tuple[Any, ...]] = {}
        # The resourceVersion each last pass read, and the status it left: while the watch has delivered
        # nothing newer, the next pass starts from that status, not from the copy's older one (it would
        # write again what is already written). The version, not the copy: a second copy of every
        # object would stay in memory until its next pass.
        self._left: dict[Key, tuple[str, dict[str, Any]]] = {}

    # ---- called from kopf handlers (event loop thread) ------------------------------------------------
    def bind_indexes(self, kwargs: Mapping[str, Any]) -> None:
        if not self._indexes:
            self._indexes = {name: kwargs[name] for name in INDEX_NAMES if name in kwargs}

    def observe(self, key: Key, obj: dict[str, Any]) -> None:
        self._latest[key] = obj
        if key not in self._tasks:
            self._wake[key] = asyncio.Event()
            self._tasks[key] = asyncio.get_running_loop().create_task(
                self._loop(key), name=f"reconcile {key}"
            )
        elif self._settled.get(key) == _fingerprint(obj, obj.get("status")):
            return  # the echo of our own status write: nothing to decide
        self._wake_for(key, "object")

    def forget(self, key: Key) -> None:
        task = self._tasks.pop(key, None)
        if task:
            task.cancel()
        self._latest.pop(key, None)
        self._wake.pop(key, None)
        self._waiting_capacity.discard(key)
        self._errors.pop(key, None)
        self._why.pop(key, None)
        self._settled.pop(key, None)
        self._left.pop(key, None)
        if self._on_forget is not None:
            self._on_forget(key)

    def trigger(self, key: Key) -> None:
        """A child, pod or the inventory changed: look at the object again (soon, not at once)."""
        self._wake_for(key, "children")

    def _wake_for(self, key: Key, why: str) -> None:
        event = self._wake.get(key)
        if event is not None:
            self._why.setdefault(key, set()).add(why)
            event.set()

    def note_node(self, name: str, summary: NodeGpus | None) -> bool:
        """Remember a node's GPU summary; True when it changed (capacity appeared, went or moved)."""
        if self._nodes.get(name) == summary and name in self._nodes:
            return False
        self._nodes[name] = summary
        self.inventory_changed()
        return True

    def note_pod_gpus(self, uid: str, gpus: PodGpus | None) -> None:
        """What a pod holds now (None: nothing, or it is gone). GPUs freed wake whoever waits for them."""
        changed, freed = self._pods.set(uid, gpus)
        if freed:
            self.trigger_waiting_for_capacity()
        elif changed:
            self.inventory_changed()

    def note_child(self, cache: str, uid: str, owner: Key | None, summary: Any) -> None:
        """A child or engine pod of `owner` as the watch shows it now (None: deleted). Its owner looks
        again only when the summary a pass reads changed."""
        seen = (cache, uid)
        before = self._owner_of.get(seen)
        by_owner = self._caches.setdefault(cache, {})
        if before is not None and before != owner:  # deleted, or its labels name another owner now
            self._drop(by_owner, before, uid)
            self._owner_of.pop(seen, None)
            self.trigger(before)
        if owner is None:
            return
        if summary is None:
            if before == owner:
                self._drop(by_owner, owner, uid)
                self._owner_of.pop(seen, None)
                self.trigger(owner)
            return
        mine = by_owner.setdefault(owner, {})
        if mine.get(uid) == summary:
            return
        mine[uid] = summary
        self._owner_of[seen] = owner
        self.trigger(owner)

    @staticmethod
    def _drop(by_owner: dict[Key, dict[str, Any]], owner: Key, uid: str) -> None:
        mine = by_owner.get(owner)
        if mine is not None:
            mine.pop(uid, None)
            if not mine:
                del by_owner[owner]

    def expect_informers(self, count: int) -> None:
        """`count` informers will call :meth:`informer_synced` once each; passes wait for all of them."""
        self._unsynced += count

    def informer_synced(self) -> None:
        self._unsynced -= 1
        if self._unsynced <= 0 and self._synced is not None:
            self._synced.set()

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
        now = self._clock or loop.time
        if self._slots is None:
            self._slots = PrioritySlots(self._workers)
        wake = self._wake[key]
        if self._unsynced > 0:
            if self._synced is None:
                self._synced = asyncio.Event()
            await self._synced.wait()
        due = now() + self.resync_seconds  # when to look again without an event
        while True:
            debounce = self._debounce
            await self._sleep(
                debounce.object_seconds if "object" in self._why.get(key, ()) else debounce.children_seconds
            )
            wake.clear()
            why = self._why.pop(key, set())
            obj = self._latest.get(key)
            if obj is None:
                return
            if why == {"object"} and self._settled.get(key) == _fingerprint(obj, obj.get("status")):
                # Our own status write, seen by the watch while the pass that wrote it still ran: it
                # neither needs a pass nor moves the next look back.
                await self._wait(wake, due - now())
                continue
            async with self._slots.slot(pass_priority(obj, why)):
                obj = read = self._latest.get(key, obj)  # the newest copy, had the wait for a slot been long
                left, version = self._left.get(key), _version(read)
                if left is not None and version is not None and left[0] == version:
                    obj = {**read, "status": left[1]}
                snapshot = self._snapshot(key)
                try:
                    outcome = await loop.run_in_executor(self._pool, self._reconcile, obj, snapshot)
                    self._errors.pop(key, None)
                except Exception:  # a bug or an API outage must not kill the loop: back off and retry
                    failures = self._errors[key] = self._errors.get(key, 0) + 1
                    log.exception("reconcile of %s/%s failed (attempt %d)", key[0], key[1], failures)
                    outcome = Outcome("error", requeue_after_seconds=min(300.0, 2.0 ** min(failures, 8)))
            if outcome.status is not None:
                self._settled[key] = _fingerprint(obj, outcome.status)
                if version is not None:
                    self._left[key] = (version, outcome.status)
            else:
                self._settled.pop(key, None)
                self._left.pop(key, None)
            if outcome.waiting_for_capacity:
                self._waiting_capacity.add(key)
            else:
                self._waiting_capacity.discard(key)
            delay = min(outcome.requeue_after_seconds or self.resync_seconds, self.resync_seconds)
            due = now() + delay
            await self._wait(wake, delay)

    async def _wait(self, wake: asyncio.Event, seconds: float) -> None:
        """Until `wake` is set or `seconds` have passed on the given sleep, whichever comes first."""
        if wake.is_set() or seconds <= 0:
            return
        woken = asyncio.ensure_future(wake.wait())
        timer = asyncio.ensure_future(self._sleep(seconds))
        try:
            await asyncio.wait((woken, timer), return_when=asyncio.FIRST_COMPLETED)
        finally:
            woken.cancel()
            timer.cancel()

    def _snapshot(self, key: Key) -> Snapshot:
        children: list[Child] = []
        for name in CHILD_INDEX_NAMES:
            mine = self._caches.get(name, {}).get(key)
            if mine:
                children.extend(mine.values())
        pods = tuple((self._caches.get("engine_pods", {}).get(key) or {}).values())
        claims, jobs = (self._indexes.get(name) for name in CACHE_INDEX_NAMES)
        return Snapshot(
            children=tuple(children),
            pods=pods,
            inventory=self._current_inventory(),
            caches=tuple(claims[key[0]]) if claims is not None and key[0] in claims else (),
            fetch_jobs=tuple(jobs[key[0]]) if jobs is not None and key[0] in jobs else (),
        )

    def _current_inventory(self) -> Inventory:
        """The inventory of the current version: built once per change (O(nodes): the pods' sums are
        kept per pod change), on the event loop, then shared read-only by every pass until the next."""
        built = self._inventory
        if built is None or built[0] != self._inventory_version:
            nodes = tuple(node for node in self._nodes.values() if node is not None)
            built = self._inventory = (self._inventory_version, Inventory(nodes, sums=self._pods.sums()))
        return built[1]


def _version(obj: Mapping[str, Any]) -> str | None:
    return (obj.get("metadata") or {}).get("resourceVersion")


def _fingerprint(obj: Mapping[str, Any], status: Any) -> tuple[Any, ...]:
    """Everything a pass reads from the ModelDeployment itself (the spec through its generation)."""
    meta = obj.get("metadata") or {}
    return (
        meta.get("uid"),
        meta.get("generation"),
        meta.get("annotations") or {},
        meta.get("deletionTimestamp"),
        status or {},
    )
