"""Analysis: built-in PromQL templates per engine, the reading of Prometheus's answers, pure verdicts.

Pure: the HTTP client that asks Prometheus lives in the shell (:mod:`modelfleet.reconcile.prometheus`).
"""

from modelfleet.analysis.errors import ProviderError
from modelfleet.analysis.evaluate import evaluate, threshold_text
from modelfleet.analysis.measure import measure
from modelfleet.analysis.templates import builtin_templates, render_query, resolve_templates

__all__ = [
    "ProviderError",
    "builtin_templates",
    "evaluate",
    "measure",
    "render_query",
    "resolve_templates",
    "threshold_text",
]
