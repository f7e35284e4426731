"""The thin shell: gather -> decide (pure) -> act. The only module that writes to the API server.

Each pass applies only what differs from what the indexes show (an unchanged child is never
patched), writes status once and only when it changed, and posts an Event per decision.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from modelfleet import GROUP, KIND, VERSION
from modelfleet.api import ACTION_ANNOTATION, AnalysisResult, SpecError, parse_spec
from modelfleet.decide import CacheWrites, Context, Decision, Observed, decide
from modelfleet.decide.caches import has_claimants, with_claimant, without_claimant
from modelfleet.decide.evaluation_job import job_state
from modelfleet.decide.inputs import Discovery, previous_status
from modelfleet.decide.refused import REFUSED_STATUSES, refused_decision
from modelfleet.decide.statusdiff import merge_patch
from modelfleet.reconcile.discovery import ModelDiscovery
from modelfleet.reconcile.kube import ApiError, Kube
from modelfleet.reconcile.metrics import OperatorMetrics
from modelfleet.reconcile.worker import Outcome, Snapshot
from modelfleet.render.names import STAGED_ANNOTATION
from modelfleet.rollout.types import Event, JobState

log = logging.getLogger("modelfleet.reconcile")
MD_API_VERSION = f"{GROUP}/{VERSION}"
Measure = Callable[[Observed, Decision], tuple[AnalysisResult, ...]]
MAX_JOB_LOOKUPS = 3
MAX_CLAIM_ATTEMPTS = 3  # read-modify-write of a cache's owner references, against concurrent claimants
PVC = ("v1", "PersistentVolumeClaim")


class Reconciler:
    def __init__(
        self,
        kube: Kube,
        context: Context,
        metrics: OperatorMetrics,
        measure: Measure | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        events: Callable[[dict[str, Any]], None] | None = None,
        discovery: ModelDiscovery | None = None,
    ) -> None:
        """`events` takes each Event body off the pass (an :class:`.events.EventSink`); without it,
        Events are posted in the pass itself. `discovery` reads the model's own files (None: not read)."""
        self.kube = kube
        self.discovery = discovery
        self.events = events
        self.context = context
        self.metrics = metrics
        self.measure = measure
        self.clock = clock

    def __call__(self, obj: dict[str, Any], snapshot: Snapshot) -> Outcome:
        started = time.perf_counter()
        meta = obj.get("metadata") or {}
        try:
            outcome = self.reconcile(obj, snapshot)
        except Exception:
            self.metrics.reconciles.labels(result="error").inc()
            raise
        finally:
            self.metrics.reconcile_seconds.observe(time.perf_counter() - started)
            self.metrics.passed((meta.get("namespace", ""), meta.get("name", "")))
        self.metrics.reconciles.labels(result=outcome.result).inc()
        return outcome

    def reconcile(self, obj: dict[str, Any], snapshot: Snapshot) -> Outcome:
        observed = gather(obj, snapshot, self.clock(), self.discover(obj))
        decision = decide(observed, self.context)
        jobs: dict[int, JobState | None] = {}
        # An analysis step with an evaluation Job: read the Job by name, decide again with it (a
        # step that passes may lead to another such step, hence the bounded loop).
        for _ in range(MAX_JOB_LOOKUPS):
            plan = decision.evaluation_job
            if plan is None or plan.looked_up:
                break
            found = self.kube.get("batch/v1", "Job", observed.namespace, plan.name)
            jobs[plan.step] = job_state(found) if found is not None else None
            decision = decide(observed, self.context, jobs=jobs)
        if decision.measure and self.measure is not None:
            decision = decide(
                observed, self.context, measurements=self.measure(observed, decision), jobs=jobs
            )
        decision = self.act(observed, decision)
        self._record(observed, decision)
        return Outcome(
            decision.result,
            decision.requeue_after_seconds,
            decision.waiting_for_capacity,
            status=decision.status,
        )

    def discover(self, obj: dict[str, Any]) -> Discovery | None:
        """What the model's own files say (read, remembered, or taken from the status); None when
        discovery is off or the spec does not parse (the decision reports that)."""
        if self.discovery is None:
            return None
        try:
            spec = parse_spec(obj.get("spec") or {})
        except SpecError:
            return None
        namespace = (obj.get("metadata") or {}).get("namespace", "")
        return self.discovery.discover(namespace, spec, previous_status(obj.get("status") or {}).model)

    def forget(self, key: tuple[str, str]) -> None:
        self.metrics.forget(key)

    def _record(self, obs: Observed, decision: Decision) -> None:
        status = decision.status
        plan = status.get("plan") or {}
        gpus = int(plan.get("gpusPerReplica") or 0) * int(status.get("replicas") or 0)
        self.metrics.record(
            (obs.namespace, obs.name),
            str(status.get("phase", "Pending")),
            plan.get("gpuType"),
            gpus,
            (status.get("rollout") or {}).get("weight"),
        )
        self.metrics.set_allocated(obs.inventory.allocated_by_type())

    # ---- act ----------------------------------------------------------------------------------------
    def act(self, obs: Observed, decision: Decision) -> Decision:
        """Write the children, then the status and events; returns the decision that was written
        (a refused child turns it into one that reports the refusal, see :mod:`.refused`)."""
        try:
            if decision.caches:
                self._write_caches(obs, decision.caches)
            self._write_children(obs, decision)
        except ApiError as error:
            if error.status not in REFUSED_STATUSES:
                raise
            log.warning("the API server refused a child of %s/%s: %s", obs.namespace, obs.name, error)
            decision = refused_decision(obs, decision, str(error))
        self._remove_action(obs, decision)
        self._write_status(obs, decision)
        return decision

    def _write_children(self, obs: Observed, decision: Decision) -> None:
        for child, replicas in decision.scale:
            self.kube.patch(
                child.api_version, child.kind, obs.namespace, child.name, {"spec": {"replicas": replicas}}
            )
        for obj in decision.apply:
            self.kube.apply(obj)
        for child in decision.delete:
            self.kube.delete(child.api_version, child.kind, obs.namespace, child.name, uid=child.uid)
        job = decision.evaluation_job
        if job is not None and job.looked_up and job.delete:
            self.kube.delete("batch/v1", "Job", obs.namespace, job.name)
        elif job is not None and job.looked_up and job.create is not None:
            self.kube.apply(job.create)

    def _write_caches(self, obs: Observed, writes: CacheWrites) -> None:
        """Create, claim and release weight caches; every step is safe to repeat after a crash (a
        claim or Job that exists answers 409 and is then only claimed)."""
        for obj in writes.apply:
            self.kube.apply(obj)
        for obj in writes.create_claims:
            try:
                self.kube.create(obj)
            except ApiError as error:
                if error.status != 409:
                    raise
                self._claim(obs.namespace, obj["metadata"]["name"], writes.owner)
        for name in writes.claim:
            self._claim(obs.namespace, name, writes.owner)
        for job in writes.create_jobs:
            try:
                self.kube.create(job)
            except ApiError as error:
                if error.status != 409:
                    raise
        for name, report in writes.mark_staged:
            staged = {STAGED_ANNOTATION: report.model_dump_json(by_alias=True, exclude_none=True)}
            self.kube.patch(*PVC, obs.namespace, name, {"metadata": {"annotations": staged}})
            self.kube.delete("batch/v1", "Job", obs.namespace, name)
        for name in writes.release:
            self._release(obs.namespace, name, obs.uid)

    def _claim(self, namespace: str, name: str, owner: dict[str, Any]) -> None:
        for _ in range(MAX_CLAIM_ATTEMPTS):
            found = self.kube.get(*PVC, namespace, name)
            if found is None or (found.get("metadata") or {}).get("deletionTimestamp"):
                return  # gone or going: the next pass creates it anew
            meta = found["metadata"]
            refs = with_claimant(meta.get("ownerReferences") or [], owner)
            if refs is None:
                return
            if self._patch_owners(namespace, name, refs, meta["resourceVersion"]):
                return

    def _release(self, namespace: str, name: str, uid: str) -> None:
        for _ in range(MAX_CLAIM_ATTEMPTS):
            found = self.kube.get(*PVC, namespace, name)
            if found is None:
                return
            meta = found["metadata"]
            refs = without_claimant(meta.get("ownerReferences") or [], uid)
            if not has_claimants(refs):
                # The last claimant: delete it unless it changed since. Its Job first: the Job's pod
                # mounts the claim, which keeps the claim from going (pvc-protection), and the Job
                # would go only once the claim is gone.
                self.kube.delete("batch/v1", "Job", namespace, name)
                if self.kube.delete(
                    *PVC, namespace, name, uid=meta["uid"], resource_version=meta["resourceVersion"]
                ):
                    log.info("deleted weight cache %s/%s: no ModelDeployment holds it", namespace, name)
                    return
                continue
            if self._patch_owners(namespace, name, refs, meta["resourceVersion"]):
                return

    def _patch_owners(self, namespace: str, name: str, refs: list[dict[str, Any]], version: str) -> bool:
        """Replace the owner references unless someone else changed them first (False: read again)."""
        try:
            self.kube.patch(
                *PVC, namespace, name, {"metadata": {"ownerReferences": refs, "resourceVersion": version}}
            )
            return True
        except ApiError as error:
            if error.status in (404, 409):
                return error.status == 404
            raise

    def _remove_action(self, obs: Observed, decision: Decision) -> None:
        """The action annotation goes once a pass carried it out, or refused it."""
        if decision.consumed_action and ACTION_ANNOTATION in (obs.annotations or {}):
            self.kube.patch(
                MD_API_VERSION,
                KIND,
                obs.namespace,
                obs.name,
                {"metadata": {"annotations": {ACTION_ANNOTATION: None}}},
            )

    def _write_status(self, obs: Observed, decision: Decision) -> None:
        patch = merge_patch(dict(obs.status or {}), decision.status)
        if patch:
            try:
                self.kube.patch_status(MD_API_VERSION, KIND, obs.namespace, obs.name, patch)
            except ApiError as error:
                if error.status != 404:  # deleted meanwhile: nothing to report on
                    raise
        for event in decision.events:
            self.post_event(obs, event)
        if decision.aborted_reason:
            self.metrics.aborts.labels(reason=decision.aborted_reason).inc()

    def post_event(self, obs: Observed, event: Event) -> None:
        now = self.clock().strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        body = {
            "apiVersion": "v1",
            "kind": "Event",
            "metadata": {"generateName": f"{obs.name}.", "namespace": obs.namespace},
            "involvedObject": {
                "apiVersion": MD_API_VERSION,
                "kind": KIND,
                "name": obs.name,
                "namespace": obs.namespace,
                "uid": obs.uid,
            },
            "type": event.type,
            "reason": event.reason[:128],
            "message": event.message[:1024],
            "source": {"component": "modelfleet"},
            "reportingComponent": "modelfleet.io/operator",
            "reportingInstance": "modelfleet",
            "firstTimestamp": now,
            "lastTimestamp": now,
            "count": 1,
        }
        if self.events is not None:
            self.events(body)
            return
        try:
            self.kube.create(body)
        except ApiError as error:  # an event is best effort: never fail a reconcile over it
            log.warning("could not post event %s on %s/%s: %s", event.reason, obs.namespace, obs.name, error)


def gather(
    obj: dict[str, Any], snapshot: Snapshot, now: datetime, discovery: Discovery | None = None
) -> Observed:
    meta = obj.get("metadata") or {}
    return Observed(
        name=meta.get("name", ""),
        namespace=meta.get("namespace", ""),
        uid=meta.get("uid", ""),
        generation=int(meta.get("generation") or 0),
        annotations=dict(meta.get("annotations") or {}),
        spec=obj.get("spec") or {},
        status=obj.get("status") or {},
        children=snapshot.children,
        pods=snapshot.pods,
        inventory=snapshot.inventory,
        now=now,
        caches=snapshot.caches,
        fetch_jobs=snapshot.fetch_jobs,
        discovery=discovery,
    )
