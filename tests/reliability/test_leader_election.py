"""Two operator processes and one Lease on the local control plane, with short lease timings
(4 s / 3 s / 0.5 s): the standby takes over from a killed leader within the lease duration and the
canary goes on at the same step with the same time left; a leader frozen past its lease writes
nothing once it wakes (the API server's audit log says who wrote what, by user agent); and both
survive an API server restart, with one leader at the end.

``MODELFLEET_SOAK=1`` measures failover over 10 kills (3 otherwise); ``MODELFLEET_LEASE=15,10,2``
measures it with other timings (seconds: lease duration, renew deadline, retry period).
"""

from __future__ import annotations

import json
import os
import signal
import statistics
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from modelfleet.reconcile.leadership import EXIT_LEASE_LOST
from testbed.cluster import LocalCluster
from testbed.faults import Faults, stopped
from testbed.operator_process import OperatorProcess, install_crds
from testbed.wait import wait_for
from tests.integration.kube import make_namespace
from tests.reliability.conftest import soak_or_ci
from tests.reliability.helpers import (
    apply,
    canary_md,
    delete_md,
    patch_spec,
    status_of,
    wait_rolled_out,
)
from tests.reliability.invariants import InvariantChecker
from tests.reliability.reader import Reader

pytestmark = pytest.mark.cluster
NS, LEASE, NAME, REPLICAS = "rel-leader", "modelfleet-ha", "elected", 2
LEASE_SECONDS, RENEW_SECONDS, RETRY_SECONDS = (
    float(x) for x in os.environ.get("MODELFLEET_LEASE", "4,3,0.5").split(",")
)
NAMES = ("op-a", "op-b")


@dataclass
class Pair:
    """Two operator processes running for one Lease; `ops` by the name in their identity."""

    cluster: LocalCluster
    reader: Reader
    ops: dict[str, OperatorProcess]

    def holder(self) -> str | None:
        lease = self.reader.get(f"/apis/coordination.k8s.io/v1/namespaces/{NS}/leases/{LEASE}") or {}
        identity = (lease.get("spec") or {}).get("holderIdentity") or ""
        return next((name for name in self.ops if identity.startswith(f"{name}_")), None)

    def wait_holder(self, other_than: str | None = None, timeout: float = 60) -> str:
        return str(
            wait_for(
                lambda: (h := self.holder()) is not None and h != other_than and h,
                f"a lease holder other than {other_than}",
                timeout=timeout,
                interval=0.05,
            )
        )

    def transitions(self) -> int:
        """How often the Lease changed hands since it was created (``spec.leaseTransitions``)."""
        lease = self.reader.get(f"/apis/coordination.k8s.io/v1/namespaces/{NS}/leases/{LEASE}") or {}
        return int((lease.get("spec") or {}).get("leaseTransitions") or 0)

    def restart_exited(self) -> list[str]:
        """Start again each process that exited, as its Deployment would; each must have exited for
        the lost Lease, not crashed."""
        restarted = []
        for name, op in self.ops.items():
            if op.proc is not None and op.proc.poll() is not None:
                assert op.proc.returncode == EXIT_LEASE_LOST, (
                    f"{name} exited {op.proc.returncode}:\n{op.log()[-3000:]}"
                )
                op.start()
                restarted.append(name)
        return restarted

    def leaders(self) -> int:
        """How many running processes say (in /metrics) that they lead."""
        return sum(
            1
            for op in self.ops.values()
            if op.proc is not None and op.proc.poll() is None and "\nmodelfleet_leader 1.0" in op.metrics()
        )


@pytest.fixture
def pair(cluster: LocalCluster, tmp_path: Path) -> Iterator[Pair]:
    install_crds(cluster)
    make_namespace(cluster, NS)
    election = {
        "enabled": True,
        "leaseName": LEASE,
        "leaseNamespace": NS,
        "leaseDurationSeconds": int(LEASE_SECONDS),
        "renewDeadlineSeconds": RENEW_SECONDS,
        "retryPeriodSeconds": RETRY_SECONDS,
    }
    ops = {}
    for name in NAMES:
        (tmp_path / name).mkdir()
        ops[name] = OperatorProcess(
            cluster,
            tmp_path / name,
            config={"namespaces": [NS], "resyncSeconds": 10, "leaderElection": election},
            extra_env={"POD_NAME": name},
        )
    result = Pair(cluster, Reader(cluster), ops)
    cluster.kubectl(
        "delete", "lease", LEASE, "-n", NS, "--ignore-not-found"
    )  # each test counts its own handovers
    try:
        ops["op-a"].start()
        wait_for(lambda: result.holder() == "op-a", "op-a to lead", timeout=30)
        ops["op-b"].start()
        yield result
    finally:
        for op in ops.values():
            op.stop()
        cluster.kubectl("delete", "md", "--all", "-n", NS, "--wait=false", check=False)


def writes_by(cluster: LocalCluster, name: str, since: datetime) -> list[str]:
    """Writes the API server received from process `name` at or after `since` (its audit log)."""
    found = []
    for line in cluster.audit_log.read_text().splitlines():
        event = json.loads(line)
        received = datetime.fromisoformat(event["requestReceivedTimestamp"].replace("Z", "+00:00"))
        if f"({name}_" in event.get("userAgent", "") and received >= since:
            found.append(f"{event['requestReceivedTimestamp']} {event['verb']} {event['requestURI']}")
    return found


def lease_writes(cluster: LocalCluster, name: str) -> list[datetime]:
    """When the API server received each successful Lease write of process `name`, in order."""
    return sorted(
        datetime.fromisoformat(e["requestReceivedTimestamp"].replace("Z", "+00:00"))
        for e in map(json.loads, cluster.audit_log.read_text().splitlines())
        if f"({name}_" in e.get("userAgent", "")
        and f"/leases/{LEASE}" in e.get("requestURI", "")
        and e.get("responseStatus", {}).get("code") in (200, 201)
    )


def takeover_time(cluster: LocalCluster, old: str, new: str) -> datetime:
    """When `new` first wrote the Lease after the last renewal of `old`: the moment it took over."""
    last_of_old = lease_writes(cluster, old)[-1]
    return next(t for t in lease_writes(cluster, new) if t > last_of_old)


def passes(op: OperatorProcess) -> float:
    """Passes over the ModelDeployment this process finished (its /metrics)."""
    prefix = "modelfleet_modeldeployment_passes_total{"
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in op.metrics().splitlines()
        if line.startswith(prefix) and f'name="{NAME}"' in line
    )


def rollout_with_pause(revision: str, pause: str) -> dict[str, Any]:
    md = canary_md(NAME, NS, revision=revision, replicas=REPLICAS)
    md["spec"]["rollout"]["canary"]["steps"] = [{"setWeight": 50}, {"pause": {"duration": pause}}]
    return md


def wait_at_pause(pair: Pair) -> dict[str, Any]:
    return dict(
        wait_for(
            lambda: (r := status_of(pair.reader, NS, NAME).get("rollout") or {}).get("step") == 1 and r,
            "the canary at its pause step",
            timeout=90,
        )
    )


def test_the_standby_takes_over_a_killed_leader_and_the_canary_resumes_with_the_time_left(pair: Pair) -> None:
    apply(pair.cluster, rollout_with_pause("r0", "20s"))
    wait_rolled_out(pair.reader, NS, NAME, "r0", REPLICAS, timeout=90)
    with InvariantChecker(pair.reader, (NS,)) as checker:
        patch_spec(pair.cluster, NS, NAME, {"model": {"revision": "r1"}})
        before = wait_at_pause(pair)
        leader = pair.holder()
        assert leader is not None
        killed = time.monotonic()
        pair.ops[leader].kill()
        new = pair.wait_holder(other_than=leader, timeout=LEASE_SECONDS + 10)
        failover = time.monotonic() - killed
        assert failover <= LEASE_SECONDS + RETRY_SECONDS + 1, f"took over after {failover:.1f}s"
        # The new leader's passes keep the step and its start: the pause ends when it would have.
        wait_for(lambda: passes(pair.ops[new]) >= 1, "a pass by the new leader", timeout=30)
        after = status_of(pair.reader, NS, NAME).get("rollout") or {}
        assert (after.get("step"), after.get("stepStartedAt")) == (1, before["stepStartedAt"]), after
        wait_rolled_out(pair.reader, NS, NAME, "r1", REPLICAS, timeout=90)
        assert pair.transitions() == 1, "the Lease changed hands more than once: leadership flapped"
        pause_ended = datetime.fromisoformat(before["stepStartedAt"].replace("Z", "+00:00")).timestamp() + 20
        assert time.time() >= pause_ended - 1, "the pause was cut short by the failover"
        checker.wait_quiet()
        checker.stop()
    print(f"\n[leader] kill -9 of {leader}: {new} holds the lease {failover:.2f}s later; {checker.summary()}")
    checker.assert_held()
    delete_md(pair.cluster, NS, NAME)


def test_a_leader_frozen_past_its_lease_writes_nothing_once_it_wakes(pair: Pair) -> None:
    apply(pair.cluster, rollout_with_pause("r0", "3s"))
    wait_rolled_out(pair.reader, NS, NAME, "r0", REPLICAS, timeout=90)
    with InvariantChecker(pair.reader, (NS,)) as checker:
        patch_spec(pair.cluster, NS, NAME, {"model": {"revision": "r1"}})
        wait_at_pause(pair)
        old = pair.holder()
        assert old is not None
        with stopped(pair.ops[old].pid):
            new = pair.wait_holder(other_than=old, timeout=LEASE_SECONDS + 10)
            took_over = wait_for(
                lambda: lease_writes(pair.cluster, new) and takeover_time(pair.cluster, old, new),
                "the takeover in the audit log",
            )
            # Frozen a while longer, so that passes are due when it wakes (timers overdue fire at once).
            time.sleep(2 * RETRY_SECONDS)
        woken = pair.ops[old]
        assert woken.proc is not None
        assert woken.proc.wait(timeout=RENEW_SECONDS + 15) == EXIT_LEASE_LOST, woken.log()[-3000:]
        late = writes_by(pair.cluster, old, since=took_over)
        assert late == [], f"{old} wrote after {new} took the lease over at {took_over}:\n" + "\n".join(late)
        wait_rolled_out(pair.reader, NS, NAME, "r1", REPLICAS, timeout=90)
        checker.wait_quiet()
        checker.stop()
    refused = woken.log().count("not the leader:")
    print(
        f"\n[leader] SIGSTOP of {old}: {new} took over; {refused} writes refused by the fence; {checker.summary()}"
    )
    checker.assert_held()
    pair.restart_exited()  # back as a standby: it must not take the Lease back
    assert pair.leaders() == 1
    assert pair.transitions() == 1, "the Lease changed hands more than once: leadership flapped"
    delete_md(pair.cluster, NS, NAME)


def test_both_processes_survive_an_api_server_restart_with_one_leader_at_the_end(pair: Pair) -> None:
    apply(pair.cluster, rollout_with_pause("r0", "3s"))
    wait_rolled_out(pair.reader, NS, NAME, "r0", REPLICAS, timeout=90)
    faults = Faults(pair.cluster)
    with InvariantChecker(pair.reader, (NS,)) as checker:
        patch_spec(pair.cluster, NS, NAME, {"model": {"revision": "r1"}})
        wait_at_pause(pair)
        took = faults.restart_apiserver(sig=signal.SIGTERM)
        restarted = pair.restart_exited()  # a leader whose renewals failed for its deadline exits
        holder = pair.wait_holder(timeout=LEASE_SECONDS + 30)
        wait_rolled_out(pair.reader, NS, NAME, "r1", REPLICAS, timeout=120)
        checker.wait_quiet()
        checker.stop()
    restarted += pair.restart_exited()  # one that was still shutting down after the first look
    print(
        f"\n[leader] apiserver down {took:.1f}s; restarted after losing the lease: {restarted or 'none'}; "
        f"{holder} leads; {checker.summary()}"
    )
    checker.assert_held()
    assert pair.leaders() == 1
    delete_md(pair.cluster, NS, NAME)


def test_failover_time_over_repeated_kills_of_the_leader(pair: Pair) -> None:
    kills = soak_or_ci(10, 3)
    seconds = []
    for _ in range(kills):
        leader = pair.holder()
        assert leader is not None
        killed = time.monotonic()
        pair.ops[leader].kill()
        pair.wait_holder(other_than=leader, timeout=LEASE_SECONDS + 10)
        seconds.append(time.monotonic() - killed)
        pair.ops[leader].start()  # back as the standby
    print(
        f"\n[leader] failover over {kills} kills (lease {LEASE_SECONDS:g}s, renew deadline {RENEW_SECONDS:g}s, "
        f"retry {RETRY_SECONDS:g}s): median {statistics.median(seconds):.2f}s, worst {max(seconds):.2f}s, "
        f"all {[round(s, 2) for s in seconds]}"
    )
    assert max(seconds) <= LEASE_SECONDS + RETRY_SECONDS + 1
