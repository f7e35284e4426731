"""Summaries of weight caches (their PersistentVolumeClaims and download Jobs), kept in kopf indexes
by namespace (pure functions).

A cache belongs to no single ModelDeployment: every claimant is an owner reference on the claim, so
these summaries carry the claimants rather than being filed under one owner.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from modelfleet import KIND
from modelfleet.api.fetch import FetchProgress
from modelfleet.render.names import (
    CACHE_LABEL,
    FETCH_PROGRESS_ANNOTATION,
    MANAGED_BY,
    MANAGED_BY_LABEL,
    STAGED_ANNOTATION,
)


@dataclass(frozen=True)
class Claimant:
    uid: str
    name: str


@dataclass(frozen=True)
class CacheClaim:
    """A cache's PersistentVolumeClaim."""

    name: str
    uid: str
    resource_version: str
    claimants: tuple[Claimant, ...]
    owner_references: tuple[Mapping[str, Any], ...]  # as they are, for a patch that keeps the others
    phase: str  # Pending, Bound, Lost
    deleting: bool = False
    staged: FetchProgress | None = None  # the verified download's final report, once marked on the claim

    def claimed_by(self, uid: str) -> bool:
        return any(c.uid == uid for c in self.claimants)


@dataclass(frozen=True)
class FetchJob:
    """A cache's download Job: whether it finished, and what ``modelfleet fetch`` last reported."""

    name: str
    uid: str
    complete: bool
    failed: bool
    failure: str | None  # the Failed condition's reason and message
    progress: FetchProgress | None
    deleting: bool = False


def is_cache(obj: Mapping[str, Any]) -> bool:
    labels = (obj.get("metadata") or {}).get("labels") or {}
    return labels.get(MANAGED_BY_LABEL) == MANAGED_BY and bool(labels.get(CACHE_LABEL))


def claim_summary(pvc: Mapping[str, Any]) -> CacheClaim:
    meta = pvc.get("metadata") or {}
    refs = tuple(dict(r) for r in meta.get("ownerReferences") or [])
    return CacheClaim(
        name=meta.get("name", ""),
        uid=meta.get("uid", ""),
        resource_version=str(meta.get("resourceVersion", "")),
        claimants=tuple(
            Claimant(str(r.get("uid")), str(r.get("name"))) for r in refs if r.get("kind") == KIND
        ),
        owner_references=refs,
        phase=(pvc.get("status") or {}).get("phase", "Pending"),
        deleting=bool(meta.get("deletionTimestamp")),
        staged=read_progress((meta.get("annotations") or {}).get(STAGED_ANNOTATION)),
    )


def fetch_job_summary(job: Mapping[str, Any]) -> FetchJob:
    meta = job.get("metadata") or {}
    conditions = {
        c.get("type"): c
        for c in (job.get("status") or {}).get("conditions") or []
        if c.get("status") == "True"
    }
    failed = conditions.get("Failed")
    failure = None
    if failed is not None:
        failure = (
            ": ".join(part for part in (failed.get("reason"), failed.get("message")) if part) or "Failed"
        )
    return FetchJob(
        name=meta.get("name", ""),
        uid=meta.get("uid", ""),
        complete="Complete" in conditions,
        failed=failed is not None,
        failure=failure,
        progress=read_progress((meta.get("annotations") or {}).get(FETCH_PROGRESS_ANNOTATION)),
        deleting=bool(meta.get("deletionTimestamp")),
    )


def read_progress(text: str | None) -> FetchProgress | None:
    """The downloader's report; one that does not parse counts as none (it is rewritten soon)."""
    if not text:
        return None
    try:
        return FetchProgress.model_validate(json.loads(text))
    except (ValueError, ValidationError):
        return None


def with_claimant(refs: Sequence[Mapping[str, Any]], owner: Mapping[str, Any]) -> list[dict[str, Any]] | None:
    """The owner references with ``owner`` added as a claimant; None when it is one already."""
    if any(r.get("uid") == owner.get("uid") for r in refs):
        return None
    return [*(dict(r) for r in refs), dict(owner)]


def without_claimant(refs: Sequence[Mapping[str, Any]], uid: str) -> list[dict[str, Any]]:
    """The owner references without ``uid``'s claim; when no ModelDeployment is left in them, the
    cache is deleted instead (an object with no owner would never be collected).

    >>> refs = [{"kind": "ModelDeployment", "uid": "a"}, {"kind": "ModelDeployment", "uid": "b"}]
    >>> [r["uid"] for r in without_claimant(refs, "a")]
    ['b']
    """
    return [dict(r) for r in refs if r.get("uid") != uid]


def has_claimants(refs: Sequence[Mapping[str, Any]]) -> bool:
    return any(r.get("kind") == KIND for r in refs)
