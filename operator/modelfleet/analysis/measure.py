"""The glue the reconciler calls between the machine's two phases: render, query, evaluate."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime

from modelfleet.analysis.errors import ProviderError
from modelfleet.analysis.evaluate import evaluate
from modelfleet.analysis.prometheus import DEFAULT_TIMEOUT_SECONDS, PrometheusClient
from modelfleet.analysis.templates import render_query, resolve_templates
from modelfleet.api import AnalysisResult, AnalysisTemplate, ModelDeploymentSpec, Verdict

Query = Callable[[str], float | None]  # PrometheusClient.query, or a fake of it in tests


def measure(
    names: Iterable[str],
    templates: dict[str, AnalysisTemplate],
    query: Query,
    *,
    revision: str,
    namespace: str,
    name: str,
    now: datetime,
) -> tuple[AnalysisResult, ...]:
    """One result per template name, in order; a name with no template is an error result."""
    results = []
    for template_name in names:
        template = templates.get(template_name)
        if template is None:
            results.append(
                AnalysisResult(
                    name=template_name,
                    verdict=Verdict.ERROR,
                    message=f"no analysis template {template_name!r}; define it in spec.rollout.analysisTemplates",
                )
            )
            continue
        promql = render_query(template, revision=revision, namespace=namespace, name=name)
        try:
            measured: float | None | ProviderError = query(promql)
        except ProviderError as error:
            measured = error
        results.append(evaluate(template, measured, now))
    return tuple(results)


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
