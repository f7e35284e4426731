"""Helpers for tests against the local control plane: read objects, wait for facts about them."""

from __future__ import annotations

import json
from typing import Any

from testbed.cluster import LocalCluster
from testbed.operator_process import OperatorProcess
from testbed.wait import wait_for

__all__ = [
    "apply",
    "condition",
    "get_json",
    "get_or_none",
    "make_namespace",
    "metric_value",
    "passes",
    "wait_for",
    "wait_for_a_whole_pass",
]


def apply(cluster: LocalCluster, obj: dict[str, Any], manager: str = "test") -> None:
    """Server-side apply `obj` as a user would, under field manager `manager`."""
    cluster.kubectl("apply", "--server-side", f"--field-manager={manager}", "-f", "-", input=json.dumps(obj))


def get_json(cluster: LocalCluster, *args: str) -> Any:
    return json.loads(cluster.kubectl("get", *args, "-o", "json").stdout)


def get_or_none(cluster: LocalCluster, *args: str) -> Any:
    out = cluster.kubectl("get", *args, "-o", "json", check=False)
    return json.loads(out.stdout) if out.returncode == 0 else None


def make_namespace(cluster: LocalCluster, name: str) -> None:
    if cluster.kubectl("get", "namespace", name, check=False).returncode != 0:
        cluster.kubectl("create", "namespace", name)
    wait_for(
        lambda: cluster.kubectl("get", "sa", "default", "-n", name, check=False).returncode == 0,
        f"default ServiceAccount in {name}",
    )


def condition(obj: dict[str, Any], type_: str) -> dict[str, Any] | None:
    for c in (obj.get("status") or {}).get("conditions") or []:
        if c.get("type") == type_:
            return dict(c)
    return None


def metric_value(text: str, metric: str, /, **labels: str) -> float | None:
    """One sample of the operator's /metrics (labels matched exactly, in any order)."""
    for line in text.splitlines():
        if not line.startswith(metric + "{"):
            continue
        body = line[len(metric) + 1 : line.index("}")]
        found = dict(part.split("=", 1) for part in body.split(",") if part)
        if {k: v.strip('"') for k, v in found.items()} == labels:
            return float(line.rsplit(" ", 1)[1])
    return None


def passes(operator: OperatorProcess, namespace: str, name: str) -> int:
    """Reconcile passes the operator process has finished for one ModelDeployment (0 before the first)."""
    text = operator.metrics()
    return int(
        metric_value(text, "modelfleet_modeldeployment_passes_total", namespace=namespace, name=name) or 0
    )


def wait_for_a_whole_pass(operator: OperatorProcess, namespace: str, name: str, timeout: float = 90) -> None:
    """Return once a pass of the ModelDeployment has begun and finished after this call, so whatever it
    would write has reached the API server: how a test proves that the operator did *not* write.

    A pass is counted after its writes. The passes of one object run one at a time, so the first pass
    counted from now may have begun before now, the second one began after it. With no event, passes
    come every resyncSeconds: `timeout` must be more than twice that."""
    start = passes(operator, namespace, name)
    wait_for(
        lambda: passes(operator, namespace, name) >= start + 2,
        f"a whole pass of {namespace}/{name} (passes counted so far: {start})",
        timeout=timeout,
        interval=0.2,
    )
