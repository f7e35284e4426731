"""The operator's own Prometheus metrics, on a registry of their own (no global state between tests)."""

from __future__ import annotations

import contextlib
import threading

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server

Key = tuple[str, str]


class OperatorMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.reconciles = Counter(
            "modelfleet_reconciles_total",
            "Reconciles of ModelDeployments by result.",
            ["result"],
            registry=self.registry,
        )
        self.passes = Counter(
            "modelfleet_modeldeployment_passes_total",
            "Reconcile passes finished per ModelDeployment, whatever their result (counted once every"
            " write of the pass has been made).",
            ["namespace", "name"],
            registry=self.registry,
        )
        self.reconcile_seconds = Histogram(
            "modelfleet_reconcile_duration_seconds",
            "Time of one reconcile pass.",
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
            registry=self.registry,
        )
        self.gpus_planned = Gauge(
            "modelfleet_gpus_planned",
            "GPUs the plans of all ModelDeployments ask for (per replica x replicas).",
            ["gpu_type"],
            registry=self.registry,
        )
        self.gpus_allocated = Gauge(
            "modelfleet_gpus_allocated",
            "GPUs held by bound ModelFleet pods.",
            ["gpu_type"],
            registry=self.registry,
        )
        self.deployments_by_phase = Gauge(
            "modelfleet_modeldeployments", "ModelDeployments by phase.", ["phase"], registry=self.registry
        )
        self.rollout_phase = Gauge(
            "modelfleet_rollout_phase",
            "1 for the current rollout phase of each ModelDeployment.",
            ["namespace", "name", "phase"],
            registry=self.registry,
        )
        self.canary_weight = Gauge(
            "modelfleet_canary_weight_percent",
            "Traffic percent the canary gets.",
            ["namespace", "name"],
            registry=self.registry,
        )
        self.aborts = Counter(
            "modelfleet_rollout_aborts_total", "Canary aborts by reason.", ["reason"], registry=self.registry
        )
        self.leader = Gauge(
            "modelfleet_leader",
            "1 while this process holds the leader-election Lease (or runs alone), 0 while it stands by.",
            registry=self.registry,
        )
        self.leader_transitions = Counter(
            "modelfleet_leader_transitions_total",
            "Times this process became the leader or stopped being it.",
            registry=self.registry,
        )

        self._lock = threading.Lock()
        self._fleet: dict[Key, tuple[str, str | None, int]] = {}
        # Fleet totals kept up to date per change (a pass must not cost O(fleet)).
        self._phases: dict[str, int] = {}
        self._planned: dict[str, int] = {}
        self._allocated: dict[str, int] | None = None

    def record(
        self, key: Key, phase: str, gpu_type: str | None, gpus: int, canary_weight: int | None
    ) -> None:
        """Remember one ModelDeployment's phase and planned GPUs, then refresh the fleet gauges."""
        with self._lock:
            previous = self._fleet.get(key)
            current = (phase, gpu_type, gpus)
            if previous != current:
                self._fleet[key] = current
                self._count(previous, -1)
                self._count(current, +1)
            if previous is not None and previous[0] != phase:
                with contextlib.suppress(KeyError):
                    self.rollout_phase.remove(key[0], key[1], previous[0])
            self.rollout_phase.labels(namespace=key[0], name=key[1], phase=phase).set(1)
        self.canary_weight.labels(namespace=key[0], name=key[1]).set(canary_weight or 0)

    def leading(self, leading: bool) -> None:
        self.leader.set(1 if leading else 0)
        self.leader_transitions.inc()

    def passed(self, key: Key) -> None:
        self.passes.labels(namespace=key[0], name=key[1]).inc()

    def forget(self, key: Key) -> None:
        with contextlib.suppress(KeyError):
            self.passes.remove(key[0], key[1])
        with self._lock:
            previous = self._fleet.pop(key, None)
            self._count(previous, -1)
            if previous is not None:
                with contextlib.suppress(KeyError):
                    self.rollout_phase.remove(key[0], key[1], previous[0])
        with contextlib.suppress(KeyError):
            self.canary_weight.remove(key[0], key[1])

    def set_allocated(self, by_type: dict[str, int]) -> None:
        with self._lock:
            if by_type == self._allocated:
                return
            self._allocated = dict(by_type)
            self.gpus_allocated.clear()
            for gpu_type, count in by_type.items():
                self.gpus_allocated.labels(gpu_type=gpu_type).set(count)

    def _count(self, entry: tuple[str, str | None, int] | None, sign: int) -> None:
        """Add (`sign` +1) or take away (-1) one ModelDeployment's share of the fleet gauges."""
        if entry is None:
            return
        phase, gpu_type, gpus = entry
        _add(self._phases, phase, sign, self.deployments_by_phase, "phase")
        if gpu_type:
            _add(self._planned, gpu_type, sign * gpus, self.gpus_planned, "gpu_type")

    def serve(self, address: str, port: int) -> None:
        start_http_server(port, addr=address, registry=self.registry)


def _add(totals: dict[str, int], label: str, amount: int, gauge: Gauge, name: str) -> None:
    """Change one labelled total; a label whose total is 0 leaves the gauge (as if never seen)."""
    totals[label] = totals.get(label, 0) + amount
    if totals[label] == 0:
        del totals[label]
        with contextlib.suppress(KeyError):
            gauge.remove(label)
    else:
        gauge.labels(**{name: label}).set(totals[label])
