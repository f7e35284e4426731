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
from modelfleet.decide import Context, Decision, Observed, decide
from modelfleet.decide.evaluation_job import job_state
from modelfleet.decide.inputs import Discovery, previous_status
from modelfleet.decide.refused import REFUSED_STATUSES, refused_decision
from modelfleet.decide.statusdiff import merge_patch
from modelfleet.reconcile.discovery import ModelDiscovery
from modelfleet.reconcile.kube import ApiError, Kube
from modelfleet.reconcile.metrics import OperatorMetrics
from modelfleet.reconcile.worker import Outcome, Snapshot
from modelfleet.rollout.types import Event, JobState

log = logging.getLogger("modelfleet.reconcile")
MD_API_VERSION = f"{GROUP}/{VERSION}"
Measure = Callable[[Observed, Decision], tuple[AnalysisResult, ...]]
MAX_JOB_LOOKUPS = 3


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
        discovery=discovery,
    )
