"""ModelDeployments for canary tests, waiting on their status, and an invariant sampler."""

from __future__ import annotations

import contextlib
import json
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

from testbed.cluster import LocalCluster
from testbed.operator_process import OperatorProcess, install_crds
from testbed.prometheus import LoopbackPrometheus
from testbed.wait import wait_for
from tests.e2e.api import Api
from tests.e2e.engine_exporter import HEALTHY, EngineExporter, PodDiscovery, Profile
from tests.integration.kube import apply, make_namespace

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


@dataclass
class Rig:
    cluster: LocalCluster
    operator: OperatorProcess
    prometheus: LoopbackPrometheus
    exporter: EngineExporter
    discovery: PodDiscovery


@contextlib.contextmanager
def running_rig(
    cluster: LocalCluster,
    namespaces: Iterable[str],
    workdir: Path,
    config: dict[str, Any] | None = None,
    default_profile: Profile | None = None,
) -> Iterator[Rig]:
    """The CRDs and `namespaces` on `cluster`, a loopback engine exporter (`default_profile` for every
    pod of those namespaces, when given), a real Prometheus scraping it, and the operator as a real
    process watching only those namespaces (resync 10 s, analysis queries to that Prometheus, and
    `config` on top). Everything is stopped on the way out, and no reconcile may have crashed: every
    scenario, aborts and outages included, is a decision, never a traceback."""
    namespaces = list(namespaces)
    install_crds(cluster)
    for namespace in namespaces:
        make_namespace(cluster, namespace)
    exporter = EngineExporter().start()
    if default_profile is not None:
        for namespace in namespaces:
            exporter.set_namespace_default(namespace, default_profile)
    prometheus = LoopbackPrometheus(workdir / "prometheus").start()
    discovery = PodDiscovery(Api(cluster), set(namespaces), exporter, prometheus).start()
    operator = OperatorProcess(
        cluster,
        workdir,
        config={
            "namespaces": namespaces,
            "resyncSeconds": 10,
            "prometheus": {"url": prometheus.url, "timeoutSeconds": 2},
            **(config or {}),
        },
    )
    try:
        operator.start()
        yield Rig(cluster, operator, prometheus, exporter, discovery)
    finally:
        operator.stop()
        discovery.stop()
        prometheus.stop()
        exporter.stop()
    assert "Traceback" not in operator.log(), operator.log()[-6000:]


def canary_md(
    name: str,
    namespace: str,
    *,
    steps: list[dict[str, Any]] | None = None,
    replicas: int = 1,
    gpu: str = "H200",
    gpus_per_replica: int | None = None,
    capacity: str = "surge",
    routing: dict[str, Any] | None = None,
    engine: str = "vllm",
    **rollout: Any,
) -> dict[str, Any]:
    accelerator: dict[str, Any] = {"type": gpu}
    if gpus_per_replica is not None:
        accelerator["gpusPerReplica"] = gpus_per_replica
    return {
        "apiVersion": "modelfleet.io/v1alpha1",
        "kind": "ModelDeployment",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "model": {"id": MODEL, "revision": unique("r")},
            "engine": {"name": engine},
            "accelerator": accelerator,
            "replicas": replicas,
            "serving": {"maxModelLen": 8192},
            "rollout": {
                "canary": {
                    "steps": STEPS if steps is None else steps,
                    "trafficRouting": routing or GATEWAY,
                    "capacity": capacity,
                },
                "analysisInterval": "2s",
                "progressDeadline": "30s",
                "errorLimit": 2,
                **rollout,
            },
        },
    }


def patch_spec(cluster: LocalCluster, namespace: str, name: str, spec: dict[str, Any]) -> None:
    cluster.kubectl("patch", "md", name, "-n", namespace, "--type=merge", "-p", json.dumps({"spec": spec}))


def unique(prefix: str) -> str:
    """A model revision no earlier run used: Prometheus keeps 5 minutes of a revision's series, and
    a rerun against the same Prometheus must not measure the previous run's pods."""
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def epoch(timestamp: str) -> float:
    """Seconds since the epoch of an RFC 3339 timestamp from the API server."""
    return datetime.fromisoformat(timestamp.replace("Z", "+00:00")).timestamp()


def wait_past(timestamp: str, seconds: float, what: str) -> None:
    """Until the clock is `seconds` past a timestamp the operator stored (it keeps whole seconds: one
    more). A step timed from status ends by this clock, the operator's (same host)."""
    wait_for(lambda: time.time() >= epoch(timestamp) + seconds + 1, what, timeout=seconds + 30, interval=0.2)


def new_revision(cluster: LocalCluster, namespace: str, name: str) -> None:
    patch_spec(cluster, namespace, name, {"model": {"revision": unique("r")}})


def events(
    api: Api, namespace: str, name: str, until: set[str] | frozenset[str] = frozenset()
) -> list[dict[str, Any]]:
    """The events of the ModelDeployment that exists now (not of an earlier one of the same name), oldest first.

    The operator posts Events in order from a background queue, just after the status they go with: read
    until every reason in `until` is there (the last Event of the status a test waited for makes every
    earlier one certain) and two reads 0.3 s apart agree; give up after 10 s and return what is there."""
    uid = api.md(namespace, name)["metadata"]["uid"]
    path = f"/api/v1/namespaces/{namespace}/events?fieldSelector={quote('involvedObject.uid=' + uid)}"
    names: list[str] | None = None
    deadline = time.monotonic() + 10
    while True:
        items = (api.get(path) or {}).get("items", [])
        now = sorted(e["metadata"]["name"] for e in items)
        complete = set(until) <= {e["reason"] for e in items}
        if (complete and now == names) or time.monotonic() > deadline:
            break
        names = now
        time.sleep(0.3)
    return sorted(
        items, key=lambda e: (e.get("lastTimestamp") or "", int(e["metadata"].get("resourceVersion") or 0))
    )


def wait_status(
    api: Api,
    namespace: str,
    name: str,
    check: Callable[[dict[str, Any]], Any],
    what: str,
    timeout: float = 60,
) -> dict[str, Any]:
    def matched() -> dict[str, Any] | None:
        status = api.status(namespace, name)
        return status if check(status) else None

    return dict(wait_for(matched, f"{namespace}/{name}: {what}", timeout=timeout, interval=0.25))


def stable_and_healthy(status: dict[str, Any]) -> bool:
    return (
        status.get("phase") == "Healthy"
        and bool((status.get("revisions") or {}).get("stable"))
        and not (status.get("revisions") or {}).get("canary")
    )


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
    at: float = 0.0  # wall clock (epoch seconds), to compare with status timestamps


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
        if exc[0] is None:  # the last periodic sample may predate the state the test waited for
            self.sample()

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
        replicas = {
            rev: (int(d["spec"].get("replicas", 0)), int((d.get("status") or {}).get("readyReplicas") or 0))
            for rev, d in deployments.items()
        }
        rollout = status.get("rollout") or {}
        sample = Sample(
            time.monotonic() - self._started,
            status.get("phase"),
            rollout.get("step"),
            rollout.get("weight"),
            route,
            replicas,
            time.time(),
        )
        last = self.samples[-1] if self.samples else None
        if last is None or (last.phase, last.step, last.weight, last.route, last.replicas) != (
            sample.phase,
            sample.step,
            sample.weight,
            sample.route,
            sample.replicas,
        ):
            self.samples.append(sample)
        prefix = f"{self.name}-"
        # The reads above are not one snapshot: judge weight against readiness only when the route
        # and the status did not change while the Deployments were read.
        consistent = self.api.route_weights(self.namespace, self.name) == route and (
            self.api.status(self.namespace, self.name).get("rollout") or {}
        ).get("weight") == rollout.get("weight")
        if route is not None:
            if sum(route.values()) != 100:
                self.violations.append(f"route weights sum to {sum(route.values())}: {route}")
            for service, weight in route.items() if consistent else ():
                revision = service.removeprefix(prefix)
                if weight > 0 and replicas.get(revision, (0, 0))[1] < 1:
                    self.violations.append(f"{service} has weight {weight} without a Ready pod: {replicas}")
        canary = (status.get("revisions") or {}).get("canary")
        if (
            consistent
            and route is None
            and canary
            and (rollout.get("weight") or 0) > 0
            and replicas.get(canary, (0, 0))[1] < 1
        ):
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
        return "\n".join(
            f"{s.seconds:6.1f}s {s.phase} step={s.step} weight={s.weight} route={s.route} "
            f"replicas={s.replicas}"
            for s in self.samples
        )


# ---- scenario steps shared by the e2e modules ------------------------------------------------------


def start_stable(rig: Rig, api: Api, namespace: str, name: str, canary: Profile = HEALTHY, **md: Any) -> str:
    """Create the ModelDeployment, wait for its first revision to be the stable, and choose how the
    next revision's pods will behave; returns the stable revision."""
    rig.exporter.set_namespace_default(namespace, canary)
    apply(rig.cluster, canary_md(name, namespace, **md))
    try:
        status = wait_status(api, namespace, name, stable_and_healthy, "first revision stable", timeout=60)
    except AssertionError:
        print(api.status(namespace, name), rig.operator.log()[-5000:])
        raise
    stable = str(status["revisions"]["stable"])
    rig.exporter.set_revision(stable, HEALTHY)
    return stable


def aborted(reason: str) -> Callable[[dict[str, Any]], bool]:
    def check(status: dict[str, Any]) -> bool:
        return status.get("phase") == "Degraded" and progressing_reason(status) == reason

    return check


def promoted_from(stable: str) -> Callable[[dict[str, Any]], bool]:
    def check(status: dict[str, Any]) -> bool:
        return (status.get("revisions") or {}).get("stable") not in (None, stable) and stable_and_healthy(
            status
        )

    return check


def assert_back_on_stable(
    api: Api, namespace: str, name: str, stable: str, canary: str, replicas: int = 1
) -> None:
    """All traffic on the stable, the canary scaled to 0 (once its weight 0 was observed)."""
    assert api.route_weights(namespace, name) in ({f"{name}-{stable}": 100}, None)
    deployments = api.wait_deployments(
        namespace, name, lambda d: d.get(canary, {}).get("spec", {}).get("replicas") == 0
    )
    assert deployments[stable]["spec"]["replicas"] == replicas


def report(sampler: Sampler, what: str, seconds: float) -> None:
    """Printed with -s; docs/rollout.md quotes these times."""
    print(f"\n[e2e] {what}: {seconds:.1f}s\n{sampler.timeline()}")
