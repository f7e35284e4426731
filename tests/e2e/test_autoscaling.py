"""Autoscaling end to end: a real KEDA (operator and metrics API server) and the controller-manager's
real HPA controller, reading a real Prometheus that scrapes the simulated engines' queue gauges.

Load rises -> replicas grow to what the GPUs hold, ScalingLimited says the rest; load falls ->
replicas come down after the stabilisation window; idle -> zero after idleTimeout, and a cron window
brings a replica back; spec.autoscaling removed -> the ScaledObject and KEDA's HPA are gone and
spec.replicas stays; the operator killed while the autoscaler scales loses and doubles nothing. The
times from a load step to Ready replicas and from idle to zero are printed.

This module starts its own cluster with KEDA (``LocalCluster(keda=True)``) and its own operator.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from testbed.cluster import LocalCluster
from tests.e2e.api import Api
from tests.e2e.engine_exporter import Profile
from tests.e2e.helpers import Rig, canary_md, events, new_revision, running_rig, wait_status
from tests.integration.kube import apply, condition, get_json, get_or_none, wait_for
from tests.integration.test_operator import md

pytestmark = pytest.mark.cluster
NAMESPACES = ("e2e-scale", "e2e-zero", "e2e-canary-scale", "e2e-kill-scale")
# The fleet's MI300X node (8 GPUs) holds two replicas of 4 GPUs: the GPU limit of these tests.
HALF_MI300X = {"type": "MI300X", "gpusPerReplica": 4}
# Quick windows, so the test sees a whole curve in minutes (the defaults are minutes each).
QUICK = {
    "scaleUp": {"stabilizationWindow": "0s", "replicasPerStep": 4, "period": "15s"},
    "scaleDown": {"stabilizationWindow": "30s", "replicasPerStep": 1, "period": "15s"},
}
QUEUED = Profile(waiting=20)  # 20 waiting requests per pod: target 4 per replica wants 5 per pod
QUIET = Profile(requests_per_second=0.0, waiting=0)


@pytest.fixture(scope="module")
def rig(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Rig]:
    with (
        LocalCluster(keda=True, quiet=os.environ.get("MODELFLEET_TESTBED_QUIET") == "1") as cluster,
        running_rig(
            cluster, NAMESPACES, tmp_path_factory.mktemp("e2e-autoscaling"), default_profile=QUIET
        ) as started,
    ):
        yield started
    assert "KEDA on" in started.operator.log(), "the operator found KEDA's CRDs at start-up"


@pytest.fixture
def api(rig: Rig) -> Api:
    return Api(rig.cluster)


def scaling_limited(status: dict[str, Any]) -> dict[str, Any]:
    return condition({"status": status}, "ScalingLimited") or {}


def keda_ready(api: Api, ns: str, name: str) -> None:
    wait_status(
        api,
        ns,
        name,
        lambda s: "ScaledObject: Ready=True" in (s.get("autoscaling") or {}).get("message", ""),
        "KEDA Ready",
        120,
    )


def ready_replicas(count: int) -> Any:
    def check(status: dict[str, Any]) -> bool:
        return status.get("readyReplicas") == count and status.get("ready") == f"{count}/{count}"

    return check


def test_replicas_follow_the_queue_up_to_the_gpus_and_back_down(rig: Rig, api: Api) -> None:
    ns, name = "e2e-scale", "elastic"
    autoscaling = {"minReplicas": 1, "maxReplicas": 3, "behavior": QUICK}
    apply(
        rig.cluster,
        md(name, ns, "Qwen/Qwen3.5-9B", gpu="MI300X", accelerator=HALF_MI300X, autoscaling=autoscaling),
    )
    wait_status(api, ns, name, ready_replicas(1), "one replica Ready", timeout=120)
    scaled_object = wait_for(
        lambda: get_or_none(rig.cluster, "scaledobject", name, "-n", ns), "the ScaledObject", timeout=60
    )
    assert scaled_object["metadata"]["ownerReferences"][0]["kind"] == "ModelDeployment"
    keda_ready(api, ns, name)

    # Load rises: every pod reports 20 queued requests; the autoscaler asks for maxReplicas (3).
    began = time.monotonic()
    rig.exporter.set_namespace_default(ns, QUEUED)
    status = wait_status(api, ns, name, ready_replicas(2), "two replicas Ready", timeout=240)
    up_seconds = time.monotonic() - began
    status = wait_status(
        api,
        ns,
        name,
        lambda s: scaling_limited(s).get("reason") == "InsufficientCapacity",
        "ScalingLimited",
        120,
    )
    limited = scaling_limited(status)
    assert limited["status"] == "True"
    assert "asks for 3 replicas; the free GPUs hold 2" in limited["message"], limited
    assert status["autoscaling"]["desiredReplicas"] == 3 and status["autoscaling"]["placedReplicas"] == 2
    assert status["phase"] == "Healthy"
    assert api.md(ns, name)["spec"]["replicas"] == 3, "the autoscaler's count, written by KEDA's HPA"

    # Load falls: no queue; one replica goes after the 30 s window.
    began = time.monotonic()
    rig.exporter.set_namespace_default(ns, QUIET)
    wait_status(
        api, ns, name, lambda s: s.get("replicas") == 1 and s.get("readyReplicas") == 1, "one replica", 240
    )
    down_seconds = time.monotonic() - began
    assert down_seconds >= 30, "not before the scale-down stabilisation window"
    print(
        f"\n[autoscaling] load step to 2 replicas Ready: {up_seconds:.1f} s; load gone to 1 replica: {down_seconds:.1f} s"
    )

    # Autoscaling removed: the ScaledObject and KEDA's HPA are deleted; spec.replicas stays.
    replicas = api.md(ns, name)["spec"]["replicas"]
    rig.cluster.kubectl(
        "patch", "md", name, "-n", ns, "--type=json", "-p", '[{"op":"remove","path":"/spec/autoscaling"}]'
    )
    wait_for(
        lambda: get_or_none(rig.cluster, "scaledobject", name, "-n", ns) is None,
        "ScaledObject gone",
        timeout=60,
    )
    wait_for(
        lambda: (
            not (get_or_none(rig.cluster, "hpa", "-n", ns, "-l", f"modelfleet.io/name={name}") or {}).get(
                "items"
            )
        ),
        "KEDA's HPA gone",
        timeout=60,
    )
    final = api.md(ns, name)
    assert final["spec"]["replicas"] == replicas
    assert "autoscaling" not in final["status"] and not scaling_limited(final["status"])
    rig.cluster.kubectl("delete", "md", name, "-n", ns, "--wait=true", "--timeout=60s")


def test_an_idle_model_scales_to_zero_and_a_cron_window_brings_it_back(rig: Rig, api: Api) -> None:
    ns, name = "e2e-zero", "nightly"
    # KEDA scales a ScaledObject that has never been active to zero at once, and a model at zero
    # exports no engine metrics to wake it (docs/autoscaling.md): start busy at minReplicas 1, and turn
    # scale to zero on once KEDA has seen the load.
    rig.exporter.set_namespace_default(ns, QUEUED)
    autoscaling = {"minReplicas": 1, "maxReplicas": 2, "behavior": QUICK}
    apply(
        rig.cluster,
        md(name, ns, "Qwen/Qwen3.5-9B", gpu="MI300X", accelerator=HALF_MI300X, autoscaling=autoscaling),
    )
    wait_status(
        api, ns, name, lambda s: (s.get("readyReplicas") or 0) >= 1, "serving under load", timeout=180
    )
    wait_for(
        lambda: ((get_or_none(rig.cluster, "scaledobject", name, "-n", ns) or {}).get("status") or {}).get(
            "lastActiveTime"
        ),
        "KEDA has seen the load (the ScaledObject's lastActiveTime)",
        timeout=180,
    )
    patch = {"spec": {"autoscaling": {"minReplicas": 0, "idleTimeout": "20s"}}}
    rig.cluster.kubectl("patch", "md", name, "-n", ns, "--type=merge", "-p", json.dumps(patch))
    wait_for(
        lambda: (
            (get_or_none(rig.cluster, "scaledobject", name, "-n", ns) or {})
            .get("spec", {})
            .get("cooldownPeriod")
            == 20
        ),
        "the ScaledObject with cooldownPeriod 20",
        timeout=60,
    )
    rig.exporter.set_namespace_default(ns, QUIET)
    idle_from = time.monotonic()
    status = wait_status(
        api, ns, name, lambda s: s.get("replicas") == 0 and s.get("phase") == "Healthy", "scaled to zero", 240
    )
    zero_seconds = time.monotonic() - idle_from
    assert zero_seconds >= 20, "not before idleTimeout"
    assert api.md(ns, name)["spec"]["replicas"] == 0
    assert (condition({"status": status}, "Ready") or {}).get("reason") == "ScaledToZero"
    assert all(d["spec"]["replicas"] == 0 for d in api.deployments(ns, name).values())

    # A cron window from the next minute brings one replica back.
    now = datetime.now(UTC)
    start, end = now + timedelta(minutes=1), now + timedelta(minutes=5)
    window = {
        "timezone": "UTC",
        "start": f"{start.minute} {start.hour} * * *",
        "end": f"{end.minute} {end.hour} * * *",
        "replicas": 1,
    }
    rig.cluster.kubectl(
        "patch",
        "md",
        name,
        "-n",
        ns,
        "--type=merge",
        "-p",
        json.dumps({"spec": {"autoscaling": {"cron": [window]}}}),
    )
    cron_from = time.monotonic()
    wait_status(api, ns, name, ready_replicas(1), "one replica Ready in the cron window", timeout=240)
    cron_seconds = time.monotonic() - cron_from
    print(
        f"\n[autoscaling] load gone to zero replicas with idleTimeout 20s: {zero_seconds:.1f} s; "
        f"cron window set to 1 replica Ready: {cron_seconds:.1f} s (the window starts within a minute)"
    )
    rig.cluster.kubectl("delete", "md", name, "-n", ns, "--wait=true", "--timeout=60s")


def test_a_canary_keeps_its_step_while_the_autoscaler_changes_the_count(rig: Rig, api: Api) -> None:
    """At an untimed pause after setWeight 50 (replica ratio, swap), the load doubles the count from 2
    to 4: both revisions grow to 2, the step and its start time stay, no step is skipped; then the
    canary is promoted at the autoscaler's count."""
    ns, name = "e2e-canary-scale", "canary-scale"
    body = canary_md(
        name,
        ns,
        steps=[{"setWeight": 50}, {"pause": {}}],
        replicas=2,
        gpu="L4",
        capacity="swap",
        routing={"provider": "replicas"},
    )
    body["spec"]["autoscaling"] = {"minReplicas": 2, "maxReplicas": 4, "behavior": QUICK}
    apply(rig.cluster, body)
    status = wait_status(api, ns, name, ready_replicas(2), "two stable replicas Ready", timeout=120)
    stable = status["revisions"]["stable"]
    new_revision(rig.cluster, ns, name)
    at_pause = wait_status(
        api,
        ns,
        name,
        lambda s: (s.get("rollout") or {}).get("step") == 1 and s.get("phase") == "Paused",
        "paused",
        120,
    )
    started = at_pause["rollout"]["stepStartedAt"]
    canary = at_pause["revisions"]["canary"]

    rig.exporter.set_namespace_default(ns, QUEUED)
    grown = api.wait_deployments(
        ns,
        name,
        lambda d: (
            {r: (x["spec"]["replicas"], (x.get("status") or {}).get("readyReplicas")) for r, x in d.items()}
            == {stable: (2, 2), canary: (2, 2)}
        ),
        timeout=240,
    )
    assert set(grown) == {stable, canary}
    status = api.status(ns, name)
    assert api.md(ns, name)["spec"]["replicas"] == 4
    assert status["rollout"]["step"] == 1 and status["rollout"]["stepStartedAt"] == started
    assert status["phase"] == "Paused"
    steps = [e["message"] for e in events(api, ns, name) if e["reason"] == "RolloutStep"]
    assert len(steps) == 1, steps  # setWeight 50 done once; the pause is not skipped

    rig.cluster.kubectl("annotate", "md", name, "-n", ns, "modelfleet.io/action=promote", "--overwrite")
    done = wait_status(
        api,
        ns,
        name,
        # A swap promotion starts the canary's last pod once the old stable is gone: the status
        # passes through a moment with 3 of 4 ready before Healthy.
        lambda s: (
            (s.get("revisions") or {}).get("stable") == canary
            and s.get("ready") == "4/4"
            and s.get("phase") == "Healthy"
        ),
        "the canary promoted at the autoscaler's count",
        timeout=240,
    )
    assert api.md(ns, name)["spec"]["replicas"] == 4 and done["replicas"] == 4
    rig.exporter.set_namespace_default(ns, QUIET)
    rig.cluster.kubectl("delete", "md", name, "-n", ns, "--wait=true", "--timeout=60s")


def test_an_operator_killed_while_the_autoscaler_scales_loses_and_doubles_nothing(rig: Rig, api: Api) -> None:
    """KEDA's HPA writes spec.replicas; the operator dies by SIGKILL at that moment, before it acts on
    it. Restarted, it places every asked replica once: one workload, one pod per replica, one
    ScaledObject and one HPA, and spec.replicas stays the autoscaler's."""
    ns, name = "e2e-kill-scale", "kill-scale"
    autoscaling = {"minReplicas": 1, "maxReplicas": 3, "behavior": QUICK}
    apply(rig.cluster, md(name, ns, "Qwen/Qwen3.5-9B", gpu="L4", autoscaling=autoscaling))
    wait_status(api, ns, name, ready_replicas(1), "one replica Ready", timeout=120)
    keda_ready(api, ns, name)

    rig.exporter.set_namespace_default(ns, QUEUED)
    wait_for(
        lambda: api.md(ns, name)["spec"]["replicas"] == 3, "the autoscaler's count in spec.replicas", 240
    )
    rig.operator.kill()
    rig.operator.start()

    status = wait_status(
        api, ns, name, ready_replicas(3), "three replicas Ready after the restart", timeout=240
    )
    deployments = api.deployments(ns, name)
    assert [d["spec"]["replicas"] for d in deployments.values()] == [3], deployments.keys()
    pods = get_json(rig.cluster, "pods", "-n", ns, "-l", f"modelfleet.io/name={name}")["items"]
    assert len(pods) == 3, [p["metadata"]["name"] for p in pods]
    scaled = get_json(rig.cluster, "scaledobjects", "-n", ns)["items"]
    hpas = get_json(rig.cluster, "hpa", "-n", ns)["items"]
    assert [o["metadata"]["name"] for o in scaled] == [name] and len(hpas) == 1
    assert api.md(ns, name)["spec"]["replicas"] == 3
    assert status["autoscaling"]["desiredReplicas"] == 3 and status["autoscaling"]["placedReplicas"] == 3
    rig.exporter.set_namespace_default(ns, QUIET)
    rig.cluster.kubectl("delete", "md", name, "-n", ns, "--wait=true", "--timeout=60s")
