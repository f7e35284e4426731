"""The staging phase: which weight caches a ModelDeployment needs and holds, and whether the spec's
revision may get pods yet (pure).

One cache per (model id, model revision, source) in the namespace (:mod:`modelfleet.render.cache`).
The spec's revision needs its cache *verified* (the download Job Complete and ``modelfleet fetch``'s
last report Complete) before its first pod exists; until then a first deploy shows phase Staging with
the download's progress, and a new revision's canary does not start while the stable keeps serving. A
failed download stops the revision there: ``Progressing=False StagingFailed`` with what failed (HTTP
status, bytes done), and the stable revision serves on.

The caches held are the spec revision's, those of revisions that still have a workload, and the
``retain`` most recent others (for a fast rollback), in ``status.caches``, newest first. Any other
claim is released; the reconciler deletes a cache whose last claimant released it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from modelfleet.api.fetch import FetchPhase, FetchProgress
from modelfleet.decide.caches import CacheClaim, FetchJob
from modelfleet.decide.inputs import Pass
from modelfleet.decide.observed import WORKLOAD_KINDS
from modelfleet.render.cache import (
    CacheSettings,
    cache_settings,
    claim_reference,
    render_cache_claim,
    render_fetch_identity,
    render_fetch_job,
)


class StageState(StrEnum):
    NO_CACHE = "NoCache"  # the pods download themselves, or read the user's PVC
    STAGING = "Staging"
    STAGED = "Staged"
    FAILED = "Failed"


@dataclass
class CacheWrites:
    """What the reconciler does to caches in this pass, in this order."""

    apply: list[dict[str, Any]] = field(default_factory=list)  # the download pods' ServiceAccount and Role
    create_claims: list[dict[str, Any]] = field(default_factory=list)  # 409: exists, then claimed
    claim: list[str] = field(default_factory=list)  # add this ModelDeployment as an owner
    create_jobs: list[dict[str, Any]] = field(default_factory=list)  # 409: exists
    # (claim, report): mark the claim staged with the verified report, then delete its finished Job (a
    # finished pod that mounts the claim would keep it from ever being deleted: pvc-protection)
    mark_staged: list[tuple[str, FetchProgress]] = field(default_factory=list)
    release: list[str] = field(default_factory=list)  # remove it; the last claimant deletes the cache
    owner: dict[str, Any] = field(default_factory=dict)  # this ModelDeployment's claim (an owner reference)

    def __bool__(self) -> bool:
        return bool(
            self.apply
            or self.create_claims
            or self.claim
            or self.create_jobs
            or self.mark_staged
            or self.release
        )


@dataclass
class Staging:
    settings: CacheSettings | None
    state: StageState
    message: str  # what the download does or why it failed; "" without a cache
    status: dict[str, Any] | None  # status.staging
    caches: list[str]  # status.caches
    writes: CacheWrites

    @property
    def blocks(self) -> bool:
        """The spec's revision may not get pods (unless it already has them)."""
        return self.state in (StageState.STAGING, StageState.FAILED)


def plan_staging(p: Pass) -> Staging:
    defaults = p.ctx.render.cache
    settings = cache_settings(p.spec, p.plan, defaults)
    claims = {c.name: c for c in p.obs.caches}
    jobs = {j.name: j for j in p.obs.fetch_jobs}
    writes = CacheWrites(owner=claim_reference(p.owner_reference()))
    held = _held(p, settings, defaults.retain if settings is None else settings.retain, claims)
    for name in sorted(c.name for c in claims.values() if c.claimed_by(p.obs.uid) and c.name not in held):
        writes.release.append(name)
    if settings is None:
        return Staging(None, StageState.NO_CACHE, "", None, held, writes)
    claim, job = claims.get(settings.name), jobs.get(settings.name)
    if claim is None:
        writes.apply.extend(render_fetch_identity(p.obs.namespace, defaults))
        writes.create_claims.append(render_cache_claim(settings, p.obs.namespace, [p.owner_reference()]))
    elif not claim.deleting and not claim.claimed_by(p.obs.uid):
        writes.claim.append(claim.name)
    staged = claim is not None and claim.staged is not None and claim.staged.phase is FetchPhase.COMPLETE
    if claim is not None and not claim.deleting and job is None and not staged:
        writes.create_jobs.append(render_fetch_job(settings, p.obs.namespace, claim.uid, defaults))
    state, message = stage_state(settings, claim, job)
    if claim is not None and job is not None and state is StageState.STAGED and job.progress is not None:
        writes.mark_staged.append((claim.name, job.progress))
    return Staging(
        settings, state, message, staging_status(settings, claim, job, state, message), held, writes
    )


def _held(p: Pass, settings: CacheSettings | None, retain: int, claims: dict[str, CacheClaim]) -> list[str]:
    """The caches to hold, newest first: the spec's, those of live workloads, then ``retain`` others."""
    live = sorted(
        {c.cache for c in p.obs.children if c.kind in WORKLOAD_KINDS and c.owned and c.cache is not None}
    )
    target = [settings.name] if settings is not None else []
    order = list(dict.fromkeys([*target, *live, *p.previous.caches]))
    others = [name for name in order if name not in target and name not in live]
    kept = set(target) | set(live) | set(others[:retain])
    # A cache nobody created yet is only held by the spec's revision; one deleted meanwhile is gone.
    return [name for name in order if name in kept and (name in claims or name in target)]


def stage_state(
    settings: CacheSettings, claim: CacheClaim | None, job: FetchJob | None
) -> tuple[StageState, str]:
    """Where the cache of the spec's revision stands, and what to say about it.

    A Job that completed is trusted only with ``modelfleet fetch``'s own final report: Complete means
    every file's size and checksum were verified and the completion marker written.
    """
    if claim is None:
        return StageState.STAGING, f"creating weight cache {settings.name} for {settings.source}"
    if claim.deleting:
        return StageState.STAGING, f"weight cache {settings.name} is being deleted; it is created anew after"
    if claim.staged is not None and claim.staged.phase is FetchPhase.COMPLETE:
        return StageState.STAGED, f"weights of {settings.source} verified in {settings.name}"
    if job is None or job.deleting:
        return StageState.STAGING, f"starting the download of {settings.source} into {settings.name}"
    progress = job.progress
    if job.complete and progress is not None and progress.phase is FetchPhase.COMPLETE:
        return StageState.STAGED, f"weights of {settings.source} verified in {settings.name}"
    if job.failed or job.complete:
        return StageState.FAILED, failure_message(settings, job)
    if claim.phase != "Bound":
        return StageState.STAGING, f"weight cache {settings.name} waits for a volume (claim {claim.phase})"
    return StageState.STAGING, progress_message(settings, progress)


def failure_message(settings: CacheSettings, job: FetchJob) -> str:
    """What failed, with the source's HTTP status and the bytes done, and what to do.

    >>> from modelfleet.api.fetch import FetchError
    >>> s = CacheSettings("weights-1", "hf://org/m", "main", None, "10Gi", 1, None)
    >>> p = FetchProgress(phase=FetchPhase.FAILED, source="hf://org/m", bytes_done=1024, bytes_total=4096,
    ...     updated_at="2026-05-01T12:00:00Z", error=FetchError(message="gated repo", http_status=401))
    >>> failure_message(s, FetchJob("weights-1", "u", False, True, "BackoffLimitExceeded", p))
    'download of hf://org/m failed: HTTP 401: gated repo (1.0 KB of 4.1 KB done); fix the source or its token, then delete Job weights-1 to retry'
    """
    progress = job.progress
    parts = []
    if progress is not None and progress.error is not None:
        status = f"HTTP {progress.error.http_status}: " if progress.error.http_status else ""
        parts.append(f"{status}{progress.error.message}")
    elif job.complete:
        parts.append("the Job completed without a verified Complete report")
    else:
        parts.append(job.failure or "the Job failed")
    if progress is not None:
        total = f" of {_bytes(progress.bytes_total)}" if progress.bytes_total is not None else ""
        parts.append(f"({_bytes(progress.bytes_done)}{total} done)")
    return (
        f"download of {settings.source} failed: {' '.join(parts)}; fix the source or its token, "
        f"then delete Job {job.name} to retry"
    )


def progress_message(settings: CacheSettings, progress: FetchProgress | None) -> str:
    """``downloading hf://org/m: 41% (4.1 GB of 10.0 GB, 120.0 MB/s, ETA 50s)``."""
    if progress is None:
        return f"downloading {settings.source} into {settings.name}"
    what = f"{progress.phase.value.lower()} {settings.source}"
    if progress.bytes_total:
        detail = [f"{_bytes(progress.bytes_done)} of {_bytes(progress.bytes_total)}"]
        if progress.rate_bytes_per_second:
            detail.append(f"{_bytes(int(progress.rate_bytes_per_second))}/s")
        if progress.eta_seconds is not None:
            detail.append(f"ETA {progress.eta_seconds}s")
        return f"{what}: {percent(progress)}% ({', '.join(detail)})"
    return what


def percent(progress: FetchProgress | None) -> int:
    if progress is None or not progress.bytes_total:
        return 0
    return min(100, progress.bytes_done * 100 // progress.bytes_total)


def staging_status(
    settings: CacheSettings, claim: CacheClaim | None, job: FetchJob | None, state: StageState, message: str
) -> dict[str, Any]:
    progress = job.progress if job is not None else None
    if state is StageState.STAGED and claim is not None and claim.staged is not None:
        progress = claim.staged
    if state is StageState.STAGED:
        phase, shown = FetchPhase.COMPLETE.value, "Staged"
    elif state is StageState.FAILED:
        phase, shown = FetchPhase.FAILED.value, "Failed"
    else:
        listed = progress is not None and claim is not None and claim.phase == "Bound"
        phase = progress.phase.value if listed and progress is not None else "Pending"
        shown = f"Staging {percent(progress)}%"
    status: dict[str, Any] = {"cache": settings.name, "phase": phase, "progress": shown, "message": message}
    if progress is not None:
        status.update(
            {
                "bytesDone": progress.bytes_done,
                "bytesTotal": progress.bytes_total,
                "rateBytesPerSecond": progress.rate_bytes_per_second,
                "etaSeconds": progress.eta_seconds if state is StageState.STAGING else None,
            }
        )
    return {k: v for k, v in status.items() if v is not None}


def _bytes(value: int | None) -> str:
    """Decimal units, as download tools show them.

    >>> _bytes(999), _bytes(4_100_000_000), _bytes(None)
    ('999 B', '4.1 GB', '?')
    """
    if value is None:
        return "?"
    for unit, size in (("TB", 10**12), ("GB", 10**9), ("MB", 10**6), ("KB", 10**3)):
        if value >= size:
            return f"{value / size:.1f} {unit}"
    return f"{value} B"
