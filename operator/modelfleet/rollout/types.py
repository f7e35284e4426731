"""Inputs and outputs of the rollout state machine (pure; time is injected).

The reconciler gathers a :class:`RolloutInput` each pass, calls ``rollout.step(input)`` and acts on
the :class:`RolloutDecision`: it scales each revision's workload to ``replicas[revision]``, sets the
traffic ``weights``, deletes the revisions in ``delete``, writes ``status`` into
``status.rollout``/``status.revisions`` and posts ``events``. Everything needed to resume lives in
the persisted status, so a restarted operator continues at the same step with the remaining pause.

Analysis is a two-phase exchange: when the current step wants a measurement, the decision carries
``measure`` (template names); the reconciler runs the queries and calls ``step`` again with
``measurements`` filled in, in the same pass.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime

from modelfleet.api import (
    AnalysisResult,
    ConditionStatus,
    EvaluationJob,
    Phase,
    RolloutAction,
    RolloutSpec,
    RolloutStatus,
    TrafficProvider,
)


@dataclass(frozen=True)
class RevisionState:
    """What the cluster shows for one revision's workload."""

    revision: str
    replicas: int  # spec.replicas of its Deployment / LeaderWorkerSet
    ready_replicas: int  # replicas whose pods are all Ready
    exists: bool = True


@dataclass(frozen=True)
class JobState:
    """What the cluster shows for the evaluation Job of one analysis step of the target revision."""

    finished: bool = False  # Complete or Failed
    succeeded: bool = False
    finished_at: str | None = None  # RFC 3339; a run that finished before the step started is stale
    message: str = ""  # why it failed (the Job's Failed condition)
    deleting: bool = False  # being deleted (a stale run on its way out)


@dataclass(frozen=True)
class JobRequest:
    """The evaluation Job the current analysis step needs: create it when absent; ``replace``: the
    Job of that name is an earlier attempt's (finished before this step started), delete it first."""

    step: int
    job: EvaluationJob
    replace: bool = False


@dataclass(frozen=True)
class RolloutInput:
    now: datetime
    target_revision: str  # the revision the current spec describes
    stable_revision: str | None  # status.revisions.stable (None before the first revision is ready)
    desired_replicas: int  # spec.replicas
    spec: RolloutSpec
    status: RolloutStatus | None  # persisted status.rollout
    revisions: dict[str, RevisionState]  # every revision workload that exists, by hash
    action: RolloutAction = RolloutAction.NONE  # spec.rollout.action or the modelfleet.io/action annotation
    # Percent of traffic read back from the traffic provider on every revision other than the stable
    # (the canary plus any old revision still attached); None when unknown. With the replicas
    # provider the weight *is* the replica ratio, so None counts as "as decided".
    observed_weight: int | None = None
    # Preferred over observed_weight: the weights read back per revision (HTTPRoute backends),
    # from which the machine sums every revision other than the stable itself.
    observed_weights: dict[str, int] | None = None
    # The inventory can hold the canary's next pods next to the current workloads (extra GPUs).
    canary_capacity_ok: bool = True
    capacity_message: str = ""
    measurements: tuple[AnalysisResult, ...] | None = None  # results for `measure`, second phase only
    traffic_granularity_percent: int | None = None  # replicas provider: 100 / total replicas
    # The provider in force, resolved by the reconciler (``auto`` is never passed here):
    # gatewayAPI splits exact weights on the owned HTTPRoute, replicas splits by replica ratio.
    traffic_provider: TrafficProvider = TrafficProvider.GATEWAY_API
    # The evaluation Jobs of the target revision, by step index (absent: no such Job exists).
    evaluation_jobs: Mapping[int, JobState] = field(default_factory=dict)

    @property
    def off_stable_weight(self) -> int | None:
        """Traffic the provider shows on revisions other than the stable (None: unknown).
        Before the first stable exists, the target plays the stable's part."""
        if self.observed_weights is not None:
            stable = self.stable_revision or self.target_revision
            return sum(w for revision, w in self.observed_weights.items() if revision != stable)
        return self.observed_weight


@dataclass(frozen=True)
class Event:
    type: str  # "Normal" | "Warning"
    reason: str
    message: str


@dataclass(frozen=True)
class RolloutDecision:
    replicas: dict[str, int]  # revision -> workload replicas wanted
    weights: dict[str, int]  # revision -> percent of traffic (sums to 100 over serving revisions)
    delete: tuple[str, ...]  # revisions whose workloads go (only after weight 0 is observed)
    stable_revision: str | None
    canary_revision: str | None
    status: RolloutStatus | None  # new status.rollout (None when no rollout is under way)
    phase: Phase
    progressing: tuple[ConditionStatus, str, str]  # Progressing condition: status, reason, message
    events: tuple[Event, ...] = ()
    measure: tuple[str, ...] = ()  # analysis templates to evaluate now (then call step again)
    requeue_after_seconds: float | None = None  # when the machine next needs a look (pause end, interval)
    aborted_reason: str | None = None  # set on the pass that aborts, for metrics
    extra: dict[str, str] = field(default_factory=dict)
    # The manual action was taken into account (or is a no-op here): clear the annotation.
    consumed_action: bool = False
    evaluation_job: JobRequest | None = None  # the Job the current analysis step runs
