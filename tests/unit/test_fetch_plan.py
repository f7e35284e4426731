"""The pure side of a weight download (api/fetch_plan.py): sources, file choice, rate and ETA, report
throttling and when a completion marker still holds."""

from __future__ import annotations

import pytest

from modelfleet.api.fetch import FetchedFile, FetchError, FetchPhase, FetchProgress
from modelfleet.api.fetch_plan import (
    PICKLED_WEIGHT_PATTERNS,
    Source,
    SourceError,
    SourceKind,
    TransferMeter,
    engine_file_patterns,
    is_commit,
    marker_holds,
    parse_source,
    report_due,
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("hf://deepseek-ai/DeepSeek-V4-Pro", Source(SourceKind.HUB, "deepseek-ai/DeepSeek-V4-Pro")),
        ("Qwen/Qwen3.5-9B", Source(SourceKind.HUB, "Qwen/Qwen3.5-9B")),
        ("hf://acme/tiny/", Source(SourceKind.HUB, "acme/tiny")),
        ("s3://models/qwen/3.5/", Source(SourceKind.S3, "models", "qwen/3.5")),
        ("gs://bucket", Source(SourceKind.GCS, "bucket", "")),
    ],
)
def test_sources_parse_to_their_kind_and_location(text: str, expected: Source) -> None:
    assert parse_source(text) == expected


@pytest.mark.parametrize("text", ["", "tiny", "hf://a/b/c", "ftp://host/x", "s3://", "s3:///prefix"])
def test_unreadable_sources_are_refused_with_a_reason(text: str) -> None:
    with pytest.raises(SourceError, match=r"\S"):
        parse_source(text)


def test_the_canonical_uri_names_the_scheme_always() -> None:
    assert [parse_source(t).uri for t in ("acme/tiny", "s3://b/p/", "gs://b")] == [
        "hf://acme/tiny",
        "s3://b/p",
        "gs://b",
    ]


@pytest.mark.parametrize(
    ("revision", "commit"),
    [("a" * 40, True), ("main", False), ("A" * 40, False), ("a" * 39, False), (None, False)],
)
def test_only_a_full_lowercase_sha_is_a_commit(revision: str | None, commit: bool) -> None:
    assert is_commit(revision) is commit


@pytest.mark.parametrize(
    ("paths", "pickled"),
    [
        (["config.json", "model.safetensors", "pytorch_model.bin"], False),
        (["config.json", "pytorch_model.bin"], True),
        (["config.json"], True),
    ],
)
def test_pickled_weights_are_fetched_only_without_safetensors(paths: list[str], pickled: bool) -> None:
    patterns = engine_file_patterns(paths)
    assert "*.safetensors" in patterns and "*.json" in patterns
    assert all(p in patterns for p in PICKLED_WEIGHT_PATTERNS) is pickled


@pytest.mark.parametrize(
    ("samples", "total", "rate", "eta"),
    [
        ([], 100, None, None),
        ([(0, 0)], 100, None, None),
        ([(0, 0), (2, 100)], 300, 50.0, 4),
        ([(0, 0), (2, 100)], None, 50.0, None),
        ([(0, 500), (10, 500)], 1000, 0.0, None),  # stalled: no ETA rather than infinity
        ([(0, 0), (40, 4000), (50, 5000), (60, 6000)], 9000, 100.0, 30),  # old samples leave the window
        ([(0, 0), (1, 0), (2, 10_000)], 12_000, 5000.0, 1),  # ceil: never 0 before the end
    ],
)
def test_rate_and_eta_over_the_window(
    samples: list[tuple[float, int]], total: int | None, rate: float | None, eta: int | None
) -> None:
    meter = TransferMeter(window_seconds=30)
    for at, done in samples:
        meter.add(at, done)
    assert meter.rate_bytes_per_second() == rate
    assert meter.eta_seconds(total) == eta


def progress(phase: FetchPhase = FetchPhase.DOWNLOADING, **extra: object) -> FetchProgress:
    return FetchProgress.model_validate({"phase": phase, "source": "hf://a/b", "updatedAt": "t", **extra})


@pytest.mark.parametrize(
    ("previous", "current", "elapsed", "due"),
    [
        (None, progress(), 0.0, True),
        (progress(), progress(bytes_done=10), 1.0, False),
        (progress(), progress(bytes_done=10), 5.0, True),
        (progress(), progress(FetchPhase.VERIFYING), 0.1, True),
        (progress(), progress(error=FetchError(message="x")), 0.1, True),
    ],
)
def test_reports_are_throttled_except_phase_changes_and_errors(
    previous: FetchProgress | None, current: FetchProgress, elapsed: float, due: bool
) -> None:
    assert report_due(previous, current, elapsed, interval_seconds=5.0) is due


SHA = "c" * 40
FILES = [FetchedFile(path="config.json", size_bytes=10), FetchedFile(path="w.safetensors", size_bytes=99)]


@pytest.mark.parametrize(
    ("marker", "revision", "sizes", "holds"),
    [
        (
            progress(FetchPhase.COMPLETE, revision=SHA, files=FILES),
            SHA,
            {"config.json": 10, "w.safetensors": 99},
            True,
        ),
        (
            progress(FetchPhase.COMPLETE, revision=SHA, files=FILES),
            "d" * 40,
            {"config.json": 10, "w.safetensors": 99},
            False,
        ),
        (
            progress(FetchPhase.COMPLETE, revision=SHA, files=FILES),
            SHA,
            {"config.json": 10, "w.safetensors": 98},
            False,
        ),
        (
            progress(FetchPhase.COMPLETE, revision=SHA, files=FILES),
            SHA,
            {"config.json": 10, "w.safetensors": None},
            False,
        ),
        (
            progress(FetchPhase.VERIFYING, revision=SHA, files=FILES),
            SHA,
            {"config.json": 10, "w.safetensors": 99},
            False,
        ),
        (progress(FetchPhase.COMPLETE, revision=SHA), SHA, {}, False),
    ],
)
def test_a_marker_holds_only_when_complete_for_the_commit_with_every_file_at_its_size(
    marker: FetchProgress, revision: str, sizes: dict[str, int | None], holds: bool
) -> None:
    assert marker_holds(marker, revision, sizes) is holds
