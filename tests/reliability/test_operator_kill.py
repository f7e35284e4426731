"""``kill -9`` of the operator at seeded random points of canary rollouts (replicas provider, steps
setWeight 50 and a 3 s pause). Every rollout must still end Healthy on its revision with one
Deployment, no canary may restart from scratch, and no invariant may break on the way."""

from __future__ import annotations

import random
import time
from collections import Counter
from typing import Any

import pytest

from tests.reliability.conftest import Rig, soak_or_ci
from tests.reliability.helpers import (
    apply,
    canary_md,
    create_user_objects,
    delete_md,
    patch_spec,
    status_of,
    wait_children_collected,
    wait_rolled_out,
)
from tests.reliability.invariants import InvariantChecker

pytestmark = pytest.mark.cluster
NS, NAME, REPLICAS = "rel-kill", "killed", 2


def where_in_the_rollout(md: dict[str, Any]) -> str:
    """Where a kill lands: before the operator saw the new revision, at a canary step, promoting, or done."""
    status = md.get("status") or {}
    if status.get("observedGeneration") != md["metadata"]["generation"]:
        return "new revision not seen yet"
    rollout, revisions = status.get("rollout") or {}, status.get("revisions") or {}
    if not revisions.get("canary"):
        return "done"
    return {0: "step 0 (setWeight 50)", 1: "step 1 (pause 3s)"}.get(rollout.get("step") or 0, "promoting")


def new_revision_events(rig: Rig, revision_hash: str) -> int:
    return sum(
        1
        for e in rig.reader.events(NS)
        if e.get("reason") == "NewRevision" and f"rolling out {revision_hash} " in e.get("message", "")
    )


def test_operator_killed_at_random_points_of_canary_rollouts(rig: Rig, rng: random.Random) -> None:
    rollouts = soak_or_ci(20, 5)
    kills_at: Counter[str] = Counter()
    took: list[float] = []
    with InvariantChecker(rig.reader, (NS,)) as checker:
        create_user_objects(rig.cluster, checker, NS, NAME)
        try:
            apply(rig.cluster, canary_md(NAME, NS, revision="r0", replicas=REPLICAS))
            wait_rolled_out(rig.reader, NS, NAME, "r0", REPLICAS, timeout=90)
            for index in range(1, rollouts + 1):
                revision = f"r{index}"
                began = time.monotonic()
                patch_spec(rig.cluster, NS, NAME, {"model": {"revision": revision}})
                # One kill per rollout, a second one in about a third of them, both inside its ~5 s
                # (the restarted operator picks the pause up where it was, so the second comes sooner).
                for delay_seconds in (3.5, 2.0)[: 1 if rng.random() > 0.35 else 2]:
                    time.sleep(rng.uniform(0.0, delay_seconds))
                    kills_at[where_in_the_rollout(rig.reader.md(NS, NAME))] += 1
                    rig.faults.kill_operator(rig.operator, down_seconds=rng.uniform(0.0, 2.0))
                wait_rolled_out(rig.reader, NS, NAME, revision, REPLICAS, timeout=120)
                took.append(time.monotonic() - began)
                stable = status_of(rig.reader, NS, NAME)["revisions"]["stable"]
                assert new_revision_events(rig, stable) <= 1, (
                    f"the canary of {revision} started again from scratch"
                )
            checker.wait_quiet()
        finally:
            checker.stop()
            print(
                f"\n[reliability] {rollouts} rollouts, {rig.faults.count('operator-kill')} kills "
                f"({dict(kills_at)}); patch to Healthy {min(took or [0]):.1f}-{max(took or [0]):.1f}s "
                f"(mean {sum(took) / max(1, len(took)):.1f}s)"
            )
            print(f"[reliability] operator kills: {checker.summary()} {checker.last_unavailable}")
            delete_md(rig.cluster, NS, NAME)
    wait_children_collected(rig.reader, NS)
    checker.sample()
    checker.assert_held()
