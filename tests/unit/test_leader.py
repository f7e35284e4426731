"""Leader election on a Lease and the fence on writes, on fake time and a fake Lease store of our own
(the elector's port), never a mocked Kubernetes client."""

from __future__ import annotations

import copy
import socket
import time
import urllib.error
import urllib.request
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from kubernetes.client import Configuration
from pydantic import ValidationError

from modelfleet.cli import build_parser
from modelfleet.cli.run import operator_config
from modelfleet.reconcile.config import LeaderElectionConfig
from modelfleet.reconcile.kube import ApiError, Kube
from modelfleet.reconcile.leader import (
    Candidate,
    Fence,
    LeaderElector,
    LeaseTiming,
    NotLeader,
    lease_expired,
    may_write,
)
from modelfleet.reconcile.leadership import Leadership, standby_health
from modelfleet.reconcile.metrics import OperatorMetrics
from testbed.cluster import free_port

TIMING = LeaseTiming(lease_duration_seconds=15, renew_deadline_seconds=10, retry_period_seconds=2)


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


class FakeLeases:
    """A Lease store that keeps resourceVersions as the API server does: a stale write is a 409."""

    def __init__(self) -> None:
        self.lease: dict[str, Any] | None = None
        self.version = 0
        self.down = False
        self.writes: list[str] = []  # holder written, in order

    def get(self, api_version: str, kind: str, namespace: str | None, name: str) -> dict[str, Any] | None:
        if self.down:
            raise ConnectionRefusedError("the API server is restarting")
        return copy.deepcopy(self.lease)

    def create(self, obj: dict[str, Any]) -> dict[str, Any]:
        if self.lease is not None:
            raise ApiError(409, "AlreadyExists", "leases.coordination.k8s.io exists")
        return self._store(obj)

    def replace(self, obj: dict[str, Any]) -> dict[str, Any]:
        assert self.lease is not None
        if obj["metadata"].get("resourceVersion") != self.lease["metadata"]["resourceVersion"]:
            raise ApiError(409, "Conflict", "the object has been modified")
        return self._store(obj)

    def _store(self, obj: dict[str, Any]) -> dict[str, Any]:
        self.version += 1
        self.lease = copy.deepcopy(obj)
        self.lease["metadata"]["resourceVersion"] = str(self.version)
        self.writes.append(obj["spec"]["holderIdentity"])
        return copy.deepcopy(self.lease)

    @property
    def holder(self) -> str:
        return str((self.lease or {}).get("spec", {}).get("holderIdentity", ""))


def elector(
    name: str, leases: FakeLeases, clock: FakeClock, changes: list[tuple[str, bool]] | None = None
) -> tuple[LeaderElector, Fence]:
    fence = Fence(TIMING.renew_deadline_seconds, clock=clock)
    on_change = (lambda leading: changes.append((name, leading))) if changes is not None else (lambda _: None)
    candidate = Candidate(name, "modelfleet-system", "modelfleet", TIMING)
    return (
        LeaderElector(
            leases,
            candidate,
            fence,
            on_change,
            clock=clock,
            wall=lambda: datetime(2026, 12, 3, 20, 0, tzinfo=UTC),
            sleep=clock.sleep,
        ),
        fence,
    )


@pytest.mark.parametrize(
    ("now", "renewed_at", "deadline", "allowed"),
    [
        (100.0, 100.0, 10.0, True),  # just renewed
        (109.9, 100.0, 10.0, True),
        (110.0, 100.0, 10.0, False),  # the renew deadline is over: no write, whatever the Lease says
        (100.0, None, 10.0, False),  # never renewed (a standby)
        (99.0, 100.0, 10.0, True),
    ],
)
def test_a_write_is_allowed_only_within_the_renew_deadline_of_the_last_renewal(
    now: float, renewed_at: float | None, deadline: float, allowed: bool
) -> None:
    assert may_write(now, renewed_at, deadline) is allowed


@pytest.mark.parametrize(
    ("now", "observed_at", "duration", "expired"),
    [(100.0, 100.0, 15, False), (114.9, 100.0, 15, False), (115.0, 100.0, 15, True)],
)
def test_a_lease_expires_a_lease_duration_after_its_record_was_last_seen_to_change(
    now: float, observed_at: float, duration: int, expired: bool
) -> None:
    assert lease_expired(now, observed_at, duration) is expired


def test_the_fence_refuses_writes_once_the_renew_deadline_has_passed() -> None:
    clock = FakeClock()
    fence = Fence(10.0, clock=clock)
    with pytest.raises(NotLeader, match="PATCH /x not sent"):
        fence("PATCH /x")
    fence.renewed(clock())
    clock.now += 9.9
    fence("PATCH /x")
    clock.now += 0.1
    with pytest.raises(NotLeader):
        fence("PATCH /x")
    assert fence.refused == 2


def test_the_kube_client_asks_the_fence_before_a_write_and_sends_nothing_when_refused() -> None:
    # Nothing listens on port 9: had the write been sent, urllib3 would raise a connection error.
    clock = FakeClock()
    fence = Fence(10.0, clock=clock)
    kube = Kube(Configuration(host="http://127.0.0.1:9"), guard=fence, timeout_seconds=1)
    body = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "m", "namespace": "ns"}}
    with pytest.raises(NotLeader, match="PATCH /apis/apps/v1/namespaces/ns/deployments/m"):
        kube.apply(body)
    with pytest.raises(NotLeader, match="POST /api/v1/namespaces/ns/events"):
        kube.create({"apiVersion": "v1", "kind": "Event", "metadata": {"namespace": "ns"}})
    with pytest.raises(NotLeader, match="DELETE"):
        kube.delete("apps/v1", "Deployment", "ns", "m")
    with pytest.raises(NotLeader, match="/status"):
        kube.patch_status("apps/v1", "Deployment", "ns", "m", {"replicas": 1})
    assert fence.refused == 4
    fence.renewed(clock())  # now the write goes out, and fails only on the closed port
    with pytest.raises(Exception) as sent:
        kube.apply(body)
    assert not isinstance(sent.value, NotLeader)


def test_the_first_candidate_creates_the_lease_and_leads() -> None:
    clock, leases = FakeClock(), FakeLeases()
    a, fence = elector("a", leases, clock)
    assert not fence.open
    assert a.try_acquire_or_renew()
    assert leases.holder == "a" and fence.open
    assert leases.lease is not None
    spec = leases.lease["spec"]
    assert spec["leaseDurationSeconds"] == 15 and spec["leaseTransitions"] == 0
    assert spec["renewTime"] == "2026-12-03T20:00:00.000000Z"


def test_a_standby_waits_while_the_leader_renews_and_takes_over_a_lease_duration_after_the_last_renewal() -> (
    None
):
    clock, leases = FakeClock(), FakeLeases()
    a, _ = elector("a", leases, clock)
    b, b_fence = elector("b", leases, clock)
    assert a.try_acquire_or_renew()
    for _ in range(20):  # the leader renews every retry period: the standby never gets in
        clock.now += 2
        assert a.try_acquire_or_renew()
        assert not b.try_acquire_or_renew()
    last_seen = clock.now
    clock.now += 14.9  # the leader stopped renewing: the standby still waits out the lease
    assert not b.try_acquire_or_renew() and leases.holder == "a"
    clock.now = last_seen + 15
    assert b.try_acquire_or_renew()
    assert leases.holder == "b" and b_fence.open
    assert leases.lease is not None and leases.lease["spec"]["leaseTransitions"] == 1


def test_a_frozen_leader_stops_writing_a_whole_margin_before_the_standby_may_take_over() -> None:
    """The leader's fence closes renew_deadline after it *sent* its last renewal; the standby may
    take over lease_duration after it *saw* it. Between them: lease - renew deadline = 5 s."""
    clock, leases = FakeClock(), FakeLeases()
    a, a_fence = elector("a", leases, clock)
    b, _ = elector("b", leases, clock)
    sent = clock.now
    assert a.try_acquire_or_renew()
    clock.now += 0.5
    assert not b.try_acquire_or_renew()  # b sees a's renewal half a second after it was sent
    fence_closed = next(
        t / 10 for t in range(int(sent * 10), int(sent * 10) + 300) if not _open_at(a_fence, clock, t / 10)
    )
    took_over = next(
        t / 10 for t in range(int(sent * 10), int(sent * 10) + 300) if _takes_over_at(b, clock, t / 10)
    )
    assert fence_closed == sent + 10
    assert took_over == sent + 0.5 + 15
    assert took_over - fence_closed >= TIMING.lease_duration_seconds - TIMING.renew_deadline_seconds
    with pytest.raises(NotLeader):  # a wakes up: its next write is stopped
        a_fence("PATCH /apis/modelfleet.io/v1alpha1/namespaces/ns/modeldeployments/m/status")
    assert not a.try_acquire_or_renew() and leases.holder == "b"


def _open_at(fence: Fence, clock: FakeClock, at: float) -> bool:
    clock.now = at
    return fence.open


def _takes_over_at(candidate: LeaderElector, clock: FakeClock, at: float) -> bool:
    clock.now = at
    return candidate.try_acquire_or_renew()


def test_of_two_candidates_writing_the_same_read_only_one_wins() -> None:
    clock, leases = FakeClock(), FakeLeases()
    a, _ = elector("a", leases, clock)
    b, b_fence = elector("b", leases, clock)
    c, _ = elector("c", leases, clock)
    assert c.try_acquire_or_renew()
    assert not a.try_acquire_or_renew() and not b.try_acquire_or_renew()  # both observe c's record
    clock.now += 15
    stale = leases.get("", "", None, "")  # b read the lease, then a wrote first
    assert a.try_acquire_or_renew()
    leases.get = lambda *_: copy.deepcopy(stale)  # type: ignore[method-assign]
    assert not b.try_acquire_or_renew()  # its write carried the old resourceVersion: 409
    assert not b_fence.open and leases.holder == "a"


def test_the_leader_that_cannot_renew_for_the_renew_deadline_gives_up_and_closes_its_fence() -> None:
    clock, leases = FakeClock(), FakeLeases()
    changes: list[tuple[str, bool]] = []
    a, fence = elector("a", leases, clock, changes)
    original_sleep = clock.sleep

    def sleep(seconds: float) -> None:
        original_sleep(seconds)
        if clock.now > 1010:
            leases.down = True  # the API server goes away 10 s into the leadership

    a._sleep = sleep
    a.run()
    assert changes == [("a", True), ("a", False)]
    assert not fence.open and not a.leading
    assert clock.now - 1012 <= TIMING.renew_deadline_seconds + TIMING.retry_period_seconds


def test_a_failed_request_is_a_failed_attempt_not_a_dead_election() -> None:
    clock, leases = FakeClock(), FakeLeases()
    a, fence = elector("a", leases, clock)
    leases.down = True
    assert not a.try_acquire_or_renew() and not fence.open
    leases.down = False
    assert a.try_acquire_or_renew() and fence.open


def test_a_released_lease_is_taken_at_once_without_waiting_for_it_to_expire() -> None:
    clock, leases = FakeClock(), FakeLeases()
    a, a_fence = elector("a", leases, clock)
    b, _ = elector("b", leases, clock)
    assert a.try_acquire_or_renew()
    a.leading = True
    assert not b.try_acquire_or_renew()
    a.release()
    assert leases.holder == "" and not a_fence.open
    assert b.try_acquire_or_renew() and leases.holder == "b"
    assert leases.writes == ["a", "", "b"]


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"leaseDurationSeconds": 10, "renewDeadlineSeconds": 10}, "must be less than leaseDurationSeconds"),
        (
            {"renewDeadlineSeconds": 2, "retryPeriodSeconds": 2},
            "x 1.2 must be less than renewDeadlineSeconds",
        ),
        ({"leaseDurationSeconds": 0}, "greater than or equal to 1"),
    ],
)
def test_lease_timings_that_could_let_two_leaders_write_are_refused(
    values: dict[str, Any], message: str
) -> None:
    with pytest.raises(ValidationError, match=message):
        LeaderElectionConfig.model_validate(values)


def test_the_default_lease_timings_are_controller_runtimes() -> None:
    config = LeaderElectionConfig()
    assert (config.lease_duration_seconds, config.renew_deadline_seconds, config.retry_period_seconds) == (
        15,
        10,
        2,
    )
    assert LeaderElectionConfig.model_validate(
        {"leaseDurationSeconds": 4, "renewDeadlineSeconds": 3, "retryPeriodSeconds": 0.5}
    )


class FakeEvents:
    """The events side of the operator's client: reads the Lease, records what it posts."""

    def __init__(self, leases: FakeLeases) -> None:
        self.leases = leases
        self.posted: list[dict[str, Any]] = []

    def get(self, api_version: str, kind: str, namespace: str | None, name: str) -> dict[str, Any] | None:
        return self.leases.get(api_version, kind, namespace, name)

    def create(self, obj: dict[str, Any]) -> dict[str, Any]:
        self.posted.append(obj)
        return obj

    def replace(self, obj: dict[str, Any]) -> dict[str, Any]:
        raise AssertionError("the events client never replaces")


def test_leadership_is_counted_posted_on_the_lease_and_its_loss_stops_the_operator() -> None:
    clock, leases = FakeClock(), FakeLeases()
    events, metrics = FakeEvents(leases), OperatorMetrics()

    def sleep(seconds: float) -> None:  # fake time, and a real yield so the test thread runs
        clock.sleep(seconds)
        time.sleep(0.001)

    candidate = Candidate("op-a_1", "modelfleet-system", "modelfleet", TIMING)
    fence = Fence(TIMING.renew_deadline_seconds, clock=clock)
    leadership = Leadership(
        candidate, fence, leases, events, metrics, elector_options={"clock": clock, "sleep": sleep}
    )
    leadership.start()
    assert leadership.wait_until_leading()
    assert metric(metrics, "modelfleet_leader") == 1
    [event] = events.posted
    assert (event["reason"], event["message"]) == ("LeaderElection", "op-a_1 became leader")
    assert event["involvedObject"]["kind"] == "Lease" and event["involvedObject"]["name"] == "modelfleet"
    assert not leadership.stop_flag.is_set()
    leases.down = True  # renewals fail from now on
    assert leadership.lost.wait(5) and leadership.stop_flag.is_set()
    assert not fence.open
    assert metric(metrics, "modelfleet_leader") == 0
    assert metric(metrics, "modelfleet_leader_transitions_total") == 2
    leadership.shutdown()  # nothing to release: the Lease was lost
    assert leases.holder == "op-a_1"


def metric(metrics: OperatorMetrics, name: str) -> float:
    value = metrics.registry.get_sample_value(name)
    assert value is not None, name
    return value


def test_a_standby_answers_its_liveness_probe_and_frees_the_port_for_kopf() -> None:
    port = free_port()
    with standby_health(f"http://127.0.0.1:{port}/healthz"):
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5) as answer:
            assert answer.status == 200 and answer.read() == b"standby\n"
        with pytest.raises(urllib.error.HTTPError, match="404"):
            urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5)
    # kopf's own liveness endpoint binds the same port next (aiohttp reuses addresses, as here): that
    # fails while anything still listens on it.
    with socket.socket() as again:
        again.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        again.bind(("127.0.0.1", port))
        again.listen()


@pytest.mark.parametrize(
    ("argv", "enabled"),
    [(["run"], False), (["run", "--leader-elect"], True)],
)
def test_leader_election_is_off_for_a_plain_run_and_on_with_the_flag(argv: list[str], enabled: bool) -> None:
    config = operator_config(build_parser().parse_args(argv))
    assert config.leader_election.enabled is enabled


def test_the_flag_keeps_the_timings_of_the_configuration_file(tmp_path: Path) -> None:
    path = tmp_path / "operator.yaml"
    path.write_text("leaderElection: {leaseDurationSeconds: 30, renewDeadlineSeconds: 20}\n")
    config = operator_config(build_parser().parse_args(["run", "--config", str(path), "--leader-elect"]))
    election = config.leader_election
    assert (election.enabled, election.lease_duration_seconds, election.renew_deadline_seconds) == (
        True,
        30,
        20,
    )
