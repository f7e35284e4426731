"""Runs the analysis queries the rollout machine asks for (I/O; the verdicts are pure, in analysis/)."""

from __future__ import annotations

from datetime import datetime

from modelfleet.api import AnalysisResult, parse_spec
from modelfleet.decide import Decision, Observed


class PrometheusMeasure:
    def __init__(self, url: str, timeout_seconds: float) -> None:
        self.url = url
        self.timeout_seconds = timeout_seconds

    def __call__(self, obs: Observed, decision: Decision) -> tuple[AnalysisResult, ...]:
        from modelfleet.analysis import measure_templates

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
