"""List-then-watch caches of the objects the reconciler reads but does not own the loop of, as client-go's
informers keep them: pods, nodes and the children of every ModelDeployment.

Why not kopf for these: kopf handles each watch event with its whole per-object machinery (a worker
task, memories, handler selection, progress state, a keyword-argument dict per handler and filter),
built for handlers that change objects. For objects that are only summarised, that machinery was most
of the operator's CPU per ModelDeployment at fleet scale. An informer here is one thread per watched
collection that lists (in pages), then watches from the list's resourceVersion (bookmarks on), and
hands each batch of events to a callback; kopf keeps the ModelDeployments (and the weight caches).

Semantics, as client-go's reflector:
- a relist (the first, and after the API server answers 410 Gone) reports every object as ADDED and
  every object it knew that is gone as DELETED, then the informer counts as synced;
- a watch that ends (its timeout) or breaks (a network error) resumes from the last resourceVersion
  seen (an event or a bookmark), after a backoff when it broke;
- DELETED events carry the object as it was last seen.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import orjson

from modelfleet.reconcile.kube import KINDS, ApiError, Kube, Resource

log = logging.getLogger("modelfleet.informer")
PAGE_SIZE = 500
BACKOFF_SECONDS = (1.0, 2.0, 5.0, 10.0, 30.0)

Event = tuple[str, dict[str, Any]]  # ("ADDED" | "MODIFIED" | "DELETED", object)
Deliver = Callable[[list[Event]], None]


class Gone(Exception):
    """410: the resourceVersion is too old to watch from; list again."""


@dataclass(frozen=True)
class Watched:
    """One collection: a resource, in one namespace (None: all) with a label selector (None: all)."""

    resource: Resource
    namespace: str | None = None
    label_selector: str | None = None

    def describe(self) -> str:
        where = f" in {self.namespace}" if self.namespace else ""
        selector = f" ({self.label_selector})" if self.label_selector else ""
        return f"{self.resource.plural}{where}{selector}"


class Informer:
    """Lists and watches one collection in a thread of its own; `deliver` gets each batch of events
    (from that thread: the caller hands them on to its event loop) and `synced` is called once after
    the first list was delivered."""

    def __init__(
        self,
        kube: Kube,
        watched: Watched,
        deliver: Deliver,
        synced: Callable[[], object],
        *,
        timeout_seconds: int = 300,
        sleep: Callable[[float], bool] | None = None,
    ) -> None:
        self.kube = kube
        self.watched = watched
        self._deliver = deliver
        self._synced = synced
        self._timeout = timeout_seconds
        self._stop = threading.Event()
        self._sleep = sleep or self._stop.wait  # True when stopped while sleeping
        self._known: dict[str, dict[str, Any]] = {}  # uid -> the object as last seen
        self._thread: threading.Thread | None = None
        self.relists = 0  # lists (the first included)
        self.watches = 0  # watch requests (each resumes where the last one ended)
        self.restarts = 0  # watches that broke

    def start(self) -> Informer:
        self._thread = threading.Thread(
            target=self.run, name=f"informer {self.watched.describe()}", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()

    def run(self) -> None:
        version: str | None = None
        failures = 0
        first = True
        while not self._stop.is_set():
            try:
                if version is None:
                    version = self._relist()
                    if first:
                        self._synced()
                        first = False
                version = self._watch(version)
                failures = 0
            except Gone:
                log.info("%s: resourceVersion %s expired, listing again", self.watched.describe(), version)
                version = None
            except Exception as error:  # the API server restarting, a broken connection: back off, resume
                delay = BACKOFF_SECONDS[min(failures, len(BACKOFF_SECONDS) - 1)]
                failures += 1
                self.restarts += 1
                log.warning("%s: watch failed (%s); again in %.0f s", self.watched.describe(), error, delay)
                if self._sleep(delay):
                    return
                if isinstance(error, ApiError) and error.status == 410:
                    version = None

    # ---- list ---------------------------------------------------------------------------------------
    def _relist(self) -> str:
        self.relists += 1
        items: list[dict[str, Any]] = []
        query: dict[str, str] = {"limit": str(PAGE_SIZE)}
        if self.watched.label_selector:
            query["labelSelector"] = self.watched.label_selector
        path = self.watched.resource.path(self.watched.namespace)
        while True:
            page = self.kube.request("GET", path, query=query)
            items.extend(page.get("items") or [])
            meta = page.get("metadata") or {}
            if not meta.get("continue"):
                version = str(meta.get("resourceVersion") or "")
                break
            query = {**query, "continue": meta["continue"]}
        api_version, kind = _type_of(self.watched.resource)
        seen: dict[str, dict[str, Any]] = {}
        events: list[Event] = []
        for item in items:
            item.setdefault("kind", kind)  # list items carry neither
            item.setdefault("apiVersion", api_version)
            uid = (item.get("metadata") or {}).get("uid", "")
            seen[uid] = item
            events.append(("ADDED", item))
        events.extend(("DELETED", old) for uid, old in self._known.items() if uid not in seen)
        self._known = {uid: _stub(obj) for uid, obj in seen.items()}
        self._deliver(events)
        return version

    # ---- watch --------------------------------------------------------------------------------------
    def _watch(self, version: str) -> str:
        self.watches += 1
        query = {
            "watch": "true",
            "resourceVersion": version,
            "allowWatchBookmarks": "true",
            "timeoutSeconds": str(self._timeout),
        }
        if self.watched.label_selector:
            query["labelSelector"] = self.watched.label_selector
        path = self.watched.resource.path(self.watched.namespace)
        for line in self._lines(path, query):
            if self._stop.is_set():
                break
            event = orjson.loads(line)
            kind, obj = event.get("type"), event.get("object") or {}
            if kind == "ERROR":
                if obj.get("code") == 410:
                    raise Gone()
                raise ApiError(int(obj.get("code") or 500), obj.get("reason", ""), obj.get("message", ""))
            meta = obj.get("metadata") or {}
            version = meta.get("resourceVersion") or version
            if kind == "BOOKMARK":
                continue
            uid = meta.get("uid", "")
            if kind == "DELETED":
                self._known.pop(uid, None)
            else:
                self._known[uid] = _stub(obj)
            self._deliver([(str(kind), obj)])
        return version

    def _lines(self, path: str, query: dict[str, str]) -> Iterator[bytes]:
        """The watch's lines as they arrive: each event is one chunk of the chunked response, handed
        on when it comes, not when a buffer fills."""
        response = self.kube.stream(path, query, read_timeout_seconds=self._timeout + 30)
        pending = b""
        try:
            for chunk in response.stream(1 << 16):
                pending += chunk
                *lines, pending = pending.split(b"\n")
                for line in lines:
                    if line.strip():
                        yield line
            if pending.strip():
                yield pending
        finally:
            response.release_conn()


def _stub(obj: dict[str, Any]) -> dict[str, Any]:
    """What a DELETED event needs after a relist: kind, name, namespace, uid and labels (not the whole
    object: the informer would keep a second copy of every pod)."""
    meta = obj.get("metadata") or {}
    return {
        "kind": obj.get("kind"),
        "apiVersion": obj.get("apiVersion"),
        "metadata": {
            "name": meta.get("name"),
            "namespace": meta.get("namespace"),
            "uid": meta.get("uid"),
            "labels": meta.get("labels") or {},
        },
    }


# (apiVersion, kind) of each resource, from the REST client's table: list items carry neither.
_TYPES = {resource: type_ for type_, resource in KINDS.items()}


def _type_of(resource: Resource) -> tuple[str, str]:
    return _TYPES[resource]
