"""The benchmark's ModelDeployments, the children a direct client would create for them, and how both
are sent to the API server (a thread pool as wide as the operator's ``workers``).

Every ModelDeployment serves the same small model (Qwen3.5-9B, 1 x H100-80GB per replica) so that
each one costs the operator the same: one plan, one Deployment, a revision Service and an umbrella
Service.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, TypeVar

from modelfleet import GROUP, KIND, VERSION
from modelfleet.api import parse_spec
from modelfleet.api.to_request import plan_request_from_spec
from modelfleet.catalog import gpu_catalog
from modelfleet.planner import plan as make_plan
from modelfleet.reconcile.kube import Kube
from modelfleet.render import render_all
from testbed.cluster import LocalCluster
from testbed.wait import wait_for

MODEL_ID = "Qwen/Qwen3.5-9B"
GPU_TYPE = "H100-80GB"
Key = tuple[str, str]  # (namespace, name)
T = TypeVar("T")


@dataclass(frozen=True)
class Workload:
    """N ModelDeployments spread round-robin over a few namespaces (prefixes keep runs that share a
    cluster apart)."""

    count: int
    namespaces: int = 10
    replicas: int = 1
    name_prefix: str = "md"
    namespace_prefix: str = "bench"

    @property
    def namespace_names(self) -> list[str]:
        return [f"{self.namespace_prefix}-{i}" for i in range(min(self.namespaces, max(1, self.count)))]

    def model_keys(self) -> list[Key]:
        spaces = self.namespace_names
        return [(spaces[i % len(spaces)], f"{self.name_prefix}-{i:05d}") for i in range(self.count)]


def spec(replicas: int, canary_pause_seconds: int | None = None) -> dict[str, Any]:
    """The spec every benchmark ModelDeployment shares; a canary with the replicas provider on request."""
    body: dict[str, Any] = {
        "model": {"id": MODEL_ID},
        "accelerator": {"type": GPU_TYPE},
        "serving": {"maxModelLen": 8192},
        "replicas": replicas,
        "rollout": {"strategy": "RollingUpdate"},
    }
    if canary_pause_seconds is not None:
        body["rollout"] = {
            "strategy": "Canary",
            "canary": {
                "steps": [{"setWeight": 50}, {"pause": {"duration": f"{canary_pause_seconds}s"}}],
                "trafficRouting": {"provider": "replicas"},
            },
        }
    return body


def model_deployment(key: Key, body: dict[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": KIND,
        "metadata": {"name": key[1], "namespace": key[0]},
        "spec": body,
    }


def rendered_children(key: Key, body: dict[str, Any]) -> list[dict[str, Any]]:
    """What the operator applies for a fresh ModelDeployment, rendered by the same code (no owner)."""
    parsed = parse_spec(body)
    request, facts = plan_request_from_spec(parsed)
    plan = make_plan(request, facts, gpu_catalog())
    if not plan.feasible:
        raise RuntimeError(f"the benchmark model does not plan: {plan.reasons}")
    return render_all(parsed, plan, name=key[1], namespace=key[0])


def make_namespaces(cluster: LocalCluster, names: Iterable[str]) -> None:
    names = list(names)
    manifest = "\n---\n".join(f"apiVersion: v1\nkind: Namespace\nmetadata: {{name: {n}}}" for n in names)
    cluster.kubectl("apply", "-f", "-", input=manifest)
    for name in names:  # pods (and so Deployments' pods) are refused until the `default` SA exists
        wait_for(
            lambda n=name: cluster.kubectl("get", "sa", "default", "-n", n, check=False).returncode == 0,
            f"ServiceAccount {name}/default",
            timeout=60,
        )


def send_all(objects: Sequence[T], send: Callable[[T], Any], concurrency: int) -> None:
    """Send every object through ``send`` with ``concurrency`` threads; the first failure is raised."""
    with ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="bench-send") as pool:
        for _ in pool.map(send, objects):
            pass


def create_model_deployments(kube: Kube, workload: Workload, body: dict[str, Any], concurrency: int) -> None:
    send_all([model_deployment(k, body) for k in workload.model_keys()], kube.create, concurrency)


def apply_children(kube: Kube, children: Sequence[dict[str, Any]], concurrency: int) -> None:
    """Server-side apply, as field manager ``modelfleet``: the request the operator itself makes."""
    send_all(children, kube.apply, concurrency)


def create_children(kube: Kube, children: Sequence[dict[str, Any]], concurrency: int) -> None:
    """Plain POSTs: the cheapest way to make the same objects."""
    send_all(children, kube.create, concurrency)


def same_work(
    kube: Kube,
    body: dict[str, Any],
    children: Mapping[Key, Sequence[dict[str, Any]]],
    concurrency: int,
) -> None:
    """What the operator's run does per ModelDeployment, by a direct client: create the ModelDeployment,
    server-side apply its children (rendered before the clock starts), write one status with the
    current ``observedGeneration``."""

    def one(key: Key) -> None:
        created = kube.create(model_deployment(key, body))
        for child in children[key]:
            kube.apply(child)
        status = {"observedGeneration": created["metadata"].get("generation", 1), "phase": "Progressing"}
        kube.patch_status(f"{GROUP}/{VERSION}", KIND, key[0], key[1], status)

    send_all(list(children), one, concurrency)
