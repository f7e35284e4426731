"""Hostile ``config.json`` / ``model.safetensors.index.json`` files the catalog readers' unit tests
(tests/unit/test_hf_readers.py) do not cover: a directory, an endless device, a BOM, duplicate keys,
a named pipe. Each must end in a CatalogError naming the file, quickly."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest

from modelfleet.catalog import CatalogError, read_config_json, weight_bytes_from_index

READERS = [read_config_json, weight_bytes_from_index]


@pytest.mark.parametrize("read", READERS, ids=lambda r: r.__name__)
@pytest.mark.parametrize(
    ("make", "expected"),
    [
        (lambda p: p.mkdir(), "cannot be read"),
        (lambda p: p.symlink_to("/dev/zero"), "not a regular file"),
        (lambda p: p.symlink_to(p.parent / "nowhere"), "check the path"),
        (lambda p: p.write_bytes(b"\xef\xbb\xbf" + b'{"num_hidden_layers": 2}'), "BOM"),
    ],
    ids=["directory", "endless-device", "dangling-symlink", "utf8-bom"],
)
def test_hostile_paths_give_a_catalog_error_naming_the_file(
    tmp_path: Path, read, make, expected: str
) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "config.json"
    make(path)
    with pytest.raises(CatalogError) as error:
        read(path)
    assert str(path) in str(error.value) and expected in str(error.value)


def test_duplicate_keys_are_judged_on_the_last_value_and_named(tmp_path: Path) -> None:
    path = tmp_path / "config.json"
    path.write_text('{"num_hidden_layers": 32, "num_hidden_layers": "thirty-two"}')
    with pytest.raises(CatalogError, match="num_hidden_layers"):
        read_config_json(path)


def test_a_named_pipe_is_refused_rather_than_read_forever(tmp_path: Path) -> None:
    path = tmp_path / "config.json"
    os.mkfifo(path)
    outcome: list[BaseException | None] = []

    def read() -> None:
        try:
            read_config_json(path)
            outcome.append(None)
        except BaseException as error:  # the reader's verdict, whatever it is
            outcome.append(error)

    thread = threading.Thread(target=read, daemon=True)
    thread.start()
    thread.join(timeout=2)
    finished = not thread.is_alive()
    if not finished:  # unblock the reader: a writer that closes at once gives it an empty file
        os.close(os.open(path, os.O_WRONLY | os.O_NONBLOCK))
        thread.join(timeout=5)
    assert finished, "reading a named pipe blocked"
    assert isinstance(outcome[0], CatalogError)
