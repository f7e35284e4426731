"""The arithmetic and choices of a weight download, free of I/O: what the source is, which files an engine
needs, how fast it goes and when it ends, when to report, and whether a completion marker still holds.

``modelfleet fetch`` (cli/fetch.py) is the shell around these; they are table tested in
tests/unit/test_fetch_plan.py.
"""

from __future__ import annotations

import hashlib
import math
import re
from collections import deque
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import PurePosixPath

from modelfleet.api.fetch import FetchError, FetchPhase, FetchProgress

_HUB_REPO = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")
_COMMIT = re.compile(r"^[0-9a-f]{40}$")


class SourceKind(StrEnum):
    HUB = "hf"
    S3 = "s3"
    GCS = "gs"


@dataclass(frozen=True)
class Source:
    """A parsed SOURCE: the Hub repository ``org/name``, or an object-store bucket and key prefix."""

    kind: SourceKind
    location: str  # org/name for the Hub; the bucket for s3 and gs
    prefix: str = ""  # the key prefix inside the bucket (object stores only)

    @property
    def uri(self) -> str:
        """The canonical form written in every report.

        >>> parse_source("acme/tiny").uri
        'hf://acme/tiny'
        """
        tail = f"/{self.prefix}" if self.prefix else ""
        return f"{self.kind.value}://{self.location}{tail}"


class SourceError(ValueError):
    pass


class FetchFailure(Exception):
    """A failed fetch with its report: the source's HTTP status and URL when it answered, and whether
    a retry may help."""

    def __init__(self, error: FetchError) -> None:
        super().__init__(error.message)
        self.error = error


def parse_source(text: str) -> Source:
    """``hf://org/name`` or a bare ``org/name`` (the Hub), ``s3://bucket/prefix``, ``gs://bucket/prefix``.

    >>> parse_source("hf://deepseek-ai/DeepSeek-V4-Pro")
    Source(kind=<SourceKind.HUB: 'hf'>, location='deepseek-ai/DeepSeek-V4-Pro', prefix='')
    >>> parse_source("s3://models/qwen/3.5/").prefix
    'qwen/3.5'
    """
    scheme, sep, rest = text.partition("://")
    if not sep:
        scheme, rest = SourceKind.HUB.value, text
    if scheme == SourceKind.HUB.value:
        repo = rest.strip("/")
        if not _HUB_REPO.match(repo):
            raise SourceError(f"{text!r}: a Hub source is org/name (or hf://org/name)")
        return Source(SourceKind.HUB, repo)
    if scheme in (SourceKind.S3.value, SourceKind.GCS.value):
        bucket, _, prefix = rest.partition("/")
        if not bucket:
            raise SourceError(f"{text!r}: no bucket (expected {scheme}://bucket/prefix)")
        return Source(SourceKind(scheme), bucket, prefix.strip("/"))
    raise SourceError(f"{text!r}: unknown scheme {scheme!r}; use hf://, s3:// or gs://")


# Where partial files wait for their remaining bytes, inside the cache directory (same volume: the final
# rename is atomic). Engines never read under .cache.
PARTIAL_DIR = PurePosixPath(".cache") / "modelfleet" / "partial"


@dataclass(frozen=True)
class ListedFile:
    """A file as the source lists it, with the checksums it gives (none, for some object stores)."""

    path: str
    size_bytes: int
    sha256: str | None = None  # Hub LFS files
    md5: str | None = None  # S3 objects uploaded in one part (their ETag)
    etag: str | None = None

    def partial_name(self, revision: str) -> PurePosixPath:
        """Named by the content it will hold, so bytes of another version are never continued.

        >>> str(ListedFile("w.safetensors", 9, sha256="ab" * 32).partial_name("c" * 40))
        '.cache/modelfleet/partial/w.safetensors.abababababababab.part'
        """
        version = self.sha256 or self.md5 or (_digest(self.etag) if self.etag else revision)
        return PARTIAL_DIR / f"{self.path}.{version[:16]}.part"


@dataclass(frozen=True)
class Listing:
    revision: str  # the commit the revision resolved to; for object stores, a digest of the listing
    files: tuple[ListedFile, ...]

    @property
    def bytes_total(self) -> int:
        return sum(f.size_bytes for f in self.files)


def listing_digest(files: list[ListedFile]) -> str:
    """What stands for a commit where the source has none: a digest of every key, size and ETag, so a
    changed object makes another "revision" and an unchanged bucket a no-op.

    >>> listing_digest([ListedFile("a", 1, etag="x")]) == listing_digest([ListedFile("a", 1, etag="y")])
    False
    """
    lines = "\n".join(
        f"{f.path}\t{f.size_bytes}\t{f.etag or ''}" for f in sorted(files, key=lambda f: f.path)
    )
    return _digest(lines)[:40]


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def is_commit(revision: str | None) -> bool:
    return revision is not None and bool(_COMMIT.match(revision))


# What an engine reads from a checkpoint: the config, the tokenizer (JSON, SentencePiece, tiktoken, BPE
# merges, a chat template), custom modelling code for trust_remote_code models (DeepSeek, Kimi), and the
# safetensors weights. Pickled *.bin / *.pt checkpoints are fetched only when a repository has no
# safetensors, as vLLM does (it prefers safetensors and ignores the rest).
ENGINE_FILE_PATTERNS = ("*.json", "*.model", "*.tiktoken", "*.txt", "*.jinja", "*.py", "*.safetensors")
PICKLED_WEIGHT_PATTERNS = ("*.bin", "*.pt", "*.pth")


def engine_file_patterns(paths: list[str]) -> list[str]:
    """The allow patterns for a repository holding ``paths``.

    >>> engine_file_patterns(["config.json", "model.safetensors", "pytorch_model.bin"])[-1]
    '*.safetensors'
    >>> engine_file_patterns(["config.json", "pytorch_model.bin"])[-3:]
    ['*.bin', '*.pt', '*.pth']
    """
    patterns = list(ENGINE_FILE_PATTERNS)
    if not any(p.endswith(".safetensors") for p in paths):
        patterns += PICKLED_WEIGHT_PATTERNS
    return patterns


@dataclass
class TransferMeter:
    """Rate over a sliding window of (seconds, bytes) samples, and the ETA it implies.

    A window rather than the whole run, so a stall or a faster mirror shows within ``window_seconds``;
    the first sample anchors it, so a resumed download's bytes already on disk never count as speed.

    >>> meter = TransferMeter(window_seconds=10)
    >>> meter.add(0, 1_000); meter.add(5, 6_000)
    >>> meter.rate_bytes_per_second()
    1000.0
    >>> meter.eta_seconds(bytes_total=16_000)
    10
    """

    window_seconds: float = 30.0
    _samples: deque[tuple[float, int]] = field(default_factory=deque)

    def add(self, at_seconds: float, bytes_done: int) -> None:
        self._samples.append((at_seconds, bytes_done))
        while len(self._samples) > 2 and at_seconds - self._samples[1][0] >= self.window_seconds:
            self._samples.popleft()

    def rate_bytes_per_second(self) -> float | None:
        if len(self._samples) < 2:
            return None
        (t0, b0), (t1, b1) = self._samples[0], self._samples[-1]
        if t1 <= t0:
            return None
        return max(0.0, (b1 - b0) / (t1 - t0))

    def eta_seconds(self, bytes_total: int | None) -> int | None:
        rate = self.rate_bytes_per_second()
        if bytes_total is None or not rate or not self._samples:
            return None
        left = max(0, bytes_total - self._samples[-1][1])
        return math.ceil(left / rate)


def report_due(
    previous: FetchProgress | None,
    current: FetchProgress,
    seconds_since_previous: float,
    interval_seconds: float,
) -> bool:
    """Whether to send ``current``: a phase change or an error at once, else at most every interval.

    The annotation is a write to the API server; a download of hundreds of files would otherwise patch
    the Job for every chunk.
    """
    if previous is None or previous.phase != current.phase or current.error is not None:
        return True
    return seconds_since_previous >= interval_seconds


def marker_holds(marker: FetchProgress, revision: str | None, sizes_on_disk: dict[str, int | None]) -> bool:
    """Whether a completion marker found in the cache still vouches for it: complete, for the commit
    asked (when one is known), and every file it lists present with its size (``None``: missing).

    Checksums are not recomputed: they were verified before the marker was written, and hashing
    hundreds of gigabytes on every restart of a Job would make a no-op cost as much as a download.
    """
    if marker.phase != FetchPhase.COMPLETE or marker.files is None:
        return False
    if revision is not None and marker.revision != revision:
        return False
    return all(sizes_on_disk.get(f.path) == f.size_bytes for f in marker.files)
