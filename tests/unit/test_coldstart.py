"""Cold-start arithmetic (render/coldstart.py) and the benchmark section built on it (bench/coldstart.py)."""

from __future__ import annotations

import pytest

from bench import coldstart as bench_coldstart
from bench import doc
from modelfleet.render.coldstart import (
    GB,
    STARTUP_MAX_SECONDS,
    STARTUP_MIN_SECONDS,
    ColdStartRates,
    WeightPath,
    cold_start,
    container_start_seconds,
    load_seconds,
    startup_timing,
)

# Round rates so the expected figures can be worked out by hand in each row.
RATES = ColdStartRates(
    hub_download_bytes_per_second=1 * GB,
    shared_read_bytes_per_second=2 * GB,
    shared_write_bytes_per_second=0.5 * GB,
    node_nvme_read_bytes_per_second=4 * GB,
    engine_load_bytes_per_second_per_gpu=1 * GB,
    pod_start_seconds=10,
    engine_warmup_seconds=100,
    job_start_seconds=5,
    checksum_bytes_per_second=1 * GB,
)


@pytest.mark.parametrize(
    ("weight_gb", "path", "gpus", "first", "add"),
    [
        # download 400 s + load 400/min(4, 8) = 100 s + warm-up 100 + pod 10; every replica downloads
        (400, WeightPath.HUB, 8, 610, 610),
        # staging 5 + download 400/min(1, 0.5) = 800 + sha256 400/min(1, 2) = 400, then pod 10 +
        # load 400/min(2, 8) = 200 + warm-up 100
        (400, WeightPath.SHARED, 8, 1515, 310),
        # staging 5 + download 400/min(1, 4) = 400 + sha256 400/min(1, 4) = 400, then pod 10 +
        # load 400/min(4, 8) = 100 + warm-up 100
        (400, WeightPath.NODE, 8, 1015, 210),
        # one GPU: loading is bounded by the GPU (1 GB/s), not the disk
        (40, WeightPath.NODE, 1, 5 + 40 + 40 + 10 + 40 + 100, 10 + 40 + 100),
    ],
)
def test_cold_start_worked_by_hand(
    weight_gb: int, path: WeightPath, gpus: int, first: float, add: float
) -> None:
    start = cold_start(weight_gb * GB, path, gpus, RATES)
    assert (start.first_ready_seconds, start.add_replica_seconds) == (first, add)


def test_a_staged_replica_is_never_slower_to_add_than_a_downloading_one_at_the_default_rates() -> None:
    for weight_gb in (1, 20, 160, 865):
        for gpus in (1, 2, 8, 16):
            hub = cold_start(weight_gb * GB, WeightPath.HUB, gpus).add_replica_seconds
            for staged in (WeightPath.SHARED, WeightPath.NODE):
                assert cold_start(weight_gb * GB, staged, gpus).add_replica_seconds < hub


@pytest.mark.parametrize(
    ("weight_bytes", "path", "gpus", "threshold"),
    [
        (400 * GB, WeightPath.HUB, 8, 120),  # 2 x 600 s = 1200 s / 10
        (400 * GB, WeightPath.SHARED, 8, 60),  # 2 x 300 s
        (400 * GB, WeightPath.NODE, 8, 60),  # 2 x 200 s = 400 s: raised to the 10-minute floor
        (10 * GB, WeightPath.HUB, 1, 60),  # 2 x 130 s: the floor
        (100_000 * GB, WeightPath.HUB, 1, 2160),  # days of download: capped at 6 h
        (None, WeightPath.SHARED, 1, 2160),  # unknown weights: the cap, never a kill while loading
    ],
)
def test_startup_probe_timing_follows_the_staged_or_unstaged_path(
    weight_bytes: int | None, path: WeightPath, gpus: int, threshold: int
) -> None:
    timing = startup_timing(weight_bytes, path, gpus, RATES)
    assert (timing.period_seconds, timing.failure_threshold) == (10, threshold)
    assert STARTUP_MIN_SECONDS <= timing.budget_seconds <= STARTUP_MAX_SECONDS


def test_the_startup_budget_always_covers_the_expected_start() -> None:
    for weight_gb in (1, 50, 300, 865, 2000):
        for path in WeightPath:
            expected = container_start_seconds(weight_gb * GB, path, 8)
            assert startup_timing(weight_gb * GB, path, 8).budget_seconds >= min(
                expected, STARTUP_MAX_SECONDS
            )


def test_load_is_bounded_by_the_slower_of_disk_and_gpus() -> None:
    assert load_seconds(80 * GB, WeightPath.SHARED, 1, RATES) == 80  # one GPU at 1 GB/s
    assert load_seconds(80 * GB, WeightPath.SHARED, 8, RATES) == 40  # the volume at 2 GB/s


def test_the_benchmark_gives_every_seed_model_with_known_weights_its_figures() -> None:
    records = bench_coldstart.records()
    assert {r["model"] for r in records} >= {
        "deepseek-ai/DeepSeek-V4-Pro",
        "Qwen/Qwen3.5-9B",
        "meta-llama/Llama-5",
    }
    assert {r["model"] for r in records if r["weight_bytes"] is None} == {"meta-llama/Llama-5"}, (
        "its weights are unknown until overrides are set"
    )
    for r in (r for r in records if r["weight_bytes"] is not None):
        assert r["weight_bytes"] > 0 and r["gpus"] >= 1
        assert r["add_replica_seconds_shared"] < r["add_replica_seconds_hub"] == r["first_ready_seconds_hub"]
        assert r["first_ready_seconds_shared"] > r["add_replica_seconds_shared"]
    pro = next(r for r in records if r["model"] == "deepseek-ai/DeepSeek-V4-Pro")
    assert pro["weight_bytes"] == 864_727_240_540 and pro["weights_from"] == "catalog"
    # 865 GB at 0.5 GB/s is 1,729 s of download alone, on every replica without a cache
    assert pro["add_replica_seconds_hub"] - pro["add_replica_seconds_shared"] > 1729 - 865


def test_the_doc_has_a_cold_start_section_with_its_assumptions() -> None:
    results = {"coldstart": bench_coldstart.records()}
    text = doc.render(results, "analysis")
    assert "## Cold start" in text
    assert "| Hub download, per pod | 0.5 GB/s" in text
    assert "| deepseek-ai/DeepSeek-V4-Pro | 865 | 8 | 37.6 min |" in text
    assert "Left out, their weights unknown until overrides are set: meta-llama/Llama-5." in text
    assert "## Cold start" not in doc.render({}, "analysis")
