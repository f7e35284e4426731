"""`modelfleet fetch s3://...` against an S3-compatible store on 127.0.0.1 (testbed/objectstore.py) with the
real obstore client: what it fetches, that it resumes a partial file, verifies, and marks complete."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from modelfleet.api.fetch import COMPLETE_MARKER, FetchPhase, FetchProgress
from modelfleet.api.fetch_plan import ListedFile, is_commit
from modelfleet.cli import main
from modelfleet.cli.fetch import EXIT_COMPLETE, EXIT_PERMANENT
from testbed.objectstore import ObjectStore
from tests.unit.test_hub_server import safetensors_bytes

MIB = 1024 * 1024
FILES = {
    "config.json": b'{"architectures": ["Qwen3ForCausalLM"]}',
    "tokenizer.json": b'{"version": "1.0"}',
    "model.safetensors": safetensors_bytes({"w": [256, 256]}),
    "README.md": b"# not for the engine",
}


@pytest.fixture
def s3(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[ObjectStore]:
    with ObjectStore() as store:
        for key, value in store.environment().items():
            monkeypatch.setenv(key, value)
        monkeypatch.setenv("MODELFLEET_TERMINATION_LOG", str(tmp_path / "termination-log"))
        monkeypatch.delenv("MODELFLEET_FETCH_JOB", raising=False)
        yield store


def put_model(s3: ObjectStore, files: dict[str, bytes] = FILES) -> None:
    for name, data in files.items():
        s3.put("models", f"qwen/{name}", data)
    s3.put("models", "other/config.json", b"{}")


def fetch(dest: Path, source: str = "s3://models/qwen") -> int:
    return main(["fetch", source, "--dest", str(dest)])


def marker(dest: Path) -> FetchProgress:
    return FetchProgress.model_validate_json((dest / COMPLETE_MARKER).read_text())


def test_an_s3_prefix_is_fetched_verified_and_marked_complete(s3: ObjectStore, tmp_path: Path) -> None:
    put_model(s3)
    dest = tmp_path / "cache"
    assert fetch(dest) == EXIT_COMPLETE
    on_disk = sorted(
        str(p.relative_to(dest)) for p in dest.rglob("*") if p.is_file() and ".cache" not in p.parts
    )
    assert on_disk == sorted([COMPLETE_MARKER, "config.json", "model.safetensors", "tokenizer.json"])
    assert (dest / "model.safetensors").read_bytes() == FILES["model.safetensors"]
    done = marker(dest)
    assert done.phase == FetchPhase.COMPLETE and done.source == "s3://models/qwen"
    assert is_commit(done.revision), "a digest of the listing stands for the commit"
    assert {f.path: f.size_bytes for f in done.files or []} == {
        name: len(FILES[name]) for name in ("config.json", "model.safetensors", "tokenizer.json")
    }
    report = json.loads((tmp_path / "termination-log").read_text())
    assert report["phase"] == "Complete" and report["bytesDone"] == report["bytesTotal"]


def test_an_unchanged_prefix_is_a_no_op_and_a_changed_object_is_fetched_again(
    s3: ObjectStore, tmp_path: Path
) -> None:
    put_model(s3)
    dest = tmp_path / "cache"
    assert fetch(dest) == EXIT_COMPLETE
    first = marker(dest).revision
    s3.requests.clear()
    assert fetch(dest) == EXIT_COMPLETE
    assert [
        r for r in s3.requests if r.method == "GET" and "list-type" not in r.path and r.path.count("/") > 2
    ] == []
    assert s3.fetched("config.json") == [] and marker(dest).revision == first
    s3.put("models", "qwen/config.json", b'{"architectures": ["Newer"]}')
    assert fetch(dest) == EXIT_COMPLETE
    assert marker(dest).revision != first
    assert (dest / "config.json").read_bytes() == b'{"architectures": ["Newer"]}'
    assert s3.fetched("model.safetensors") == [], "unchanged files stay"


def test_a_partial_file_is_resumed_with_a_range_request(s3: ObjectStore, tmp_path: Path) -> None:
    # A multipart upload: its ETag is no checksum, so only the size can be checked, and the Range is
    # the only way to tell a resume from a restart.
    data = safetensors_bytes({"w": [3 * 1024, 2 * 1024]})  # 12 MiB, in two parts
    etag = s3.put("models", "qwen/model.safetensors", data, parts=2)
    s3.put("models", "qwen/config.json", b"{}")
    dest = tmp_path / "cache"
    partial = dest / ListedFile("model.safetensors", len(data), etag=etag).partial_name("")
    partial.parent.mkdir(parents=True)
    partial.write_bytes(data[: 3 * MIB])  # what a killed run left behind
    assert fetch(dest) == EXIT_COMPLETE
    assert s3.fetched("model.safetensors") == [f"bytes={3 * MIB}-{len(data) - 1}"]
    assert (dest / "model.safetensors").read_bytes() == data
    assert not partial.exists()


def test_a_file_whose_md5_differs_is_fetched_again_whole(s3: ObjectStore, tmp_path: Path) -> None:
    put_model(s3)
    dest = tmp_path / "cache"
    data = FILES["model.safetensors"]
    etag = s3.client().head_object(Bucket="models", Key="qwen/model.safetensors")["ETag"].strip('"')
    partial = dest / ListedFile("model.safetensors", len(data), md5=etag).partial_name("")
    partial.parent.mkdir(parents=True)
    partial.write_bytes(b"\xff" * 100)  # bytes that are not the object's: the resumed file is wrong
    assert fetch(dest) == EXIT_COMPLETE
    assert s3.fetched("model.safetensors") == [f"bytes=100-{len(data) - 1}", None]
    assert (dest / "model.safetensors").read_bytes() == data


def test_a_prefix_without_model_files_fails_permanently_with_404(s3: ObjectStore, tmp_path: Path) -> None:
    put_model(s3)
    assert fetch(tmp_path / "cache", "s3://models/absent") == EXIT_PERMANENT
    error = json.loads((tmp_path / "termination-log").read_text())["error"]
    assert error["httpStatus"] == 404 and error["url"] == "s3://models/absent" and error["retryable"] is False
