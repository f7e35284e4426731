"""Concurrent canaries: N ModelDeployments (2 replicas, replicas traffic provider) roll out a new model
revision at once through ``setWeight: 50`` then ``pause: 10s``, then promote.

From the watch on ModelDeployments each one's ``status.rollout.step`` transitions are timed on
arrival: step 0 (setWeight 50: the canary pod Ready and weight 50), step 1 (the pause), step 2
(promoting: the canary grows to 2 replicas, the old revision goes) and the end (the new revision is
``revisions.stable``). The pause's measured length against its configured 10 s shows how late the
operator wakes for a timer when N rollouts share its workers.
"""

from __future__ import annotations

import json
import tempfile
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from bench.clusters import ClusterSource, wait_quiet
from bench.converge import watching
from bench.environment import loadavg
from bench.kubeapi import kube_client
from bench.operator import BenchOperator
from bench.tracker import Tracker, ready
from bench.workload import Workload, create_model_deployments, make_namespaces, send_all, spec
from modelfleet import GROUP, KIND, VERSION

Key = tuple[str, str]
NEW_REVISION = "bench-v2"  # spec.model.revision: a new revision of the pods, hence a canary


@dataclass
class Timeline:
    """Arrival times of each step and of the end of one rollout (monotonic seconds)."""

    stable_before: str | None = None
    steps: dict[int, float] = field(default_factory=dict)
    done_at: float | None = None


@dataclass
class RolloutRun:
    count: int
    pause_seconds: float
    step_seconds: dict[str, list[float]]  # per step name: durations in seconds, one per ModelDeployment
    total_seconds: list[float]
    loadavg_at_start: tuple[float, float, float]

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


class Recorder:
    def __init__(self, keys: list[Key]) -> None:
        self.timelines = {k: Timeline() for k in keys}
        self.armed = threading.Event()

    def __call__(self, key: Key, obj: dict[str, Any], now: float) -> None:
        status = obj.get("status") or {}
        stable = (status.get("revisions") or {}).get("stable")
        line = self.timelines.get(key)
        if line is None:
            return
        if not self.armed.is_set():
            line.stable_before = stable
            return
        step = (status.get("rollout") or {}).get("step")
        if isinstance(step, int):
            line.steps.setdefault(step, now)
        if line.done_at is None and stable and stable != line.stable_before and not status.get("rollout"):
            line.done_at = now

    def finished(self) -> bool:
        return all(t.done_at is not None for t in self.timelines.values())


def step_durations(line: Timeline, started: float, pause_seconds: float) -> dict[str, float]:
    """setWeight (0 -> 1), pause (1 -> 2), promote (2 -> done) and the wait before step 0."""
    s, out = line.steps, {}
    if 0 in s:
        out["start"] = s[0] - started
    if 0 in s and 1 in s:
        out["setWeight 50"] = s[1] - s[0]
    if 1 in s and 2 in s:
        out[f"pause {pause_seconds:g}s"] = s[2] - s[1]
    if 2 in s and line.done_at is not None:
        out["promote"] = line.done_at - s[2]
    return out


def revision_patch(key: Key) -> tuple[Key, dict[str, Any]]:
    return key, {"spec": {"model": {"revision": NEW_REVISION}}}


def run_rollouts(
    clusters: ClusterSource, count: int, pause_seconds: int = 10, concurrency: int = 8
) -> RolloutRun:
    workload = Workload(
        count=count,
        namespaces=min(10, count),
        replicas=2,
        name_prefix="canary",
        namespace_prefix="bench-canary",
    )
    keys = workload.model_keys()
    with clusters() as cluster, tempfile.TemporaryDirectory() as tmp:
        make_namespaces(cluster, workload.namespace_names)
        kube = kube_client(cluster)
        operator = BenchOperator(cluster, Path(tmp), {"workers": concurrency}).start()
        try:
            tracker = Tracker(keys)
            recorder = Recorder(keys)
            tracker.listeners.append(recorder)
            with watching(cluster, tracker, model_deployments=True) as watches:
                errors = lambda: next((w.error for w in watches if w.error), None)  # noqa: E731
                create_model_deployments(
                    kube, workload, spec(2, canary_pause_seconds=pause_seconds), concurrency
                )
                tracker.wait(ready, 120 + 2 * count, errors=errors)
                wait_quiet(cluster)
                load = loadavg()
                recorder.armed.set()
                started = time.monotonic()
                send_all(
                    [revision_patch(k) for k in keys],
                    lambda kp: kube.patch(f"{GROUP}/{VERSION}", KIND, kp[0][0], kp[0][1], kp[1]),
                    concurrency,
                )
                deadline = time.monotonic() + 300 + 3 * count
                while not recorder.finished():
                    if time.monotonic() > deadline:
                        unfinished = [k for k, t in recorder.timelines.items() if t.done_at is None]
                        raise TimeoutError(
                            f"{len(unfinished)} rollouts unfinished, e.g. {unfinished[:3]}: "
                            + json.dumps(
                                kube.get(f"{GROUP}/{VERSION}", KIND, *unfinished[0]).get("status")
                                if unfinished
                                else None
                            )[:2000]
                        )
                    if errors():
                        raise RuntimeError(f"a watch failed: {errors()!r}")
                    time.sleep(0.5)
            per_step: dict[str, list[float]] = {}
            for line in recorder.timelines.values():
                for name, seconds in step_durations(line, started, pause_seconds).items():
                    per_step.setdefault(name, []).append(seconds)
            totals = [t.done_at - started for t in recorder.timelines.values() if t.done_at is not None]
            return RolloutRun(
                count=count,
                pause_seconds=pause_seconds,
                step_seconds=per_step,
                total_seconds=totals,
                loadavg_at_start=load,
            )
        finally:
            operator.stop()
