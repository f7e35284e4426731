"""The informer as client-go's reflector behaves: list in pages, watch from the list's resourceVersion,
resume from the last version seen (bookmarks included), list again on 410 Gone and report what went
missing as DELETED; and the consumers that turn its events into the workers' caches."""

from __future__ import annotations

import asyncio
import io
import json
from typing import Any

import pytest

from modelfleet.decide.inventory import PodGpus
from modelfleet.reconcile import watches
from modelfleet.reconcile.informer import Event, Informer, Watched
from modelfleet.reconcile.kube import KINDS, ApiError
from modelfleet.reconcile.worker import Outcome, Workers
from tests.unit.test_worker import InlinePool

SERVICES = KINDS[("v1", "Service")]


def svc(name: str, uid: str, version: str) -> dict[str, Any]:
    labels = {"app.kubernetes.io/managed-by": "modelfleet", "modelfleet.io/name": "m"}
    return {
        "metadata": {
            "name": name,
            "namespace": "llm",
            "uid": uid,
            "resourceVersion": version,
            "labels": labels,
        }
    }


class Body(io.BytesIO):
    """A watch response: its events come in chunks, as the API server flushes them."""

    def stream(self, amt: int) -> Any:
        for line in self.getvalue().splitlines(keepends=True):
            yield line[:7]  # a line may come in pieces
            yield line[7:]

    def release_conn(self) -> None:
        pass


class FakeKube:
    """Answers lists from `pages` (in order) and watches from `watches` (in order; an exception is raised)."""

    def __init__(
        self, pages: list[dict[str, Any]], watch_bodies: list[Any], informer: list[Informer]
    ) -> None:
        self.pages = pages
        self.watch_bodies = watch_bodies
        self.requests: list[dict[str, str]] = []
        self.watches: list[dict[str, str]] = []
        self.informer = informer

    def request(self, method: str, path: str, query: dict[str, str] | None = None) -> Any:
        self.requests.append(dict(query or {}))
        return self.pages.pop(0)

    def stream(self, path: str, query: dict[str, str], read_timeout_seconds: float) -> Body:
        self.watches.append(dict(query))
        if not self.watch_bodies:
            self.informer[0].stop()
            return Body(b"")
        body = self.watch_bodies.pop(0)
        if isinstance(body, Exception):
            raise body
        return Body(b"\n".join(json.dumps(e).encode() for e in body) + b"\n")


def run(pages: list[dict[str, Any]], watch_bodies: list[Any]) -> tuple[list[Event], FakeKube, list[float]]:
    delivered: list[Event] = []
    synced: list[bool] = []
    slept: list[float] = []
    holder: list[Informer] = []
    kube = FakeKube(pages, watch_bodies, holder)
    informer = Informer(
        kube,  # type: ignore[arg-type]
        Watched(SERVICES, "llm", watches.OURS),
        delivered.extend,
        lambda: synced.append(True),
        sleep=lambda s: slept.append(s) is not None,
    )
    holder.append(informer)
    informer.run()
    assert synced == [True], "synced once, after the first list"
    return delivered, kube, slept


def test_lists_in_pages_then_watches_from_the_lists_version_and_resumes_after_bookmarks() -> None:
    pages = [
        {"metadata": {"continue": "next"}, "items": [svc("a", "u-a", "1")]},
        {"metadata": {"resourceVersion": "10"}, "items": [svc("b", "u-b", "2")]},
    ]
    first_watch = [
        {"type": "MODIFIED", "object": svc("a", "u-a", "11")},
        {"type": "BOOKMARK", "object": {"metadata": {"resourceVersion": "15"}}},
    ]
    second_watch = [{"type": "DELETED", "object": svc("b", "u-b", "16")}]
    events, kube, slept = run(pages, [first_watch, second_watch])
    assert [(kind, obj["metadata"]["name"]) for kind, obj in events] == [
        ("ADDED", "a"),
        ("ADDED", "b"),
        ("MODIFIED", "a"),
        ("DELETED", "b"),
    ]
    assert events[0][1]["kind"] == "Service" and events[0][1]["apiVersion"] == "v1", (
        "list items get their kind"
    )
    assert kube.requests[0]["labelSelector"] == watches.OURS and kube.requests[1]["continue"] == "next"
    assert [w["resourceVersion"] for w in kube.watches[:3]] == ["10", "15", "16"]
    assert all(w["allowWatchBookmarks"] == "true" for w in kube.watches) and slept == []


def test_gone_lists_again_and_reports_what_went_missing_as_deleted() -> None:
    pages = [
        {"metadata": {"resourceVersion": "10"}, "items": [svc("a", "u-a", "1"), svc("b", "u-b", "2")]},
        {"metadata": {"resourceVersion": "90"}, "items": [svc("a", "u-a", "80")]},
    ]
    gone = [{"type": "ERROR", "object": {"kind": "Status", "code": 410, "reason": "Expired"}}]
    events, kube, _ = run(pages, [gone])
    assert [(kind, obj["metadata"]["name"]) for kind, obj in events] == [
        ("ADDED", "a"),
        ("ADDED", "b"),
        ("ADDED", "a"),
        ("DELETED", "b"),
    ]
    deleted = events[-1][1]
    assert deleted["metadata"]["labels"]["modelfleet.io/name"] == "m", "enough to find its owner"
    assert [w["resourceVersion"] for w in kube.watches[:2]] == ["10", "90"]


def test_a_broken_watch_backs_off_and_resumes_where_it_was() -> None:
    pages = [{"metadata": {"resourceVersion": "10"}, "items": []}]
    events, kube, slept = run(
        pages,
        [
            [{"type": "ADDED", "object": svc("a", "u-a", "12")}],
            ConnectionResetError("reset"),
            ApiError(503, "ServiceUnavailable", "later"),
            [],
        ],
    )
    assert [kind for kind, _ in events] == ["ADDED"]
    assert slept == [1.0, 2.0], "backs off more each time"
    assert [w["resourceVersion"] for w in kube.watches[:4]] == ["10", "12", "12", "12"]
    assert len(kube.requests) == 1, "no relist for a broken connection"


def test_consumers_keep_the_inventory_and_each_owners_children() -> None:
    workers = Workers(lambda obj, snap: Outcome("ok"), workers=1, resync_seconds=60)
    pod = {
        "kind": "Pod",
        "metadata": {
            "name": "m-abc",
            "namespace": "llm",
            "uid": "p1",
            "labels": {"app.kubernetes.io/managed-by": "modelfleet", "modelfleet.io/name": "m"},
        },
        "spec": {"nodeName": "h0", "containers": [{"resources": {"limits": {"nvidia.com/gpu": "2"}}}]},
        "status": {"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}]},
    }
    watches.pods(workers)([("ADDED", pod)])
    watches.children(workers, "services")(
        [("ADDED", {**svc("m", "s1", "1"), "kind": "Service", "apiVersion": "v1"})]
    )
    snapshot = workers._snapshot(("llm", "m"))
    assert [p.name for p in snapshot.pods] == ["m-abc"] and snapshot.pods[0].ready
    assert [c.kind for c in snapshot.children] == ["Service"]
    assert workers._pods.sums().held == {"llm/m": {"h0": 2}}
    watches.pods(workers)([("DELETED", pod)])
    watches.children(workers, "services")([("DELETED", svc("m", "s1", "2"))])
    snapshot = workers._snapshot(("llm", "m"))
    assert snapshot.pods == () and snapshot.children == () and workers._pods.sums().used == {}
    assert workers._pods.set("other", PodGpus("h0", "nvidia.com/gpu", 1, None)) == (True, False)


@pytest.mark.asyncio
@pytest.mark.looptime
@pytest.mark.parametrize("informers", [0, 2])
async def test_passes_wait_until_every_informer_listed_once(informers: int) -> None:
    seen: list[float] = []

    def reconcile(obj: dict[str, Any], snapshot: Any) -> Outcome:
        seen.append(asyncio.get_running_loop().time())
        return Outcome("ok")

    workers = Workers(reconcile, workers=1, resync_seconds=60, pool=InlinePool())
    workers.expect_informers(informers)
    workers.observe(
        ("llm", "m"), {"metadata": {"name": "m", "namespace": "llm", "uid": "u", "generation": 1}}
    )
    await asyncio.sleep(5)
    for _ in range(informers):
        workers.informer_synced()
    await asyncio.sleep(1)
    await workers.shutdown()
    assert seen == ([5.05] if informers else [0.05]), "the first pass waits for the caches, then 50 ms"
