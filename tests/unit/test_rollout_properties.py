"""Invariants of the rollout machine over random histories (hypothesis).

A fake cluster (our own port, see test_rollout_world) applies every decision; between passes the
history makes pods Ready or not, moves time, changes the target revision, answers measurements
and sends actions. After every pass:

* weights are positive and sum to 100 (none only before a first revision serves);
* a canary with weight > 0 has the Ready pods that weight needs;
* with surge (and rolling updates) the stable keeps its desired replicas until it is replaced;
* no revision is deleted or scaled to 0 while the provider still shows it traffic (abort: weight
  0 first, pods second);
* a restart that re-reads the persisted status (JSON round trip) decides exactly the same;
* re-running a pass on the status it wrote, with nothing changed, emits no event (events only on
  transitions) and writes the same status.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from modelfleet.api import (
    CanaryCapacity,
    RolloutAction,
    RolloutSpec,
    RolloutStatus,
    RolloutStrategy,
    TrafficProvider,
    Verdict,
)
from modelfleet.rollout import RolloutDecision, RolloutInput, step
from modelfleet.rollout.replicas import canary_replicas
from tests.unit.test_rollout_world import T0, FakeCluster, make_spec, result

SPECS = [
    make_spec(),
    make_spec([{"setWeight": 25}, {"analysis": {"templates": ["itl-p95"]}}, {"setWeight": 75}]),
    make_spec(canary={"capacity": "swap"}),
    make_spec([{"pause": {"duration": "1m"}}, {"setWeight": 100}], canary={"capacity": "swap"}),
    make_spec([], errorLimit=2, failureLimit=2),
    make_spec(
        abortOnDeadline=False, analysisTemplates=[{"name": "ttft-p95", "query": "q", "max": 1, "count": 2}]
    ),
    RolloutSpec.model_validate({"strategy": "RollingUpdate", "progressDeadline": "10m"}),
]

OPS = st.one_of(
    st.tuples(st.just("time"), st.sampled_from([5, 30, 61, 300, 601, 1900])),
    st.tuples(st.just("ready_all"), st.none()),
    st.tuples(st.just("ready_some"), st.integers(0, 3)),
    st.tuples(st.just("target"), st.sampled_from(["r1", "r2", "r3", "r0"])),
    st.tuples(st.just("action"), st.sampled_from(list(RolloutAction))),
    st.tuples(st.just("verdict"), st.sampled_from(list(Verdict))),
    st.tuples(st.just("capacity"), st.booleans()),
)


def roundtrip(status: RolloutStatus | None) -> RolloutStatus | None:
    """What a restarted operator reads back from the ModelDeployment's status."""
    return None if status is None else RolloutStatus.model_validate(status.to_wire())


def run_pass(inp: RolloutInput, verdict: Verdict) -> RolloutDecision:
    decision = step(inp)
    assert step(replace(inp, status=roundtrip(inp.status))) == decision
    if decision.measure:
        answered = replace(inp, measurements=tuple(result(n, verdict, 1.0) for n in decision.measure))
        decision = step(answered)
        assert step(replace(answered, status=roundtrip(inp.status))) == decision
    return decision


def canary_capacity(spec: RolloutSpec) -> CanaryCapacity:
    if spec.strategy == RolloutStrategy.ROLLING_UPDATE:
        return CanaryCapacity.SURGE
    return spec.canary.capacity


def check_weights(inp: RolloutInput, d: RolloutDecision) -> None:
    assert all(w > 0 for w in d.weights.values()), d.weights
    if d.weights or inp.stable_revision is not None:
        assert sum(d.weights.values()) == 100, d.weights


def check_canary_ready_for_weight(inp: RolloutInput, d: RolloutDecision) -> None:
    canary = d.canary_revision
    weight = d.weights.get(canary, 0) if canary else 0
    if weight == 0:
        return
    state = inp.revisions.get(canary)
    assert state is not None and state.exists and state.ready_replicas >= 1
    capacity = canary_capacity(inp.spec)
    needed = canary_replicas(weight, inp.desired_replicas, inp.traffic_provider, capacity)
    if capacity == CanaryCapacity.SWAP and weight == 100:
        needed = max(1, inp.desired_replicas - 1)  # the swap handover: the stable holds the last GPUs
    assert state.ready_replicas >= needed, (weight, state, needed)


def check_stable_kept(inp: RolloutInput, d: RolloutDecision) -> None:
    stable = inp.stable_revision
    if stable is None or d.stable_revision != stable:
        return
    assert stable not in d.delete
    if canary_capacity(inp.spec) == CanaryCapacity.SURGE:
        assert d.replicas[stable] == inp.desired_replicas
    else:
        assert d.replicas[stable] >= 1


def check_no_scale_down_under_traffic(inp: RolloutInput, d: RolloutDecision) -> None:
    if inp.stable_revision is None:
        return  # first deploy: nothing else ever served as stable
    gateway = inp.traffic_provider == TrafficProvider.GATEWAY_API
    for revision, state in inp.revisions.items():
        if revision == d.stable_revision or state.replicas == 0:
            continue
        if revision in d.delete or d.replicas.get(revision) == 0:
            assert revision not in d.weights
            if gateway:
                expected = 100 if revision == inp.stable_revision else 0
                assert inp.off_stable_weight == expected, (revision, inp.off_stable_weight)


def check_quiet_rerun(inp: RolloutInput, d: RolloutDecision) -> None:
    """The same world with the status just written: no new transition, so no event."""
    again = replace(inp, status=d.status, stable_revision=d.stable_revision, measurements=None)
    if d.consumed_action:
        again = replace(again, action=RolloutAction.NONE)
    rerun = step(again)
    assert rerun.events == (), (d.events, rerun.events)
    if not rerun.measure and d.status is not None and rerun.status is not None:
        # The message may count down ("4m left"); everything a restart resumes from is identical.
        assert rerun.status.model_copy(update={"message": None}) == d.status.model_copy(
            update={"message": None}
        )
    else:
        assert rerun.status == d.status or rerun.measure


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    spec=st.sampled_from(SPECS),
    provider=st.sampled_from([TrafficProvider.GATEWAY_API, TrafficProvider.REPLICAS]),
    desired=st.integers(1, 4),
    per_revision=st.booleans(),
    ops=st.lists(OPS, min_size=1, max_size=30),
)
def test_rollout_invariants_hold_over_random_histories(
    spec: RolloutSpec, provider: TrafficProvider, desired: int, per_revision: bool, ops: list[tuple[str, Any]]
) -> None:
    cluster = FakeCluster(
        provider=provider,
        per_revision=per_revision,
        workloads={"r0": desired},
        ready={"r0": desired},
        stable="r0",
        applied_weights={"r0": 100},
    )
    now, target, verdict, capacity_ok = T0, "r1", Verdict.SUCCESS, True
    for op, arg in ops:
        action = RolloutAction.NONE
        if op == "time":
            now += timedelta(seconds=arg)
        elif op == "ready_all":
            for revision in cluster.workloads:
                cluster.make_ready(revision)
        elif op == "ready_some":
            for revision in cluster.workloads:
                cluster.make_ready(revision, min(arg, cluster.workloads[revision]))
        elif op == "target":
            target = arg
        elif op == "action":
            action = arg
        elif op == "verdict":
            verdict = arg
        else:
            capacity_ok = arg
        inp = cluster.observe(now, target, desired, spec, action=action, canary_capacity_ok=capacity_ok)
        decision = run_pass(inp, verdict)
        check_weights(inp, decision)
        check_canary_ready_for_weight(inp, decision)
        check_stable_kept(inp, decision)
        check_no_scale_down_under_traffic(inp, decision)
        check_quiet_rerun(inp, decision)
        cluster.apply(decision)


@settings(max_examples=40, deadline=None)
@given(desired=st.integers(1, 6), provider=st.sampled_from(list(TrafficProvider)[1:]))
def test_a_canary_that_is_always_ready_is_promoted(desired: int, provider: TrafficProvider) -> None:
    """Liveness: with Ready pods, passing analysis and time moving on, every rollout completes."""
    spec = make_spec(
        [
            {"setWeight": 10},
            {"pause": {"duration": "1m"}},
            {"analysis": {"templates": ["ttft-p95"]}},
            {"setWeight": 60},
        ]
    )
    cluster = FakeCluster(
        provider=provider,
        workloads={"r0": desired},
        ready={"r0": desired},
        stable="r0",
        applied_weights={"r0": 100},
    )
    now = T0
    for _ in range(60):
        decision = run_pass(cluster.observe(now, "r1", desired, spec), Verdict.SUCCESS)
        cluster.apply(decision)
        for revision in cluster.workloads:
            cluster.make_ready(revision)
        if cluster.stable == "r1":
            break
        now += timedelta(seconds=decision.requeue_after_seconds or 10)
    assert cluster.stable == "r1"
    assert set(cluster.workloads) == {"r1"}
