"""Numbers the pod needs that follow from the plan: probe timings and the /dev/shm size.

Templates do no arithmetic; everything here is computed once and carried in the LaunchSpec.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from modelfleet.catalog.types import GIB
from modelfleet.planner.types import Plan
from modelfleet.render.coldstart import WeightPath, startup_timing

READINESS_PERIOD_SECONDS = 10
LIVENESS_PERIOD_SECONDS = 30

# NCCL keeps its intra-node buffers in /dev/shm and vLLM's message queues live there too; the
# container runtime's 64 MiB default breaks multi-GPU start-up. 2 GiB per GPU is generous (the
# emptyDir only uses what is written) and is bounded because it counts against the pod's memory.
SHM_BYTES_PER_GPU = 2 * GIB
SHM_MIN_BYTES = 2 * GIB
SHM_MAX_BYTES = 16 * GIB


@dataclass(frozen=True)
class Probe:
    path: str
    period_seconds: int
    timeout_seconds: int
    failure_threshold: int


@dataclass(frozen=True)
class Probes:
    startup: Probe
    readiness: Probe
    liveness: Probe

    @property
    def startup_budget_seconds(self) -> int:
        return self.startup.period_seconds * self.startup.failure_threshold


def weight_bytes(plan: Plan) -> int | None:
    """Checkpoint bytes a replica loads: the per-GPU weight share times the GPUs of the replica."""
    if plan.memory is None or plan.chosen is None:
        return None
    return plan.memory.weights * plan.chosen.gpus_per_replica


def probes(health_path: str, weights: int | None, path: WeightPath, gpus_per_replica: int) -> Probes:
    """Startup probe sized for the start this pod has ahead (``coldstart.startup_timing``: a download
    from the Hub, or a read of weights already staged in a cache); readiness and liveness tight enough
    to take a wedged engine out of the Service within a minute or two.

    >>> hub = probes("/health", 131 * GIB, WeightPath.HUB, 4)
    >>> staged = probes("/health", 131 * GIB, WeightPath.SHARED, 4)
    >>> hub.startup_budget_seconds, staged.startup_budget_seconds
    (1020, 650)
    """
    startup = startup_timing(weights, path, gpus_per_replica)
    return Probes(
        startup=Probe(
            health_path,
            startup.period_seconds,
            timeout_seconds=5,
            failure_threshold=startup.failure_threshold,
        ),
        readiness=Probe(health_path, READINESS_PERIOD_SECONDS, timeout_seconds=5, failure_threshold=3),
        # A busy engine can answer /health slowly; four misses over two minutes before a restart.
        liveness=Probe(health_path, LIVENESS_PERIOD_SECONDS, timeout_seconds=10, failure_threshold=4),
    )


def shm_bytes(gpus_per_pod: int) -> int:
    """/dev/shm size for a pod.

    >>> [shm_bytes(n) // GIB for n in (1, 2, 4, 8)]
    [2, 4, 8, 16]
    """
    return max(SHM_MIN_BYTES, min(SHM_MAX_BYTES, SHM_BYTES_PER_GPU * gpus_per_pod))


def quantity(size_bytes: int) -> str:
    """A Kubernetes quantity in whole Gi (rounded up) or Mi.

    >>> quantity(16 * GIB), quantity(GIB + 1), quantity(512 * 1024**2)
    ('16Gi', '2Gi', '512Mi')
    """
    if size_bytes >= GIB:
        return f"{math.ceil(size_bytes / GIB)}Gi"
    return f"{math.ceil(size_bytes / 1024**2)}Mi"
