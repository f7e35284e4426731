"""``spec.rollout``: how a new revision replaces the stable one (canary steps, analysis, traffic)."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

from pydantic import Field, model_validator

from modelfleet.api.base import (
    LIST_MAX_ITEMS,
    LONG_STRING_MAX_LENGTH,
    NAME_MAX_LENGTH,
    SHORT_STRING_MAX_LENGTH,
    ApiModel,
    DnsLabel,
    Duration,
    cel,
)

# Templates the operator ships for every engine's metric names; users add their own in
# spec.rollout.analysisTemplates (a user template with the same name wins).
BUILTIN_ANALYSIS_TEMPLATES = ("ttft-p95", "itl-p95", "error-rate", "queue-depth")

MAX_STEPS = 32
MAX_TEMPLATES = 16

ShortString = Annotated[str, Field(min_length=1, max_length=SHORT_STRING_MAX_LENGTH)]
LongString = Annotated[str, Field(max_length=LONG_STRING_MAX_LENGTH)]


class RolloutStrategy(StrEnum):
    CANARY = "Canary"
    ROLLING_UPDATE = "RollingUpdate"


class TrafficProvider(StrEnum):
    AUTO = "auto"  # gatewayAPI when the Gateway API CRDs exist and parentRefs are set, else replicas
    GATEWAY_API = "gatewayAPI"  # exact weights on an HTTPRoute the ModelDeployment owns
    REPLICAS = "replicas"  # replica ratio behind the umbrella Service: coarse (granularity 1/replicas)


class CanaryCapacity(StrEnum):
    SURGE = "surge"  # canary pods use extra GPUs; the stable keeps every replica
    SWAP = "swap"  # the stable shrinks by the canary's replica count; no extra GPUs


class RolloutAction(StrEnum):
    NONE = ""
    PROMOTE = "promote"
    ABORT = "abort"
    PAUSE = "pause"
    RESUME = "resume"
    RETRY = "retry"


class EvaluationJob(ApiModel):
    """A Job (the user's own prompt set) run against the canary's Service; exit 0 passes the step.
    The Job gets MODELFLEET_ENDPOINT (OpenAI-compatible base URL of the canary) in its environment."""

    image: str = Field(description="Container image of the evaluation.", min_length=1, max_length=512)
    command: list[ShortString] = Field(
        default_factory=list, description="Entrypoint override.", max_length=LIST_MAX_ITEMS
    )
    args: list[LongString] = Field(
        default_factory=list, description="Arguments to the entrypoint.", max_length=LIST_MAX_ITEMS
    )
    timeout: Duration = Field("30m", description="Fail the step when the Job has not finished by then.")


class PauseStep(ApiModel):
    duration: Duration | None = Field(
        None, description="How long to wait (e.g. 10m). Omit to wait until promoted."
    )


class AnalysisStep(ApiModel):
    templates: list[DnsLabel] = Field(
        description=f"Analysis template names: built-in ({', '.join(BUILTIN_ANALYSIS_TEMPLATES)}) or from spec.rollout.analysisTemplates.",
        min_length=1,
        max_length=MAX_TEMPLATES,
    )
    job: EvaluationJob | None = Field(None, description="Optional evaluation Job that must succeed too.")


class CanaryStep(ApiModel):
    """One step of the canary checklist: exactly one of setWeight, pause, analysis."""

    model_config = cel(
        (
            "(has(self.setWeight) ? 1 : 0) + (has(self.pause) ? 1 : 0) + (has(self.analysis) ? 1 : 0) == 1",
            "each step sets exactly one of setWeight, pause, analysis",
        )
    )

    set_weight: int | None = Field(
        None, description="Percent of traffic to the canary (0-100).", ge=0, le=100
    )
    pause: PauseStep | None = Field(
        None, description="Wait for a duration, or until promoted when no duration is given."
    )
    analysis: AnalysisStep | None = Field(
        None, description="Run analysis templates against the canary; a failure aborts."
    )

    @model_validator(mode="after")
    def _exactly_one(self) -> CanaryStep:
        chosen = [
            name for name in ("setWeight", "pause", "analysis") if getattr(self, _attr(name)) is not None
        ]
        if len(chosen) != 1:
            raise ValueError(
                f"each step sets exactly one of setWeight, pause, analysis (got {', '.join(chosen) or 'none'})"
            )
        return self


def _attr(camel: str) -> str:
    return {"setWeight": "set_weight"}.get(camel, camel)


def default_canary_steps() -> list[CanaryStep]:
    """10% -> wait 5m -> TTFT and error-rate analysis -> 50% -> wait 5m -> promote."""
    return [
        CanaryStep(set_weight=10),
        CanaryStep(pause=PauseStep(duration="5m")),
        CanaryStep(analysis=AnalysisStep(templates=["ttft-p95", "error-rate"])),
        CanaryStep(set_weight=50),
        CanaryStep(pause=PauseStep(duration="5m")),
    ]


class ParentRef(ApiModel):
    name: str = Field(description="Gateway name.", min_length=1, max_length=NAME_MAX_LENGTH)
    namespace: str | None = Field(
        None, description="Gateway namespace; default: the ModelDeployment's.", max_length=63
    )
    section_name: str | None = Field(
        None, description="Listener name on the Gateway.", max_length=NAME_MAX_LENGTH
    )


class GatewayApiRouting(ApiModel):
    parent_refs: list[ParentRef] = Field(
        description="Gateways the owned HTTPRoute attaches to.", min_length=1, max_length=16
    )
    hostnames: list[Annotated[str, Field(min_length=1, max_length=NAME_MAX_LENGTH)]] = Field(
        default_factory=list,
        description="Hostnames the HTTPRoute matches; empty matches every hostname.",
        max_length=16,
    )


class TrafficRouting(ApiModel):
    model_config = cel(
        (
            "!has(self.provider) || self.provider != 'gatewayAPI' || has(self.gatewayAPI)",
            "provider gatewayAPI needs gatewayAPI.parentRefs",
        )
    )

    provider: TrafficProvider = Field(
        TrafficProvider.AUTO, description="auto, gatewayAPI (exact weights) or replicas (replica ratio)."
    )
    gateway_api: GatewayApiRouting | None = Field(
        None, alias="gatewayAPI", description="HTTPRoute settings when traffic is split by the Gateway API."
    )

    @model_validator(mode="after")
    def _gateway_needs_parents(self) -> TrafficRouting:
        if self.provider == TrafficProvider.GATEWAY_API and self.gateway_api is None:
            raise ValueError("provider gatewayAPI needs gatewayAPI.parentRefs")
        return self


class CanarySpec(ApiModel):
    steps: list[CanaryStep] = Field(
        default_factory=default_canary_steps,
        description="The checklist run for every new revision; after the last step the canary is promoted.",
        max_length=MAX_STEPS,
    )
    traffic_routing: TrafficRouting = Field(
        default_factory=TrafficRouting, description="How traffic is split."
    )
    capacity: CanaryCapacity = Field(
        CanaryCapacity.SURGE,
        description="surge: extra GPUs for the canary; swap: shrink the stable to make room.",
    )


class AnalysisTemplate(ApiModel):
    """A PromQL query and its thresholds. The query may use {{revision}}, {{namespace}} and {{name}};
    it must return one number. No data is inconclusive, a query error is an error, a miss a failure."""

    model_config = cel(("has(self.max) || has(self.min)", "set max, min or both"))

    name: DnsLabel = Field(
        description="Name used in analysis steps; a built-in with the same name is replaced."
    )
    query: str = Field(
        description="PromQL returning a single value.", min_length=1, max_length=LONG_STRING_MAX_LENGTH
    )
    max: float | None = Field(None, description="Pass when the value is at most this.")
    min: float | None = Field(None, description="Pass when the value is at least this.")
    count: int = Field(
        1,
        description="Measurements per analysis step, one per analysisInterval; all must pass.",
        ge=1,
        le=100,
    )

    @model_validator(mode="after")
    def _has_threshold(self) -> AnalysisTemplate:
        if self.max is None and self.min is None:
            raise ValueError(f"analysis template {self.name!r}: set max, min or both")
        return self


class RolloutSpec(ApiModel):
    strategy: RolloutStrategy = Field(
        RolloutStrategy.CANARY,
        description="Canary (steps with analysis) or RollingUpdate (replace pods, no analysis).",
    )
    canary: CanarySpec = Field(
        default_factory=CanarySpec, description="Canary steps, traffic routing and capacity."
    )
    analysis_templates: list[AnalysisTemplate] = Field(
        default_factory=list,
        description="User-defined analysis templates.",
        max_length=MAX_TEMPLATES,
        json_schema_extra={"x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["name"]},
    )
    analysis_interval: Duration = Field("1m", description="Time between measurements of an analysis.")
    failure_limit: int = Field(
        1,
        description="Failed measurements that abort the canary; 1 aborts on the first failure.",
        ge=1,
        le=100,
    )
    error_limit: int = Field(
        3, description="Consecutive metric-provider errors before the canary aborts.", ge=1, le=100
    )
    progress_deadline: Duration = Field(
        "30m", description="Longest a step may wait (pods ready, inconclusive analysis)."
    )
    abort_on_deadline: bool = Field(
        True, description="Abort when the deadline passes; false only marks Progressing=False."
    )
    action: RolloutAction = Field(
        RolloutAction.NONE,
        description="Manual control: promote, abort, pause, resume or retry. The annotation modelfleet.io/action does the same.",
    )

    @model_validator(mode="after")
    def _templates_exist(self) -> RolloutSpec:
        known = set(BUILTIN_ANALYSIS_TEMPLATES) | {t.name for t in self.analysis_templates}
        names = [t.name for t in self.analysis_templates]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"analysisTemplates: duplicate name {', '.join(duplicates)}")
        for index, step in enumerate(self.canary.steps):
            missing = [t for t in (step.analysis.templates if step.analysis else []) if t not in known]
            if missing:
                raise ValueError(
                    f"canary.steps[{index}].analysis: unknown template {', '.join(missing)}; "
                    f"use a built-in ({', '.join(BUILTIN_ANALYSIS_TEMPLATES)}) or define it in analysisTemplates"
                )
        return self
