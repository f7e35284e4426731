"""`modelfleet fetch` against the loopback Hub (testbed/hub.py) with the real huggingface_hub client: what it
downloads, that it resumes, verifies, marks complete only when verified, and reports failures by status."""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from modelfleet.api.fetch import COMPLETE_MARKER, FetchPhase, FetchProgress
from modelfleet.api.fetch_plan import parse_source
from modelfleet.cli import main
from modelfleet.cli.fetch import EXIT_COMPLETE, EXIT_PERMANENT, EXIT_RETRYABLE, Fetch
from modelfleet.cli.fetch_report import Reporter
from testbed.cluster import free_port
from testbed.hub import HubServer
from testbed.wait import wait_for
from tests.unit.test_hub_server import safetensors_bytes

pytestmark = pytest.mark.loopback_hub

REPO_FILES = {
    "config.json": b'{"architectures": ["LlamaForCausalLM"]}',
    "tokenizer.json": b'{"version": "1.0"}',
    "model-00001-of-00002.safetensors": safetensors_bytes({"a": [256, 64]}),
    "model-00002-of-00002.safetensors": safetensors_bytes({"b": [128, 64]}),
    "README.md": b"# not for the engine",
    "original/consolidated.00.pth": b"\0" * 512,
}
ENGINE_FILES = sorted(p for p in REPO_FILES if not p.endswith((".md", ".pth")))


@pytest.fixture
def hub() -> Iterator[HubServer]:
    with HubServer() as server:
        yield server


@pytest.fixture
def termination_log(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "termination-log"
    monkeypatch.setenv("MODELFLEET_TERMINATION_LOG", str(path))
    monkeypatch.delenv("MODELFLEET_FETCH_JOB", raising=False)
    monkeypatch.delenv("HF_TOKEN", raising=False)
    return path


def fetch(hub: HubServer, source: str, dest: Path, *extra: str) -> int:
    return main(["fetch", source, "--dest", str(dest), "--endpoint", hub.url, *extra])


def marker(dest: Path) -> FetchProgress:
    return FetchProgress.model_validate_json((dest / COMPLETE_MARKER).read_text())


def final_report(path: Path) -> dict[str, Any]:
    return dict(json.loads(path.read_text()))


def test_a_fetch_downloads_the_engine_files_verifies_them_and_writes_the_marker(
    hub: HubServer, tmp_path: Path, termination_log: Path
) -> None:
    sha = hub.add_repo("acme/tiny", REPO_FILES)
    dest = tmp_path / "cache"
    assert fetch(hub, "hf://acme/tiny", dest) == EXIT_COMPLETE
    assert sorted(
        str(p.relative_to(dest)) for p in dest.rglob("*") if p.is_file() and ".cache" not in p.parts
    ) == (sorted([*ENGINE_FILES, COMPLETE_MARKER]))
    done = marker(dest)
    assert done.phase == FetchPhase.COMPLETE and done.revision == sha and done.source == "hf://acme/tiny"
    assert {f.path: f.size_bytes for f in done.files or []} == {p: len(REPO_FILES[p]) for p in ENGINE_FILES}
    assert done.bytes_done == done.bytes_total == sum(len(REPO_FILES[p]) for p in ENGINE_FILES)
    report = final_report(termination_log)
    assert report["phase"] == "Complete" and report["revision"] == sha and "files" not in report


def test_a_revision_pinned_by_commit_fetches_that_commit_not_the_branch(
    hub: HubServer, tmp_path: Path, termination_log: Path
) -> None:
    first = hub.add_repo("acme/tiny", REPO_FILES)
    hub.add_commit("acme/tiny", {**REPO_FILES, "config.json": b'{"architectures": ["Newer"]}'})
    dest = tmp_path / "cache"
    assert fetch(hub, "acme/tiny", dest, "--revision", first) == EXIT_COMPLETE
    assert (dest / "config.json").read_bytes() == REPO_FILES["config.json"]
    assert marker(dest).revision == first
    assert all(f"/resolve/{first}/" in p for p in hub.fetched())


def test_a_valid_marker_for_the_same_commit_makes_the_fetch_a_no_op(
    hub: HubServer, tmp_path: Path, termination_log: Path
) -> None:
    sha = hub.add_repo("acme/tiny", REPO_FILES)
    dest = tmp_path / "cache"
    assert fetch(hub, "acme/tiny", dest, "--revision", sha) == EXIT_COMPLETE
    hub.requests.clear()
    assert fetch(hub, "acme/tiny", dest, "--revision", sha) == EXIT_COMPLETE
    assert hub.requests == [], "a pinned commit with a valid marker needs no request at all"
    assert fetch(hub, "acme/tiny", dest, "--revision", "main") == EXIT_COMPLETE
    assert hub.fetched() == [], "a branch is resolved, then no file is downloaded again"
    assert final_report(termination_log)["phase"] == "Complete"


def test_a_marker_for_another_commit_or_with_a_missing_file_is_refetched(
    hub: HubServer, tmp_path: Path, termination_log: Path
) -> None:
    first = hub.add_repo("acme/tiny", REPO_FILES)
    dest = tmp_path / "cache"
    assert fetch(hub, "acme/tiny", dest) == EXIT_COMPLETE
    second = hub.add_commit("acme/tiny", {**REPO_FILES, "config.json": b'{"architectures": ["Newer"]}'})
    assert fetch(hub, "acme/tiny", dest) == EXIT_COMPLETE
    assert marker(dest).revision == second != first
    assert (dest / "config.json").read_bytes() == b'{"architectures": ["Newer"]}'
    (dest / "tokenizer.json").unlink()
    hub.requests.clear()
    assert fetch(hub, "acme/tiny", dest, "--revision", second) == EXIT_COMPLETE
    assert [p.rsplit("/", 1)[-1] for p in hub.fetched()] == ["tokenizer.json"]


def test_a_corrupted_file_is_detected_fetched_once_more_then_fails_without_a_marker(
    hub: HubServer, tmp_path: Path, termination_log: Path
) -> None:
    hub.add_repo("acme/tiny", REPO_FILES)
    hub.faults.corrupt.add("model-00002-of-00002.safetensors")
    dest = tmp_path / "cache"
    assert fetch(hub, "acme/tiny", dest) == EXIT_PERMANENT
    assert not (dest / COMPLETE_MARKER).exists()
    assert len(hub.fetched("model-00002-of-00002.safetensors")) == 2, "one fresh download before giving up"
    report = final_report(termination_log)
    assert report["phase"] == "Failed"
    assert "model-00002-of-00002.safetensors" in report["error"]["message"]
    assert report["error"]["retryable"] is False


def test_a_corruption_in_transit_is_cured_by_the_fresh_download(
    hub: HubServer, tmp_path: Path, termination_log: Path
) -> None:
    hub.add_repo("acme/tiny", REPO_FILES)
    hub.faults.corrupt.add("model-00001-of-00002.safetensors")
    dest = tmp_path / "cache"
    reporter = Reporter([], interval_seconds=0)
    run = Fetch(parse_source("acme/tiny"), _args(hub, dest), reporter, _base())
    original = run.fetcher.mismatches

    def heal_after_first_check(d: Path, listing: Any) -> list[str]:
        bad = original(d, listing)
        hub.faults.corrupt.clear()  # the next transfer is clean, as after a flipped bit on the wire
        return bad

    run.fetcher.mismatches = heal_after_first_check  # type: ignore[method-assign]
    assert run.run().phase == FetchPhase.COMPLETE
    assert (dest / "model-00001-of-00002.safetensors").read_bytes() == REPO_FILES[
        "model-00001-of-00002.safetensors"
    ]


@pytest.mark.parametrize(("token", "status"), [(None, 401), ("wrong", 403)])
def test_a_gated_repo_fails_permanently_with_the_status_and_url(
    hub: HubServer,
    tmp_path: Path,
    termination_log: Path,
    monkeypatch: pytest.MonkeyPatch,
    token: str | None,
    status: int,
) -> None:
    hub.add_repo("acme/gated", REPO_FILES, gated=True, tokens=("good",))
    if token:
        monkeypatch.setenv("HF_TOKEN", token)
    assert fetch(hub, "hf://acme/gated", tmp_path / "cache") == EXIT_PERMANENT
    error = final_report(termination_log)["error"]
    assert error["httpStatus"] == status
    assert error["url"].startswith(f"{hub.url}/api/models/acme/gated")
    assert error["retryable"] is False
    assert not (tmp_path / "cache" / COMPLETE_MARKER).exists()


def test_a_gated_repo_downloads_with_a_token_that_has_access(
    hub: HubServer, tmp_path: Path, termination_log: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    hub.add_repo("acme/gated", REPO_FILES, gated=True, tokens=("good",))
    monkeypatch.setenv("HF_TOKEN", "good")
    assert fetch(hub, "acme/gated", tmp_path / "cache") == EXIT_COMPLETE
    assert {r.authorization for r in hub.requests} == {"Bearer good"}


def test_a_missing_repo_is_permanent_and_an_unreachable_hub_is_retryable(
    hub: HubServer, tmp_path: Path, termination_log: Path
) -> None:
    assert fetch(hub, "acme/absent", tmp_path / "a") == EXIT_PERMANENT
    assert final_report(termination_log)["error"]["httpStatus"] == 404
    closed = f"http://127.0.0.1:{free_port()}"
    assert main(["fetch", "acme/tiny", "--dest", str(tmp_path / "b"), "--endpoint", closed]) == EXIT_RETRYABLE
    error = final_report(termination_log)["error"]
    assert error["retryable"] is True and "httpStatus" not in error


@pytest.mark.parametrize("source", ["ftp://host/x", "not a repo", "s3://"])
def test_a_source_this_build_cannot_read_fails_permanently_with_a_reason(
    hub: HubServer, tmp_path: Path, termination_log: Path, source: str
) -> None:
    assert fetch(hub, source, tmp_path / "cache") == EXIT_PERMANENT
    assert final_report(termination_log)["error"]["message"]


def test_the_marker_appears_only_after_every_file_is_verified(hub: HubServer, tmp_path: Path) -> None:
    hub.add_repo("acme/tiny", REPO_FILES)
    dest = tmp_path / "cache"
    seen: list[tuple[FetchPhase, bool]] = []

    class Recorder:
        def send(self, progress: FetchProgress) -> None:
            seen.append((progress.phase, (dest / COMPLETE_MARKER).exists()))

    run = Fetch(parse_source("acme/tiny"), _args(hub, dest), Reporter([Recorder()], 0), _base())
    assert run.run().phase == FetchPhase.COMPLETE
    phases = [phase for phase, _ in seen]
    assert phases.index(FetchPhase.VERIFYING) < phases.index(FetchPhase.COMPLETE) == len(phases) - 1
    assert [has for phase, has in seen if phase != FetchPhase.COMPLETE] == [False] * (len(seen) - 1)
    assert seen[-1] == (FetchPhase.COMPLETE, True)


def test_a_killed_download_resumes_from_its_partial_file_with_a_range_request(
    hub: HubServer, tmp_path: Path
) -> None:
    # 40 MiB at 4 MiB/s: ~10 s if left alone. The client writes 10 MiB chunks, so one is on disk after 2.5 s.
    big = safetensors_bytes({"w": [5 * 1024, 4 * 1024]})
    hub.add_repo("acme/big", {"config.json": b"{}", "model.safetensors": big})
    hub.faults.bytes_per_second["model.safetensors"] = 4 * 1024 * 1024
    dest = tmp_path / "cache"
    env = {
        **os.environ,
        "MODELFLEET_TERMINATION_LOG": str(tmp_path / "log"),
        "HF_HUB_DISABLE_PROGRESS_BARS": "1",
    }
    env.pop("MODELFLEET_FETCH_JOB", None)
    command = [str(Path(sys.executable).parent / "modelfleet"), "fetch", "acme/big", "--dest", str(dest)]
    command += ["--endpoint", hub.url, "--progress-seconds", "0.5"]
    stderr = tmp_path / "stderr"
    with stderr.open("w") as err:
        process = subprocess.Popen(command, env=env, stderr=err)
        try:
            running = lambda: process.poll() is None  # noqa: E731
            wait_for(
                lambda: (_partial_bytes(dest) > 0 and _moving(_reports(stderr))) or not running(),
                "a chunk on disk and a report with a rate",
                timeout=120,
                interval=0.05,
            )
            assert running(), stderr.read_text()
        finally:
            process.send_signal(signal.SIGKILL)
            process.wait(timeout=60)
    kept = _partial_bytes(dest)
    assert 0 < kept < len(big) and not (dest / COMPLETE_MARKER).exists()
    moving = _moving(_reports(stderr))
    assert moving and moving[-1]["etaSeconds"] > 0

    hub.faults.bytes_per_second.clear()
    hub.requests.clear()
    result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == EXIT_COMPLETE, result.stderr
    ranges = [r.range for r in hub.requests if r.method == "GET" and r.path.endswith("model.safetensors")]
    assert ranges and ranges[0] is not None and int(ranges[0].removeprefix("bytes=").split("-")[0]) >= kept
    assert (dest / "model.safetensors").read_bytes() == big
    assert marker(dest).phase == FetchPhase.COMPLETE


def _reports(stderr: Path) -> list[dict[str, Any]]:
    lines = stderr.read_text().splitlines()
    return [json.loads(line.split(": ", 1)[1]) for line in lines if line.startswith("modelfleet fetch: {")]


def _moving(reports: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Downloading reports with a rate above zero (and so an ETA)."""
    return [r for r in reports if r["phase"] == "Downloading" and r.get("rateBytesPerSecond", 0) > 0]


def _partial_bytes(dest: Path) -> int:
    state = dest / ".cache" / "modelfleet" / "partial"
    return sum(p.stat().st_size for p in state.rglob("*.part")) if state.is_dir() else 0


def _args(hub: HubServer, dest: Path) -> argparse.Namespace:
    return argparse.Namespace(revision="main", dest=dest, endpoint=hub.url)


def _base() -> FetchProgress:
    return FetchProgress(phase=FetchPhase.LISTING, source="hf://acme/tiny", updated_at="2026-01-01T00:00:00Z")


def test_a_connection_cut_mid_file_is_resumed_within_the_run_by_a_range_request(
    hub: HubServer, tmp_path: Path, termination_log: Path
) -> None:
    # The client writes in 10 MiB chunks: a cut after 11 MiB of a 12 MiB file keeps the first chunk.
    name, data = "model.safetensors", safetensors_bytes({"w": [3 * 1024, 2 * 1024]})
    hub.add_repo("acme/tiny", {"config.json": b"{}", name: data})
    hub.faults.cut_after_bytes[name] = 11 * 1024 * 1024
    assert fetch(hub, "acme/tiny", tmp_path / "cache") == EXIT_COMPLETE
    ranges = [r.range for r in hub.requests if r.method == "GET" and r.path.endswith(name)]
    assert ranges == [None, f"bytes={10 * 1024 * 1024}-"]
    assert (tmp_path / "cache" / name).read_bytes() == data


def test_an_unexpected_error_still_leaves_a_retryable_report_in_the_termination_message(
    hub: HubServer, tmp_path: Path, termination_log: Path
) -> None:
    hub.add_repo("acme/tiny", REPO_FILES)
    not_a_directory = tmp_path / "file"
    not_a_directory.write_text("")
    assert fetch(hub, "acme/tiny", not_a_directory) == EXIT_RETRYABLE
    error = final_report(termination_log)["error"]
    assert error["retryable"] is True and error["message"].startswith("internal error: FileExistsError")


def test_the_reporter_sends_phase_changes_at_once_and_progress_at_most_every_interval() -> None:
    now = [0.0]
    sent: list[FetchProgress] = []

    class Recorder:
        def send(self, progress: FetchProgress) -> None:
            sent.append(progress)

    reporter = Reporter([Recorder()], interval_seconds=5, clock=lambda: now[0])
    for at, phase, done in [
        (0, FetchPhase.LISTING, 0),
        (1, FetchPhase.DOWNLOADING, 0),
        (2, FetchPhase.DOWNLOADING, 100),
        (4, FetchPhase.DOWNLOADING, 300),
        (6, FetchPhase.DOWNLOADING, 500),
        (6.5, FetchPhase.VERIFYING, 1000),
    ]:
        now[0] = at
        total = None if phase == FetchPhase.LISTING else 1000  # unknown until listed: no rate sample
        reporter.report(_base().model_copy(update={"phase": phase, "bytes_done": done, "bytes_total": total}))
    assert [(p.phase, p.bytes_done) for p in sent] == [
        (FetchPhase.LISTING, 0),
        (FetchPhase.DOWNLOADING, 0),
        (FetchPhase.DOWNLOADING, 500),
        (FetchPhase.VERIFYING, 1000),
    ]
    assert sent[2].rate_bytes_per_second == 100.0 and sent[2].eta_seconds == 5


def test_a_malformed_job_name_fails_permanently_before_any_download(
    hub: HubServer, tmp_path: Path, termination_log: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    hub.add_repo("acme/tiny", REPO_FILES)
    monkeypatch.setenv("MODELFLEET_FETCH_JOB", "no-namespace")
    assert fetch(hub, "acme/tiny", tmp_path / "cache") == EXIT_PERMANENT
    assert "MODELFLEET_FETCH_JOB" in final_report(termination_log)["error"]["message"]
    assert hub.requests == []
