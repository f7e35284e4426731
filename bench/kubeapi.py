"""What the benchmarks need from the API server: writes, watch streams and its own request counters.

Writes go through the operator's own REST client (:class:`modelfleet.reconcile.kube.Kube`), so the
baseline pays the same transport cost per request as the operator. Watches are plain streaming GETs
on a urllib3 pool with the cluster's admin certificate; each runs in a thread and hands every event,
stamped with ``time.monotonic()`` on arrival, to a callback.
"""

from __future__ import annotations

import contextlib
import json
import re
import threading
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

import urllib3

from modelfleet.reconcile.kube import Kube
from testbed.cluster import LocalCluster

# (verb, resource, subresource): how apiserver_request_total is summed here (codes and groups folded).
RequestKey = tuple[str, str, str]
WRITE_VERBS = frozenset({"POST", "PUT", "PATCH", "DELETE", "APPLY", "CREATE", "UPDATE", "DELETECOLLECTION"})
EventFn = Callable[[str, dict[str, Any], float], None]
_LABEL = re.compile(r'(\w+)="((?:[^"\\]|\\.)*)"')


def kube_client(cluster: LocalCluster) -> Kube:
    """The operator's REST client on the cluster's admin kubeconfig (thread-safe, pooled)."""
    return Kube.from_environment(str(cluster.kubeconfig))


def request_counts(metrics_text: str) -> Counter[RequestKey]:
    """Sum ``apiserver_request_total`` by (verb, resource, subresource) from a /metrics scrape.

    >>> text = 'apiserver_request_total{code="201",resource="services",subresource="",verb="POST"} 3\\n'
    >>> request_counts(text)[("POST", "services", "")]
    3
    """
    counts: Counter[RequestKey] = Counter()
    for line in metrics_text.splitlines():
        if not line.startswith("apiserver_request_total{"):
            continue
        labels_text, _, value = line.rpartition("} ")
        labels = dict(_LABEL.findall(labels_text))
        counts[(labels.get("verb", ""), labels.get("resource", ""), labels.get("subresource", ""))] += int(
            float(value)
        )
    return counts


def scrape_requests(cluster: LocalCluster) -> Counter[RequestKey]:
    return request_counts(cluster.kubectl("get", "--raw", "/metrics", timeout=120).stdout)


def delta(after: Counter[RequestKey], before: Counter[RequestKey]) -> Counter[RequestKey]:
    """Requests between two scrapes (only keys that moved)."""
    return Counter({k: v - before.get(k, 0) for k, v in after.items() if v - before.get(k, 0) > 0})


def writes(
    counts: Counter[RequestKey], ignore_resources: frozenset[str] = frozenset()
) -> Counter[RequestKey]:
    return Counter({k: v for k, v in counts.items() if k[0] in WRITE_VERBS and k[1] not in ignore_resources})


class Watch:
    """LIST then WATCH one collection in a thread, calling ``on_event(type, object, arrived_at)``.

    The initial LIST is delivered as ADDED events, so a watch started late still sees what exists.
    The stream is reopened from the last resourceVersion when the server closes it.
    """

    def __init__(self, cluster: LocalCluster, path: str, on_event: EventFn, label_selector: str = "") -> None:
        pki = cluster.pki
        self._http = urllib3.PoolManager(
            cert_reqs="CERT_REQUIRED",
            ca_certs=str(pki / "ca.crt"),
            cert_file=str(pki / "admin.crt"),
            key_file=str(pki / "admin.key"),
        )
        self._url = cluster.server + path
        self._selector = label_selector
        self._on_event = on_event
        self._stop = threading.Event()
        self._response: Any = None
        self._thread = threading.Thread(target=self._run, name=f"watch {path}", daemon=True)
        self.error: BaseException | None = None
        self.synced = threading.Event()

    def start(self) -> Watch:
        self._thread.start()
        if not self.synced.wait(60):
            raise RuntimeError(f"the initial LIST of {self._url} did not finish in 60 s: {self.error}")
        return self

    def stop(self) -> None:
        self._stop.set()
        with contextlib.suppress(Exception):
            if self._response is not None:
                self._response.shutdown()
        self._thread.join(timeout=10)

    def _query(self, **extra: str) -> dict[str, str]:
        query = {"labelSelector": self._selector} if self._selector else {}
        query.update(extra)
        return query

    def _run(self) -> None:
        try:
            listed = json.loads(self._http.request("GET", self._url, fields=self._query(), timeout=60).data)
            version = listed["metadata"]["resourceVersion"]
            now = time.monotonic()
            for item in listed.get("items") or []:
                self._on_event("ADDED", item, now)
            self.synced.set()
            while not self._stop.is_set():
                version = self._stream(version)
        except BaseException as error:  # surfaced by the scenario through .error
            if not self._stop.is_set():
                self.error = error
            self.synced.set()

    def _stream(self, version: str) -> str:
        query = self._query(
            watch="1", resourceVersion=version, allowWatchBookmarks="true", timeoutSeconds="600"
        )
        self._response = self._http.request(
            "GET",
            self._url,
            fields=query,
            preload_content=False,
            timeout=urllib3.Timeout(connect=10, read=None),
        )
        buffer = b""
        for chunk in self._response.stream(65536, decode_content=True):
            buffer += chunk
            *lines, buffer = buffer.split(b"\n")
            now = time.monotonic()
            for line in lines:
                if not line.strip():
                    continue
                event = json.loads(line)
                obj = event.get("object") or {}
                version = (obj.get("metadata") or {}).get("resourceVersion", version)
                if event.get("type") == "ERROR":
                    raise RuntimeError(f"watch {self._url} failed: {obj.get('message')}")
                if event.get("type") != "BOOKMARK":
                    self._on_event(str(event.get("type")), obj, now)
        self._response.release_conn()
        return version
