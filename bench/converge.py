"""Converge N ModelDeployments, against a direct client creating the same children (the baseline).

Both runs watch Deployments and Services the same way; the clock starts before the first write and
stops when the watch has shown every child (and, for the operator, a status with the current
``observedGeneration``). API requests are counted from the API server's ``apiserver_request_total``
between the start and the moment everything settled (every pod Ready and, for the operator, no
reconcile for a few seconds).

With ``steady_seconds``, the operator run then stays idle-but-watching for that long and counts every
write made in the window: an unchanged ModelDeployment should cost no write at all.
"""

from __future__ import annotations

import contextlib
import tempfile
import time
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from bench.clusters import HEARTBEAT_RESOURCES, ClusterSource, wait_quiet
from bench.environment import loadavg
from bench.kubeapi import RequestKey, Watch, delta, kube_client, scrape_requests, writes
from bench.operator import BenchOperator
from bench.profile import profiled
from bench.stats import percentile
from bench.tracker import Tracker, children_done, converged, pods_ready, ready
from bench.workload import (
    Workload,
    apply_children,
    create_children,
    create_model_deployments,
    make_namespaces,
    rendered_children,
    same_work,
    spec,
)
from modelfleet import GROUP, KIND, VERSION
from testbed.cluster import LocalCluster

OURS = "app.kubernetes.io/managed-by=modelfleet"
BASELINE_MODES = {"apply": "baseline", "create": "baseline-create", "same-work": "baseline-same-work"}


@dataclass
class SteadyState:
    seconds: float
    reconciles: int
    cpu_seconds: float
    peak_rss_bytes: int
    writes: dict[str, int]  # "VERB resource[/sub]" -> count, kwok's heartbeats excluded
    requests: dict[str, int]


@dataclass
class ConvergeRun:
    mode: str  # "operator" | "baseline" | "baseline-create" | "baseline-same-work"
    count: int
    replicas: int
    concurrency: int
    seconds: float  # start -> every child there (operator: and observedGeneration current)
    pods_ready_seconds: float | None  # start -> every Deployment has its replicas Ready
    ready_seconds: float | None = None  # operator: start -> every ModelDeployment Ready=True
    create_seconds: float = 0.0  # how long the client took to send its writes
    requests: dict[str, int] = field(default_factory=dict)  # start -> settled
    # operator: its own Event requests when settled, read from the Events themselves (POSTs + counted repeats)
    own_events: int | None = None
    reconciles: int | None = None  # start -> settled (resync passes included once N takes over a minute)
    reconciles_to_converge: int | None = None
    reconcile_errors: int | None = None
    cpu_seconds: float | None = None  # operator CPU, start -> settled
    cpu_seconds_to_converge: float | None = None
    peak_rss_bytes: int | None = None  # operator VmHWM when settled
    idle_rss_bytes: int | None = None  # operator RSS before the first ModelDeployment
    steady: SteadyState | None = None
    loadavg_at_start: tuple[float, float, float] = (0.0, 0.0, 0.0)
    what_if: str = ""  # patches applied to the operator for this pair of runs (bench/whatif.py)
    spread_seconds: dict[str, float] = field(default_factory=dict)  # p10/p50/p90 of each one's converge time

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def request_table(counts: Counter[RequestKey]) -> dict[str, int]:
    """``{"PATCH modeldeployments/status": 1000, ...}`` (requests without a resource, like /metrics, dropped)."""
    return {
        f"{verb} {resource}{'/' + sub if sub else ''}": n
        for (verb, resource, sub), n in sorted(counts.items())
        if resource
    }


@contextlib.contextmanager
def watching(cluster: LocalCluster, tracker: Tracker, model_deployments: bool) -> Iterator[list[Watch]]:
    watches = [
        Watch(cluster, "/apis/apps/v1/deployments", tracker.on_child("Deployment"), OURS),
        Watch(cluster, "/api/v1/services", tracker.on_child("Service"), OURS),
    ]
    if model_deployments:
        watches.append(
            Watch(cluster, "/apis/modelfleet.io/v1alpha1/modeldeployments", tracker.on_model_deployment)
        )
    try:
        for w in watches:
            w.start()
        yield watches
    finally:
        for w in watches:
            w.stop()


def first_error(watches: list[Watch]) -> BaseException | None:
    return next((w.error for w in watches if w.error is not None), None)


def timeout_for(count: int) -> float:
    return 120 + 1.0 * count


def spread(tracker: Tracker, done: Any, started: float) -> dict[str, float]:
    """When the 10th, 50th and 90th percentile ModelDeployment converged: a uniform crawl or a long tail."""
    times = sorted(t - started for t in (done(p) for p in tracker.progress.values()) if t is not None)
    return {f"p{q}": percentile(times, q) for q in (10, 50, 90)} if times else {}


def _pods_ready_at(
    tracker: Tracker, watches: list[Watch], replicas: int, timeout_seconds: float
) -> float | None:
    if replicas == 0:
        return None
    return tracker.wait(pods_ready, timeout_seconds, errors=lambda: first_error(watches))


def run_operator(
    clusters: ClusterSource,
    workload: Workload,
    concurrency: int,
    steady_seconds: float = 0,
    verbose: bool = False,
    what_if: str = "",
    profile_to: Path | None = None,
) -> ConvergeRun:
    """With ``profile_to``, py-spy samples the operator from the first create until settled."""
    body = spec(workload.replicas)
    with clusters() as cluster, tempfile.TemporaryDirectory() as tmp:
        make_namespaces(cluster, workload.namespace_names)
        kube = kube_client(cluster)
        operator = BenchOperator(
            cluster, Path(tmp), {"workers": concurrency}, verbose=verbose, what_if=what_if
        ).start()
        try:
            tracker = Tracker(workload.model_keys())
            with watching(cluster, tracker, model_deployments=True) as watches:
                operator.wait_quiet()
                load, idle_rss = loadavg(), operator.usage().rss_bytes
                before, cpu_before = scrape_requests(cluster), operator.usage().cpu_seconds
                reconciles_before = operator.reconciles()
                with profiled(operator.pid, profile_to):
                    started = time.monotonic()
                    create_model_deployments(kube, workload, body, concurrency)
                    created = time.monotonic()
                    timeout = timeout_for(workload.count)
                    converged_at = tracker.wait(converged, timeout, errors=lambda: first_error(watches))
                    cpu_converged = operator.usage().cpu_seconds
                    reconciles_converged = operator.reconciles()
                    pods_at = _pods_ready_at(tracker, watches, workload.replicas, timeout)
                    ready_at = tracker.wait(ready, timeout, errors=lambda: first_error(watches))
                    wait_quiet(cluster, timeout_seconds=timeout)
                reconciles = operator.reconciles() - reconciles_before
                after, usage = scrape_requests(cluster), operator.usage()
                own_events = operator_event_requests(kube, workload.namespace_names)
                run = ConvergeRun(
                    mode="operator",
                    count=workload.count,
                    replicas=workload.replicas,
                    concurrency=concurrency,
                    seconds=converged_at - started,
                    create_seconds=created - started,
                    pods_ready_seconds=None if pods_at is None else pods_at - started,
                    ready_seconds=ready_at - started,
                    requests=request_table(delta(after, before)),
                    own_events=own_events,
                    reconciles=reconciles,
                    reconciles_to_converge=reconciles_converged - reconciles_before,
                    cpu_seconds=usage.cpu_seconds - cpu_before,
                    cpu_seconds_to_converge=cpu_converged - cpu_before,
                    peak_rss_bytes=usage.peak_rss_bytes,
                    idle_rss_bytes=idle_rss,
                    loadavg_at_start=load,
                    what_if=what_if,
                    spread_seconds=spread(tracker, converged, started),
                )
                if steady_seconds > 0:
                    run.steady = steady_state(cluster, operator, steady_seconds)
                run.reconcile_errors = operator.log().count("failed (attempt")
            return run
        finally:
            operator.stop()


def operator_event_requests(kube: Any, namespaces: Iterable[str]) -> int:
    """The Event requests the operator made in the run's namespaces: one POST per Event it holds, plus
    one PATCH per repeat counted on it (``count`` - 1). Read from the Events themselves
    (``source=modelfleet``), so the controllers' Events, which vary from run to run, do not blur the
    figure (and a shared cluster's earlier runs, in other namespaces, do not count)."""
    total = 0
    for namespace in namespaces:
        path = f"/api/v1/namespaces/{namespace}/events"
        events = kube.request("GET", path, query={"fieldSelector": "source=modelfleet"})["items"]
        total += sum(max(1, int(event.get("count") or 1)) for event in events)
    return total


def steady_state(cluster: LocalCluster, operator: BenchOperator, seconds: float) -> SteadyState:
    before, cpu_before = scrape_requests(cluster), operator.usage().cpu_seconds
    reconciles_before = operator.reconciles()
    time.sleep(seconds)
    moved = delta(scrape_requests(cluster), before)
    usage = operator.usage()
    return SteadyState(
        seconds=seconds,
        reconciles=operator.reconciles() - reconciles_before,
        cpu_seconds=usage.cpu_seconds - cpu_before,
        peak_rss_bytes=usage.peak_rss_bytes,
        writes=request_table(writes(moved, HEARTBEAT_RESOURCES)),
        requests=request_table(moved),
    )


def run_baseline(
    clusters: ClusterSource, workload: Workload, concurrency: int, verb: str = "apply"
) -> ConvergeRun:
    """The same children, rendered up front, sent by a direct client with the operator's concurrency.

    ``verb``: "apply" (server-side apply, the operator's request), "create" (plain POSTs), or
    "same-work" (per ModelDeployment what the operator's run does: create it, apply its children,
    write one status; converged, like the operator, once that status is seen)."""
    body = spec(workload.replicas)
    by_key = {key: rendered_children(key, body) for key in workload.model_keys()}
    children = [obj for objs in by_key.values() for obj in objs]
    same = verb == "same-work"
    with clusters() as cluster:
        make_namespaces(cluster, workload.namespace_names)
        kube = kube_client(cluster)
        tracker = Tracker(workload.model_keys())
        with watching(cluster, tracker, model_deployments=same) as watches:
            load = loadavg()
            before = scrape_requests(cluster)
            started = time.monotonic()
            if same:
                same_work(kube, body, by_key, concurrency)
            else:
                (apply_children if verb == "apply" else create_children)(kube, children, concurrency)
            created = time.monotonic()
            timeout = timeout_for(workload.count)
            done = converged if same else children_done
            done_at = tracker.wait(done, timeout, errors=lambda: first_error(watches))
            pods_at = _pods_ready_at(tracker, watches, workload.replicas, timeout)
            after = scrape_requests(cluster)
        if same:  # on a shared cluster (--smoke) the operator run must not find them
            for namespace, name in workload.model_keys():
                kube.delete(f"{GROUP}/{VERSION}", KIND, namespace, name)
        return ConvergeRun(
            mode=BASELINE_MODES[verb],
            count=workload.count,
            replicas=workload.replicas,
            concurrency=concurrency,
            seconds=done_at - started,
            create_seconds=created - started,
            pods_ready_seconds=None if pods_at is None else pods_at - started,
            requests=request_table(delta(after, before)),
            loadavg_at_start=load,
            spread_seconds=spread(tracker, done, started),
        )
