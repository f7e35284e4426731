"""Small summaries of the cluster objects a reconcile needs, kept by the watches (pure functions).

The watches' caches hold these summaries instead of whole objects: an engine Deployment is kilobytes of YAML,
its summary is a few fields, which keeps the operator's memory flat at fleet size.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from modelfleet.render.autoscaling import AUTOSCALER_KINDS
from modelfleet.render.names import (
    CACHE_LABEL,
    MANAGED_BY,
    MANAGED_BY_LABEL,
    NAME_LABEL,
    REVISION_LABEL,
    SPEC_HASH_LABEL,
)

# What the reconciler owns, by kind; anything else carrying our labels is left alone.
WORKLOAD_KINDS = ("Deployment", "LeaderWorkerSet")


@dataclass(frozen=True)
class ScalingSummary:
    """What an autoscaler's object says: an HPA's desired and current replicas, and the conditions of
    an HPA or a KEDA ScaledObject as ``Type=Status (Reason)``, with the message of any that is False."""

    desired_replicas: int | None = None
    current_replicas: int | None = None
    last_scale_time: str | None = None
    conditions: str = ""


@dataclass(frozen=True)
class Child:
    """One object the operator created for a ModelDeployment."""

    api_version: str
    kind: str
    name: str
    uid: str
    revision: str | None
    spec_hash: str | None
    replicas: int | None = None  # workloads only
    ready_replicas: int = 0  # workloads: replicas whose pods are all Ready and up to date
    weights: tuple[tuple[str, int], ...] = ()  # HTTPRoute: (backend Service name, weight)
    owned: bool = True  # has a controller ownerReference to the ModelDeployment
    current: bool = (
        True  # workloads: their controller has seen the latest spec (ready_replicas is up to date)
    )
    cache: str | None = None  # workloads: the weight cache their pods mount
    scaling: ScalingSummary | None = None  # HorizontalPodAutoscaler and ScaledObject only


@dataclass(frozen=True)
class PodSummary:
    name: str
    revision: str | None
    phase: str
    ready: bool
    unschedulable_message: str | None  # PodScheduled=False message: the scheduler's own words
    waiting_reason: str | None = None  # a container's waiting reason (CrashLoopBackOff, ImagePullBackOff ...)
    waiting_message: str | None = None  # the kubelet's words for it


def owner_key(obj: Mapping[str, Any]) -> tuple[str, str] | None:
    """(namespace, ModelDeployment name) of a child or pod, from its labels; None if not ours."""
    meta = obj.get("metadata") or {}
    labels = meta.get("labels") or {}
    if labels.get(MANAGED_BY_LABEL) != MANAGED_BY or not labels.get(NAME_LABEL):
        return None
    return (meta.get("namespace") or "", labels[NAME_LABEL])


def child_summary(obj: Mapping[str, Any]) -> Child:
    meta = obj.get("metadata") or {}
    labels = meta.get("labels") or {}
    kind = obj.get("kind", "")
    spec = obj.get("spec") or {}
    status = obj.get("status") or {}
    replicas: int | None = None
    ready = 0
    weights: tuple[tuple[str, int], ...] = ()
    current = True
    if kind == "Deployment":
        replicas = int(spec.get("replicas", 1))
        # Ready only counts once the Deployment controller has seen the current template.
        current = status.get("observedGeneration", 0) >= meta.get("generation", 0)
        ready = (
            min(int(status.get("readyReplicas") or 0), int(status.get("updatedReplicas") or 0))
            if current
            else 0
        )
    elif kind == "LeaderWorkerSet":
        replicas = int(spec.get("replicas", 1))
        ready = int(status.get("readyReplicas") or 0)
    elif kind == "HTTPRoute":
        pairs = []
        for rule in spec.get("rules") or []:
            for ref in rule.get("backendRefs") or []:
                pairs.append((str(ref.get("name")), int(ref.get("weight", 1))))
        weights = tuple(pairs)
    scaling = scaling_summary(status) if kind in AUTOSCALER_KINDS else None
    owned = any(
        ref.get("controller") and ref.get("kind") == "ModelDeployment"
        for ref in meta.get("ownerReferences") or []
    )
    return Child(
        api_version=obj.get("apiVersion", ""),
        kind=kind,
        name=meta.get("name", ""),
        uid=meta.get("uid", ""),
        revision=labels.get(REVISION_LABEL),
        spec_hash=labels.get(SPEC_HASH_LABEL),
        replicas=replicas,
        ready_replicas=ready,
        weights=weights,
        owned=owned,
        current=current,
        cache=labels.get(CACHE_LABEL),
        scaling=scaling,
    )


def scaling_summary(status: Mapping[str, Any]) -> ScalingSummary:
    """The autoscaler's decision and its reasons, from an HPA's or a ScaledObject's status.

    >>> scaling_summary({"desiredReplicas": 3, "currentReplicas": 2, "conditions": [
    ...     {"type": "AbleToScale", "status": "True", "reason": "SucceededRescale"},
    ...     {"type": "ScalingActive", "status": "False", "reason": "FailedGetExternalMetric",
    ...      "message": "no metric"}]}).conditions
    'AbleToScale=True (SucceededRescale); ScalingActive=False (FailedGetExternalMetric: no metric)'
    """
    parts = []
    for condition in status.get("conditions") or []:
        reason = condition.get("reason") or ""
        if condition.get("status") == "False" and condition.get("message"):
            reason = f"{reason}: {condition['message']}" if reason else str(condition["message"])
        parts.append(
            f"{condition.get('type')}={condition.get('status')}" + (f" ({reason})" if reason else "")
        )
    desired, current = status.get("desiredReplicas"), status.get("currentReplicas")
    return ScalingSummary(
        desired_replicas=int(desired) if desired is not None else None,
        current_replicas=int(current) if current is not None else None,
        last_scale_time=status.get("lastScaleTime"),
        conditions="; ".join(parts),
    )


def pod_summary(pod: Mapping[str, Any]) -> PodSummary:
    meta = pod.get("metadata") or {}
    status = pod.get("status") or {}
    conditions = {c.get("type"): c for c in status.get("conditions") or []}
    scheduled = conditions.get("PodScheduled")
    unschedulable = None
    if scheduled and scheduled.get("status") == "False":
        unschedulable = scheduled.get("message") or scheduled.get("reason") or "unschedulable"
    waiting = _first_waiting(status)
    return PodSummary(
        name=meta.get("name", ""),
        revision=(meta.get("labels") or {}).get(REVISION_LABEL),
        phase=status.get("phase", "Pending"),
        ready=(conditions.get("Ready") or {}).get("status") == "True",
        unschedulable_message=unschedulable,
        waiting_reason=waiting.get("reason"),
        waiting_message=(waiting.get("message") or "")[:300] or None,
    )


# Waiting reasons of a container that is simply starting: they say nothing about a problem.
STARTING_REASONS = frozenset({"ContainerCreating", "PodInitializing"})


def _first_waiting(status: Mapping[str, Any]) -> Mapping[str, Any]:
    """The first container (init containers first) waiting for a reason other than starting up."""
    for key in ("initContainerStatuses", "containerStatuses"):
        for container in status.get(key) or []:
            waiting = (container.get("state") or {}).get("waiting") or {}
            if waiting.get("reason") and waiting["reason"] not in STARTING_REASONS:
                return waiting
    return {}
