"""Numbers the pod needs that follow from the plan: probe timings and the /dev/shm size.

Templates do no arithmetic; everything here is computed once and carried in the LaunchSpec.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from modelfleet.catalog.types import GIB
from modelfleet.planner.types import Plan

# Model load = download (or read from a volume) + weight loading + CUDA graph capture / warm-up.
# A fixed 5 minutes covers engine start, compilation and warm-up; ~1 minute per 50 GiB covers
# fetching and loading weights at a sustained ~850 MB/s, which object stores and the Hub reach in
# a datacentre. The cap keeps a wrong guess from hiding a crash loop for longer than 3 hours.
LOAD_BASE_SECONDS = 300
LOAD_SECONDS_PER_50_GIB = 60
LOAD_CAP_SECONDS = 3 * 3600
LOAD_UNKNOWN_SECONDS = 30 * 60  # no memory breakdown in the plan: assume a large model

STARTUP_PERIOD_SECONDS = 10
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


def load_seconds(weights: int | None) -> int:
    """Time to allow for a model to load, from its weight bytes.

    Llama-3.1-70B in bf16 is ~131 GiB: 300 + 60 x 131/50 = 458 s (~8 minutes).
    DeepSeek-V3 in fp8 is ~642 GiB: 300 + 60 x 642/50 = 1071 s (~18 minutes).

    >>> load_seconds(131 * GIB), load_seconds(642 * GIB), load_seconds(None), load_seconds(10**15)
    (458, 1071, 1800, 10800)
    """
    if weights is None:
        return LOAD_UNKNOWN_SECONDS
    seconds = LOAD_BASE_SECONDS + math.ceil(LOAD_SECONDS_PER_50_GIB * weights / (50 * GIB))
    return min(seconds, LOAD_CAP_SECONDS)


def probes(health_path: str, weights: int | None) -> Probes:
    """Startup probe sized for the load (failureThreshold x period >= load time); readiness and
    liveness tight enough to take a wedged engine out of the Service within a minute or two.

    >>> p = probes("/health", 131 * GIB)
    >>> p.startup.failure_threshold, p.startup_budget_seconds
    (46, 460)
    """
    threshold = math.ceil(load_seconds(weights) / STARTUP_PERIOD_SECONDS)
    return Probes(
        startup=Probe(health_path, STARTUP_PERIOD_SECONDS, timeout_seconds=5, failure_threshold=threshold),
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
