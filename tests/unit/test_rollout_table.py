"""The rollout machine, one row per situation: input (with injected time) -> what it decides.
This file: first deploy, steady state, setWeight, capacity, pause, analysis; the rest is in
test_rollout_table_actions.py.

Spec used unless a row says otherwise: steps setWeight 10, pause 10m, analysis (ttft-p95,
error-rate), setWeight 50, pause (untimed); progressDeadline 30m; gatewayAPI; surge; desired 2.
"""

from __future__ import annotations

from typing import Any

import pytest

from modelfleet.api import (
    AnalysisResult,
    ConditionStatus,
    Phase,
    Reason,
    TrafficProvider,
    Verdict,
)
from modelfleet.rollout import RolloutDecision, RolloutInput, step
from tests.unit.test_rollout_world import canary_status, make_input, make_spec, rev, ts

SUCCESS = Verdict.SUCCESS
ABORTED_ANALYSIS = "AnalysisFailed: 1 failed measurement(s), failureLimit 1: ttft-p95 failure: 2.7 (<= 2)"
ANALYSIS_AT = 3 * 60  # the analysis step (index 2) in these rows started at t=180 s


def measured(*pairs: tuple[str, Verdict], value: float = 1.0) -> tuple[AnalysisResult, ...]:
    return tuple(AnalysisResult(name=n, verdict=v, value=value, threshold="<= 2") for n, v in pairs)


def both(verdict: Verdict) -> tuple[AnalysisResult, ...]:
    return measured(("ttft-p95", verdict), ("error-rate", verdict))


RECORDED_AT = ts(ANALYSIS_AT)
ROWS: list[tuple[str, RolloutInput, dict[str, Any]]] = [
    # --- first deploy -------------------------------------------------------------------------
    (
        "first deploy with no pod ready is Pending and routes nothing",
        make_input(stable=None, revisions=[]),
        {"replicas": {"new": 2}, "weights": {}, "phase": Phase.PENDING, "stable": None},
    ),
    (
        "first deploy serves as soon as one pod is Ready",
        make_input(stable=None, revisions=[rev("new", 2, 1)]),
        {"weights": {"new": 100}, "phase": Phase.PROGRESSING, "stable": None},
    ),
    (
        "first deploy becomes stable once every replica is Ready",
        make_input(stable=None, revisions=[rev("new", 2)]),
        {"stable": "new", "phase": Phase.HEALTHY, "status": None, "events": [Reason.ROLLOUT_COMPLETE]},
    ),
    (
        "first deploy removes workloads that never were stable",
        make_input(stable=None, revisions=[rev("new", 2, 0), rev("typo", 1)]),
        {"delete": ("typo",), "replicas": {"new": 2}},
    ),
    (
        "first deploy past the deadline says so without aborting",
        make_input(3600, stable=None, revisions=[rev("new", 2, 0)], status=canary_status(started=0)),
        {"progressing": (ConditionStatus.FALSE, Reason.PROGRESS_DEADLINE_EXCEEDED), "phase": Phase.PENDING},
    ),
    # --- steady state ------------------------------------------------------------------------
    (
        "same revision as stable is steady with no rollout status",
        make_input(target="old", observed_weight=0),
        {"weights": {"old": 100}, "status": None, "phase": Phase.HEALTHY, "events": [], "delete": ()},
    ),
    (
        "an old revision still holding traffic keeps its pods",
        make_input(target="old", revisions=[rev("old", 2), rev("gone", 2)], observed_weight=10),
        {"delete": (), "replicas": {"old": 2, "gone": 2}},
    ),
    (
        "weights read back per revision count everything off the stable",
        make_input(
            target="old", revisions=[rev("old", 2), rev("gone", 2)], observed_weights={"old": 95, "gone": 5}
        ),
        {"delete": (), "replicas": {"old": 2, "gone": 2}},
    ),
    (
        "an old revision is deleted once weights read back per revision show it at 0",
        make_input(target="old", revisions=[rev("old", 2), rev("gone", 2)], observed_weights={"old": 100}),
        {"delete": ("gone",)},
    ),
    (
        "an old revision is deleted once weight 0 is observed",
        make_input(target="old", revisions=[rev("old", 2), rev("gone", 2)], observed_weight=0),
        {"delete": ("gone",), "replicas": {"old": 2}},
    ),
    # --- setWeight ---------------------------------------------------------------------------
    (
        "a new revision starts a full-size surge canary at step 0 with no traffic",
        make_input(observed_weight=0),
        {
            "replicas": {"new": 2, "old": 2},
            "weights": {"old": 100},
            "step": 0,
            "events": [Reason.NEW_REVISION],
            "phase": Phase.PROGRESSING,
            "message": "0/2 ready",
        },
    ),
    (
        "the canary gets no weight before all its replicas are Ready",
        make_input(
            60, status=canary_status(), revisions=[rev("old", 2), rev("new", 2, 1)], observed_weight=0
        ),
        {"weights": {"old": 100}, "step": 0, "events": [], "message": "1/2 ready"},
    ),
    (
        "a Ready canary gets the step's weight and waits for the provider",
        make_input(60, status=canary_status(), revisions=[rev("old", 2), rev("new", 2)], observed_weight=0),
        {"weights": {"old": 90, "new": 10}, "step": 0, "status_weight": 10, "message": "observed 0"},
    ),
    (
        "the step completes when the observed weight matches, and the pause starts",
        make_input(
            70, status=canary_status(weight=10), revisions=[rev("old", 2), rev("new", 2)], observed_weight=10
        ),
        {"step": 1, "events": ["RolloutStep"], "requeue": 600.0, "weights": {"old": 90, "new": 10}},
    ),
    (
        "with the replicas provider the canary runs round(desired x weight) replicas, at least 1",
        make_input(
            desired=4,
            revisions=[rev("old", 4)],
            traffic_provider=TrafficProvider.REPLICAS,
            spec=make_spec([{"setWeight": 50}, {"pause": {}}]),
        ),
        {"replicas": {"new": 2, "old": 4}, "granularity": "steps of 25%"},
    ),
    (
        "with the replicas provider an unknown observed weight counts as applied",
        make_input(
            10,
            desired=4,
            status=canary_status(),
            revisions=[rev("old", 4), rev("new", 1)],
            traffic_provider=TrafficProvider.REPLICAS,
        ),
        {"step": 1, "replicas": {"new": 1, "old": 4}, "weights": {"old": 90, "new": 10}},
    ),
    # --- capacity ----------------------------------------------------------------------------
    (
        "surge without free GPUs holds the canary at zero and names the numbers",
        make_input(canary_capacity_ok=False, capacity_message="2 x H100 needed, 0 free", observed_weight=0),
        {"replicas": {"new": 0, "old": 2}, "message": "needs 2 replicas and runs 0; 2 x H100 needed, 0 free"},
    ),
    (
        "surge without free GPUs aborts at the progress deadline",
        make_input(
            1801,
            status=canary_status(),
            revisions=[rev("old", 2)],
            canary_capacity_ok=False,
            observed_weight=0,
        ),
        {"phase": Phase.DEGRADED, "progressing": (ConditionStatus.FALSE, Reason.PROGRESS_DEADLINE_EXCEEDED)},
    ),
    (
        "swap with no room shrinks the stable by the canary's replicas first",
        make_input(
            desired=4,
            revisions=[rev("old", 4)],
            canary_capacity_ok=False,
            spec=make_spec(canary={"capacity": "swap"}),
        ),
        {"replicas": {"new": 1, "old": 3}},
    ),
    (
        "swap with room keeps the full stable until the canary is Ready",
        make_input(desired=4, revisions=[rev("old", 4)], spec=make_spec(canary={"capacity": "swap"})),
        {"replicas": {"new": 1, "old": 4}},
    ),
    # --- pause -------------------------------------------------------------------------------
    (
        "a timed pause resumes after a restart with the time left from stepStartedAt",
        make_input(
            250,
            status=canary_status(1, started=0, weight=10),
            revisions=[rev("old", 2), rev("new", 2)],
            observed_weight=10,
        ),
        {"step": 1, "requeue": 350.0, "events": [], "phase": Phase.PROGRESSING},
    ),
    (
        "a timed pause that has run out moves on to the analysis and asks to measure",
        make_input(
            600,
            status=canary_status(1, started=0, weight=10),
            revisions=[rev("old", 2), rev("new", 2)],
            observed_weight=10,
        ),
        {"step": 2, "measure": ("ttft-p95", "error-rate"), "events": ["RolloutStep"]},
    ),
    (
        "an untimed pause is Paused until resumed, with no deadline",
        make_input(
            9999,
            status=canary_status(4, started=0, weight=50),
            revisions=[rev("old", 2), rev("new", 2)],
            observed_weight=50,
        ),
        {
            "phase": Phase.PAUSED,
            "progressing": (ConditionStatus.UNKNOWN, Reason.ROLLOUT_PAUSED),
            "requeue": None,
        },
    ),
    # --- analysis ----------------------------------------------------------------------------
    (
        "passing analysis completes the step and the next setWeight begins",
        make_input(
            ANALYSIS_AT,
            status=canary_status(2, started=ANALYSIS_AT, weight=10),
            revisions=[rev("old", 2), rev("new", 2)],
            observed_weight=10,
            measurements=both(SUCCESS),
        ),
        {"step": 3, "weights": {"old": 50, "new": 50}},
    ),
    (
        "a failed measurement aborts: weight 0 first, canary pods kept until it is observed",
        make_input(
            ANALYSIS_AT,
            status=canary_status(2, started=ANALYSIS_AT, weight=10),
            revisions=[rev("old", 2), rev("new", 2)],
            observed_weight=10,
            measurements=measured(("ttft-p95", Verdict.FAILURE), ("error-rate", SUCCESS), value=2.7),
        ),
        {
            "weights": {"old": 100},
            "replicas": {"new": 2, "old": 2},
            "phase": Phase.DEGRADED,
            "progressing": (ConditionStatus.FALSE, Reason.ANALYSIS_FAILED),
            "abort_reason": ABORTED_ANALYSIS,
            "aborted_reason": "AnalysisFailed",
        },
    ),
    (
        "inconclusive analysis holds and measures again after the interval",
        make_input(
            ANALYSIS_AT,
            status=canary_status(2, started=ANALYSIS_AT, weight=10),
            revisions=[rev("old", 2), rev("new", 2)],
            observed_weight=10,
            measurements=both(Verdict.INCONCLUSIVE),
        ),
        {"step": 2, "requeue": 60.0, "weights": {"old": 90, "new": 10}, "events": []},
    ),
    (
        "no measurement before the analysis interval has passed",
        make_input(
            ANALYSIS_AT + 20,
            status=canary_status(
                2, started=ANALYSIS_AT, weight=10, analysis=list(both(Verdict.INCONCLUSIVE))
            ).model_copy(
                update={
                    "analysis": [r.model_copy(update={"at": RECORDED_AT}) for r in both(Verdict.INCONCLUSIVE)]
                }
            ),
            revisions=[rev("old", 2), rev("new", 2)],
            observed_weight=10,
        ),
        {"measure": (), "requeue": 40.0},
    ),
    (
        "provider errors reaching errorLimit in a row abort with AnalysisError",
        make_input(
            ANALYSIS_AT,
            status=canary_status(2, started=ANALYSIS_AT, weight=10, error_count=2),
            revisions=[rev("old", 2), rev("new", 2)],
            observed_weight=10,
            measurements=both(Verdict.ERROR),
        ),
        {"progressing": (ConditionStatus.FALSE, Reason.ANALYSIS_ERROR), "weights": {"old": 100}},
    ),
    (
        "a provider error below errorLimit only counts",
        make_input(
            ANALYSIS_AT,
            status=canary_status(2, started=ANALYSIS_AT, weight=10),
            revisions=[rev("old", 2), rev("new", 2)],
            observed_weight=10,
            measurements=both(Verdict.ERROR),
        ),
        {"step": 2, "error_count": 1, "phase": Phase.PROGRESSING},
    ),
    (
        "inconclusive analysis past the deadline aborts with ProgressDeadlineExceeded",
        make_input(
            ANALYSIS_AT + 1800 + 61,
            status=canary_status(2, started=ANALYSIS_AT, weight=10),
            revisions=[rev("old", 2), rev("new", 2)],
            observed_weight=10,
        ),
        {"progressing": (ConditionStatus.FALSE, Reason.PROGRESS_DEADLINE_EXCEEDED), "phase": Phase.DEGRADED},
    ),
    (
        "with abortOnDeadline false an overdue step only reports Progressing=False",
        make_input(
            ANALYSIS_AT + 1800 + 61,
            spec=make_spec(abortOnDeadline=False),
            status=canary_status(2, started=ANALYSIS_AT, weight=10),
            revisions=[rev("old", 2), rev("new", 2)],
            observed_weight=10,
        ),
        {
            "progressing": (ConditionStatus.FALSE, Reason.PROGRESS_DEADLINE_EXCEEDED),
            "phase": Phase.PROGRESSING,
            "events": [Reason.PROGRESS_DEADLINE_EXCEEDED],
            "abort_reason": None,
            "message": "progress deadline exceeded: waited longer than 31m at: step 2: analysis",
        },
    ),
]


def check(decision: RolloutDecision, expected: dict[str, Any]) -> None:
    status = decision.status
    actual = {
        "replicas": decision.replicas,
        "weights": decision.weights,
        "delete": decision.delete,
        "phase": decision.phase,
        "stable": decision.stable_revision,
        "events": [e.reason for e in decision.events],
        "measure": decision.measure,
        "requeue": decision.requeue_after_seconds,
        "consumed": decision.consumed_action,
        "aborted_reason": decision.aborted_reason,
        "progressing": decision.progressing[:2],
    }
    for key, want in expected.items():
        if key == "status":
            assert status == want
        elif key == "message":
            assert status is not None and want in (status.message or ""), status and status.message
        elif key in {"step", "abort_reason", "paused_at", "step_started_at", "error_count"}:
            assert status is not None and getattr(status, key) == want, (key, status)
        elif key == "status_weight":
            assert status is not None and status.weight == want
        elif key == "granularity":
            assert status is not None and want in (status.granularity or "")
        else:
            assert actual[key] == want, (key, actual[key], want)


@pytest.mark.parametrize(("inp", "expected"), [(i, e) for _, i, e in ROWS], ids=[name for name, _, _ in ROWS])
def test_rollout_machine_table(inp: RolloutInput, expected: dict[str, Any]) -> None:
    check(step(inp), expected)


def test_table_has_a_row_for_every_bullet() -> None:
    from tests.unit.test_rollout_table_actions import ROWS as ACTION_ROWS

    assert len(ROWS) + len(ACTION_ROWS) >= 25
