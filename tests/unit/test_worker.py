"""The per-object loops, on fake time (looptime): which passes run, in what order, and when.

The loops wait on the event loop's clock, which looptime fakes, and the passes run inline on the
event loop thread (no thread pool), so the moment of every pass is exact: a test sleeps through fake
time and asserts the whole schedule of passes, including the ones that must not happen.
"""

from __future__ import annotations

import asyncio
import copy
from collections.abc import Callable
from concurrent.futures import Executor, Future
from typing import Any

import pytest

from modelfleet.decide.inventory import Inventory, NodeGpus, PodGpus
from modelfleet.reconcile import worker
from modelfleet.reconcile.worker import Debounce, Outcome, Snapshot, Workers

KEY = ("llm", "m")
RESYNC_SECONDS = 60.0
ACTION = "modelfleet.io/action"


def on_fake_time(test: Callable[..., Any]) -> Callable[..., Any]:
    return pytest.mark.asyncio(pytest.mark.looptime(test))


def md(generation: int = 1, status: dict[str, Any] | None = None, **annotations: str) -> dict[str, Any]:
    return {
        "metadata": {
            "namespace": "llm",
            "name": "m",
            "uid": "u1",
            "generation": generation,
            "annotations": annotations,
        },
        "spec": {},
        "status": status or {},
    }


def versioned(obj: dict[str, Any], resource_version: str) -> dict[str, Any]:
    obj["metadata"]["resourceVersion"] = resource_version
    return obj


class InlinePool(Executor):
    """Runs each pass at once on the calling thread (the event loop's): no thread, no real time."""

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        future: Future[Any] = Future()
        try:
            future.set_result(fn(*args, **kwargs))
        except Exception as error:
            future.set_exception(error)
        return future


class Passes:
    """A reconcile function that records when each pass ran (fake seconds) and what it saw."""

    def __init__(self, outcome: Callable[[int], Outcome] = lambda n: Outcome("ok")) -> None:
        self.outcome = outcome
        self.seen: list[tuple[float, dict[str, Any]]] = []
        self.during: dict[int, Callable[[], None]] = {}  # pass number -> what happens while it runs

    def __call__(self, obj: dict[str, Any], _: Snapshot) -> Outcome:
        self.seen.append((round(asyncio.get_running_loop().time(), 6), copy.deepcopy(obj)))
        number = len(self.seen)
        if number in self.during:
            self.during[number]()
        return self.outcome(number)

    @property
    def times(self) -> list[float]:
        return [at for at, _ in self.seen]


def workers_for(passes: Passes, **kwargs: Any) -> Workers:
    return Workers(passes, workers=2, resync_seconds=RESYNC_SECONDS, pool=InlinePool(), **kwargs)


async def feed(workers: Workers, *objects: dict[str, Any], every: float = 0.1) -> None:
    """Deliver `objects` as a watch would, `every` seconds apart."""
    for obj in objects:
        workers.observe(KEY, obj)
        await asyncio.sleep(every)


@on_fake_time
async def test_the_echo_of_our_own_status_write_needs_no_pass() -> None:
    written = {"observedGeneration": 1, "phase": "Progressing"}
    passes = Passes(lambda n: Outcome("ok", status=written))
    workers = workers_for(passes)
    await feed(workers, md(), md(status=written))
    await asyncio.sleep(RESYNC_SECONDS + 1)
    await workers.shutdown()
    # The next pass after the first is the resync one: the echo at 0.1 s started none.
    assert passes.times == [0.05, RESYNC_SECONDS + 0.05 + 0.5]


@on_fake_time
async def test_a_status_someone_else_changed_is_looked_at_again() -> None:
    written = {"observedGeneration": 1, "phase": "Progressing"}
    passes = Passes(lambda n: Outcome("ok", status=written))
    workers = workers_for(passes)
    await feed(workers, md(), md(status={**written, "phase": "Healthy"}))
    await asyncio.sleep(1)
    await workers.shutdown()
    assert passes.times == [0.05, 0.15]
    assert passes.seen[1][1]["status"]["phase"] == "Healthy"


@on_fake_time
async def test_a_new_generation_or_an_action_annotation_is_a_new_pass() -> None:
    written = {"observedGeneration": 1}
    passes = Passes(lambda n: Outcome("ok", status=written))
    workers = workers_for(passes)
    await feed(workers, md(), md(2, written), md(2, written, **{ACTION: "promote"}))
    await workers.shutdown()
    assert passes.times == [0.05, 0.15, 0.25]
    assert [obj["metadata"]["generation"] for _, obj in passes.seen] == [1, 2, 2]
    assert passes.seen[2][1]["metadata"]["annotations"] == {ACTION: "promote"}


@on_fake_time
async def test_child_events_are_gathered_into_one_pass_after_the_children_debounce() -> None:
    passes = Passes()
    workers = workers_for(passes, debounce=Debounce(object_seconds=0.2, children_seconds=3.0))
    workers.observe(KEY, md())
    await asyncio.sleep(1)
    for _ in range(5):  # a Deployment's status and its pod's phases, in quick succession
        workers.trigger(KEY)
        await asyncio.sleep(0.5)
    await asyncio.sleep(30)
    await workers.shutdown()
    assert passes.times == [0.2, 1 + 3.0]  # one pass for the object, one for the five child events


@on_fake_time
async def test_the_echo_arriving_while_its_pass_still_runs_needs_no_pass_either() -> None:
    written = {"observedGeneration": 1, "phase": "Progressing"}
    passes = Passes(lambda n: Outcome("ok", status=written))
    workers = workers_for(passes)
    # The status patch is long done: the watch delivers it before the pass returns.
    passes.during[1] = lambda: workers.observe(KEY, md(status=written))
    workers.observe(KEY, md())
    await asyncio.sleep(RESYNC_SECONDS + 1)
    await workers.shutdown()
    # Nor does it move the resync back: the next pass comes a resync period after the first one.
    assert passes.times == [0.05, 0.05 + RESYNC_SECONDS + 0.5]


@on_fake_time
async def test_a_pass_before_the_echo_of_the_last_status_write_starts_from_that_status() -> None:
    """A child changes before the watch shows our status patch: the pass diffs against what was
    written, so it does not write the same fields again."""
    first = {"observedGeneration": 1, "phase": "Pending"}
    passes = Passes(lambda n: Outcome("ok", status=first if n == 1 else {**first, "phase": "Healthy"}))
    workers = workers_for(passes)
    workers.observe(KEY, versioned(md(), "1"))
    await asyncio.sleep(0.1)
    workers.trigger(KEY)  # a pod became Ready; the echo of the first write is still on its way
    await asyncio.sleep(1)
    workers.observe(KEY, versioned(md(status={**first, "phase": "Healthy"}), "3"))  # the second's echo
    workers.trigger(KEY)
    await asyncio.sleep(1)
    await workers.shutdown()
    assert [obj["status"] for _, obj in passes.seen] == [{}, first, {**first, "phase": "Healthy"}]


@on_fake_time
async def test_a_pass_that_asks_to_be_requeued_is_looked_at_again_then() -> None:
    passes = Passes(lambda n: Outcome("waiting", requeue_after_seconds=10))
    workers = workers_for(passes)
    workers.observe(KEY, md())
    await asyncio.sleep(25)
    await workers.shutdown()
    assert passes.times == [0.05, 10.55, 21.05]  # each requeue waits the children's debounce too


@on_fake_time
async def test_a_failing_pass_is_retried_with_a_doubling_backoff() -> None:
    def fail(number: int) -> Outcome:
        raise RuntimeError(f"the API server is down (pass {number})")

    passes = Passes(fail)
    workers = workers_for(passes)
    workers.observe(KEY, md())
    await asyncio.sleep(20)
    await workers.shutdown()
    assert passes.times == [0.05, 2.55, 7.05, 15.55]  # 2, 4, 8 s later (plus the 0.5 s debounce)


@on_fake_time
async def test_every_wait_goes_through_the_sleep_the_loop_was_given() -> None:
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)
        await asyncio.sleep(seconds)

    passes = Passes()
    workers = workers_for(passes, sleep=sleep)
    workers.observe(KEY, md())
    await asyncio.sleep(RESYNC_SECONDS + 1)
    await workers.shutdown()
    assert passes.times == [0.05, RESYNC_SECONDS + 0.55]
    assert slept == [0.05, RESYNC_SECONDS, 0.5, RESYNC_SECONDS]


@on_fake_time
async def test_forgetting_an_object_stops_its_loop() -> None:
    forgotten: list[tuple[str, str]] = []
    passes = Passes()
    workers = Workers(
        passes, workers=1, resync_seconds=RESYNC_SECONDS, pool=InlinePool(), on_forget=forgotten.append
    )
    workers.observe(KEY, md())
    await asyncio.sleep(1)
    workers.forget(KEY)
    workers.trigger(KEY)  # a late child event of the deleted object
    await asyncio.sleep(RESYNC_SECONDS * 2)
    await workers.shutdown()
    assert passes.times == [0.05] and forgotten == [KEY]


@on_fake_time
async def test_passes_share_one_inventory_until_a_gpu_node_or_pod_changes() -> None:
    node = NodeGpus("h0", "H200", "NVIDIA-H200", "nvidia.com/gpu", 8, True)
    inventories: list[Inventory] = []

    def reconcile(obj: dict[str, Any], snapshot: Snapshot) -> Outcome:
        inventories.append(snapshot.inventory)
        return Outcome("ok")

    workers = Workers(reconcile, workers=1, resync_seconds=RESYNC_SECONDS, pool=InlinePool())
    workers.note_node("h0", node)
    workers.note_pod_gpus("p1", PodGpus("h0", "nvidia.com/gpu", 2, "llm/other"))
    workers.observe(KEY, md())
    await asyncio.sleep(1)
    workers.trigger(KEY)  # a child moved: the inventory did not
    await asyncio.sleep(1)
    workers.note_pod_gpus("p1", PodGpus("h0", "nvidia.com/gpu", 2, "llm/other"))  # the same pod again
    workers.trigger(KEY)
    await asyncio.sleep(1)
    workers.note_pod_gpus("p2", PodGpus("h0", "nvidia.com/gpu", 4, "llm/another"))  # a new GPU pod
    workers.trigger(KEY)
    await asyncio.sleep(1)
    workers.note_pod_gpus("p1", None)  # gone: its GPUs are free again
    workers.trigger(KEY)
    await asyncio.sleep(1)
    await workers.shutdown()
    first, second, third, fourth, fifth = inventories
    assert second is first and third is first and first.free_per_node() == {"H200": (6,)}
    assert fourth is not first and fourth.free_per_node() == {"H200": (2,)}
    assert fifth.free_per_node() == {"H200": (4,)}
    assert fifth.free_per_node(exclude_owner="llm/another") == {"H200": (8,)}
    assert fourth.allocated_by_type() == {"H200": 6} and fifth.allocated_by_type() == {"H200": 4}


@on_fake_time
async def test_a_child_event_that_changes_nothing_a_pass_reads_wakes_no_one() -> None:
    passes = Passes()
    workers = Workers(passes, workers=1, resync_seconds=RESYNC_SECONDS, pool=InlinePool())
    workers.observe(KEY, md())
    await asyncio.sleep(1)
    workers.note_child("deployments", "u1", KEY, "summary 1")  # a new child: look again
    await asyncio.sleep(1)
    workers.note_child("deployments", "u1", KEY, "summary 1")  # e.g. its status moved, not its summary
    await asyncio.sleep(1)
    workers.note_child("deployments", "u1", KEY, "summary 2")
    await asyncio.sleep(1)
    workers.note_child("deployments", "u1", KEY, None)  # deleted
    await asyncio.sleep(1)
    await workers.shutdown()
    assert passes.times == [0.05, 1.5, 3.5, 4.5]


@on_fake_time
async def test_waiting_passes_of_changed_objects_go_before_follow_ups() -> None:
    order: list[str] = []
    slots = worker.PrioritySlots(1)

    async def take(name: str, priority: int) -> None:
        async with slots.slot(priority):
            order.append(name)
            await asyncio.sleep(1)

    async with slots.slot(worker.FOLLOW_UP):  # every worker busy
        tasks = [
            asyncio.create_task(take(name, priority))
            for name, priority in (
                ("pods moved", worker.FOLLOW_UP),
                ("new object", worker.CHANGED),
                ("resync", worker.FOLLOW_UP),
                ("spec edited", worker.CHANGED),
            )
        ]
        await asyncio.sleep(1)
        assert order == []
    await asyncio.gather(*tasks)
    assert order == ["new object", "spec edited", "pods moved", "resync"]
    assert asyncio.get_running_loop().time() == 1 + 4  # one at a time


@on_fake_time
async def test_a_waiter_cancelled_while_waiting_leaves_no_slot_behind() -> None:
    slots, ran = worker.PrioritySlots(2), []

    async def take(name: str) -> None:
        async with slots.slot(worker.FOLLOW_UP):
            ran.append(name)
            await asyncio.sleep(5)

    held = [asyncio.create_task(take(f"busy-{i}")) for i in range(2)]
    await asyncio.sleep(1)
    doomed = asyncio.create_task(take("forgotten"))  # its object was deleted while it waited
    await asyncio.sleep(1)
    doomed.cancel()
    await asyncio.gather(*held)
    await asyncio.wait_for(asyncio.gather(take("a"), take("b")), timeout=6)  # both slots came back
    assert ran == ["busy-0", "busy-1", "a", "b"]


def test_only_an_unacted_change_of_the_object_is_urgent() -> None:
    acted = {"observedGeneration": 1}
    assert worker.pass_priority(md(), {"object"}) == worker.CHANGED  # never reconciled
    assert worker.pass_priority(md(2, acted), {"object"}) == worker.CHANGED  # spec edited
    assert worker.pass_priority(md(1, acted, **{ACTION: "abort"}), {"object"}) == worker.CHANGED
    assert worker.pass_priority(md(1, acted), {"object"}) == worker.FOLLOW_UP  # someone else's status edit
    assert worker.pass_priority(md(2, acted), {"children"}) == worker.FOLLOW_UP
    assert worker.pass_priority(md(1, acted), set()) == worker.FOLLOW_UP  # resync
