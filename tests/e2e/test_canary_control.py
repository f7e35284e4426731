"""Canary rollouts under control and under stress: an operator killed mid-pause, a newer revision
mid-canary, manual promote / abort / retry through the annotation, the replicas traffic provider."""

from __future__ import annotations

import re
import time
from typing import Any

import pytest

from testbed.wait import wait_for
from tests.e2e.api import Api
from tests.e2e.helpers import (
    Rig,
    Sampler,
    aborted,
    assert_back_on_stable,
    epoch,
    events,
    new_revision,
    patch_spec,
    promoted_from,
    report,
    start_stable,
    wait_past,
    wait_status,
)
from tests.integration.kube import passes, wait_for_a_whole_pass

pytestmark = pytest.mark.cluster
ACTION = "modelfleet.io/action"
L4_NODES = ("gpu-l4-0", "gpu-l4-1")
UNTIMED = [{"setWeight": 25}, {"pause": {}}]


def annotate(rig: Rig, namespace: str, name: str, action: str) -> None:
    rig.cluster.kubectl("annotate", f"md/{name}", "-n", namespace, f"{ACTION}={action}", "--overwrite")


def annotation_cleared(api: Api, namespace: str, name: str) -> bool:
    return ACTION not in (api.md(namespace, name)["metadata"].get("annotations") or {})


def test_pause_freezes_a_timed_pause_and_resume_gives_back_the_time_left(
    rig: Rig, api: Api, cleanup: list[tuple[str, str]]
) -> None:
    ns, name, pause_seconds = "e2e-pause", "pause", 8
    cleanup.append((ns, name))
    steps = [{"setWeight": 25}, {"pause": {"duration": f"{pause_seconds}s"}}, {"setWeight": 50}]
    stable = start_stable(rig, api, ns, name, steps=steps)
    with Sampler(api, ns, name) as sampler:
        began = time.monotonic()
        new_revision(rig.cluster, ns, name)
        timed = wait_status(
            api, ns, name, lambda s: (s.get("rollout") or {}).get("step") == 1, "the timed pause"
        )
        pause_sent = time.monotonic()
        annotate(rig, ns, name, "pause")
        paused = wait_status(api, ns, name, lambda s: s.get("phase") == "Paused", "paused by the annotation")
        assert annotation_cleared(api, ns, name)
        # Past the moment the pause step would have ended, and a whole pass after it: it did not end.
        wait_past(timed["rollout"]["stepStartedAt"], pause_seconds, "the end the pause step would have had")
        wait_for_a_whole_pass(rig.operator, ns, name)
        held = api.status(ns, name)
        held_seconds = time.monotonic() - pause_sent
        annotate(rig, ns, name, "resume")
        resumed = wait_status(
            api, ns, name, lambda s: s.get("phase") != "Paused", "resumed by the annotation"
        )
        assert annotation_cleared(api, ns, name)
        status = wait_status(api, ns, name, promoted_from(stable), "canary promoted", timeout=60)
        took = time.monotonic() - began
    report(sampler, "pause and resume by annotation mid-pause, patch to promotion", took)
    assert not sampler.violations, sampler.violations
    assert held["phase"] == "Paused" and held["rollout"]["step"] == 1, held["rollout"]
    assert held["rollout"]["pausedAt"] == paused["rollout"]["pausedAt"]
    assert [c["reason"] for c in held["conditions"] if c["type"] == "Progressing"] == ["RolloutPaused"]
    route = {
        (s.route or {}).get(f"{name}-{stable}") for s in sampler.samples if s.phase == "Paused" and s.route
    }
    assert route == {75}, "the canary keeps its weight while paused"
    # Resume moves stepStartedAt forward by the paused time (whole seconds), so the step keeps what it had left.
    shifted = epoch(resumed["rollout"]["stepStartedAt"]) - epoch(timed["rollout"]["stepStartedAt"])
    assert held_seconds - 2 <= shifted <= held_seconds + 6, (
        held_seconds,
        timed["rollout"],
        resumed["rollout"],
    )
    assert resumed["rollout"]["step"] == 1 and "pausedAt" not in resumed["rollout"], resumed["rollout"]
    assert took >= pause_seconds + shifted - 1, sampler.timeline()
    assert status["revisions"]["stable"] != stable


def test_a_pause_in_the_spec_holds_as_a_level_until_it_is_removed_and_resumed(
    rig: Rig, api: Api, cleanup: list[tuple[str, str]]
) -> None:
    """The GitOps way: `spec.rollout.action: pause` committed mid-canary. An annotation cannot
    outvote it; once it is gone from the spec, `resume` continues the canary."""
    ns, name = "e2e-level", "level"
    cleanup.append((ns, name))
    steps = [{"setWeight": 25}, {"pause": {"duration": "6s"}}, {"setWeight": 50}]
    stable = start_stable(rig, api, ns, name, steps=steps)

    def paused(s: dict[str, Any]) -> bool:
        return s.get("phase") == "Paused" and bool((s.get("rollout") or {}).get("pausedAt"))

    with Sampler(api, ns, name) as sampler:
        began = time.monotonic()
        new_revision(rig.cluster, ns, name)
        wait_status(api, ns, name, lambda s: (s.get("rollout") or {}).get("step") == 1, "the timed pause")
        patch_spec(rig.cluster, ns, name, {"rollout": {"action": "pause"}})
        wait_status(api, ns, name, paused, "paused by the spec")
        annotate(rig, ns, name, "resume")  # the pass after it sees the standing pause again
        wait_for(lambda: annotation_cleared(api, ns, name), "the resume annotation consumed")
        # Past the end the step's own pause would have had, and a whole pass after it: nothing moves
        # while the spec says pause.
        wait_for_a_whole_pass(rig.operator, ns, name)
        step_started_at = api.status(ns, name)["rollout"]["stepStartedAt"]
        wait_past(step_started_at, 6, "the end of the step's own pause")
        wait_for_a_whole_pass(rig.operator, ns, name)
        held = api.status(ns, name)
        patch_spec(rig.cluster, ns, name, {"rollout": {"action": ""}})
        annotate(rig, ns, name, "resume")
        status = wait_status(
            api, ns, name, promoted_from(stable), "promoted after the spec let go", timeout=60
        )
        took = time.monotonic() - began
    report(sampler, "pause held by the spec, then removed and resumed, patch to promotion", took)
    assert not sampler.violations, sampler.violations
    assert paused(held) and held["rollout"]["step"] == 1, held["rollout"]
    assert held["rollout"]["stepStartedAt"] == step_started_at, held["rollout"]
    assert status["revisions"]["stable"] != stable
    control = [
        (e["reason"], int(e.get("count") or 1))
        for e in events(api, ns, name, until={"RolloutComplete"})
        if e["reason"] in ("RolloutPaused", "RolloutResumed")
    ]
    # Paused by the spec, resumed by the annotation, paused again by the spec, resumed for good: the
    # repeats are counted on the first Event of each cause (an events series), not posted again.
    assert control == [("RolloutPaused", 2), ("RolloutResumed", 2)], control


def test_an_operator_killed_mid_pause_resumes_the_same_step_with_the_time_left(
    rig: Rig, api: Api, cleanup: list[tuple[str, str]]
) -> None:
    ns, name, pause_seconds = "e2e-restart", "restart", 20
    cleanup.append((ns, name))
    steps = [{"setWeight": 25}, {"pause": {"duration": f"{pause_seconds}s"}}, {"setWeight": 50}]
    stable = start_stable(rig, api, ns, name, steps=steps)
    with Sampler(api, ns, name) as sampler:
        began = time.monotonic()
        new_revision(rig.cluster, ns, name)
        paused = wait_status(
            api, ns, name, lambda s: (s.get("rollout") or {}).get("step") == 1, "the pause step"
        )
        started_at = paused["rollout"]["stepStartedAt"]
        rig.operator.kill()  # SIGKILL: no clean shutdown, nothing flushed; returns once it is gone
        rig.operator.start()
        # The restarted process counts from 0: its first pass of the object is done, writes and all.
        wait_for(
            lambda: passes(rig.operator, ns, name) >= 1,
            "the restarted operator's first pass",
            timeout=30,
            interval=0.2,
        )
        after = api.status(ns, name)
        assert after["rollout"]["step"] == 1 and after["rollout"]["stepStartedAt"] == started_at
        status = wait_status(api, ns, name, promoted_from(stable), "canary promoted", timeout=60)
        took = time.monotonic() - began
    report(sampler, "operator killed mid-pause, patch to promotion", took)
    assert not sampler.violations, sampler.violations
    first_paused = next(i for i, s in enumerate(sampler.samples) if s.step == 1)
    left_pause = next(s.at for s in sampler.samples[first_paused:] if s.step != 1)
    # The pause ends at stepStartedAt + duration (the timestamp has whole seconds, the sampler 0.3 s).
    assert pause_seconds - 0.5 <= left_pause - epoch(started_at) <= pause_seconds + 5, sampler.timeline()
    reasons = [e["reason"] for e in events(api, ns, name, until={"RolloutComplete"})]
    assert reasons.count("NewRevision") == 1, "the restarted operator did not start the canary again"
    assert status["revisions"]["stable"] != stable


def test_a_newer_revision_mid_canary_restarts_the_canary_with_it(
    rig: Rig, api: Api, cleanup: list[tuple[str, str]]
) -> None:
    ns, name = "e2e-newer", "newer"
    cleanup.append((ns, name))
    stable = start_stable(rig, api, ns, name, steps=UNTIMED)
    with Sampler(api, ns, name) as sampler:
        began = time.monotonic()
        new_revision(rig.cluster, ns, name)
        first = wait_status(api, ns, name, lambda s: s.get("phase") == "Paused", "first canary at its pause")
        first_canary = first["revisions"]["canary"]
        assert api.route_weights(ns, name) == {f"{name}-{stable}": 75, f"{name}-{first_canary}": 25}
        new_revision(rig.cluster, ns, name)
        second = wait_status(
            api,
            ns,
            name,
            lambda s: s.get("phase") == "Paused" and s["revisions"]["canary"] != first_canary,
            "second canary at its pause",
        )
        took = time.monotonic() - began
        second_canary = second["revisions"]["canary"]
        api.wait_deployments(ns, name, lambda d: first_canary not in d)
    report(sampler, "newer revision mid-canary, first patch to the second canary's pause", took)
    assert not sampler.violations, sampler.violations
    assert api.route_weights(ns, name) == {f"{name}-{stable}": 75, f"{name}-{second_canary}": 25}
    assert set(api.deployments(ns, name)) == {stable, second_canary}
    # The old canary left the split before the newer one got any traffic.
    for sample in sampler.samples:
        assert not (
            sample.route and {f"{name}-{first_canary}", f"{name}-{second_canary}"} <= set(sample.route)
        ), sampler.timeline()
    [restart] = [
        e["message"]
        for e in events(api, ns, name)
        if e["reason"] == "NewRevision" and second_canary in e["message"]
    ]
    assert f"replaces canary {first_canary}" in restart


def test_manual_promote_abort_and_retry_through_the_annotation(
    rig: Rig, api: Api, cleanup: list[tuple[str, str]]
) -> None:
    ns, name = "e2e-manual", "manual"
    cleanup.append((ns, name))
    stable = start_stable(rig, api, ns, name, steps=UNTIMED)
    with Sampler(api, ns, name) as sampler:
        new_revision(rig.cluster, ns, name)
        wait_status(api, ns, name, lambda s: s.get("phase") == "Paused", "canary paused (untimed pause)")
        began = time.monotonic()
        annotate(rig, ns, name, "promote")
        promoted = wait_status(api, ns, name, promoted_from(stable), "promoted by the annotation")
        took_promote = time.monotonic() - began
        assert annotation_cleared(api, ns, name)
        stable = promoted["revisions"]["stable"]

        new_revision(rig.cluster, ns, name)
        paused = wait_status(api, ns, name, lambda s: s.get("phase") == "Paused", "second canary paused")
        canary = paused["revisions"]["canary"]
        began = time.monotonic()
        annotate(rig, ns, name, "abort")
        status = wait_status(api, ns, name, aborted("RolloutAborted"), "aborted by the annotation")
        assert_back_on_stable(api, ns, name, stable, canary)
        took_abort = time.monotonic() - began
        assert annotation_cleared(api, ns, name)
        assert status["rollout"]["abortReason"].startswith("RolloutAborted: abort requested")

        annotate(rig, ns, name, "retry")
        retried = wait_status(
            api, ns, name, lambda s: s.get("phase") == "Paused", "retried canary paused again"
        )
        assert retried["revisions"]["canary"] == canary and "abortReason" not in retried["rollout"]
        assert annotation_cleared(api, ns, name)
    print(f"\n[e2e] promote by annotation: {took_promote:.1f}s; abort by annotation: {took_abort:.1f}s")
    report(sampler, "manual control", took_promote + took_abort)
    assert not sampler.violations, sampler.violations
    expected = {"RolloutPromoted", "RolloutAborted", "RolloutRetried"}
    assert expected <= {e["reason"] for e in events(api, ns, name, until=expected)}


def test_swap_gives_the_canary_the_stables_gpus_one_replica_at_a_time(
    rig: Rig, api: Api, cleanup: list[tuple[str, str]]
) -> None:
    """Both L4 nodes are full with the stable (2 replicas x 4 GPUs): a surge canary could never
    start, so swap shrinks the stable first, then moves one replica at a time."""
    ns, name = "e2e-swap", "swap"
    cleanup.append((ns, name))
    l4 = set(L4_NODES)
    wait_for(
        lambda: (
            not [
                p
                for p in rig.cluster.kubectl(
                    "get", "pods", "-A", "-o", "jsonpath={.items[*].spec.nodeName}"
                ).stdout.split()
                if p in l4
            ]
        ),
        "the L4 nodes free of earlier tests' pods",
        timeout=60,
    )
    stable = start_stable(
        rig,
        api,
        ns,
        name,
        steps=[{"setWeight": 50}, {"pause": {"duration": "3s"}}],
        replicas=2,
        gpu="L4",
        gpus_per_replica=4,
        capacity="swap",
    )
    with Sampler(api, ns, name) as sampler:
        began = time.monotonic()
        new_revision(rig.cluster, ns, name)
        status = wait_status(api, ns, name, promoted_from(stable), "promoted by swapping", timeout=120)
        took = time.monotonic() - began
        canary = status["revisions"]["stable"]
        final = api.wait_deployments(ns, name, lambda d: set(d) == {canary})
    report(sampler, "swap capacity on full nodes, patch to promotion", took)
    assert not sampler.violations, sampler.violations
    assert final[canary]["spec"]["replicas"] == 2
    canary_up = next(s for s in sampler.samples if s.replicas.get(canary, (0, 0))[1] >= 1)
    assert canary_up.replicas[stable][0] == 1, f"the stable gave up one replica first\n{sampler.timeline()}"
    while_both = [s for s in sampler.samples if stable in s.replicas and canary in s.replicas]
    assert all(
        s.replicas[stable][0] >= 1 for s in while_both if (s.route or {}).get(f"{name}-{stable}", 0) > 0
    ), "the stable keeps a replica while it has traffic"
    assert all(s.replicas[stable][0] + s.replicas[canary][0] <= 3 for s in while_both), sampler.timeline()
    assert 50 in {(s.route or {}).get(f"{name}-{canary}", 0) for s in sampler.samples}, sampler.timeline()


def test_the_replicas_provider_splits_by_replica_ratio_and_says_so(
    rig: Rig, api: Api, cleanup: list[tuple[str, str]]
) -> None:
    ns, name = "e2e-ratio", "ratio"
    cleanup.append((ns, name))
    steps = [{"setWeight": 50}, {"pause": {}}]
    stable = start_stable(rig, api, ns, name, steps=steps, replicas=4, routing={"provider": "replicas"})
    with Sampler(api, ns, name) as sampler:
        began = time.monotonic()
        new_revision(rig.cluster, ns, name)
        paused = wait_status(api, ns, name, lambda s: s.get("phase") == "Paused", "canary at 50% (paused)")
        canary = paused["revisions"]["canary"]
        deployments = api.deployments(ns, name)
        assert deployments[canary]["spec"]["replicas"] == 2, "50% of 4 replicas"
        assert deployments[stable]["spec"]["replicas"] == 4, "surge: the stable keeps its replicas"
        assert re.fullmatch(
            r"replica ratio: steps of \d+% \(weights are approximate\)", paused["rollout"]["granularity"]
        )
        assert paused["rollout"]["weight"] == 50
        annotate(rig, ns, name, "promote")
        wait_status(api, ns, name, promoted_from(stable), "promoted")
        took = time.monotonic() - began
        final = api.wait_deployments(ns, name, lambda d: set(d) == {canary})
    report(sampler, "replicas provider, patch to promotion (with a manual promote)", took)
    assert not sampler.violations, sampler.violations
    assert final[canary]["spec"]["replicas"] == 4
    assert api.route_weights(ns, name) is None, "no HTTPRoute with the replicas provider"


def test_an_action_while_the_spec_is_invalid_is_refused_not_kept_for_after_the_fix(
    rig: Rig, api: Api, cleanup: list[tuple[str, str]]
) -> None:
    ns, name = "e2e-refuse", "refuse"
    cleanup.append((ns, name))
    stable = start_stable(rig, api, ns, name, steps=UNTIMED)
    new_revision(rig.cluster, ns, name)
    waiting = wait_status(
        api, ns, name, lambda s: s.get("phase") == "Paused", "the canary waits for a promote"
    )
    canary = waiting["revisions"]["canary"]
    # An analysis template no one defined: the API server takes it, the operator refuses the spec.
    broken = [{"setWeight": 25}, {"analysis": {"templates": ["no-such-template"]}}]
    patch_spec(rig.cluster, ns, name, {"rollout": {"canary": {"steps": broken}}})
    wait_status(api, ns, name, lambda s: s.get("phase") == "Failed", "the invalid spec reported")
    annotate(rig, ns, name, "promote")
    wait_for(lambda: annotation_cleared(api, ns, name), "the promote annotation removed")
    [refusal] = [e for e in events(api, ns, name, until={"ActionRefused"}) if e["reason"] == "ActionRefused"]
    assert refusal["type"] == "Warning" and "promote" in refusal["message"], refusal
    assert "no-such-template" in refusal["message"], refusal["message"]
    generation = api.md(ns, name)["metadata"]["generation"]
    patch_spec(rig.cluster, ns, name, {"rollout": {"canary": {"steps": UNTIMED}}})
    fixed = wait_status(
        api,
        ns,
        name,
        lambda s: s.get("observedGeneration", 0) > generation and s.get("phase") == "Paused",
        "the fixed spec back at its pause",
    )
    assert fixed["revisions"] == {"stable": stable, "canary": canary}, "the refused promote never fired"
