"""The rollout machine's table, continued: abort, a newer revision, manual actions, promotion and
rolling updates (same spec and conventions as test_rollout_table.py)."""

from __future__ import annotations

from typing import Any

import pytest

from modelfleet.api import ConditionStatus, Phase, Reason, RolloutAction, RolloutSpec, TrafficProvider
from modelfleet.rollout import RolloutInput, step
from tests.unit.test_rollout_table import ABORTED_ANALYSIS, check
from tests.unit.test_rollout_world import canary_status, make_input, make_spec, rev, ts

ROWS: list[tuple[str, RolloutInput, dict[str, Any]]] = [
    # --- abort -------------------------------------------------------------------------------
    (
        "an aborted canary scales to zero once weight 0 is observed",
        make_input(
            400,
            status=canary_status(2, weight=0, abort_reason=ABORTED_ANALYSIS),
            revisions=[rev("old", 2), rev("new", 2)],
            observed_weight=0,
        ),
        {"replicas": {"new": 0, "old": 2}, "events": [], "phase": Phase.DEGRADED, "requeue": None},
    ),
    (
        "an aborted revision stays aborted without an action",
        make_input(
            99999,
            status=canary_status(2, weight=0, abort_reason=ABORTED_ANALYSIS),
            revisions=[rev("old", 2), rev("new", 0)],
            observed_weight=0,
        ),
        {
            "weights": {"old": 100},
            "progressing": (ConditionStatus.FALSE, Reason.ANALYSIS_FAILED),
            "events": [],
        },
    ),
    (
        "a swap canary's abort asks the stable back to desired at once",
        make_input(
            100,
            desired=4,
            spec=make_spec(canary={"capacity": "swap"}),
            status=canary_status(weight=10),
            revisions=[rev("old", 3), rev("new", 1)],
            observed_weight=10,
            action=RolloutAction.ABORT,
        ),
        {
            "replicas": {"old": 4, "new": 1},
            "weights": {"old": 100},
            "consumed": True,
            "events": [Reason.ROLLOUT_ABORTED],
        },
    ),
    (
        "a spec change away from an aborted revision starts a fresh canary; the old one leaves",
        make_input(
            500,
            target="newer",
            status=canary_status(2, abort_reason=ABORTED_ANALYSIS),
            revisions=[rev("old", 2), rev("new", 0)],
            observed_weight=0,
        ),
        {"step": 0, "delete": ("new",), "events": [Reason.NEW_REVISION], "abort_reason": None},
    ),
    # --- newer revision mid-canary -----------------------------------------------------------
    (
        "a newer revision mid-canary takes the old canary's weight away before deleting it",
        make_input(
            500,
            target="newer",
            status=canary_status(3, weight=50),
            revisions=[rev("old", 2), rev("new", 2), rev("newer", 0)],
            observed_weight=50,
        ),
        {
            "weights": {"old": 100},
            "delete": (),
            "replicas": {"old": 2, "new": 2, "newer": 2},
            "step": 0,
            "events": [Reason.NEW_REVISION],
        },
    ),
    # --- actions ------------------------------------------------------------------------------
    (
        "abort action takes the weight away and is consumed",
        make_input(
            100,
            status=canary_status(weight=10),
            revisions=[rev("old", 2), rev("new", 2)],
            observed_weight=10,
            action=RolloutAction.ABORT,
        ),
        {
            "weights": {"old": 100},
            "consumed": True,
            "progressing": (ConditionStatus.FALSE, Reason.ROLLOUT_ABORTED),
        },
    ),
    (
        "retry restarts an aborted canary at step 0",
        make_input(
            500,
            status=canary_status(2, abort_reason=ABORTED_ANALYSIS, failure_count=1),
            revisions=[rev("old", 2), rev("new", 0)],
            observed_weight=0,
            action=RolloutAction.RETRY,
        ),
        {
            "step": 0,
            "abort_reason": None,
            "replicas": {"new": 2, "old": 2},
            "events": ["RolloutRetried"],
            "consumed": True,
        },
    ),
    (
        "resume ends an untimed pause and the promotion starts",
        make_input(
            9999,
            status=canary_status(4, weight=50),
            revisions=[rev("old", 2), rev("new", 2)],
            observed_weight=50,
            action=RolloutAction.RESUME,
        ),
        {"step": 5, "weights": {"new": 100}, "consumed": True, "phase": Phase.PROGRESSING},
    ),
    (
        "promote skips the remaining steps but waits for a Ready canary",
        make_input(
            100,
            status=canary_status(weight=0),
            revisions=[rev("old", 2), rev("new", 2, 1)],
            observed_weight=0,
            action=RolloutAction.PROMOTE,
        ),
        {
            "step": 5,
            "weights": {"old": 100},
            "consumed": True,
            "events": ["RolloutPromoted"],
            "message": "1/2 ready",
        },
    ),
    (
        "pause action holds the step in the Paused phase",
        make_input(
            100,
            status=canary_status(1, weight=10),
            revisions=[rev("old", 2), rev("new", 2)],
            observed_weight=10,
            action=RolloutAction.PAUSE,
        ),
        {
            "phase": Phase.PAUSED,
            "paused_at": ts(100),
            "step": 1,
            "consumed": True,
            "weights": {"old": 90, "new": 10},
        },
    ),
    (
        "resume after a manual pause moves the step's clock past the paused time",
        make_input(
            700,
            status=canary_status(1, started=0, weight=10, paused_at=ts(100)),
            revisions=[rev("old", 2), rev("new", 2)],
            observed_weight=10,
            action=RolloutAction.RESUME,
        ),
        {"step": 1, "step_started_at": ts(600), "requeue": 500.0, "paused_at": None},
    ),
    (
        "promote with no canary is consumed and changes nothing",
        make_input(target="old", observed_weight=0, action=RolloutAction.PROMOTE),
        {"consumed": True, "status": None, "weights": {"old": 100}},
    ),
    # --- promotion ---------------------------------------------------------------------------
    (
        "promotion completes once 100% is observed: the old stable goes, the canary is stable",
        make_input(
            100,
            status=canary_status(5, weight=100),
            revisions=[rev("old", 2), rev("new", 2)],
            observed_weight=100,
        ),
        {
            "stable": "new",
            "delete": ("old",),
            "weights": {"new": 100},
            "status": None,
            "phase": Phase.HEALTHY,
            "events": [Reason.ROLLOUT_COMPLETE],
        },
    ),
    (
        "a swap promotion grows the canary one replica at a time as the stable shrinks",
        make_input(
            100,
            desired=4,
            spec=make_spec(canary={"capacity": "swap"}),
            status=canary_status(5, weight=50),
            revisions=[rev("old", 2), rev("new", 2)],
            observed_weight=50,
        ),
        {"replicas": {"new": 3, "old": 1}, "weights": {"old": 50, "new": 50}},
    ),
    (
        "a canary that loses a pod loses its weight, not its step",
        make_input(
            100,
            status=canary_status(1, weight=10),
            revisions=[rev("old", 2), rev("new", 2, 1)],
            observed_weight=10,
        ),
        {"weights": {"old": 100}, "status_weight": 10, "step": 1},
    ),
    # --- rolling update ----------------------------------------------------------------------
    (
        "a rolling update scales the new revision to desired next to the old one",
        make_input(spec=RolloutSpec.model_validate({"strategy": "RollingUpdate"}), observed_weight=0),
        {"replicas": {"new": 2, "old": 2}, "weights": {"old": 100}, "phase": Phase.PROGRESSING},
    ),
    (
        "a rolling update with the replicas provider finishes once the new revision is Ready",
        make_input(
            60,
            spec=RolloutSpec.model_validate({"strategy": "RollingUpdate"}),
            status=canary_status(),
            revisions=[rev("old", 2), rev("new", 2)],
            traffic_provider=TrafficProvider.REPLICAS,
        ),
        {"stable": "new", "delete": ("old",), "replicas": {"new": 2}},
    ),
]


@pytest.mark.parametrize(("inp", "expected"), [(i, e) for _, i, e in ROWS], ids=[name for name, _, _ in ROWS])
def test_rollout_machine_table_actions(inp: RolloutInput, expected: dict[str, Any]) -> None:
    check(step(inp), expected)
