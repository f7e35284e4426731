"""The operator's own Prometheus metrics, on a registry of their own (no global state between tests)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server


class OperatorMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.reconciles = Counter(
            "modelfleet_reconciles_total", "Reconciles of ModelDeployments by result.",
            ["result"], registry=self.registry)
        self.reconcile_seconds = Histogram(
            "modelfleet_reconcile_duration_seconds", "Time of one reconcile pass.",
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10), registry=self.registry)
        self.gpus_planned = Gauge(
            "modelfleet_gpus_planned", "GPUs the plans of all ModelDeployments ask for (per replica x replicas).",
            ["gpu_type"], registry=self.registry)
        self.gpus_allocated = Gauge(
            "modelfleet_gpus_allocated", "GPUs held by bound ModelFleet pods.", ["gpu_type"], registry=self.registry)
        self.deployments_by_phase = Gauge(
            "modelfleet_modeldeployments", "ModelDeployments by phase.", ["phase"], registry=self.registry)
        self.rollout_phase = Gauge(
            "modelfleet_rollout_phase", "1 for the current rollout phase of each ModelDeployment.",
            ["namespace", "name", "phase"], registry=self.registry)
        self.canary_weight = Gauge(
            "modelfleet_canary_weight_percent", "Traffic percent the canary gets.", ["namespace", "name"],
            registry=self.registry)
        self.aborts = Counter(
            "modelfleet_rollout_aborts_total", "Canary aborts by reason.", ["reason"], registry=self.registry)

    def serve(self, address: str, port: int) -> None:
        start_http_server(port, addr=address, registry=self.registry)
