"""Builders for rollout tests and a fake of our own cluster port that acts on decisions.

The fake applies a decision the way the reconciler would: workloads get the asked replicas,
deleted ones vanish, the traffic provider reports the weight it was given on the *next* pass
(gatewayAPI) or nothing (replicas), and pods turn Ready when the test says so.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from modelfleet.api import AnalysisResult, RolloutAction, RolloutSpec, RolloutStatus, TrafficProvider, Verdict
from modelfleet.rollout import RevisionState, RolloutDecision, RolloutInput, step
from modelfleet.rollout.clock import format_time

T0 = datetime(2026, 5, 1, 12, 0, 0, tzinfo=UTC)

STEPS = [
    {"setWeight": 10},
    {"pause": {"duration": "10m"}},
    {"analysis": {"templates": ["ttft-p95", "error-rate"]}},
    {"setWeight": 50},
    {"pause": {}},
]


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def ts(seconds: float) -> str:
    return format_time(at(seconds))


def make_spec(steps: list[dict[str, Any]] | None = None, **rollout: Any) -> RolloutSpec:
    """A RolloutSpec from its wire form (camelCase), with the test checklist by default."""
    canary = rollout.pop("canary", {})
    canary.setdefault("steps", STEPS if steps is None else steps)
    return RolloutSpec.model_validate({"progressDeadline": "30m", **rollout, "canary": canary})


def rev(name: str, replicas: int, ready: int | None = None) -> RevisionState:
    return RevisionState(
        revision=name, replicas=replicas, ready_replicas=replicas if ready is None else ready
    )


def canary_status(step_index: int = 0, started: float = 0, **fields: Any) -> RolloutStatus:
    return RolloutStatus(canary_revision="new", step=step_index, step_started_at=ts(started), **fields)


def result(name: str, verdict: Verdict, value: float | None = None) -> AnalysisResult:
    return AnalysisResult(name=name, verdict=verdict, value=value)


def make_input(
    now: float = 0,
    *,
    target: str = "new",
    stable: str | None = "old",
    desired: int = 2,
    spec: RolloutSpec | None = None,
    status: RolloutStatus | None = None,
    revisions: list[RevisionState] | None = None,
    **fields: Any,
) -> RolloutInput:
    revisions = revisions if revisions is not None else [rev("old", desired)]
    return RolloutInput(
        now=at(now),
        target_revision=target,
        stable_revision=stable,
        desired_replicas=desired,
        spec=spec or make_spec(),
        status=status,
        revisions={r.revision: r for r in revisions},
        **fields,
    )


def decide(inp: RolloutInput, verdict: Verdict = Verdict.SUCCESS) -> RolloutDecision:
    """Both phases of a pass: when the machine asks to measure, answer every template with ``verdict``."""
    decision = step(inp)
    if decision.measure:
        measurements = tuple(result(n, verdict, 1.0) for n in decision.measure)
        decision = step(replace(inp, measurements=measurements))
    return decision


@dataclass
class FakeCluster:
    """Workloads, readiness and the traffic provider's read-back, driven by decisions."""

    provider: TrafficProvider = TrafficProvider.GATEWAY_API
    workloads: dict[str, int] = field(default_factory=dict)  # revision -> replicas
    ready: dict[str, int] = field(default_factory=dict)  # revision -> ready replicas
    applied_weights: dict[str, int] = field(default_factory=dict)
    stable: str | None = None
    status: RolloutStatus | None = None
    per_revision: bool = False  # read back weights per revision (observed_weights) instead of a sum

    def observe(
        self, now: datetime, target: str, desired: int, spec: RolloutSpec, **fields: Any
    ) -> RolloutInput:
        observed, per_revision = None, None
        if self.provider == TrafficProvider.GATEWAY_API and self.per_revision:
            per_revision = dict(self.applied_weights)
        elif self.provider == TrafficProvider.GATEWAY_API:
            observed = sum(w for r, w in self.applied_weights.items() if r != self.stable)
        return RolloutInput(
            now=now,
            target_revision=target,
            stable_revision=self.stable,
            desired_replicas=desired,
            spec=spec,
            status=self.status,
            revisions={
                r: RevisionState(r, n, min(n, self.ready.get(r, 0))) for r, n in self.workloads.items()
            },
            observed_weight=observed,
            observed_weights=per_revision,
            traffic_provider=self.provider,
            **fields,
        )

    def apply(self, decision: RolloutDecision) -> None:
        for revision, replicas in decision.replicas.items():
            self.workloads[revision] = replicas
        for revision in decision.delete:
            self.workloads.pop(revision, None)
            self.ready.pop(revision, None)
        self.applied_weights = dict(decision.weights)
        self.stable = decision.stable_revision
        self.status = decision.status

    def make_ready(self, revision: str, count: int | None = None) -> None:
        self.ready[revision] = self.workloads.get(revision, 0) if count is None else count


def test_fake_cluster_reports_weights_one_pass_late() -> None:
    cluster = FakeCluster(workloads={"old": 2}, ready={"old": 2}, stable="old", applied_weights={"old": 100})
    spec = make_spec()
    first = decide(cluster.observe(at(0), "new", 2, spec))
    cluster.apply(first)
    cluster.make_ready("new")
    second = decide(cluster.observe(at(10), "new", 2, spec))
    assert second.weights == {"old": 90, "new": 10}
    cluster.apply(second)
    assert cluster.observe(at(20), "new", 2, spec).observed_weight == 10


def test_action_default_is_none() -> None:
    assert make_input().action == RolloutAction.NONE
