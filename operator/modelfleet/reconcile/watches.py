"""What the operator watches with its own informers, and what each watch event tells the workers.

Pods and nodes make the GPU inventory; engine pods and the children of every ModelDeployment (by the
``app.kubernetes.io/managed-by=modelfleet`` label, selected by the API server) make what a pass
observes. Each event is summarised (``decide/observed.py``, ``decide/inventory.py``) on the event
loop, and the owner looks again only when the summary changed (:meth:`Workers.note_child`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable
from typing import Any

from modelfleet.decide.inventory import node_gpus, pod_gpus
from modelfleet.decide.observed import child_summary, owner_key, pod_summary
from modelfleet.reconcile.informer import Event, Informer, Watched
from modelfleet.reconcile.kube import KINDS, Kube, Resource
from modelfleet.reconcile.worker import Workers
from modelfleet.render.names import MANAGED_BY, MANAGED_BY_LABEL

OURS = f"{MANAGED_BY_LABEL}={MANAGED_BY}"
Consume = Callable[[list[Event]], None]

# The children a pass reads, by the cache name the worker keeps them under.
CHILDREN: dict[str, tuple[str, str]] = {
    "deployments": ("apps/v1", "Deployment"),
    "services": ("v1", "Service"),
    "poddisruptionbudgets": ("policy/v1", "PodDisruptionBudget"),
    "horizontalpodautoscalers": ("autoscaling/v2", "HorizontalPodAutoscaler"),
    "httproutes": ("gateway.networking.k8s.io/v1", "HTTPRoute"),
    "leaderworkersets": ("leaderworkerset.x-k8s.io/v1", "LeaderWorkerSet"),
    "scaledobjects": ("keda.sh/v1alpha1", "ScaledObject"),
}


def nodes(workers: Workers) -> Consume:
    def consume(events: list[Event]) -> None:
        for kind, obj in events:
            name = (obj.get("metadata") or {}).get("name", "")
            summary = None if kind == "DELETED" else node_gpus(obj)
            # Heartbeats change nodes every few seconds; only a change of GPU capacity matters.
            if workers.note_node(name, summary):
                workers.trigger_waiting_for_capacity()

    return consume


def pods(workers: Workers) -> Consume:
    def consume(events: list[Event]) -> None:
        for kind, obj in events:
            uid = (obj.get("metadata") or {}).get("uid", "")
            gone = kind == "DELETED"
            # Every GPU pod counts in the inventory, ours or not; ours are also kept by owner.
            workers.note_pod_gpus(uid, None if gone else pod_gpus(obj))
            key = owner_key(obj)
            if key is not None:
                workers.note_child("engine_pods", uid, key, None if gone else pod_summary(obj))

    return consume


def children(workers: Workers, cache: str) -> Consume:
    def consume(events: list[Event]) -> None:
        for kind, obj in events:
            uid = (obj.get("metadata") or {}).get("uid", "")
            workers.note_child(cache, uid, owner_key(obj), None if kind == "DELETED" else child_summary(obj))

    return consume


def informers(
    kube: Kube,
    workers: Workers,
    loop: asyncio.AbstractEventLoop,
    namespaces: Iterable[str],
    *,
    gateway_api: bool,
    lws: bool,
    keda: bool,
    timeout_seconds: int,
) -> list[Informer]:
    """The informers for this operator's watches, each handing its events to the event loop, and the
    workers told how many to wait for. Not started."""
    scope: list[str | None] = list(namespaces) or [None]  # no namespaces: the whole cluster
    wanted: list[tuple[Resource, list[str | None], str | None, Consume]] = [
        (KINDS[("v1", "Node")], [None], None, nodes(workers)),
        # Every pod: GPUs held by anyone's pods are not free. Only in the watched namespaces when the
        # operator is namespaced (it may not list pods elsewhere).
        (KINDS[("v1", "Pod")], scope, None, pods(workers)),
    ]
    enabled = {"httproutes": gateway_api, "leaderworkersets": lws, "scaledobjects": keda}
    for cache, kind in CHILDREN.items():
        if enabled.get(cache, True):
            wanted.append((KINDS[kind], scope, OURS, children(workers, cache)))
    out: list[Informer] = []
    for resource, where, selector, consume in wanted:
        for namespace in where:
            out.append(
                Informer(
                    kube,
                    Watched(resource, namespace, selector),
                    _on_loop(loop, consume),
                    lambda: loop.call_soon_threadsafe(workers.informer_synced),
                    timeout_seconds=timeout_seconds,
                )
            )
    workers.expect_informers(len(out))
    return out


def _on_loop(loop: asyncio.AbstractEventLoop, consume: Consume) -> Callable[[list[Event]], Any]:
    """Events arrive on the informer's thread; the workers' state lives on the event loop."""

    def deliver(events: list[Event]) -> None:
        loop.call_soon_threadsafe(consume, events)

    return deliver
