"""What converging one ModelDeployment costs in writes: the Events and status patches of each pass,
from nothing to Ready, through every state the control plane shows on the way, then a resync."""

from __future__ import annotations

import copy
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from modelfleet.decide import Decision, decide
from modelfleet.decide.observed import PodSummary, child_summary
from modelfleet.decide.statusdiff import merge_patch
from tests.unit.test_decide import CTX, NOW, observed, spec


@dataclass(frozen=True)
class World:
    """What the API server shows of the workload: the Deployment controller's and kubelet's progress."""

    seen_by_controller: bool  # the Deployment's status.observedGeneration caught up
    pod_phase: str | None  # None: no pod yet
    ready: bool


# The states a watch shows one after another while kwok (or a kubelet) starts the one replica.
ON_THE_WAY = (
    World(seen_by_controller=False, pod_phase=None, ready=False),
    World(seen_by_controller=True, pod_phase=None, ready=False),
    World(seen_by_controller=True, pod_phase="Pending", ready=False),
    World(seen_by_controller=True, pod_phase="Running", ready=False),
    World(seen_by_controller=True, pod_phase="Running", ready=True),
)


def children_in(decision: Decision, world: World) -> tuple:
    out = []
    for obj in decision.apply:
        obj = copy.deepcopy(obj)
        obj["metadata"]["uid"] = f"uid-{obj['metadata']['name']}"
        obj["metadata"]["generation"] = 1
        if obj["kind"] == "Deployment":
            ready = 1 if world.ready else 0
            obj["status"] = (
                {"observedGeneration": 1, "readyReplicas": ready, "updatedReplicas": 1}
                if world.seen_by_controller
                else {}
            )
        out.append(child_summary(obj))
    return tuple(out)


def pods_in(first: Decision, world: World) -> tuple:
    if world.pod_phase is None:
        return ()
    [deployment] = [o for o in first.apply if o["kind"] == "Deployment"]
    revision = deployment["metadata"]["labels"]["modelfleet.io/revision"]
    return (PodSummary("m-pod", revision, world.pod_phase, world.ready, None),)


@dataclass
class Journey:
    events: list[Any]
    status_writes: list[dict[str, Any]]
    final: Decision


def converge(spec_: dict[str, Any]) -> Journey:
    """Each pass fed the status the previous one wrote, as the operator's loop does."""
    first = decide(observed(spec_), CTX)
    events, writes = list(first.events), [merge_patch({}, first.status)]
    status, decision = first.status, first
    for i, world in enumerate(ON_THE_WAY, start=1):
        obs = observed(
            spec_,
            status=status,
            children=children_in(first, world),
            pods=pods_in(first, world),
            now=NOW + timedelta(seconds=i),
        )
        decision = decide(obs, CTX)
        events.extend(decision.events)
        patch = merge_patch(dict(status), decision.status)
        if patch:
            writes.append(patch)
        status = decision.status
    return Journey(events, writes, decision)


def test_converging_from_nothing_to_ready_posts_at_most_two_events() -> None:
    journey = converge(spec())
    assert [e.reason for e in journey.events] == ["PlanFeasible", "RolloutComplete"]
    assert {e.type for e in journey.events} == {"Normal"}


def test_converging_from_nothing_to_ready_writes_status_twice_planned_then_ready() -> None:
    journey = converge(spec())
    assert len(journey.status_writes) == 2, journey.status_writes[1:]
    planned, ready = journey.status_writes
    assert planned["plan"]["gpuType"] == "L4" and planned["observedGeneration"] == 1
    assert ready["readyReplicas"] == 1 and ready["phase"] == "Healthy"


def test_a_resync_of_a_converged_object_writes_nothing_and_says_nothing() -> None:
    journey = converge(spec())
    status = journey.final.status
    for minutes in (1, 2, 60):
        world = ON_THE_WAY[-1]
        first = decide(observed(spec()), CTX)
        resync = decide(
            observed(
                spec(),
                status=status,
                children=children_in(first, world),
                pods=pods_in(first, world),
                now=NOW + timedelta(minutes=minutes),
            ),
            CTX,
        )
        assert merge_patch(dict(status), resync.status) == {}, f"after {minutes} min"
        assert resync.events == [] and resync.apply == []
