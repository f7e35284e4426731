"""The informer against the real API server: the chunked watch stream is read event by event, the
label selector is the API server's, a watch that ends resumes without listing again, and a deletion
comes with the object as it was last seen."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from modelfleet.reconcile.informer import Event, Informer, Watched
from modelfleet.reconcile.kube import KINDS, Kube
from testbed.cluster import LocalCluster
from tests.integration.kube import make_namespace, wait_for

pytestmark = pytest.mark.cluster
NS = "informer"
OURS = {"app.kubernetes.io/managed-by": "modelfleet", "modelfleet.io/name": "m"}


def service(name: str, labels: dict[str, str], value: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name, "namespace": NS, "labels": labels},
        "spec": {"ports": [{"port": 80, "name": value}]},
    }


def test_an_informer_sees_each_change_as_it_happens_and_resumes_after_its_watch_ends(
    cluster: LocalCluster,
) -> None:
    make_namespace(cluster, NS)
    kube = Kube.from_environment(str(cluster.kubeconfig))
    kube.apply(service("before", OURS, "a"))
    kube.apply(service("not-ours", {"app": "x"}, "a"))
    events: list[Event] = []
    lock = threading.Lock()
    synced = threading.Event()

    def deliver(batch: list[Event]) -> None:
        with lock:
            events.extend(batch)

    informer = Informer(
        kube,
        Watched(KINDS[("v1", "Service")], NS, "app.kubernetes.io/managed-by=modelfleet"),
        deliver,
        synced.set,
        timeout_seconds=2,  # the API server ends each watch after 2 s: the informer must resume
    ).start()

    def seen() -> list[tuple[str, str, str]]:
        with lock:
            return [
                (kind, obj["metadata"]["name"], obj.get("spec", {}).get("ports", [{}])[0].get("name", ""))
                for kind, obj in events
            ]

    try:
        wait_for(synced.is_set, "the first list", timeout=30)
        assert seen() == [("ADDED", "before", "a")], "the API server selected ours only"
        kube.apply(service("before", OURS, "b"))
        wait_for(lambda: ("MODIFIED", "before", "b") in seen(), "the change, one event", timeout=30)
        wait_for(lambda: informer.watches >= 2, "a watch to end and another to start", timeout=30)
        kube.apply(service("after", OURS, "a"))
        wait_for(lambda: ("ADDED", "after", "a") in seen(), "a new object after the resume", timeout=30)
        kube.delete("v1", "Service", NS, "before")
        wait_for(lambda: any(k == "DELETED" and n == "before" for k, n, _ in seen()), "the deletion", 30)
        with lock:
            deleted = next(obj for kind, obj in events if kind == "DELETED")
        assert deleted["metadata"]["labels"]["modelfleet.io/name"] == "m"
        assert informer.relists == 1 and informer.restarts == 0, "resumed, never listed again"
        assert not any(name == "not-ours" for _, name, _ in seen())
    finally:
        informer.stop()
