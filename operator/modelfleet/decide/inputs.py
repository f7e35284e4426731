"""What one decision reads and what it returns (pure).

:class:`Observed` and :class:`Context` come from the shell; :class:`Pass` carries them through the
checks, the children plan and the status builder, and gathers what each stage learns (the parsed
spec, the plan) so no helper takes more than the pass itself.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from modelfleet import GROUP, KIND, VERSION
from modelfleet.api import (
    AnalysisResult,
    ModelDeploymentSpec,
    ModelDeploymentStatus,
    ModelFilesStatus,
    Reason,
)
from modelfleet.catalog.license import LicensePolicy
from modelfleet.catalog.types import ModelFacts
from modelfleet.decide.caches import CacheClaim, FetchJob
from modelfleet.decide.conditions import ConditionSet
from modelfleet.decide.inventory import Inventory
from modelfleet.decide.observed import Child, PodSummary
from modelfleet.planner.types import Plan, PlanRequest
from modelfleet.render.config import OperatorConfig as RenderConfig
from modelfleet.render.memo import RenderMemo
from modelfleet.render.names import name_label_value
from modelfleet.rollout.types import Event, JobState

if TYPE_CHECKING:
    from modelfleet.decide.staging import CacheWrites


@dataclass(frozen=True)
class Discovery:
    """What the shell learnt reading the model's own files (config.json, the safetensors index).

    ``reason`` is the ModelDiscovered condition's (FilesRead, or why not), ``files`` what was read
    (also when it came from the stored status), ``retry_after_seconds`` when to try a failed read again.
    """

    reason: Reason
    message: str
    files: ModelFilesStatus | None = None
    retry_after_seconds: float | None = None


@dataclass(frozen=True)
class Observed:
    name: str
    namespace: str
    uid: str
    generation: int
    annotations: Mapping[str, str]
    spec: Mapping[str, Any]
    status: Mapping[str, Any]
    children: tuple[Child, ...]
    pods: tuple[PodSummary, ...]
    inventory: Inventory  # GPU nodes and the pods that hold GPUs, with their sums
    now: datetime
    caches: tuple[CacheClaim, ...] = ()  # weight caches of the namespace (their claims)
    fetch_jobs: tuple[FetchJob, ...] = ()  # and their download Jobs
    discovery: Discovery | None = None  # None: the operator does not read model files


@dataclass(frozen=True)
class Context:
    """Operator-wide settings the decision depends on, and the render memo the operator owns."""

    license_policy: LicensePolicy
    render: RenderConfig
    gateway_api: bool  # the Gateway API CRDs are installed
    lws: bool = True  # the LeaderWorkerSet CRD is installed
    keda: bool = False  # KEDA's ScaledObject CRD is installed
    memo: RenderMemo = field(default_factory=RenderMemo, compare=False, repr=False)


@dataclass(frozen=True)
class JobPlan:
    """The evaluation Job the current analysis step needs. The reconciler reads it by name
    (``looked_up`` False: not read yet, decide again with it), then creates or deletes it."""

    step: int
    name: str
    looked_up: bool
    create: dict[str, Any] | None = None  # the manifest, when the Job does not exist
    delete: bool = False  # an earlier attempt's Job is in the way


@dataclass
class Decision:
    status: dict[str, Any]
    apply: list[dict[str, Any]] = field(default_factory=list)  # server-side apply, in order
    scale: list[tuple[Child, int]] = field(default_factory=list)  # replicas of revisions we do not re-render
    delete: list[Child] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)
    requeue_after_seconds: float | None = None
    measure: tuple[str, ...] = ()
    measure_revision: str | None = None
    consumed_action: bool = False
    waiting_for_capacity: bool = False
    result: str = "ok"
    aborted_reason: str | None = None
    evaluation_job: JobPlan | None = None
    caches: CacheWrites | None = None  # weight caches to create, claim and release


# What the reconciler read of evaluation Jobs, by step index (None: no such Job).
Jobs = Mapping[int, JobState | None]


@dataclass
class Pass:
    """One decision's inputs, and what the checks learn on the way (filled in chain order)."""

    obs: Observed
    ctx: Context
    measurements: tuple[AnalysisResult, ...] | None
    jobs: Jobs
    previous: ModelDeploymentStatus
    conditions: ConditionSet
    parsed: ModelDeploymentSpec | None = None  # set by the spec check
    request: PlanRequest | None = None  # set by the model check, with the model's facts
    facts: ModelFacts | None = None
    chosen_plan: Plan | None = None  # set by the plan check
    inputs_hash: str = ""  # of the spec fields the plan came from
    placed_replicas: int | None = None  # set by the rollout stage: the replicas the GPUs hold

    @property
    def desired(self) -> int:
        """The replicas this pass runs for the model: ``spec.replicas``, or with autoscaling what
        the GPUs hold of it (``ScalingLimited`` says when that is fewer)."""
        return self.spec.replicas if self.placed_replicas is None else self.placed_replicas

    @classmethod
    def start(
        cls,
        obs: Observed,
        ctx: Context,
        measurements: tuple[AnalysisResult, ...] | None = None,
        jobs: Jobs | None = None,
    ) -> Pass:
        previous = previous_status(obs.status)
        conditions = ConditionSet.from_status(previous.conditions, obs.generation, obs.now)
        return cls(obs, ctx, measurements, jobs or {}, previous, conditions)

    @property
    def spec(self) -> ModelDeploymentSpec:
        assert self.parsed is not None, "the spec check runs first"
        return self.parsed

    @property
    def plan(self) -> Plan:
        assert self.chosen_plan is not None and self.chosen_plan.chosen is not None, (
            "the plan check runs first"
        )
        return self.chosen_plan

    @property
    def owner(self) -> str:
        """``<namespace>/<name label>``, as the inventory names the owner of a GPU pod."""
        return f"{self.obs.namespace}/{name_label_value(self.obs.name)}"

    def owner_reference(self) -> dict[str, Any]:
        return {
            "apiVersion": f"{GROUP}/{VERSION}",
            "kind": KIND,
            "name": self.obs.name,
            "uid": self.obs.uid,
            "controller": True,
            "blockOwnerDeletion": True,
        }


def previous_status(raw: Mapping[str, Any]) -> ModelDeploymentStatus:
    """The persisted status; a status another version wrote that no longer parses counts as empty."""
    try:
        return ModelDeploymentStatus.model_validate(dict(raw or {}))
    except ValueError:
        return ModelDeploymentStatus()
