"""The autoscaler's object of a ModelDeployment: a KEDA ScaledObject or an autoscaling/v2 HPA (pure).

Both target the ModelDeployment itself through its scale subresource (``spec.replicas``,
``status.replicas``, ``status.selector``), so the autoscaler scales the object the user owns and the
operator turns ``spec.replicas`` into workloads; the operator never writes ``spec.replicas``.

Each built-in signal is a PromQL query in the engine's own metric names
(:mod:`modelfleet.catalog.engine_metrics`) over every pod of the model, whatever its revision:

>>> from modelfleet.api import AutoscalingMetric, MetricType
>>> from modelfleet.catalog.types import Engine
>>> waiting = AutoscalingMetric(type=MetricType.WAITING_REQUESTS, target=4)
>>> metric_query(waiting, Engine.VLLM, namespace="llm", name="qwen3-8b")
'sum(vllm:num_requests_waiting{namespace="llm",modelfleet_io_name="qwen3-8b"})'
>>> metric_query(waiting, Engine.TGI, namespace="llm", name="qwen3-8b")
'sum(tgi_queue_size{namespace="llm",modelfleet_io_name="qwen3-8b"})'

The query returns the model's total; with target type AverageValue the autoscaler divides it by the
target to get replicas (``sum(waiting) = 18``, target 4: 5 replicas), so it does not depend on how
many replicas run now. TTFT p95 is not a sum: its target type is Value, and replicas scale by
``value / target``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from modelfleet import GROUP, KIND, VERSION
from modelfleet.api import (
    AutoscalingMetric,
    AutoscalingProvider,
    AutoscalingSpec,
    MetricType,
    ModelDeploymentSpec,
    ScalingRules,
    parse_duration,
)
from modelfleet.catalog.engine_metrics import ENGINE_METRICS, ttft_p95
from modelfleet.catalog.types import Engine
from modelfleet.render import names
from modelfleet.render.errors import RenderError
from modelfleet.render.revision import stamp_spec_hash
from modelfleet.render.templating import render_yaml

SCALED_OBJECT_API_VERSION = "keda.sh/v1alpha1"
SCALED_OBJECT_KIND = "ScaledObject"
HPA_API_VERSION = "autoscaling/v2"
HPA_KIND = "HorizontalPodAutoscaler"
AUTOSCALER_KINDS = (SCALED_OBJECT_KIND, HPA_KIND)

# The Prometheus label the scrape config copies modelfleet.io/name onto (docs/monitoring.md).
PROMETHEUS_NAME_LABEL = "modelfleet_io_name"
# KEDA checks whether any trigger is active (0 <-> 1 replicas) this often; the HPA does the rest.
POLLING_SECONDS = 15
# Window of the TTFT p95: short enough to see a queue building, long enough for a quantile.
TTFT_WINDOW = "2m"


@dataclass(frozen=True)
class Target:
    api_version: str
    kind: str
    name: str


@dataclass(frozen=True)
class Trigger:
    name: str
    query: str
    target: str
    target_type: str


@dataclass(frozen=True)
class Rules:
    window_seconds: int
    replicas: int
    period_seconds: int


@dataclass(frozen=True)
class Behavior:
    up: Rules
    down: Rules


@dataclass(frozen=True)
class Window:
    name: str
    timezone: str
    start: str
    end: str
    replicas: int


def _label_value(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"', '\\"')


def model_selector(namespace: str, name: str) -> str:
    """Every pod of the model, every revision.

    >>> model_selector("llm", "qwen3-8b")
    'namespace="llm",modelfleet_io_name="qwen3-8b"'
    """
    label = _label_value(names.name_label_value(name))
    return f'namespace="{_label_value(namespace)}",{PROMETHEUS_NAME_LABEL}="{label}"'


def metric_query(metric: AutoscalingMetric, engine: Engine, *, namespace: str, name: str) -> str:
    """The PromQL of one signal for one model (see the module docstring)."""
    selector = model_selector(namespace, name)
    metrics = ENGINE_METRICS[engine]
    if metric.type == MetricType.PROMETHEUS:
        assert metric.query is not None
        query = metric.query
        for key, value in (("namespace", namespace), ("name", name)):
            query = query.replace("{{" + key + "}}", _label_value(value))
            query = query.replace("{{ " + key + " }}", _label_value(value))
        return query
    if metric.type == MetricType.TTFT_P95:
        return ttft_p95(engine, selector, TTFT_WINDOW)
    if metric.type == MetricType.KV_CACHE_USAGE:
        if metrics.kv_cache_usage is None:
            raise RenderError(f"{engine.value} exports no KV-cache usage; scale it on waitingRequests")
        query = f"sum({metrics.kv_cache_usage}{{{selector}}})"
        legacy = metrics.kv_cache_usage_legacy
        return f"{query} or sum({legacy}{{{selector}}})" if legacy else query
    gauge = metrics.waiting if metric.type == MetricType.WAITING_REQUESTS else metrics.running
    return f"sum({gauge}{{{selector}}})"


def external_metric_name(metric: AutoscalingMetric, engine: Engine) -> str:
    """The HPA's External metric name: the engine's own metric name (``:`` is not allowed), or the
    name given to a prometheus metric. prometheus-adapter serves them (docs/autoscaling.md).

    >>> from modelfleet.api import AutoscalingMetric, MetricType
    >>> external_metric_name(AutoscalingMetric(type=MetricType.WAITING_REQUESTS, target=4), Engine.SGLANG)
    'sglang_num_queue_reqs'
    >>> external_metric_name(AutoscalingMetric(type=MetricType.TTFT_P95, target=2), Engine.TGI)
    'tgi_ttft_p95_seconds'
    """
    metrics = ENGINE_METRICS[engine]
    by_type = {
        MetricType.WAITING_REQUESTS: metrics.waiting,
        MetricType.RUNNING_REQUESTS: metrics.running,
        MetricType.KV_CACHE_USAGE: metrics.kv_cache_usage,
        MetricType.TTFT_P95: f"{engine.value}_ttft_p95_seconds",
    }
    chosen = metric.name if metric.type == MetricType.PROMETHEUS else by_type.get(metric.type)
    if chosen is None:
        raise RenderError(f"{engine.value} exports no {metric.type.value} metric")
    return chosen.replace(":", "_")


def quantity(value: float) -> str:
    """A number both KEDA (a float) and a Kubernetes quantity read: no exponent, no trailing zeros.

    >>> quantity(4.0), quantity(0.8), quantity(1_000_000)
    ('4', '0.8', '1000000')
    """
    if float(value).is_integer():
        return str(int(value))
    return f"{value:.6f}".rstrip("0").rstrip(".")


def _rules(rules: ScalingRules) -> Rules:
    return Rules(
        window_seconds=int(parse_duration(rules.stabilization_window)),
        replicas=rules.replicas_per_step,
        period_seconds=max(1, int(parse_duration(rules.period))),
    )


def _behavior(spec: AutoscalingSpec) -> Behavior:
    return Behavior(up=_rules(spec.behavior.scale_up), down=_rules(spec.behavior.scale_down))


def _target(name: str) -> Target:
    return Target(api_version=f"{GROUP}/{VERSION}", kind=KIND, name=name)


def _autoscaling(spec: ModelDeploymentSpec) -> AutoscalingSpec:
    if spec.autoscaling is None:
        raise RenderError("spec.autoscaling is not set: there is no autoscaler to render")
    return spec.autoscaling


def scaled_object(
    spec: ModelDeploymentSpec, *, name: str, namespace: str, prometheus_url: str | None
) -> dict[str, Any]:
    """The KEDA ScaledObject: one Prometheus trigger per metric, one cron trigger per window."""
    autoscaling = _autoscaling(spec)
    if autoscaling.metrics and not prometheus_url:
        raise RenderError(
            "autoscaling metrics need Prometheus: set prometheus.url in the operator's configuration "
            "(the Helm value prometheus.url)"
        )
    triggers = [
        Trigger(
            name=metric.trigger_name,
            query=metric_query(metric, spec.engine.name, namespace=namespace, name=name),
            target=quantity(metric.target),
            target_type=metric.effective_target_type.value,
        )
        for metric in autoscaling.metrics
    ]
    windows = [
        Window(f"cron-{index}", w.timezone, w.start, w.end, w.replicas)
        for index, w in enumerate(autoscaling.cron)
    ]
    idle = autoscaling.idle_timeout
    obj = render_yaml(
        "scaledobject.yaml.j2",
        object_name=names.umbrella_name(name),
        namespace=namespace,
        labels=names.object_labels(name),
        target=_target(name),
        min_replicas=autoscaling.min_replicas,
        max_replicas=autoscaling.max_replicas,
        polling_seconds=POLLING_SECONDS,
        cooldown_seconds=int(parse_duration(idle)) if idle is not None else None,
        behavior=_behavior(autoscaling),
        server_address=prometheus_url or "",
        triggers=triggers,
        cron=windows,
    )
    return stamp_spec_hash(obj)


def horizontal_pod_autoscaler(spec: ModelDeploymentSpec, *, name: str, namespace: str) -> dict[str, Any]:
    """The autoscaling/v2 HPA on External metrics selected by the model's name label."""
    autoscaling = _autoscaling(spec)
    external = [
        Trigger(
            name=external_metric_name(metric, spec.engine.name),
            query="",
            target=quantity(metric.target),
            target_type=metric.effective_target_type.value,
        )
        for metric in autoscaling.metrics
    ]
    obj = render_yaml(
        "horizontalpodautoscaler.yaml.j2",
        object_name=names.umbrella_name(name),
        namespace=namespace,
        labels=names.object_labels(name),
        target=_target(name),
        min_replicas=max(1, autoscaling.min_replicas),
        max_replicas=autoscaling.max_replicas,
        behavior=_behavior(autoscaling),
        external=external,
        selector={PROMETHEUS_NAME_LABEL: names.name_label_value(name)},
    )
    return stamp_spec_hash(obj)


def render_autoscaler(
    spec: ModelDeploymentSpec,
    provider: AutoscalingProvider,
    *,
    name: str,
    namespace: str,
    prometheus_url: str | None,
) -> dict[str, Any]:
    """The autoscaler's object for the provider in force (``auto`` resolved by the caller)."""
    if provider == AutoscalingProvider.KEDA:
        return scaled_object(spec, name=name, namespace=namespace, prometheus_url=prometheus_url)
    if provider == AutoscalingProvider.HPA:
        return horizontal_pod_autoscaler(spec, name=name, namespace=namespace)
    raise RenderError(f"autoscaling provider {provider.value!r} must be resolved to keda or hpa first")
