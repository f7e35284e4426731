"""Verdicts: a measured value (or the provider's error) against a template's thresholds. Pure.

* a provider error -> ``error`` (counts towards errorLimit, in a row)
* no data -> ``inconclusive`` (no series: no traffic yet, or fewer requests than the minimum)
* NaN -> ``inconclusive`` (``histogram_quantile`` over zero rate, 0/0 ratios)
* ``min <= value <= max`` (whichever are set) -> ``success``, else ``failure``
"""

from __future__ import annotations

import math
from datetime import datetime

from modelfleet.analysis.errors import ProviderError
from modelfleet.api import AnalysisResult, AnalysisTemplate, Verdict


def threshold_text(template: AnalysisTemplate) -> str:
    """``<= 2``, ``>= 0.9`` or ``0.9 <= x <= 2``: what the value was compared against."""
    low, high = template.min, template.max
    if low is not None and high is not None:
        return f"{low:g} <= x <= {high:g}"
    return f"<= {high:g}" if high is not None else f">= {low:g}"


def evaluate(
    template: AnalysisTemplate, measured: float | None | ProviderError, now: datetime
) -> AnalysisResult:
    """The verdict for one measurement.

    >>> from datetime import UTC
    >>> t = AnalysisTemplate(name="ttft-p95", query="q", max=2.0)
    >>> evaluate(t, 2.7, datetime(2026, 5, 1, tzinfo=UTC)).verdict.value
    'failure'
    >>> evaluate(t, None, datetime(2026, 5, 1, tzinfo=UTC)).verdict.value
    'inconclusive'
    """
    at = now.strftime("%Y-%m-%dT%H:%M:%SZ")
    threshold = threshold_text(template)

    def result(verdict: Verdict, value: float | None = None, message: str = "") -> AnalysisResult:
        return AnalysisResult(
            name=template.name, verdict=verdict, value=value, threshold=threshold, message=message, at=at
        )

    if isinstance(measured, ProviderError):
        return result(Verdict.ERROR, message=str(measured))
    if measured is None:
        return result(
            Verdict.INCONCLUSIVE,
            message="no data: no traffic to the canary yet, too few requests, or the scrape config "
            "does not set the modelfleet_io_revision label",
        )
    if math.isnan(measured):
        return result(Verdict.INCONCLUSIVE, message="NaN: no requests in the window")
    if not within(template, measured):
        return result(Verdict.FAILURE, measured, f"{measured:g} is outside {threshold}")
    return result(Verdict.SUCCESS, measured)


def within(template: AnalysisTemplate, value: float) -> bool:
    if template.max is not None and value > template.max:
        return False
    return not (template.min is not None and value < template.min)
