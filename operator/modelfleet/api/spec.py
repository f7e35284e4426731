"""The ModelDeployment spec: the one source of the CRD schema, the CLI's input and the reconciler's.

Parse once at the boundary with :func:`parse_spec`; nothing below touches raw dicts.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from enum import StrEnum
from functools import lru_cache
from typing import Annotated, Any

from pydantic import Field, ValidationError, model_validator

from modelfleet.api.base import LIST_MAX_ITEMS, LONG_STRING_MAX_LENGTH, ApiModel, cel
from modelfleet.api.errors import SpecError, spec_error_from
from modelfleet.api.spec_autoscaling import AutoscalingSpec, MetricType
from modelfleet.api.spec_model import ModelSpec
from modelfleet.api.spec_pod import PodTemplateAdditions
from modelfleet.api.spec_rollout import RolloutSpec
from modelfleet.catalog.types import Engine

ENV_NAME_PATTERN = r"^[A-Za-z_][A-Za-z0-9_.-]*$"


class KvCacheDtype(StrEnum):
    AUTO = "auto"
    FP8 = "fp8"


class EnvVar(ApiModel):
    name: str = Field(description="Variable name.", pattern=ENV_NAME_PATTERN, min_length=1, max_length=128)
    value: str = Field("", description="Variable value.", max_length=LONG_STRING_MAX_LENGTH)


class EngineSpec(ApiModel):
    name: Engine = Field(Engine.VLLM, description="Inference engine: vllm, sglang or tgi.")
    version: str | None = Field(
        None,
        description="Engine version (image tag); default: the operator's tested version.",
        max_length=128,
    )
    image: str | None = Field(
        None,
        description="Full image reference; overrides the operator's default for the engine.",
        max_length=512,
    )
    args: list[Annotated[str, Field(max_length=LONG_STRING_MAX_LENGTH)]] = Field(
        default_factory=list,
        description="Extra engine flags, appended after the ones the operator computes.",
        max_length=LIST_MAX_ITEMS,
    )
    env: list[EnvVar] = Field(
        default_factory=list,
        description="Extra environment variables for the engine container.",
        max_length=LIST_MAX_ITEMS,
        json_schema_extra={"x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["name"]},
    )

    @model_validator(mode="after")
    def _unique_env(self) -> EngineSpec:
        names = [e.name for e in self.env]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"env: duplicate name {', '.join(duplicates)}")
        return self


class ServingSpec(ApiModel):
    max_model_len: int | None = Field(
        None,
        description=(
            "Longest sequence (prompt + output) in tokens. Default: auto-fit, the longest context the chosen "
            "layout holds, from the model's context down to 4096 tokens, rendered explicitly."
        ),
        ge=1,
    )
    concurrency: int = Field(
        1,
        description=(
            "Goal: sequences of maxModelLen tokens (4096 when auto-fitted) the KV cache holds at once per "
            "replica. Layouts that meet it rank first; the plan reports what the chosen one holds."
        ),
        ge=1,
        le=4096,
    )
    strict: bool = Field(
        False,
        description=(
            "Make concurrency a hard requirement: a layout is feasible only when its KV cache holds "
            "concurrency sequences of maxModelLen tokens. Default false: feasible when the engine starts "
            "and serves one full-length sequence."
        ),
    )
    gpu_memory_utilization: float = Field(
        0.90, description="Fraction of each GPU's memory the engine may use.", ge=0.1, le=0.98
    )
    kv_cache_dtype: KvCacheDtype = Field(
        KvCacheDtype.AUTO, description="KV-cache dtype: auto (activation dtype) or fp8."
    )


class AcceleratorSpec(ApiModel):
    """GPU type and layout. Every value left out is chosen by the planner; pins always win, and an
    infeasible pin is reported (Schedulable=False, reason PlanInfeasible), never silently changed."""

    model_config = cel(
        (
            "!(has(self.gpusPerReplica) && has(self.tensorParallel) && has(self.pipelineParallel))"
            " || self.gpusPerReplica == self.tensorParallel * self.pipelineParallel"
            " * (has(self.dataParallel) ? self.dataParallel : 1)",
            "gpusPerReplica must equal tensorParallel * pipelineParallel * dataParallel",
        )
    )

    type: str = Field(
        "auto",
        description="auto, or a catalog GPU name (H200, H100-80GB, B200, A100-80GB, L40S, L4, MI300X ...).",
        min_length=1,
        max_length=64,
    )
    gpus_per_replica: int | None = Field(
        None, description="GPUs per replica (all nodes of a multi-node replica).", ge=1, le=1024
    )
    tensor_parallel: int | None = Field(None, description="Tensor-parallel size.", ge=1, le=1024)
    pipeline_parallel: int | None = Field(
        None, description="Pipeline-parallel size (one stage per node when multi-node).", ge=1, le=128
    )
    expert_parallel: bool | None = Field(
        None, description="Expert parallelism for MoE models; default: the planner decides."
    )
    data_parallel: int | None = Field(
        None,
        description="Data-parallel attention ranks inside one replica of a MoE model (DP x EP, as the "
        "DeepSeek V3/V4 and Kimi K2 recipes run them): attention and dense layers are replicated per DP "
        "rank, routed experts split over all GPUs of the replica. Implies expert parallelism.",
        ge=1,
        le=1024,
    )

    @model_validator(mode="after")
    def _layout_consistent(self) -> AcceleratorSpec:
        gpus, tp, pp = self.gpus_per_replica, self.tensor_parallel, self.pipeline_parallel
        dp = self.data_parallel or 1
        if gpus is not None and tp is not None and pp is not None and gpus != tp * pp * dp:
            raise ValueError(
                f"gpusPerReplica ({gpus}) must equal tensorParallel x pipelineParallel x dataParallel "
                f"({tp} x {pp} x {dp} = {tp * pp * dp})"
            )
        return self


class ModelDeploymentSpec(ApiModel):
    """What to serve, with which engine, how big, and how new versions roll out."""

    model_config = cel(
        (
            "!has(self.autoscaling) || self.engine.name != 'tgi'"
            " || self.autoscaling.metrics.all(m, m.type != 'kvCacheUsage')",
            "TGI exports no KV-cache usage: scale it on waitingRequests, runningRequests or ttftP95",
        )
    )

    model: ModelSpec = Field(description="The model checkpoint to serve.")
    engine: EngineSpec = Field(
        default_factory=EngineSpec, description="Inference engine and its extra flags."
    )
    serving: ServingSpec = Field(
        default_factory=ServingSpec, description="Serving goals the GPU plan is sized for."
    )
    accelerator: AcceleratorSpec = Field(
        default_factory=AcceleratorSpec, description="GPU type and parallel layout."
    )
    replicas: int = Field(
        1,
        description="Replicas of the stable revision (each replica is one model copy). With autoscaling, the autoscaler sets it: leave it out of Git.",
        ge=0,
        le=1000,
    )
    autoscaling: AutoscalingSpec | None = Field(
        None,
        description="Follow the load between minReplicas and maxReplicas with KEDA or the HPA, which set replicas through the scale subresource.",
    )
    rollout: RolloutSpec = Field(default_factory=RolloutSpec, description="How a new revision is rolled out.")
    pod_template: PodTemplateAdditions = Field(
        default_factory=PodTemplateAdditions,
        description="Scheduling, identity, labels, annotations and volumes added to every engine pod.",
    )

    @model_validator(mode="after")
    def _engine_exports_metrics(self) -> ModelDeploymentSpec:
        autoscaling = self.autoscaling
        if (
            autoscaling is not None
            and self.engine.name == Engine.TGI
            and any(m.type == MetricType.KV_CACHE_USAGE for m in autoscaling.metrics)
        ):
            raise ValueError(
                "autoscaling: TGI exports no KV-cache usage: scale it on waitingRequests, runningRequests or ttftP95"
            )
        return self


def parse_spec(data: Mapping[str, Any] | None) -> ModelDeploymentSpec:
    """The typed spec, or :class:`SpecError` whose lines name each bad field (``spec.replicas: ...``).

    The same spec is validated once: the operator parses each ModelDeployment's spec on every pass,
    and validation (CEL mirrors included) costs far more than the canonical JSON the memo is keyed on.
    The spec returned may be shared: callers treat it as read-only, as they treat every parsed spec.
    """
    if not isinstance(data, Mapping):
        raise SpecError([f"spec: must be an object, got {type(data).__name__}"])
    try:
        key = json.dumps(data, sort_keys=True, separators=(",", ":"), allow_nan=False)
    except (TypeError, ValueError):  # not JSON (a YAML date, a NaN): validated as it is, not remembered
        return _validate(data)
    return _parse_json(key)


@lru_cache(maxsize=2048)
def _parse_json(key: str) -> ModelDeploymentSpec:
    return _validate(json.loads(key))


def _validate(data: Mapping[str, Any]) -> ModelDeploymentSpec:
    try:
        return ModelDeploymentSpec.model_validate(dict(data))
    except ValidationError as error:
        raise spec_error_from(error) from None
