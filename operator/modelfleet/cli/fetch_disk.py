"""What every fetcher does the same on the cache directory: sizes, partial files, dropping bad files."""

from __future__ import annotations

from pathlib import Path

from modelfleet.api.fetch_plan import PARTIAL_DIR


def size_on_disk(path: Path) -> int:
    """The file's size, 0 when absent (or renamed into place between a listing and this stat)."""
    try:
        return path.stat().st_size
    except OSError:
        return 0


def forget(dest: Path, paths: list[str]) -> None:
    """Drop files, so the next download fetches them whole."""
    for path in paths:
        (dest / path).unlink(missing_ok=True)


def bytes_in_flight(dest: Path) -> int:
    """Bytes of partial files on disk."""
    partial = dest / PARTIAL_DIR
    return sum(size_on_disk(p) for p in partial.rglob("*.part")) if partial.is_dir() else 0
