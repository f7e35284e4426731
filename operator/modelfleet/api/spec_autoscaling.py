"""``spec.autoscaling``: replicas that follow the load, through KEDA or the HorizontalPodAutoscaler.

The autoscaler writes ``spec.replicas`` through the ModelDeployment's scale subresource; the operator
renders the autoscaler's object and never writes ``spec.replicas`` itself (docs/autoscaling.md).
"""

from __future__ import annotations

import re
from enum import StrEnum
from typing import Annotated
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AfterValidator, Field, WithJsonSchema, model_validator

from modelfleet.api.base import (
    LONG_STRING_MAX_LENGTH,
    ApiModel,
    DnsLabel,
    Duration,
    cel,
)
from modelfleet.api.duration import parse_duration

MAX_METRICS = 8
MAX_CRON_WINDOWS = 16
MAX_REPLICAS = 1000

# Five fields (minute hour day-of-month month day-of-week), as KEDA's cron scaler reads them.
CRON_PATTERN = r"^\S+( \S+){4}$"
CRON_MAX_LENGTH = 128


def _check_cron(value: str) -> str:
    if len(value) > CRON_MAX_LENGTH or not re.fullmatch(CRON_PATTERN, value):
        raise ValueError(
            f"{value!r} is not a cron expression of five fields (minute hour day month weekday), e.g. '0 8 * * 1-5'"
        )
    return value


def _check_timezone(value: str) -> str:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"{value!r} is not an IANA time zone (e.g. Europe/Paris, UTC)") from None
    return value


CronExpression = Annotated[
    str,
    AfterValidator(_check_cron),
    WithJsonSchema({"type": "string", "pattern": CRON_PATTERN, "maxLength": CRON_MAX_LENGTH}),
]
TimeZone = Annotated[
    str,
    AfterValidator(_check_timezone),
    WithJsonSchema({"type": "string", "minLength": 1, "maxLength": 64}),
]


class AutoscalingProvider(StrEnum):
    AUTO = "auto"  # keda when KEDA's ScaledObject CRD is installed, else hpa
    KEDA = "keda"  # a KEDA ScaledObject: Prometheus and cron triggers, scale to zero
    HPA = "hpa"  # an autoscaling/v2 HorizontalPodAutoscaler on External metrics (prometheus-adapter)


class MetricType(StrEnum):
    """The load signals; each built-in is written in each engine's own metric names."""

    WAITING_REQUESTS = "waitingRequests"  # requests queued per replica (target: average per replica)
    RUNNING_REQUESTS = "runningRequests"  # requests in the running batch per replica
    KV_CACHE_USAGE = "kvCacheUsage"  # KV-cache usage 0-1 per replica (not exported by TGI)
    TTFT_P95 = "ttftP95"  # time to first token p95 over the whole model, seconds
    PROMETHEUS = "prometheus"  # a PromQL query of your own


class TargetType(StrEnum):
    AVERAGE_VALUE = "AverageValue"  # the query's value divided by the replicas is held at the target
    VALUE = "Value"  # the query's value is held at the target (replicas scale by value / target)


# Built-ins that add up over replicas (a per-replica average is meaningful); TTFT p95 does not.
AVERAGED_METRICS = frozenset(
    {MetricType.WAITING_REQUESTS, MetricType.RUNNING_REQUESTS, MetricType.KV_CACHE_USAGE}
)


class AutoscalingMetric(ApiModel):
    """One load signal and the value to hold it at."""

    model_config = cel(
        (
            "self.type == 'prometheus' ? (has(self.query) && has(self.name)) : !has(self.query)",
            "type prometheus needs query and name; the built-in types take no query",
        ),
        (
            "self.type != 'kvCacheUsage' || double(self.target) <= 1.0",
            "kvCacheUsage is a fraction: target between 0 and 1 (e.g. 0.8)",
        ),
    )

    type: MetricType = Field(
        description="waitingRequests, runningRequests, kvCacheUsage, ttftP95 or prometheus."
    )
    target: float = Field(
        description=(
            "The value to hold: requests per replica (waitingRequests, runningRequests), a fraction per "
            "replica (kvCacheUsage, e.g. 0.8), seconds (ttftP95), or the query's unit (prometheus)."
        ),
        gt=0,
        le=1_000_000,
    )
    name: DnsLabel | None = Field(
        None,
        description="Trigger name; default: the type in kebab case. With provider hpa, a prometheus metric's name is the External metric's name.",
    )
    query: str | None = Field(
        None,
        description="PromQL returning one number (type prometheus); may use {{namespace}} and {{name}}.",
        min_length=1,
        max_length=LONG_STRING_MAX_LENGTH,
    )
    target_type: TargetType | None = Field(
        None,
        description="AverageValue (divided by replicas) or Value; default: AverageValue, Value for ttftP95.",
    )

    @model_validator(mode="after")
    def _query_only_for_prometheus(self) -> AutoscalingMetric:
        if self.type == MetricType.PROMETHEUS and (self.query is None or self.name is None):
            raise ValueError("type prometheus needs query and name")
        if self.type != MetricType.PROMETHEUS and self.query is not None:
            raise ValueError(f"type {self.type.value} takes no query (it is built in; use type prometheus)")
        if self.type == MetricType.KV_CACHE_USAGE and self.target > 1.0:
            raise ValueError("kvCacheUsage is a fraction: target between 0 and 1 (e.g. 0.8)")
        return self

    @property
    def trigger_name(self) -> str:
        """``waiting-requests`` for type waitingRequests, or the name given."""
        return self.name or re.sub(r"([A-Z0-9]+)", r"-\1", self.type.value).lower()

    @property
    def effective_target_type(self) -> TargetType:
        if self.target_type is not None:
            return self.target_type
        return TargetType.VALUE if self.type == MetricType.TTFT_P95 else TargetType.AVERAGE_VALUE


def default_metrics() -> list[AutoscalingMetric]:
    """Four queued requests per replica: a queue means the running batch is full."""
    return [AutoscalingMetric(type=MetricType.WAITING_REQUESTS, target=4)]


class ScalingRules(ApiModel):
    """How fast one direction may move: a stabilisation window and a step limit (the HPA's own bounds:
    a window of at most 1h, a period of 1s to 30m)."""

    model_config = cel(
        (
            "duration(self.stabilizationWindow) <= duration('1h')",
            "stabilizationWindow must be at most 1h",
        ),
        (
            "duration(self.period) >= duration('1s') && duration(self.period) <= duration('30m')",
            "period must be between 1s and 30m",
        ),
    )

    stabilization_window: Duration = Field(
        description="The autoscaler acts on the most conservative recommendation of this window."
    )
    replicas_per_step: int = Field(
        description="At most this many replicas added or removed per period.", ge=1, le=MAX_REPLICAS
    )
    period: Duration = Field(description="The period of the step limit (the HPA caps it at 30m).")

    @model_validator(mode="after")
    def _hpa_bounds(self) -> ScalingRules:
        if parse_duration(self.stabilization_window) > 3600:
            raise ValueError("stabilizationWindow must be at most 1h")
        if not 1 <= parse_duration(self.period) <= 1800:
            raise ValueError("period must be between 1s and 30m")
        return self


def default_scale_up() -> ScalingRules:
    """A burst must last a minute, and 2 replicas join per 3 minutes: about the time an engine takes
    to load, so the queue has a chance to drain before more GPUs are taken."""
    return ScalingRules(stabilization_window="1m", replicas_per_step=2, period="3m")


def default_scale_down() -> ScalingRules:
    """Quiet for 10 minutes before one replica goes per 5 minutes: a replica dropped and asked for
    again minutes later costs a whole model load."""
    return ScalingRules(stabilization_window="10m", replicas_per_step=1, period="5m")


class ScalingBehavior(ApiModel):
    scale_up: ScalingRules = Field(default_factory=default_scale_up, description="Adding replicas.")
    scale_down: ScalingRules = Field(default_factory=default_scale_down, description="Removing replicas.")


class CronWindow(ApiModel):
    """``replicas`` replicas at least from ``start`` to ``end`` in ``timezone`` (KEDA only)."""

    timezone: TimeZone = Field(description="IANA time zone, e.g. Europe/Paris.")
    start: CronExpression = Field(description="Cron expression of the window's start, e.g. '0 8 * * 1-5'.")
    end: CronExpression = Field(description="Cron expression of the window's end, e.g. '0 20 * * 1-5'.")
    replicas: int = Field(description="Replicas held during the window.", ge=1, le=MAX_REPLICAS)


class AutoscalingSpec(ApiModel):
    """Replicas between minReplicas and maxReplicas, following the load signals."""

    model_config = cel(
        ("self.minReplicas <= self.maxReplicas", "minReplicas must not exceed maxReplicas"),
        (
            "!has(self.idleTimeout) || self.minReplicas == 0",
            "idleTimeout scales to zero: set minReplicas to 0",
        ),
        (
            "size(self.metrics) > 0 || (has(self.cron) && size(self.cron) > 0)",
            "give at least one metric or one cron window",
        ),
        (
            "self.provider != 'hpa' || (self.minReplicas >= 1 && (!has(self.cron) || size(self.cron) == 0))",
            "provider hpa cannot scale to zero nor follow cron windows: use provider keda",
        ),
        (
            "!has(self.cron) || self.cron.all(c, c.replicas <= self.maxReplicas)",
            "a cron window's replicas must not exceed maxReplicas",
        ),
    )

    provider: AutoscalingProvider = Field(
        AutoscalingProvider.AUTO, description="auto (keda when KEDA's CRDs exist, else hpa), keda or hpa."
    )
    min_replicas: int = Field(
        1, description="Fewest replicas; 0 lets the model scale to zero (keda).", ge=0, le=MAX_REPLICAS
    )
    max_replicas: int = Field(description="Most replicas.", ge=1, le=MAX_REPLICAS)
    metrics: list[AutoscalingMetric] = Field(
        default_factory=default_metrics,
        description="Load signals; the autoscaler follows whichever asks for the most replicas. Default: 4 waiting requests per replica.",
        max_length=MAX_METRICS,
    )
    behavior: ScalingBehavior = Field(
        default_factory=ScalingBehavior,
        description="Stabilisation windows and step limits; the defaults suit engines that take minutes to load.",
    )
    idle_timeout: Duration | None = Field(
        None,
        description="With minReplicas 0: scale to zero after this long with no load (keda's cooldownPeriod).",
    )
    cron: list[CronWindow] = Field(
        default_factory=list,
        description="Windows that hold a number of replicas on a schedule (keda's cron scaler).",
        max_length=MAX_CRON_WINDOWS,
    )

    @model_validator(mode="after")
    def _consistent(self) -> AutoscalingSpec:
        if self.min_replicas > self.max_replicas:
            raise ValueError(
                f"minReplicas ({self.min_replicas}) must not exceed maxReplicas ({self.max_replicas})"
            )
        if self.idle_timeout is not None and self.min_replicas != 0:
            raise ValueError("idleTimeout scales to zero: set minReplicas to 0")
        if not self.metrics and not self.cron:
            raise ValueError("give at least one metric or one cron window")
        if self.provider == AutoscalingProvider.HPA and (self.min_replicas == 0 or self.cron):
            raise ValueError("provider hpa cannot scale to zero nor follow cron windows: use provider keda")
        over = [c.replicas for c in self.cron if c.replicas > self.max_replicas]
        if over:
            raise ValueError(
                f"a cron window's replicas ({over[0]}) must not exceed maxReplicas ({self.max_replicas})"
            )
        names = [m.trigger_name for m in self.metrics]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"metrics: duplicate name {', '.join(duplicates)}; give each a distinct name")
        return self
