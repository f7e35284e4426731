"""Render, query, evaluate: the analysis the reconciler runs between the machine's two phases.

Pure: the query is a callable the caller gives (the shell's Prometheus client, or a fake in tests).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime

from modelfleet.analysis.errors import ProviderError
from modelfleet.analysis.evaluate import evaluate
from modelfleet.analysis.templates import render_query
from modelfleet.api import AnalysisResult, AnalysisTemplate, Verdict

Query = Callable[[str], float | None]  # the shell's PrometheusClient.query, or a fake of it in tests


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
