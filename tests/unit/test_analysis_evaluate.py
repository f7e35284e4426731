"""Verdicts: value against thresholds; no data, NaN and errors are never a pass."""

from __future__ import annotations

import math
from datetime import UTC, datetime

import pytest

from modelfleet.analysis import ProviderError, evaluate, measure
from modelfleet.api import AnalysisTemplate, Verdict

NOW = datetime(2026, 5, 1, 12, 0, 5, tzinfo=UTC)
TTFT = AnalysisTemplate(name="ttft-p95", query="q", max=2.0)
BAND = AnalysisTemplate(name="tokens-per-second", query="q", min=10.0, max=100.0)


@pytest.mark.parametrize(
    ("template", "measured", "verdict"),
    [
        (TTFT, 1.2, Verdict.SUCCESS),
        (TTFT, 2.0, Verdict.SUCCESS),  # the threshold itself passes
        (TTFT, 2.7, Verdict.FAILURE),
        (TTFT, math.inf, Verdict.FAILURE),  # histogram_quantile in the +Inf bucket
        (TTFT, None, Verdict.INCONCLUSIVE),
        (TTFT, math.nan, Verdict.INCONCLUSIVE),
        (TTFT, ProviderError("connection refused"), Verdict.ERROR),
        (BAND, 9.9, Verdict.FAILURE),
        (BAND, 50.0, Verdict.SUCCESS),
        (BAND, 100.1, Verdict.FAILURE),
    ],
)
def test_verdict_rules(template: AnalysisTemplate, measured: object, verdict: Verdict) -> None:
    assert evaluate(template, measured, NOW).verdict == verdict  # type: ignore[arg-type]


def test_a_failure_names_the_value_and_the_threshold() -> None:
    result = evaluate(TTFT, 2.7, NOW)
    assert (result.value, result.threshold, result.at) == (2.7, "<= 2", "2026-05-01T12:00:05Z")
    assert "2.7 is outside <= 2" in result.message


def test_an_error_keeps_the_providers_message() -> None:
    assert "connection refused" in evaluate(TTFT, ProviderError("connection refused"), NOW).message


def test_no_data_explains_the_likely_causes() -> None:
    assert "modelfleet_io_revision" in evaluate(TTFT, None, NOW).message


def test_measure_renders_queries_and_turns_provider_errors_into_error_results() -> None:
    asked: list[str] = []

    def query(promql: str) -> float | None:
        asked.append(promql)
        if "boom" in promql:
            raise ProviderError("HTTP 503")
        return 0.5

    templates = {
        "ttft-p95": AnalysisTemplate(name="ttft-p95", query='ttft{rev="{{revision}}"}', max=2.0),
        "broken": AnalysisTemplate(name="broken", query="boom", max=1.0),
    }
    results = measure(
        ["ttft-p95", "broken", "missing"], templates, query, revision="r1", namespace="llm", name="m", now=NOW
    )
    assert [r.verdict for r in results] == [Verdict.SUCCESS, Verdict.ERROR, Verdict.ERROR]
    assert asked == ['ttft{rev="r1"}', "boom"]
    assert "spec.rollout.analysisTemplates" in results[2].message
