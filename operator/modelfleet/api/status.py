"""The ModelDeployment status: everything a restarted operator needs to resume, and what users read.

Timestamps are RFC 3339 strings (``2026-05-01T12:00:00Z``), as Kubernetes stores them.
"""

from __future__ import annotations

from enum import StrEnum

from pydantic import Field

from modelfleet.api.base import LIST_MAX_ITEMS, LONG_STRING_MAX_LENGTH, ApiModel
from modelfleet.api.conditions import ConditionStatus, Phase
from modelfleet.api.spec_model import ModelOverrides

_TIME = "RFC 3339 time."


class Verdict(StrEnum):
    SUCCESS = "success"
    FAILURE = "failure"
    INCONCLUSIVE = "inconclusive"
    ERROR = "error"


class Condition(ApiModel):
    type: str = Field(
        description="Ready, Progressing, Degraded, Schedulable, LicenseAccepted, ModelDiscovered or ScalingLimited.",
        max_length=64,
    )
    status: ConditionStatus = Field(description="True, False or Unknown.")
    reason: str = Field(
        "", description="CamelCase reason, a named constant (see docs/api.md).", max_length=128
    )
    message: str = Field(
        "", description="Human-readable explanation, with what to do.", max_length=LONG_STRING_MAX_LENGTH
    )
    last_transition_time: str | None = Field(None, description="When status last changed. " + _TIME)
    observed_generation: int | None = Field(
        None, description="metadata.generation this condition was computed from."
    )


class PlanMemory(ApiModel):
    """Bytes on each GPU of a replica."""

    weights_bytes: int = Field(description="Weights per GPU.")
    kv_cache_bytes: int = Field(
        description="KV cache per GPU that must fit to start: one maxModelLen sequence (concurrency of them when strict)."
    )
    overhead_bytes: int = Field(
        description="Runtime overhead per GPU (CUDA context, NCCL, activations, graphs)."
    )
    usable_bytes: int = Field(description="GPU memory x gpuMemoryUtilization.")


class PlanStatus(ApiModel):
    """The chosen GPU layout (same content as `modelfleet plan`)."""

    feasible: bool = Field(True, description="False when nothing fits; reasons say why.")
    gpu_type: str | None = Field(None, description="Catalog GPU name.")
    gpus_per_replica: int | None = Field(None, description="GPUs per replica.")
    nodes_per_replica: int | None = Field(None, description="Nodes per replica (>1 means a LeaderWorkerSet).")
    tensor_parallel: int | None = Field(None, description="Tensor-parallel size.")
    pipeline_parallel: int | None = Field(None, description="Pipeline-parallel size.")
    data_parallel: int | None = Field(None, description="Data-parallel size inside a replica.")
    expert_parallel: bool | None = Field(None, description="Expert parallelism on.")
    quantization: str | None = Field(None, description="Served weight dtype.")
    max_model_len: int | None = Field(
        None, description="Context served (rendered as the engine's flag): pinned, or auto-fitted."
    )
    concurrency_at_max_len: int | None = Field(
        None, description="Full-length sequences of maxModelLen the KV cache of one replica holds."
    )
    estimated: bool | None = Field(
        None, description="True when architecture facts were unknown and bounded (condition SizingEstimated)."
    )
    assumptions: list[str] = Field(
        default_factory=list,
        description="What an estimated plan assumed in place of the unknown facts.",
        max_length=16,
    )
    kv_bytes_per_token: int | None = Field(None, description="KV-cache bytes per token (whole model).")
    memory: PlanMemory | None = Field(None, description="Memory breakdown per GPU.")
    summary: str | None = Field(
        None, description="One line, e.g. '8 x H200 (1 node), TP=8, fp8'.", max_length=512
    )
    inputs_hash: str | None = Field(
        None,
        description="Hash of the spec fields the plan was made from; the plan is kept while they are unchanged.",
        max_length=64,
    )
    reasons: list[str] = Field(
        default_factory=list,
        description="How the plan was chosen, or why nothing fits.",
        max_length=LIST_MAX_ITEMS,
    )


class ModelFilesStatus(ApiModel):
    """What the operator read from the model's own files, and where; kept so a restart does not read again.

    Keyed by ``id`` and ``revision`` as the spec gives them: a change of either reads the files again.
    """

    id: str = Field(description="Repository the files were read from (org/name).", max_length=256)
    revision: str | None = Field(
        None,
        description="Revision as spec.model.revision gives it; absent: the default branch.",
        max_length=256,
    )
    commit: str | None = Field(None, description="Commit the revision resolved to.", max_length=64)
    url: str | None = Field(None, description="URL of the config.json that was read.", max_length=1024)
    files: list[str] = Field(
        default_factory=list, description="Files read (never weights).", max_length=LIST_MAX_ITEMS
    )
    architecture: str | None = Field(
        None, description="config.json architectures[0], e.g. LlamaForCausalLM.", max_length=256
    )
    native_dtype: str | None = Field(
        None, description="How the checkpoint stores its weights (bf16, fp8, mxfp4 ...).", max_length=32
    )
    vision: bool | None = Field(None, description="The config has a vision tower.")
    facts: ModelOverrides | None = Field(
        None,
        description="Architecture facts read, in the shape of spec.model.overrides (which win over them).",
    )


class Revisions(ApiModel):
    stable: str | None = Field(None, description="Revision hash serving most traffic.")
    canary: str | None = Field(None, description="Revision hash being rolled out.")


class AnalysisResult(ApiModel):
    name: str = Field(description="Analysis template name.")
    verdict: Verdict = Field(description="success, failure, inconclusive or error.")
    value: float | None = Field(None, description="Measured value.")
    threshold: str | None = Field(None, description="The threshold compared against, e.g. '<= 2.0'.")
    message: str = Field(
        "", description="Details (the query error, no data ...).", max_length=LONG_STRING_MAX_LENGTH
    )
    at: str | None = Field(None, description="When measured. " + _TIME)


class RolloutStatus(ApiModel):
    step: int | None = Field(None, description="Index of the current canary step.")
    weight: int | None = Field(None, description="Percent of traffic the canary should get.")
    observed_weight: int | None = Field(None, description="Percent of traffic the canary actually gets.")
    step_started_at: str | None = Field(None, description="When the current step started. " + _TIME)
    paused_at: str | None = Field(None, description="When the rollout paused. " + _TIME)
    canary_revision: str | None = Field(None, description="Revision hash of the canary.")
    analysis: list[AnalysisResult] = Field(
        default_factory=list, description="Latest results of the current analysis.", max_length=LIST_MAX_ITEMS
    )
    success_count: int = Field(0, description="Passed measurements in the current analysis.")
    failure_count: int = Field(0, description="Failed measurements in the current analysis.")
    error_count: int = Field(0, description="Consecutive metric-provider errors.")
    message: str | None = Field(
        None, description="What the rollout is doing or waiting for.", max_length=LONG_STRING_MAX_LENGTH
    )
    abort_reason: str | None = Field(
        None, description="Why the canary was aborted.", max_length=LONG_STRING_MAX_LENGTH
    )
    granularity: str | None = Field(
        None, description="Traffic split precision (e.g. 'replica ratio: steps of 25%').", max_length=256
    )


class StagingStatus(ApiModel):
    """The weight cache of the spec's revision, and how far its download has come."""

    cache: str = Field(description="Name of the cache's PersistentVolumeClaim (and of its download Job).")
    phase: str = Field(
        description="Pending (volume not bound yet), Listing, Downloading, Verifying, Complete or Failed."
    )
    progress: str = Field(
        description="What `kubectl get md` shows: 'Staging 41%', 'Staged' or 'Failed'.", max_length=64
    )
    bytes_done: int | None = Field(None, description="Bytes downloaded and written so far.")
    bytes_total: int | None = Field(None, description="Bytes of the whole checkpoint, once listed.")
    rate_bytes_per_second: float | None = Field(None, description="Recent download rate.")
    eta_seconds: int | None = Field(None, description="Seconds left at the recent rate.")
    message: str | None = Field(
        None, description="What the download is doing, or why it failed.", max_length=LONG_STRING_MAX_LENGTH
    )


class AutoscalingStatus(ApiModel):
    """What the autoscaler decided and why, as its own object's status says (the operator only reads it)."""

    provider: str | None = Field(None, description="keda or hpa: the provider in force.", max_length=16)
    object: str | None = Field(
        None, description="The autoscaler's object, e.g. ScaledObject/qwen3-8b.", max_length=512
    )
    desired_replicas: int | None = Field(None, description="Replicas the autoscaler last asked for.")
    current_replicas: int | None = Field(None, description="Replicas the autoscaler last saw.")
    placed_replicas: int | None = Field(
        None, description="Replicas the free GPUs hold; below the asked replicas, ScalingLimited is True."
    )
    last_scale_time: str | None = Field(
        None, description="When the autoscaler last changed replicas. " + _TIME
    )
    message: str | None = Field(
        None,
        description="The autoscaler's own conditions (AbleToScale, ScalingActive, ScalingLimited) in its words.",
        max_length=LONG_STRING_MAX_LENGTH,
    )


class ModelDeploymentStatus(ApiModel):
    observed_generation: int | None = Field(None, description="metadata.generation last reconciled.")
    phase: Phase | None = Field(
        None, description="Pending, Staging, Progressing, Healthy, Paused, Degraded or Failed."
    )
    conditions: list[Condition] = Field(
        default_factory=list,
        description="Ready, Progressing, Degraded, Schedulable, LicenseAccepted, ModelDiscovered, ScalingLimited.",
        max_length=16,
        json_schema_extra={"x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["type"]},
    )
    plan: PlanStatus | None = Field(None, description="The GPU plan.")
    model: ModelFilesStatus | None = Field(
        None, description="Facts read from the model's own files (config.json, safetensors index)."
    )
    revisions: Revisions | None = Field(None, description="Stable and canary revision hashes.")
    rollout: RolloutStatus | None = Field(None, description="Progress of the current rollout.")
    autoscaling: AutoscalingStatus | None = Field(None, description="What the autoscaler decided and why.")
    replicas: int | None = Field(None, description="Replicas of all revisions (scale subresource).")
    ready_replicas: int | None = Field(None, description="Ready replicas of all revisions.")
    ready: str | None = Field(None, description="ready/desired, e.g. '2/2' (printer column).")
    staging: StagingStatus | None = Field(None, description="The weight cache of the spec's revision.")
    caches: list[str] = Field(
        default_factory=list,
        description="Weight caches this ModelDeployment holds a claim on, the newest first.",
        max_length=LIST_MAX_ITEMS,
    )
    selector: str | None = Field(None, description="Label selector of the pods (scale subresource).")
    message: str | None = Field(
        None, description="One-line summary of the state.", max_length=LONG_STRING_MAX_LENGTH
    )

    def condition(self, condition_type: str) -> Condition | None:
        return next((c for c in self.conditions if c.type == condition_type), None)
