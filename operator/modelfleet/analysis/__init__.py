"""Analysis: built-in PromQL templates per engine, a Prometheus client, pure verdicts."""

from modelfleet.analysis.errors import ProviderError
from modelfleet.analysis.evaluate import evaluate, threshold_text
from modelfleet.analysis.measure import measure, measure_templates
from modelfleet.analysis.prometheus import PrometheusClient
from modelfleet.analysis.templates import builtin_templates, render_query, resolve_templates

__all__ = [
    "PrometheusClient",
    "ProviderError",
    "builtin_templates",
    "evaluate",
    "measure",
    "measure_templates",
    "render_query",
    "resolve_templates",
    "threshold_text",
]
