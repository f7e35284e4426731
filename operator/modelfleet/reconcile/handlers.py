"""kopf registration: indexes of what the reconciler reads, and triggers that wake it. Nothing else.

Every handler is a coroutine so that it runs on the event loop, where the per-object loops live (kopf
runs plain functions in a thread pool: a thread hop per watch event). Index functions summarise and
tell the workers what changed; event handlers only see deletions and the ModelDeployments.

Why no ``@kopf.on.create/update`` or ``@kopf.daemon``: those persist per-handler progress on the
object (extra writes on every change) and daemons put a finalizer on every ModelDeployment, which
blocks deletion while the operator is down. A level-based loop per ModelDeployment
(:mod:`modelfleet.reconcile.worker`) woken by watch events, and by a resync timer, needs neither.
"""

from __future__ import annotations

from typing import Any

import kopf

from modelfleet import GROUP, PLURAL, VERSION
from modelfleet.decide.caches import claim_summary, fetch_job_summary
from modelfleet.decide.inventory import node_gpus, pod_gpus
from modelfleet.decide.observed import child_summary, owner_key, pod_summary
from modelfleet.reconcile.worker import Workers
from modelfleet.render.names import CACHE_LABEL, MANAGED_BY, MANAGED_BY_LABEL

OURS = {MANAGED_BY_LABEL: MANAGED_BY}


def deleted(event: kopf.RawEvent, **_: Any) -> bool:
    """A filter: kopf skips the handler's machinery for every other event, for only a call of this."""
    return event.get("type") == "DELETED"


def register(
    registry: kopf.OperatorRegistry, workers: Workers, gateway_api: bool, keda: bool = False
) -> None:
    """Wire every handler into `registry` (one registry per operator instance, so tests can run two)."""

    # ---- indexes: populated before any handler runs, so the first reconcile sees the whole inventory.
    # Index functions are coroutines (kopf would run plain ones in a thread, one hop per watch event)
    # and they also tell the workers what changed, so each watch event costs one handler call, plus
    # one for deletions (kopf drops a deleted object from its indexes without calling them).
    @kopf.index("", "v1", "nodes", registry=registry, id="gpu_nodes")
    async def gpu_nodes(body: kopf.Body, name: str, **_: Any) -> dict[str, Any] | None:
        summary = node_gpus(body)
        # Heartbeats change nodes every few seconds; only a change of GPU capacity matters.
        if workers.note_node(name, summary):
            workers.trigger_waiting_for_capacity()
        return {name: summary} if summary else None

    @kopf.on.event("", "v1", "nodes", when=deleted, registry=registry)
    async def node_deleted(name: str, **_: Any) -> None:
        if workers.note_node(name, None):
            workers.trigger_waiting_for_capacity()

    @kopf.index("", "v1", "pods", registry=registry, id="engine_pods")
    async def pods(body: kopf.Body, uid: str, **_: Any) -> dict[Any, Any] | None:
        # Every GPU pod counts in the inventory, ours or not; ours are also indexed by owner.
        workers.note_pod_gpus(uid, pod_gpus(body))
        key = owner_key(body)
        if key is None:
            return None
        summary = pod_summary(body)
        workers.note_child("Pod", uid, key, summary)
        return {key: summary}

    @kopf.on.event("", "v1", "pods", when=deleted, registry=registry)
    async def pod_deleted(body: kopf.Body, uid: str, **_: Any) -> None:
        workers.note_pod_gpus(uid, None)
        workers.note_child("Pod", uid, owner_key(body), None)

    def child_index(group: str, version: str, plural: str, index_id: str) -> None:
        @kopf.index(group, version, plural, labels=OURS, registry=registry, id=index_id)
        async def index(body: kopf.Body, uid: str, **_: Any) -> dict[Any, Any] | None:
            key = owner_key(body)
            if key is None:
                return None
            summary = child_summary(body)
            workers.note_child(plural, uid, key, summary)
            return {key: summary}

        @kopf.on.event(
            group, version, plural, labels=OURS, when=deleted, registry=registry, id=f"{index_id}-deleted"
        )
        async def child_deleted(body: kopf.Body, uid: str, **_: Any) -> None:
            workers.note_child(plural, uid, owner_key(body), None)

    child_index("apps", "v1", "deployments", "deployments")
    child_index("", "v1", "services", "services")
    child_index("policy", "v1", "poddisruptionbudgets", "poddisruptionbudgets")
    if gateway_api:
        child_index("gateway.networking.k8s.io", "v1", "httproutes", "httproutes")
    if workers.lws_enabled:
        child_index("leaderworkerset.x-k8s.io", "v1", "leaderworkersets", "leaderworkersets")
    # The autoscaler's objects: ours (ScaledObject or HPA), and KEDA's HPA, which carries the
    # ScaledObject's labels; their status is what the autoscaler decided.
    child_index("autoscaling", "v2", "horizontalpodautoscalers", "horizontalpodautoscalers")
    if keda:
        child_index("keda.sh", "v1alpha1", "scaledobjects", "scaledobjects")

    # ---- weight caches, by namespace: a cache belongs to every ModelDeployment that claims it
    cache_labels: dict[str, Any] = {**OURS, CACHE_LABEL: kopf.PRESENT}

    @kopf.index("", "v1", "persistentvolumeclaims", labels=cache_labels, registry=registry, id="cache_claims")
    async def cache_claims(body: kopf.Body, namespace: str | None, **_: Any) -> dict[str, Any]:
        return {namespace or "": claim_summary(body)}

    @kopf.index("batch", "v1", "jobs", labels=cache_labels, registry=registry, id="cache_jobs")
    async def cache_jobs(body: kopf.Body, namespace: str | None, **_: Any) -> dict[str, Any]:
        return {namespace or "": fetch_job_summary(body)}

    @kopf.on.event("", "v1", "persistentvolumeclaims", labels=cache_labels, registry=registry)
    async def cache_claim_changed(body: kopf.Body, namespace: str | None, **_: Any) -> None:
        for claimant in claim_summary(body).claimants:
            workers.trigger((namespace or "", claimant.name))

    @kopf.on.event("batch", "v1", "jobs", labels=cache_labels, registry=registry)
    async def fetch_job_changed(body: kopf.Body, namespace: str | None, name: str, **kwargs: Any) -> None:
        # The claim of the same name (the Job's owner) names the ModelDeployments waiting for it.
        claims, key = kwargs.get("cache_claims"), namespace or ""
        for claim in claims[key] if claims is not None and key in claims else ():
            if claim.name == name:
                for claimant in claim.claimants:
                    workers.trigger((key, claimant.name))

    @kopf.on.event(GROUP, VERSION, PLURAL, registry=registry)
    async def modeldeployment_event(
        event: kopf.RawEvent, namespace: str | None, name: str | None, **kwargs: Any
    ) -> None:
        workers.bind_indexes(kwargs)
        key = (namespace or "", name or "")
        if event.get("type") == "DELETED":
            workers.forget(key)
        else:
            workers.observe(key, dict(event["object"]))
