"""ModelDeployments for canary tests, waiting on their status, and an invariant sampler."""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

from kubernetes import config as kube_config

from testbed.cluster import LocalCluster
from testbed.wait import wait_for

MODEL = "mistralai/Mistral-7B-Instruct-v0.3"  # one GPU per replica on every GPU type of the fleet
# Short steps: the whole checklist of the design (weight, pause, analysis, weight, pause) in seconds.
STEPS: list[dict[str, Any]] = [
    {"setWeight": 25},
    {"pause": {"duration": "3s"}},
    {"analysis": {"templates": ["ttft-p95", "error-rate"]}},
    {"setWeight": 50},
    {"pause": {"duration": "3s"}},
]
GATEWAY = {"provider": "gatewayAPI", "gatewayAPI": {"parentRefs": [{"name": "inference-gateway"}]}}


def canary_md(name: str, namespace: str, *, steps: list[dict[str, Any]] | None = None, replicas: int = 1,
              gpu: str = "H200", routing: dict[str, Any] | None = None, **rollout: Any) -> dict[str, Any]:
    return {
        "apiVersion": "modelfleet.io/v1alpha1", "kind": "ModelDeployment",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "model": {"id": MODEL, "revision": unique("r")}, "accelerator": {"type": gpu}, "replicas": replicas,
            "serving": {"maxModelLen": 8192},
            "rollout": {"canary": {"steps": STEPS if steps is None else steps, "trafficRouting": routing or GATEWAY},
                        "analysisInterval": "2s", "progressDeadline": "30s", "errorLimit": 2, **rollout},
        },
    }


def apply(cluster: LocalCluster, obj: dict[str, Any]) -> None:
    cluster.kubectl("apply", "--server-side", "--field-manager=test", "-f", "-", input=json.dumps(obj))


def patch_spec(cluster: LocalCluster, namespace: str, name: str, spec: dict[str, Any]) -> None:
    cluster.kubectl("patch", "md", name, "-n", namespace, "--type=merge", "-p", json.dumps({"spec": spec}))


def unique(prefix: str) -> str:
    """A model revision no earlier run used: Prometheus keeps 5 minutes of a revision's series, and
    a rerun against the same Prometheus must not measure the previous run's pods."""
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def new_revision(cluster: LocalCluster, namespace: str, name: str) -> None:
    patch_spec(cluster, namespace, name, {"model": {"revision": unique("r")}})


def events(api: Api, namespace: str, name: str) -> list[dict[str, Any]]:
    """The events of the ModelDeployment that exists now (not of an earlier one of the same name), oldest first."""
    uid = api.md(namespace, name)["metadata"]["uid"]
    got = api.get(f"/api/v1/namespaces/{namespace}/events?fieldSelector={quote('involvedObject.uid=' + uid)}")
    items = (got or {}).get("items", [])
    return sorted(items, key=lambda e: (e.get("lastTimestamp") or "", e["metadata"].get("resourceVersion", "")))


def metric_value(text: str, metric: str, /, **labels: str) -> float | None:
    """One sample of the operator's /metrics (labels matched exactly, in any order)."""
    for line in text.splitlines():
        if not line.startswith(metric + "{"):
            continue
        body = line[len(metric) + 1:line.index("}")]
        found = dict(part.split("=", 1) for part in body.split(",") if part)
        if {k: v.strip('"') for k, v in found.items()} == labels:
            return float(line.rsplit(" ", 1)[1])
    return None


class Api:
    """Raw JSON reads through the kubernetes client (cheaper than a kubectl process per sample)."""

    def __init__(self, cluster: LocalCluster) -> None:
        self._client = kube_config.new_client_from_config(config_file=str(cluster.kubeconfig))

    def get(self, path: str) -> dict[str, Any] | None:
        """The object or list at `path` as JSON; None on 404."""
        config = self._client.configuration
        headers = {"Accept": "application/json"}
        token = (config.api_key or {}).get("authorization")
        if token:
            headers["Authorization"] = token
        response = self._client.call_api("GET", config.host + path, header_params=headers, _request_timeout=5)
        body = response.read()
        if response.status == 404:
            return None
        if response.status != 200:
            raise RuntimeError(f"GET {path}: HTTP {response.status}: {body[:300]!r}")
        return dict(json.loads(body))

    def md(self, namespace: str, name: str) -> dict[str, Any]:
        return self.get(f"/apis/modelfleet.io/v1alpha1/namespaces/{namespace}/modeldeployments/{name}") or {}

    def status(self, namespace: str, name: str) -> dict[str, Any]:
        return dict(self.md(namespace, name).get("status") or {})

    def deployments(self, namespace: str, name: str) -> dict[str, dict[str, Any]]:
        """The revision Deployments of a ModelDeployment, by revision."""
        got = self.get(f"/apis/apps/v1/namespaces/{namespace}/deployments?labelSelector={quote('modelfleet.io/name=' + name)}")
        return {d["metadata"]["labels"]["modelfleet.io/revision"]: d for d in (got or {}).get("items", [])}

    def wait_deployments(self, namespace: str, name: str, check: Callable[[dict[str, dict[str, Any]]], Any],
                         timeout: float = 30) -> dict[str, dict[str, Any]]:
        def matched() -> dict[str, dict[str, Any]] | None:
            got = self.deployments(namespace, name)
            return got if check(got) else None

        return dict(wait_for(matched, f"{namespace}/{name}: deployments", timeout=timeout, interval=0.25))

    def route_weights(self, namespace: str, name: str) -> dict[str, int] | None:
        """Backend Service -> weight of the owned HTTPRoute, as the API server stores it."""
        route = self.get(f"/apis/gateway.networking.k8s.io/v1/namespaces/{namespace}/httproutes/{name}")
        if route is None:
            return None
        return {ref["name"]: int(ref.get("weight", 1))
                for rule in route["spec"].get("rules", []) for ref in rule.get("backendRefs", [])}


def wait_status(api: Api, namespace: str, name: str, check: Callable[[dict[str, Any]], Any], what: str,
                timeout: float = 60) -> dict[str, Any]:
    def matched() -> dict[str, Any] | None:
        status = api.status(namespace, name)
        return status if check(status) else None

    return dict(wait_for(matched, f"{namespace}/{name}: {what}", timeout=timeout, interval=0.25))


def stable_and_healthy(status: dict[str, Any]) -> bool:
    return status.get("phase") == "Healthy" and bool((status.get("revisions") or {}).get("stable")) and \
        not (status.get("revisions") or {}).get("canary")


def progressing_reason(status: dict[str, Any]) -> str | None:
    for c in status.get("conditions") or []:
        if c.get("type") == "Progressing":
            return str(c.get("reason"))
    return None


@dataclass
class Sample:
    seconds: float
    phase: str | None
    step: int | None
    weight: int | None
    route: dict[str, int] | None
    replicas: dict[str, tuple[int, int]]  # revision -> (spec.replicas, readyReplicas)


@dataclass
class Sampler:
    """Samples a ModelDeployment every `interval` and records every broken invariant:

    * the HTTPRoute's weights sum to 100;
    * a revision with weight > 0 on the route has Ready pods;
    * (replicas provider) a canary whose status weight is > 0 has Ready pods.
    """

    api: Api
    namespace: str
    name: str
    interval_seconds: float = 0.3
    samples: list[Sample] = field(default_factory=list)
    violations: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"sampler {self.name}", daemon=True)
        self._started = time.monotonic()

    def __enter__(self) -> Sampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.sample()
            except Exception as error:  # a slow API server call: note it, keep sampling
                self.violations.append(f"sampler error: {error!r}")
            self._stop.wait(self.interval_seconds)

    def sample(self) -> None:
        route = self.api.route_weights(self.namespace, self.name)
        status = self.api.status(self.namespace, self.name)
        deployments = self.api.deployments(self.namespace, self.name)
        replicas = {rev: (int(d["spec"].get("replicas", 0)), int((d.get("status") or {}).get("readyReplicas") or 0))
                    for rev, d in deployments.items()}
        rollout = status.get("rollout") or {}
        sample = Sample(time.monotonic() - self._started, status.get("phase"), rollout.get("step"),
                        rollout.get("weight"), route, replicas)
        last = self.samples[-1] if self.samples else None
        if last is None or (last.phase, last.step, last.weight, last.route, last.replicas) != (
                sample.phase, sample.step, sample.weight, sample.route, sample.replicas):
            self.samples.append(sample)
        prefix = f"{self.name}-"
        if route is not None:
            if sum(route.values()) != 100:
                self.violations.append(f"route weights sum to {sum(route.values())}: {route}")
            for service, weight in route.items():
                revision = service.removeprefix(prefix)
                if weight > 0 and replicas.get(revision, (0, 0))[1] < 1:
                    self.violations.append(f"{service} has weight {weight} without a Ready pod: {replicas}")
        canary = (status.get("revisions") or {}).get("canary")
        if route is None and canary and (rollout.get("weight") or 0) > 0 and replicas.get(canary, (0, 0))[1] < 1:
            self.violations.append(f"canary {canary} has weight {rollout.get('weight')} without a Ready pod")

    def phases(self) -> list[str]:
        seen: list[str] = []
        for s in self.samples:
            if s.phase and (not seen or seen[-1] != s.phase):
                seen.append(s.phase)
        return seen

    def steps(self) -> list[int]:
        return sorted({s.step for s in self.samples if s.step is not None})

    def timeline(self) -> str:
        return "\n".join(f"{s.seconds:6.1f}s {s.phase} step={s.step} weight={s.weight} route={s.route} "
                         f"replicas={s.replicas}" for s in self.samples)
