"""Latency on an idle operator: one ModelDeployment at a time, apply -> children and apply -> Ready.

The clock starts before the client's create request; "children" is when the watch has shown the
Deployment and both Services, "Ready" when it has shown the ModelDeployment with ``Ready=True``
(which needs the pod scheduled and marked Ready by kwok, and the operator to see it). Samples are
kept (idle, one replica each) so the operator is not busy with deletions while the next is measured.
"""

from __future__ import annotations

import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from bench.clusters import ClusterSource
from bench.converge import watching
from bench.environment import loadavg
from bench.kubeapi import kube_client
from bench.operator import BenchOperator
from bench.tracker import Tracker, children_done, ready
from bench.workload import Workload, make_namespaces, model_deployment, spec

GAP_SECONDS = 0.5  # between samples, so each one meets an idle operator


@dataclass
class LatencyRun:
    samples: int
    children_seconds: list[float]
    ready_seconds: list[float]
    loadavg_at_start: tuple[float, float, float]

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def run_latency(clusters: ClusterSource, samples: int, namespace_prefix: str = "bench-lat") -> LatencyRun:
    workload = Workload(
        count=samples, namespaces=1, replicas=1, name_prefix="lat", namespace_prefix=namespace_prefix
    )
    body = spec(replicas=1)
    with clusters() as cluster, tempfile.TemporaryDirectory() as tmp:
        make_namespaces(cluster, workload.namespace_names)
        kube = kube_client(cluster)
        operator = BenchOperator(cluster, Path(tmp)).start()
        try:
            tracker = Tracker(workload.model_keys())
            with watching(cluster, tracker, model_deployments=True) as watches:
                operator.wait_quiet()
                load = loadavg()
                children: list[float] = []
                ready_list: list[float] = []
                for key in workload.model_keys():
                    time.sleep(GAP_SECONDS)
                    started = time.monotonic()
                    kube.create(model_deployment(key, body))
                    errors = lambda: next((w.error for w in watches if w.error), None)  # noqa: E731
                    children.append(tracker.wait(children_done, 60, keys=[key], errors=errors) - started)
                    ready_list.append(tracker.wait(ready, 120, keys=[key], errors=errors) - started)
            return LatencyRun(
                samples=samples, children_seconds=children, ready_seconds=ready_list, loadavg_at_start=load
            )
        finally:
            operator.stop()
