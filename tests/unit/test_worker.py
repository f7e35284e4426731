"""The per-object loops: our own status write does not wake a pass; a change of the object does."""

from __future__ import annotations

import asyncio
import copy
import time
from typing import Any

from modelfleet.reconcile import worker
from modelfleet.reconcile.worker import Outcome, Snapshot, Workers

KEY = ("llm", "m")


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


def run(events: list[dict[str, Any]], written: dict[str, Any]) -> list[dict[str, Any]]:
    """Feed `events` to one loop as a watch would, 0.1 s apart; return the objects each pass saw."""
    passes: list[dict[str, Any]] = []

    def reconcile(obj: dict[str, Any], _: Snapshot) -> Outcome:
        passes.append(copy.deepcopy(obj))
        return Outcome("ok", status=written)

    async def main() -> None:
        workers = Workers(reconcile, workers=2, resync_seconds=60)
        for obj in events:
            workers.observe(KEY, obj)
            await asyncio.sleep(0.1)
        await asyncio.sleep(0.2)
        await workers.shutdown()

    asyncio.run(main())
    return passes


def test_the_echo_of_our_own_status_write_needs_no_pass() -> None:
    written = {"observedGeneration": 1, "phase": "Progressing"}
    passes = run([md(), md(status=written)], written)
    assert len(passes) == 1


def test_a_status_someone_else_changed_is_looked_at_again() -> None:
    written = {"observedGeneration": 1, "phase": "Progressing"}
    passes = run([md(), md(status={**written, "phase": "Healthy"})], written)
    assert len(passes) == 2 and passes[1]["status"]["phase"] == "Healthy"


def test_a_new_generation_or_an_action_annotation_is_a_new_pass() -> None:
    written = {"observedGeneration": 1}
    passes = run(
        [md(), md(generation=2, status=written), md(2, written, **{"modelfleet.io/action": "promote"})],
        written,
    )
    assert [p["metadata"]["generation"] for p in passes] == [1, 2, 2]
    assert passes[2]["metadata"]["annotations"] == {"modelfleet.io/action": "promote"}


def test_child_events_are_gathered_into_one_pass(monkeypatch: Any) -> None:
    monkeypatch.setattr(worker, "CHILD_DEBOUNCE_SECONDS", 0.3)
    passes: list[float] = []

    async def main() -> None:
        loop = asyncio.get_running_loop()
        workers = Workers(
            lambda obj, _: passes.append(loop.time()) or Outcome("ok"), workers=1, resync_seconds=60
        )
        workers.observe(KEY, md())
        await asyncio.sleep(0.1)
        for _ in range(5):  # a Deployment's status and its pod's phases, in quick succession
            workers.trigger(KEY)
            await asyncio.sleep(0.02)
        await asyncio.sleep(0.5)
        await workers.shutdown()

    asyncio.run(main())
    assert len(passes) == 2


def test_the_echo_arriving_while_its_pass_still_runs_needs_no_pass_either() -> None:
    written = {"observedGeneration": 1, "phase": "Progressing"}
    passes: list[dict[str, Any]] = []

    def slow(obj: dict[str, Any], _: Snapshot) -> Outcome:
        passes.append(obj)
        time.sleep(0.3)  # the status patch is long done; the watch delivers it before we return
        return Outcome("ok", status=written)

    async def main() -> None:
        workers = Workers(slow, workers=1, resync_seconds=60)
        workers.observe(KEY, md())
        await asyncio.sleep(0.15)
        workers.observe(KEY, md(status=written))
        await asyncio.sleep(0.8)
        await workers.shutdown()

    asyncio.run(main())
    assert len(passes) == 1


def test_waiting_passes_of_changed_objects_go_before_follow_ups() -> None:
    order: list[str] = []

    async def main() -> None:
        slots = worker.PrioritySlots(1)

        async def take(name: str, priority: int) -> None:
            async with slots.slot(priority):
                order.append(name)
                await asyncio.sleep(0.01)

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
            await asyncio.sleep(0.01)
        await asyncio.gather(*tasks)

    asyncio.run(main())
    assert order == ["new object", "spec edited", "pods moved", "resync"]


def test_a_waiter_cancelled_while_waiting_leaves_no_slot_behind() -> None:
    async def main() -> list[str]:
        slots, ran = worker.PrioritySlots(2), []

        async def take(name: str) -> None:
            async with slots.slot(worker.FOLLOW_UP):
                ran.append(name)
                await asyncio.sleep(0.05)

        held = [asyncio.create_task(take(f"busy-{i}")) for i in range(2)]
        await asyncio.sleep(0.01)
        doomed = asyncio.create_task(take("forgotten"))  # its object was deleted while it waited
        await asyncio.sleep(0.01)
        doomed.cancel()
        await asyncio.gather(*held)
        await asyncio.wait_for(asyncio.gather(take("a"), take("b")), timeout=1)  # both slots came back
        return ran

    assert asyncio.run(main()) == ["busy-0", "busy-1", "a", "b"]


def test_only_an_unacted_change_of_the_object_is_urgent() -> None:
    acted = {"observedGeneration": 1}
    assert worker.pass_priority(md(), {"object"}) == worker.CHANGED  # never reconciled
    assert worker.pass_priority(md(2, acted), {"object"}) == worker.CHANGED  # spec edited
    assert (
        worker.pass_priority(md(1, acted, **{"modelfleet.io/action": "abort"}), {"object"}) == worker.CHANGED
    )
    assert worker.pass_priority(md(1, acted), {"object"}) == worker.FOLLOW_UP  # someone else's status edit
    assert worker.pass_priority(md(2, acted), {"children"}) == worker.FOLLOW_UP
    assert worker.pass_priority(md(1, acted), set()) == worker.FOLLOW_UP  # resync
