"""How long an engine pod takes to become Ready, from where its weights come from and how many bytes they
are: the cold-start arithmetic behind the startup probe and the figures in docs/BENCHMARKS.md.

Three paths for the weights:

- ``HUB``: not staged (``cache.mode: none``): the engine downloads into its ``emptyDir``, then loads;
- ``SHARED``: staged once into a ReadWriteMany volume every replica mounts (``cache.mode: shared``);
- ``NODE``: staged onto the node's local NVMe (``cache.mode: node``).

Every rate is an assumption, stated in ``ColdStartRates`` and tabled in docs/BENCHMARKS.md; none is
measured here (the test bed has no GPUs). Worked example, Llama-3.1-70B in bf16 (141 GB) on 4 GPUs with
the default rates: not staged, a pod needs 282 s to download, 141/min(3, 4 x 2) = 47 s to load from local
disk and 180 s of warm-up: 509 s; from a shared volume, 141 s to load and 180 s: 321 s.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import StrEnum

GB = 10**9  # rates are decimal, as vendors state them


class WeightPath(StrEnum):
    HUB = "hub"
    SHARED = "shared"
    NODE = "node"


@dataclass(frozen=True)
class ColdStartRates:
    """Bandwidths and fixed delays; each one a stated assumption, per pod unless said otherwise."""

    hub_download_bytes_per_second: float = 0.5 * GB  # Hub/CDN to one pod, many parallel files
    shared_read_bytes_per_second: float = (
        1.0 * GB
    )  # a ReadWriteMany volume (NFS, CephFS, Filestore) to one pod
    shared_write_bytes_per_second: float = 1.0 * GB  # the staging Job writing into it
    node_nvme_read_bytes_per_second: float = 3.0 * GB  # node-local NVMe, also what an emptyDir sits on
    engine_load_bytes_per_second_per_gpu: float = 2.0 * GB  # safetensors to GPU memory, per rank
    pod_start_seconds: float = 60.0  # scheduling, image pull of a node-cached engine image, container start
    engine_warmup_seconds: float = 180.0  # CUDA graph capture, compilation, KV cache allocation
    job_start_seconds: float = 20.0  # the staging Job's pod: the small operator image
    checksum_bytes_per_second: float = 1.0 * GB  # sha256 of the staged files, one core, read back


DEFAULT_RATES = ColdStartRates()

# The startup probe allows twice the expected start, so a slow mirror or a busy volume is not mistaken
# for a wedged engine, and at least 10 minutes; at most 6 hours, so a real crash loop still shows.
STARTUP_SAFETY_FACTOR = 2.0
STARTUP_MIN_SECONDS = 600
STARTUP_MAX_SECONDS = 6 * 3600
STARTUP_PERIOD_SECONDS = 10


def download_seconds(weight_bytes: int, rates: ColdStartRates = DEFAULT_RATES) -> float:
    """Hub to disk, for a pod or for the staging Job (which writes no faster than the volume takes)."""
    return weight_bytes / rates.hub_download_bytes_per_second


def staging_seconds(weight_bytes: int, path: WeightPath, rates: ColdStartRates = DEFAULT_RATES) -> float:
    """The staging Job, start to completion marker: download, then every checksum; 0 when nothing is
    staged (an engine that downloads for itself checks nothing).

    >>> staging_seconds(100 * GB, WeightPath.SHARED), staging_seconds(100 * GB, WeightPath.HUB)
    (320.0, 0.0)
    """
    if path == WeightPath.HUB:
        return 0.0
    if path == WeightPath.SHARED:
        write, read = rates.shared_write_bytes_per_second, rates.shared_read_bytes_per_second
    else:
        write = read = rates.node_nvme_read_bytes_per_second
    download = weight_bytes / min(rates.hub_download_bytes_per_second, write)
    verify = weight_bytes / min(rates.checksum_bytes_per_second, read)
    return rates.job_start_seconds + download + verify


def load_seconds(
    weight_bytes: int, path: WeightPath, gpus_per_replica: int, rates: ColdStartRates = DEFAULT_RATES
) -> float:
    """Disk to GPU memory: every rank reads its shard in parallel, bounded by what the disk gives one pod.

    >>> load_seconds(120 * GB, WeightPath.SHARED, 8), load_seconds(120 * GB, WeightPath.NODE, 1)
    (120.0, 60.0)
    """
    read = {
        WeightPath.HUB: rates.node_nvme_read_bytes_per_second,  # after the download, from the emptyDir
        WeightPath.SHARED: rates.shared_read_bytes_per_second,
        WeightPath.NODE: rates.node_nvme_read_bytes_per_second,
    }[path]
    return weight_bytes / min(read, max(1, gpus_per_replica) * rates.engine_load_bytes_per_second_per_gpu)


def container_start_seconds(
    weight_bytes: int, path: WeightPath, gpus_per_replica: int, rates: ColdStartRates = DEFAULT_RATES
) -> float:
    """From the engine container's start to Ready: what its startup probe must allow for.

    >>> round(container_start_seconds(141 * GB, WeightPath.HUB, 4)), round(container_start_seconds(141 * GB, WeightPath.SHARED, 4))
    (509, 321)
    """
    fetch = download_seconds(weight_bytes, rates) if path == WeightPath.HUB else 0.0
    return fetch + load_seconds(weight_bytes, path, gpus_per_replica, rates) + rates.engine_warmup_seconds


@dataclass(frozen=True)
class ColdStart:
    first_ready_seconds: float  # nothing staged yet, no replica running: until the first replica is Ready
    add_replica_seconds: float  # weights already staged (when the path stages): one more replica Ready


def cold_start(
    weight_bytes: int, path: WeightPath, gpus_per_replica: int, rates: ColdStartRates = DEFAULT_RATES
) -> ColdStart:
    """Time to the first Ready replica (staging included) and to one more replica.

    A node-local cache is assumed staged on the node the new replica lands on; on a fresh node its time
    is the first replica's.

    >>> c = cold_start(100 * GB, WeightPath.SHARED, 8)
    >>> c.first_ready_seconds, c.add_replica_seconds
    (660.0, 340.0)
    >>> cold_start(100 * GB, WeightPath.HUB, 8).add_replica_seconds
    473.33333333333337
    """
    pod = rates.pod_start_seconds + container_start_seconds(weight_bytes, path, gpus_per_replica, rates)
    return ColdStart(staging_seconds(weight_bytes, path, rates) + pod, pod)


@dataclass(frozen=True)
class StartupTiming:
    period_seconds: int
    failure_threshold: int

    @property
    def budget_seconds(self) -> int:
        return self.period_seconds * self.failure_threshold


def startup_timing(
    weight_bytes: int | None,
    path: WeightPath,
    gpus_per_replica: int,
    rates: ColdStartRates = DEFAULT_RATES,
) -> StartupTiming:
    """The engine's startup probe (failureThreshold x period) for weights staged or not.

    Twice the expected container start, within [10 min, 6 h]; unknown weight bytes get the maximum, so an
    unlisted model is never killed while it loads. DeepSeek-V4-Pro's 865 GB on 8 GPUs: not staged,
    2 x (1730 + 288 + 180) s = 4397 s; from a shared cache, 2 x (865 + 180) s = 2090 s.

    >>> startup_timing(865 * GB, WeightPath.HUB, 8), startup_timing(865 * GB, WeightPath.SHARED, 8)
    (StartupTiming(period_seconds=10, failure_threshold=440), StartupTiming(period_seconds=10, failure_threshold=209))
    >>> startup_timing(10 * GB, WeightPath.NODE, 1).budget_seconds, startup_timing(None, WeightPath.HUB, 1).budget_seconds
    (600, 21600)
    """
    if weight_bytes is None:
        budget = float(STARTUP_MAX_SECONDS)
    else:
        expected = container_start_seconds(weight_bytes, path, gpus_per_replica, rates)
        budget = min(STARTUP_MAX_SECONDS, max(STARTUP_MIN_SECONDS, STARTUP_SAFETY_FACTOR * expected))
    return StartupTiming(STARTUP_PERIOD_SECONDS, math.ceil(budget / STARTUP_PERIOD_SECONDS))
