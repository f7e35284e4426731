"""The loopback Hub answers the real huggingface_hub client the way the Hub does (testbed/hub.py)."""

from __future__ import annotations

import json
import struct
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from huggingface_hub import HfApi, hf_hub_download, snapshot_download
from huggingface_hub.errors import (
    EntryNotFoundError,
    GatedRepoError,
    RepositoryNotFoundError,
    RevisionNotFoundError,
)

from testbed.hub import HubServer

pytestmark = pytest.mark.loopback_hub


def safetensors_bytes(shapes: dict[str, list[int]]) -> bytes:
    """A valid bf16 safetensors file: an 8-byte little-endian header length, the JSON header, zeros."""
    header: dict[str, object] = {}
    offset = 0
    for name, shape in shapes.items():
        size = 2
        for dim in shape:
            size *= dim
        header[name] = {"dtype": "BF16", "shape": shape, "data_offsets": [offset, offset + size]}
        offset += size
    raw = json.dumps(header).encode()
    return struct.pack("<Q", len(raw)) + raw + b"\0" * offset


@pytest.fixture
def hub() -> Iterator[HubServer]:
    with HubServer() as server:
        yield server


def test_a_snapshot_downloads_every_file_of_the_pinned_commit(hub: HubServer, tmp_path: Path) -> None:
    first = hub.add_repo(
        "acme/tiny", {"config.json": b'{"a": 1}', "model.safetensors": safetensors_bytes({"w": [8]})}
    )
    hub.add_commit("acme/tiny", {"config.json": b'{"a": 2}'})
    folder = snapshot_download("acme/tiny", revision=first, local_dir=tmp_path / "snap", endpoint=hub.url)
    assert json.loads((Path(folder) / "config.json").read_text()) == {"a": 1}
    assert (Path(folder) / "model.safetensors").stat().st_size == len(safetensors_bytes({"w": [8]}))
    assert HfApi(endpoint=hub.url).model_info("acme/tiny").sha != first


def test_a_gated_repo_answers_401_without_a_token_and_403_with_a_wrong_one(
    hub: HubServer, tmp_path: Path
) -> None:
    hub.add_repo("acme/gated", {"config.json": b"{}"}, gated=True, tokens=("good",))
    statuses = []
    for token in (False, "wrong"):
        with pytest.raises(GatedRepoError) as raised:
            hf_hub_download("acme/gated", "config.json", endpoint=hub.url, cache_dir=tmp_path, token=token)
        statuses.append(raised.value.response.status_code)
    assert statuses == [401, 403]
    assert Path(
        hf_hub_download("acme/gated", "config.json", endpoint=hub.url, cache_dir=tmp_path, token="good")
    )


def test_missing_repos_revisions_and_files_raise_the_clients_own_errors(
    hub: HubServer, tmp_path: Path
) -> None:
    hub.add_repo("acme/tiny", {"config.json": b"{}"})
    cases = [
        ("acme/absent", "config.json", None, RepositoryNotFoundError),
        ("acme/tiny", "config.json", "0" * 40, RevisionNotFoundError),
        ("acme/tiny", "absent.json", None, EntryNotFoundError),
    ]
    for repo, filename, revision, error in cases:
        with pytest.raises(error):
            hf_hub_download(repo, filename, revision=revision, endpoint=hub.url, cache_dir=tmp_path)


def test_a_corrupted_file_fails_the_clients_checksum_verification(hub: HubServer, tmp_path: Path) -> None:
    hub.add_repo("acme/tiny", {"model.safetensors": safetensors_bytes({"w": [16]})})
    hub.faults.corrupt.add("model.safetensors")
    snapshot_download("acme/tiny", local_dir=tmp_path / "snap", endpoint=hub.url)
    result = HfApi(endpoint=hub.url).verify_repo_checksums("acme/tiny", local_dir=tmp_path / "snap")
    assert [m["path"] for m in result.mismatches] == ["model.safetensors"]


def test_range_requests_serve_the_safetensors_header_without_the_weights(hub: HubServer) -> None:
    data = safetensors_bytes({"w": [1024, 1024]})
    hub.add_repo("acme/tiny", {"model.safetensors": data})
    request = urllib.request.Request(
        f"{hub.url}/acme/tiny/resolve/main/model.safetensors", headers={"Range": "bytes=0-7"}
    )
    with urllib.request.urlopen(request, timeout=10) as answer:
        assert answer.status == 206
        assert answer.headers["Content-Range"] == f"bytes 0-7/{len(data)}"
        assert struct.unpack("<Q", answer.read())[0] == len(data) - 2 * 1024 * 1024 - 8
    assert hub.fetched() == ["/acme/tiny/resolve/main/model.safetensors"]
