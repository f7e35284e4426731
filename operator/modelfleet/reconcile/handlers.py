"""kopf registration: indexes of what the reconciler reads, and triggers that wake it. Nothing else.

Trigger handlers are coroutines so that they run on the event loop, where the per-object loops live
(kopf runs plain functions in a thread pool); index functions are plain: they only summarise.

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


def register(
    registry: kopf.OperatorRegistry, workers: Workers, gateway_api: bool, keda: bool = False
) -> None:
    """Wire every handler into `registry` (one registry per operator instance, so tests can run two)."""

    # ---- indexes: populated before any handler runs, so the first reconcile sees the whole inventory
    @kopf.index("", "v1", "nodes", registry=registry, id="gpu_nodes")
    def gpu_nodes(body: kopf.Body, name: str, **_: Any) -> dict[str, Any] | None:
        summary = node_gpus(body)
        return {name: summary} if summary else None

    @kopf.index("", "v1", "pods", registry=registry, id="gpu_pods")
    def gpu_pods(body: kopf.Body, uid: str, **_: Any) -> dict[str, Any] | None:
        summary = pod_gpus(body)
        return {uid: summary} if summary else None

    @kopf.index("", "v1", "pods", labels=OURS, registry=registry, id="engine_pods")
    def engine_pods(body: kopf.Body, **_: Any) -> dict[Any, Any] | None:
        key = owner_key(body)
        return {key: pod_summary(body)} if key else None

    def child_index(group: str, version: str, plural: str, index_id: str) -> None:
        @kopf.index(group, version, plural, labels=OURS, registry=registry, id=index_id)
        def index(body: kopf.Body, **_: Any) -> dict[Any, Any] | None:
            key = owner_key(body)
            return {key: child_summary(body)} if key else None

        @kopf.on.event(group, version, plural, labels=OURS, registry=registry, id=f"{index_id}-trigger")
        async def wake(body: kopf.Body, **_: Any) -> None:
            key = owner_key(body)
            if key:
                workers.trigger(key)

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
    def cache_claims(body: kopf.Body, namespace: str | None, **_: Any) -> dict[str, Any]:
        return {namespace or "": claim_summary(body)}

    @kopf.index("batch", "v1", "jobs", labels=cache_labels, registry=registry, id="cache_jobs")
    def cache_jobs(body: kopf.Body, namespace: str | None, **_: Any) -> dict[str, Any]:
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

    # ---- triggers
    @kopf.on.event("", "v1", "pods", labels=OURS, registry=registry)
    async def engine_pod_changed(body: kopf.Body, **_: Any) -> None:
        key = owner_key(body)
        if key:
            workers.trigger(key)

    @kopf.on.event("", "v1", "nodes", registry=registry)
    async def node_changed(event: kopf.RawEvent, body: kopf.Body, name: str, **_: Any) -> None:
        # Heartbeats change nodes every few seconds; only a change of GPU capacity matters.
        summary = None if event.get("type") == "DELETED" else node_gpus(body)
        if workers.note_node(name, summary):
            workers.trigger_waiting_for_capacity()

    @kopf.on.event("", "v1", "pods", registry=registry)
    async def gpu_pod_changed(event: kopf.RawEvent, body: kopf.Body, uid: str, **_: Any) -> None:
        if pod_gpus(body) is None and event.get("type") != "DELETED":
            return
        if event.get("type") == "DELETED":
            # A GPU pod going away frees capacity that a waiting ModelDeployment may need.
            workers.trigger_waiting_for_capacity()
        else:
            workers.inventory_changed()

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
