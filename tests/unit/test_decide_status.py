"""The status policies: what Ready, Progressing, Degraded and the phase say about a settled model
deployment when its replicas, its pods and its rollout change (table tests over `decide`)."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import timedelta
from typing import Any

import pytest

from modelfleet.api import ACTION_ANNOTATION, CONDITION_REASONS, ConditionStatus, ConditionType, Reason
from modelfleet.decide import Decision, Observed, decide
from modelfleet.decide.observed import PodSummary, pod_summary
from tests.unit.test_decide import CTX, H100_NODE, NOW, condition, created, observed, settle, spec

CRASH = "back-off 5m0s restarting failed container=engine"


def with_stable(
    obs: Observed, status: dict[str, Any], replicas: int, ready: int, current: bool, **changes: Any
) -> Observed:
    """`obs` one pass later, its stable Deployment at `replicas` with `ready` of them Ready."""
    children = tuple(
        replace(c, replicas=replicas, ready_replicas=ready, current=current) if c.kind == "Deployment" else c
        for c in obs.children
    )
    base: dict[str, Any] = {"status": status, "children": children, "now": NOW + timedelta(minutes=1)}
    return observed(**{"spec_": spec(replicas=replicas), **base, **changes})


def stable_pod(obs: Observed, reason: str | None) -> PodSummary:
    revision = obs.status["revisions"]["stable"]
    return PodSummary("m-pod", revision, "Running", False, None, reason, CRASH if reason else None)


@dataclass(frozen=True)
class Row:
    replicas: int  # desired, and the Deployment's spec
    ready: int
    had_ready: int  # readyReplicas in the stored status
    waiting_reason: str | None = None  # of one stable pod
    degraded_before: bool = False  # the stored status says Degraded=True ReplicasNotReady
    current: bool = True  # the Deployment controller has seen the Deployment's latest spec


@dataclass(frozen=True)
class Expected:
    phase: str
    ready: tuple[str, str]
    progressing: tuple[str, str]
    degraded: tuple[str, str]
    message_has: str = ""


TABLE = {
    "a stable revision with every replica ready is healthy": (
        Row(replicas=2, ready=2, had_ready=2),
        Expected("Healthy", ("True", "ReplicasReady"), ("True", "RolloutComplete"), ("False", "AsExpected")),
    ),
    "a stable revision that loses a ready replica is degraded with ReplicasNotReady": (
        Row(replicas=2, ready=1, had_ready=2),
        Expected(
            "Degraded",
            ("False", "ReplicasNotReady"),
            ("True", "RolloutComplete"),
            ("True", "ReplicasNotReady"),
        ),
    ),
    "scaling a healthy model up is progressing, not degraded": (
        Row(replicas=4, ready=2, had_ready=2),
        Expected("Progressing", ("False", "ReplicasNotReady"), ("True", "Scaling"), ("False", "AsExpected")),
    ),
    "a scale-up whose pods crash-loop is degraded and names the pod's reason": (
        Row(replicas=4, ready=2, had_ready=2, waiting_reason="CrashLoopBackOff"),
        Expected(
            "Degraded",
            ("False", "ReplicasNotReady"),
            ("True", "RolloutComplete"),
            ("True", "ReplicasNotReady"),
            "CrashLoopBackOff",
        ),
    ),
    "a pod that cannot pull its image is named in the message": (
        Row(replicas=2, ready=1, had_ready=2, waiting_reason="ImagePullBackOff"),
        Expected(
            "Degraded",
            ("False", "ReplicasNotReady"),
            ("True", "RolloutComplete"),
            ("True", "ReplicasNotReady"),
            "ImagePullBackOff",
        ),
    ),
    "a degraded stable stays degraded until every replica is back": (
        Row(replicas=2, ready=1, had_ready=1, degraded_before=True),
        Expected(
            "Degraded",
            ("False", "ReplicasNotReady"),
            ("True", "RolloutComplete"),
            ("True", "ReplicasNotReady"),
        ),
    ),
    "a degraded stable with every replica back is healthy again": (
        Row(replicas=2, ready=2, had_ready=1, degraded_before=True),
        Expected("Healthy", ("True", "ReplicasReady"), ("True", "RolloutComplete"), ("False", "AsExpected")),
    ),
    "a just-scaled Deployment its controller has not seen yet is not called degraded": (
        Row(replicas=4, ready=0, had_ready=2, current=False),
        Expected("Progressing", ("False", "ReplicasNotReady"), ("True", "Scaling"), ("False", "AsExpected")),
    ),
    "a degraded stable stays degraded while its Deployment is being updated": (
        Row(replicas=2, ready=0, had_ready=1, degraded_before=True, current=False),
        Expected(
            "Degraded",
            ("False", "ReplicasNotReady"),
            ("True", "RolloutComplete"),
            ("True", "ReplicasNotReady"),
        ),
    ),
    "scaling down is healthy at once": (
        Row(replicas=1, ready=1, had_ready=2),
        Expected("Healthy", ("True", "ReplicasReady"), ("True", "RolloutComplete"), ("False", "AsExpected")),
    ),
    "scaled to zero is ready": (
        Row(replicas=0, ready=0, had_ready=2),
        Expected("Healthy", ("True", "ScaledToZero"), ("True", "RolloutComplete"), ("False", "AsExpected")),
    ),
}


def pass_for(row: Row) -> Decision:
    obs, decision = settle(spec(replicas=2))
    status = dict(decision.status, readyReplicas=row.had_ready)
    if row.degraded_before:
        status["conditions"] = [
            c if c["type"] != "Degraded" else {**c, "status": "True", "reason": "ReplicasNotReady"}
            for c in status["conditions"]
        ]
    obs = observed(spec(replicas=2), status=status, children=obs.children)
    pods = (stable_pod(obs, row.waiting_reason),) if row.waiting_reason else ()
    return decide(with_stable(obs, status, row.replicas, row.ready, row.current, pods=pods), CTX)


@pytest.mark.parametrize("row, expected", TABLE.values(), ids=TABLE.keys())
def test_status_policies(row: Row, expected: Expected) -> None:
    decision = pass_for(row)
    assert decision.status["phase"] == expected.phase
    for type_, (status, reason) in (
        ("Ready", expected.ready),
        ("Progressing", expected.progressing),
        ("Degraded", expected.degraded),
    ):
        got = condition(decision, type_)
        assert (got["status"], got["reason"]) == (status, reason), type_
    if expected.message_has:
        assert expected.message_has in condition(decision, "Degraded")["message"]
        assert expected.message_has in condition(decision, "Ready")["message"]
    assert_reasons_are_declared(decision)


def test_a_lost_replica_warns_with_replicas_not_ready_never_with_rollout_complete() -> None:
    decision = pass_for(Row(replicas=2, ready=1, had_ready=2))
    warnings = [e.reason for e in decision.events if e.type == "Warning"]
    assert warnings == ["ReplicasNotReady"], "one Warning for Ready=False and Degraded=True together"


def test_a_scale_up_posts_no_warning() -> None:
    decision = pass_for(Row(replicas=4, ready=2, had_ready=2))
    assert [e.type for e in decision.events] and {e.type for e in decision.events} == {"Normal"}
    assert condition(decision, "Progressing")["message"].startswith("revision ")


def test_a_first_deploy_past_its_deadline_is_degraded() -> None:
    slow = spec(rollout={"strategy": "RollingUpdate", "progressDeadline": "1m"})
    first = decide(observed(slow), CTX)
    children = created(first, ready=False)
    later = decide(
        observed(slow, status=first.status, children=children, now=NOW + timedelta(minutes=5)), CTX
    )
    assert condition(later, "Progressing")["status"] == "False"
    assert condition(later, "Progressing")["reason"] == Reason.PROGRESS_DEADLINE_EXCEEDED
    assert condition(later, "Degraded")["status"] == "True"
    assert condition(later, "Degraded")["reason"] == Reason.PROGRESS_DEADLINE_EXCEEDED
    assert later.status["phase"] == "Degraded"


def test_a_canary_past_its_deadline_that_does_not_abort_is_degraded() -> None:
    canary = {"strategy": "Canary", "abortOnDeadline": False, "progressDeadline": "1m"}
    canary["canary"] = {"steps": [{"setWeight": 50}], "trafficRouting": {"provider": "replicas"}}
    obs, settled = settle(spec(replicas=2, rollout=canary))
    new = spec(replicas=2, rollout=canary, model={"id": "Qwen/Qwen3.5-9B", "revision": "b"})
    started = decide(observed(new, status=settled.status, children=obs.children, generation=2), CTX)
    children = obs.children + created(started, ready=False)
    later = observed(
        new, status=started.status, children=children, generation=2, now=NOW + timedelta(minutes=5)
    )
    decision = decide(later, CTX)
    assert condition(decision, "Progressing")["reason"] == Reason.PROGRESS_DEADLINE_EXCEEDED
    assert condition(decision, "Degraded")["status"] == "True"
    assert decision.status["phase"] == "Degraded"
    assert decision.status["revisions"].get("canary"), "not aborted: the canary stays"


def test_an_action_in_a_failed_phase_is_removed_and_refused_with_a_warning() -> None:
    obs, settled = settle(spec())
    broken = spec(replicas=-1)
    decision = decide(
        observed(
            broken, status=settled.status, children=obs.children, annotations={ACTION_ANNOTATION: "promote"}
        ),
        CTX,
    )
    assert decision.status["phase"] == "Failed" and decision.consumed_action
    [refusal] = [e for e in decision.events if e.reason == Reason.ACTION_REFUSED]
    assert refusal.type == "Warning" and "promote" in refusal.message and "spec.replicas" in refusal.message
    assert decision.status["revisions"] == settled.status["revisions"], "the halted pass keeps the rollout"


def test_a_failed_phase_without_an_action_refuses_nothing() -> None:
    decision = decide(observed(spec(replicas=-1)), CTX)
    assert not decision.consumed_action
    assert not any(e.reason == Reason.ACTION_REFUSED for e in decision.events)


def test_a_pass_waiting_for_capacity_keeps_the_action_for_when_it_can_act() -> None:
    big = spec(
        model={"id": "meta-llama/Llama-3.1-405B-Instruct", "licenseAccepted": True, "quantization": "bf16"},
        accelerator={"type": "H100-80GB"},
    )
    decision = decide(observed(big, nodes=H100_NODE, annotations={ACTION_ANNOTATION: "pause"}), CTX)
    assert decision.result == "waiting" and decision.status["phase"] == "Pending"
    assert not decision.consumed_action


def test_a_pods_waiting_reason_is_read_from_its_container_statuses() -> None:
    pod = {
        "metadata": {"name": "m-1", "labels": {"modelfleet.io/revision": "r1"}},
        "status": {
            "phase": "Running",
            "containerStatuses": [
                {"name": "sidecar", "state": {"waiting": {"reason": "ContainerCreating"}}},
                {"name": "engine", "state": {"waiting": {"reason": "CrashLoopBackOff", "message": CRASH}}},
            ],
        },
    }
    summary = pod_summary(pod)
    assert (summary.waiting_reason, summary.waiting_message) == ("CrashLoopBackOff", CRASH)
    assert pod_summary({"status": {"phase": "Pending"}}).waiting_reason is None


def assert_reasons_are_declared(decision: Decision) -> None:
    for c in decision.status["conditions"]:
        declared = CONDITION_REASONS[ConditionType(c["type"])]
        assert declared.get(Reason(c["reason"])) == ConditionStatus(c["status"]), c
