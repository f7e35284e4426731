"""Runs the analysis queries the rollout machine asks for (I/O; the verdicts are pure, in analysis/)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from modelfleet.analysis import measure, resolve_templates
from modelfleet.api import AnalysisResult, ModelDeploymentSpec, parse_spec
from modelfleet.decide import Decision, Observed
from modelfleet.reconcile.prometheus import DEFAULT_TIMEOUT_SECONDS, PrometheusClient


def measure_templates(
    *,
    base_url: str,
    names: Iterable[str],
    spec: ModelDeploymentSpec,
    revision: str,
    namespace: str,
    name: str,
    now: datetime,
    timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS,
) -> tuple[AnalysisResult, ...]:
    """Measure the named templates of a ModelDeployment's canary against Prometheus at ``base_url``
    (built-ins for its engine, replaced by its own analysisTemplates of the same name)."""
    templates = resolve_templates(spec.rollout, spec.engine.name)
    client = PrometheusClient(base_url, timeout_seconds=timeout_seconds)
    return measure(names, templates, client.query, revision=revision, namespace=namespace, name=name, now=now)


class PrometheusMeasure:
    def __init__(self, url: str, timeout_seconds: float) -> None:
        self.url = url
        self.timeout_seconds = timeout_seconds

    def __call__(self, obs: Observed, decision: Decision) -> tuple[AnalysisResult, ...]:
        spec = parse_spec(obs.spec)
        return measure_templates(
            base_url=self.url,
            timeout_seconds=self.timeout_seconds,
            names=decision.measure,
            spec=spec,
            revision=decision.measure_revision or "",
            namespace=obs.namespace,
            name=obs.name,
            now=obs.now if isinstance(obs.now, datetime) else datetime.now(),
        )
