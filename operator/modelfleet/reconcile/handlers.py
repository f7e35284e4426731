"""kopf registration: the ModelDeployments and the weight caches. Nothing else.

Pods, nodes and the children of every ModelDeployment are watched by the operator's own informers
(:mod:`modelfleet.reconcile.watches`): they are only summarised, and kopf's per-event machinery, built
for handlers that change objects, cost more CPU than everything else per ModelDeployment. Every handler
here is a coroutine so that it runs on the event loop, where the per-object loops live (kopf runs plain
functions in a thread pool: a thread hop per watch event).

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
from modelfleet.reconcile.worker import Workers
from modelfleet.render.names import CACHE_LABEL, MANAGED_BY, MANAGED_BY_LABEL

OURS = {MANAGED_BY_LABEL: MANAGED_BY}


def register(registry: kopf.OperatorRegistry, workers: Workers) -> None:
    """Wire every handler into `registry` (one registry per operator instance, so tests can run two)."""

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
            workers.observe(key, without_managed_fields(event["object"]))


def without_managed_fields(obj: Any) -> dict[str, Any]:
    """The object without ``metadata.managedFields``: no pass reads them, and of the copy the worker
    keeps of every ModelDeployment they are the largest part (a tree per field manager)."""
    meta = obj.get("metadata") or {}
    if "managedFields" not in meta:
        return dict(obj)
    return {**obj, "metadata": {key: value for key, value in meta.items() if key != "managedFields"}}
