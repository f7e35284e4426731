"""The autoscaling chain the operator builds on, proved with no ModelFleet object in it: a real
Prometheus serves a queue-length metric, KEDA (v2.21.0, built by the testbed) turns a ScaledObject into
an HPA and serves the metric through the external metrics API, which the API server's aggregator
reaches on loopback through an ExternalName Service, and the controller-manager's real HPA
controller scales a plain Deployment on it. A cron trigger brings a Deployment up from zero.

This module runs its own cluster: two CPU-only nodes, with KEDA.
"""

from __future__ import annotations

import json
import math
import threading
import time
import urllib.parse
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import yaml

from testbed.cluster import DEFAULT_FLEET, KEDA_APISERVICE, LocalCluster, free_port
from testbed.prometheus import LoopbackPrometheus, ScrapeTarget
from tests.integration.kube import apply, condition, get_json, get_or_none, make_namespace, wait_for

pytestmark = pytest.mark.cluster
NS = "keda-chain"
METRIC = "vllm:num_requests_waiting"
QUERY = f'sum({METRIC}{{namespace="{NS}"}})'
WAITING_PER_REPLICA = 10  # the trigger's threshold: the HPA's target average per replica
MAX_REPLICAS = 5


class QueueGauge:
    """One engine's /metrics on 127.0.0.1 whose waiting-requests gauge the test sets."""

    def __init__(self) -> None:
        self.waiting = 0.0
        gauge = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                body = f"# TYPE {METRIC} gauge\n{METRIC} {gauge.waiting}\n".encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/plain; version=0.0.4")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
        self.address = f"127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def two_cpu_nodes(path: Path) -> Path:
    fleet = yaml.safe_load(DEFAULT_FLEET.read_text())
    fleet["pools"] = [pool for pool in fleet["pools"] if pool["name"] == "cpu"]
    path.write_text(yaml.safe_dump(fleet))
    return path


@pytest.fixture(scope="module")
def keda_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCluster]:
    fleet = two_cpu_nodes(tmp_path_factory.mktemp("fleet") / "fleet.yaml")
    with LocalCluster(fleet_file=fleet, keda=True, quiet=True) as cluster:
        make_namespace(cluster, NS)
        yield cluster
        for name in ("keda-operator", "keda-adapter"):
            assert cluster.procs[name].poll() is None, f"{name} died: {cluster.logs / (name + '.log')}"


@pytest.fixture(scope="module")
def queue(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[QueueGauge, LoopbackPrometheus]]:
    gauge = QueueGauge()
    with LoopbackPrometheus(tmp_path_factory.mktemp("prometheus")) as prom:
        prom.set_targets([ScrapeTarget(gauge.address, labels={"__meta_kubernetes_namespace": NS})])
        wait_for(lambda: prom.query(QUERY), f"Prometheus answering {QUERY}", timeout=60)
        yield gauge, prom
    gauge.close()


def deployment(name: str, replicas: int) -> dict[str, Any]:
    labels = {"app": name}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": NS},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels},
                "spec": {
                    "containers": [
                        {"name": "engine", "image": "engine:test", "resources": {"requests": {"cpu": "1"}}}
                    ]
                },
            },
        },
    }


def scaled_object(name: str, triggers: list[dict[str, Any]], min_replicas: int) -> dict[str, Any]:
    return {
        "apiVersion": "keda.sh/v1alpha1",
        "kind": "ScaledObject",
        "metadata": {"name": name, "namespace": NS},
        "spec": {
            "scaleTargetRef": {"name": name},
            "pollingInterval": 5,
            "cooldownPeriod": 30,
            "minReplicaCount": min_replicas,
            "maxReplicaCount": MAX_REPLICAS,
            "advanced": {
                "horizontalPodAutoscalerConfig": {
                    "behavior": {
                        "scaleUp": {"stabilizationWindowSeconds": 0},
                        "scaleDown": {"stabilizationWindowSeconds": 0},
                    }
                }
            },
            "triggers": triggers,
        },
    }


def cron_window_around_now(replicas: int) -> dict[str, Any]:
    """A cron trigger for a daily window from an hour ago to two hours ahead, in UTC: "now" is inside it
    whenever the test runs."""
    now = datetime.now(UTC)
    start, end = now - timedelta(hours=1), now + timedelta(hours=2)
    return {
        "type": "cron",
        "metadata": {
            "timezone": "Etc/UTC",
            "start": f"{start.minute} {start.hour} * * *",
            "end": f"{end.minute} {end.hour} * * *",
            "desiredReplicas": str(replicas),
        },
    }


def quantity(text: str) -> float:
    """A resource.Quantity as KEDA writes external metric values ("35", "3500m")."""
    return float(text[:-1]) / 1000 if text.endswith("m") else float(text)


def external_metric(cluster: LocalCluster, metric: str, scaled_object_name: str) -> float | None:
    """The value the HPA controller reads, through the aggregator, from KEDA's metrics API server."""
    selector = urllib.parse.quote(f"scaledobject.keda.sh/name={scaled_object_name}")
    out = cluster.kubectl(
        "get",
        "--raw",
        f"/apis/external.metrics.k8s.io/v1beta1/namespaces/{NS}/{metric}?labelSelector={selector}",
        check=False,
    )
    if out.returncode != 0:
        return None
    items = json.loads(out.stdout).get("items") or []
    return quantity(items[0]["value"]) if items else None


def hpa_metric_name(cluster: LocalCluster, scaled_object_name: str) -> str:
    """KEDA's HPA for the ScaledObject, once it exists; the name of its one external metric."""

    def metric() -> str | None:
        hpa = get_or_none(cluster, "hpa", f"keda-hpa-{scaled_object_name}", "-n", NS)
        if not hpa:
            return None
        return str(hpa["spec"]["metrics"][0]["external"]["metric"]["name"])

    return str(wait_for(metric, f"the HPA KEDA makes for {scaled_object_name}", timeout=90))


def hpa_average(cluster: LocalCluster, name: str) -> float | None:
    """The per-replica value of the metric as the HPA controller last computed it."""
    current = get_json(cluster, "hpa", f"keda-hpa-{name}", "-n", NS).get("status", {}).get("currentMetrics")
    return quantity(current[0]["external"]["current"]["averageValue"]) if current else None


def ready_replicas(cluster: LocalCluster, name: str) -> tuple[int, int]:
    d = get_json(cluster, "deployment", name, "-n", NS)
    return int(d["spec"].get("replicas") or 0), int(d.get("status", {}).get("readyReplicas") or 0)


def wait_replicas(cluster: LocalCluster, name: str, want: int, timeout: float = 120) -> None:
    """Until the Deployment asks for and has `want` Ready replicas."""
    wait_for(
        lambda: ready_replicas(cluster, name) == (want, want), f"{name} at {want} Ready replicas", timeout
    )


def test_the_external_metrics_api_is_available_through_the_aggregator(keda_cluster: LocalCluster) -> None:
    apiservice = get_json(keda_cluster, "apiservice", KEDA_APISERVICE)
    available = condition(apiservice, "Available")
    assert available and available["status"] == "True", apiservice.get("status")
    service = get_json(keda_cluster, "service", "keda-metrics-apiserver", "-n", "keda")
    assert (service["spec"]["type"], service["spec"]["externalName"]) == ("ExternalName", "localhost")
    discovery = json.loads(
        keda_cluster.kubectl("get", "--raw", "/apis/external.metrics.k8s.io/v1beta1").stdout
    )
    assert discovery["groupVersion"] == "external.metrics.k8s.io/v1beta1"


def test_a_prometheus_queue_metric_scales_a_deployment_through_keda_and_the_hpa(
    keda_cluster: LocalCluster, queue: tuple[QueueGauge, LoopbackPrometheus]
) -> None:
    gauge, prom = queue
    name = "queue-worker"
    gauge.waiting = 5
    apply(keda_cluster, deployment(name, replicas=1))
    trigger = {
        "type": "prometheus",
        "metadata": {"serverAddress": prom.url, "query": QUERY, "threshold": str(WAITING_PER_REPLICA)},
    }
    apply(keda_cluster, scaled_object(name, [trigger], min_replicas=1))
    metric = hpa_metric_name(keda_cluster, name)
    assert metric == "s0-prometheus"
    wait_for(lambda: external_metric(keda_cluster, metric, name) == 5, "the external metric at 5", timeout=90)
    wait_replicas(keda_cluster, name, 1)

    # 35 waiting requests at 10 per replica: the HPA asks for ceil(35 / 10) = 4 replicas.
    gauge.waiting, stepped = 35, time.monotonic()
    wait_for(
        lambda: external_metric(keda_cluster, metric, name) == 35, "the external metric at 35", timeout=60
    )
    wait_replicas(keda_cluster, name, math.ceil(35 / WAITING_PER_REPLICA))
    up_seconds = time.monotonic() - stepped
    # On its next pass the HPA sees 35 / 4 = 8.75 per replica, under the target: it stays at 4.
    wait_for(lambda: hpa_average(keda_cluster, name) == 8.75, "the HPA at 8.75 per replica", timeout=60)
    assert ready_replicas(keda_cluster, name) == (4, 4)

    # 100 would need 10 replicas; the ScaledObject's maxReplicaCount caps the HPA at 5.
    gauge.waiting = 100
    wait_replicas(keda_cluster, name, MAX_REPLICAS)
    hpa = get_json(keda_cluster, "hpa", f"keda-hpa-{name}", "-n", NS)
    assert (hpa["spec"]["maxReplicas"], hpa["status"]["desiredReplicas"]) == (MAX_REPLICAS, MAX_REPLICAS)
    limited = condition(hpa, "ScalingLimited")
    assert limited and (limited["status"], limited["reason"]) == ("True", "TooManyReplicas"), hpa["status"]

    # The queue drains: with no stabilisation window the HPA comes back down to 1 at once.
    gauge.waiting, stepped = 3, time.monotonic()
    wait_replicas(keda_cluster, name, 1)
    down_seconds = time.monotonic() - stepped
    print(
        f"queue step to 4 Ready replicas: {up_seconds:.1f}s; queue drained to 1 replica: {down_seconds:.1f}s"
    )


def test_a_cron_window_brings_a_deployment_up_from_zero(keda_cluster: LocalCluster) -> None:
    name = "office-hours"
    apply(keda_cluster, deployment(name, replicas=0))
    apply(keda_cluster, scaled_object(name, [cron_window_around_now(replicas=3)], min_replicas=0))
    metric = hpa_metric_name(keda_cluster, name)
    assert metric.startswith("s0-cron-"), metric
    # KEDA's operator activates the Deployment (0 -> 1); the HPA takes it to the window's 3.
    wait_replicas(keda_cluster, name, 3)
    assert external_metric(keda_cluster, metric, name) == 3
    active = condition(get_json(keda_cluster, "scaledobject", name, "-n", NS), "Active")
    assert active and active["status"] == "True", active


def scalable_crd() -> dict[str, Any]:
    """A namespaced kind with a scale subresource, as ModelDeployment has one."""
    schema = {
        "type": "object",
        "properties": {
            "spec": {"type": "object", "properties": {"replicas": {"type": "integer"}}},
            "status": {
                "type": "object",
                "properties": {"replicas": {"type": "integer"}, "selector": {"type": "string"}},
            },
        },
    }
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": "widgets.example.com"},
        "spec": {
            "group": "example.com",
            "names": {"kind": "Widget", "plural": "widgets", "singular": "widget"},
            "scope": "Namespaced",
            "versions": [
                {
                    "name": "v1",
                    "served": True,
                    "storage": True,
                    "schema": {"openAPIV3Schema": schema},
                    "subresources": {
                        "status": {},
                        "scale": {
                            "specReplicasPath": ".spec.replicas",
                            "statusReplicasPath": ".status.replicas",
                            "labelSelectorPath": ".status.selector",
                        },
                    },
                }
            ],
        },
    }


def established(cluster: LocalCluster, crd: str) -> bool:
    found = condition(get_json(cluster, "crd", crd), "Established")
    return bool(found and found["status"] == "True")


def test_a_kind_defined_after_keda_started_is_scaled_through_its_scale_subresource(
    keda_cluster: LocalCluster,
) -> None:
    apply(keda_cluster, scalable_crd())
    wait_for(
        lambda: established(keda_cluster, "widgets.example.com"), "the Widget CRD Established", timeout=60
    )
    name = "widget"
    apply(
        keda_cluster,
        {
            "apiVersion": "example.com/v1",
            "kind": "Widget",
            "metadata": {"name": name, "namespace": NS},
            "spec": {"replicas": 1},
        },
    )
    # The HPA controller refuses a target whose scale subresource has no selector (InvalidSelector).
    keda_cluster.kubectl(
        "patch",
        "widget",
        name,
        "-n",
        NS,
        "--subresource=status",
        "--type=merge",
        "-p",
        json.dumps({"status": {"replicas": 1, "selector": f"app={name}"}}),
    )
    so = scaled_object(name, [cron_window_around_now(replicas=4)], min_replicas=1)
    so["spec"]["scaleTargetRef"] = {"apiVersion": "example.com/v1", "kind": "Widget", "name": name}
    apply(keda_cluster, so)
    hpa_metric_name(keda_cluster, name)
    wait_for(
        lambda: get_json(keda_cluster, "widget", name, "-n", NS)["spec"].get("replicas") == 4,
        "the HPA writing 4 replicas through the Widget's scale subresource",
        timeout=90,
    )
    hpa = get_json(keda_cluster, "hpa", f"keda-hpa-{name}", "-n", NS)
    assert hpa["spec"]["scaleTargetRef"] == {"apiVersion": "example.com/v1", "kind": "Widget", "name": name}
