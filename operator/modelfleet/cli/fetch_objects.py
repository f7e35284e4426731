"""Object-store sources for ``modelfleet fetch``: ``s3://bucket/prefix`` and ``gs://bucket/prefix`` with obstore.

obstore (https://developmentseed.org/obstore/) is the Python binding of the Rust ``object_store`` crate
that Apache Arrow, DataFusion and Polars use: one small wheel with no Python dependencies, one API for S3
(and S3-compatible stores), GCS and Azure, with ranged reads for resume and its own retries. It takes
credentials the way the clouds' own SDKs do: ``AWS_*`` variables, web identity (EKS IRSA), instance
metadata; ``GOOGLE_APPLICATION_CREDENTIALS``, the GKE metadata server. An S3-compatible endpoint is
``AWS_ENDPOINT_URL`` (``AWS_ALLOW_HTTP=true`` for plain HTTP).

Object stores give no sha256: a file's size is always checked, and its MD5 when the ETag is one (S3
objects uploaded in a single part); a multipart upload's ETag is not a checksum and is only recorded.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import obstore
from obstore.exceptions import NotFoundError, PermissionDeniedError, UnauthenticatedError
from obstore.store import GCSStore, S3Store

from modelfleet.api.fetch import FetchError
from modelfleet.api.fetch_plan import (
    FetchFailure,
    ListedFile,
    Listing,
    Source,
    SourceKind,
    engine_file_patterns,
    listing_digest,
)
from modelfleet.cli.fetch_disk import bytes_in_flight, forget, size_on_disk

PARALLEL_FILES = 8
CHUNK_BYTES = 8 * 1024 * 1024
_MD5_ETAG = re.compile(r'^"?([0-9a-f]{32})"?$')
_PERMANENT = (
    (NotFoundError, 404),
    (FileNotFoundError, 404),
    (PermissionDeniedError, 403),
    (UnauthenticatedError, 401),
)


@contextmanager
def store_errors(url: str) -> Iterator[None]:
    """obstore's exceptions as a FetchFailure: missing or forbidden is permanent, anything else retryable."""
    try:
        yield
    except FetchFailure:
        raise
    except Exception as error:
        status = next((code for kind, code in _PERMANENT if isinstance(error, kind)), None)
        message = str(error).strip().splitlines()[0][:500] if str(error).strip() else type(error).__name__
        raise FetchFailure(
            FetchError(message=message, http_status=status, url=url, retryable=status is None)
        ) from error


class ObjectStoreFetcher:
    def __init__(self, source: Source) -> None:
        self.source = source
        self.store = _store(source)

    def _url(self, path: str = "") -> str:
        return f"{self.source.uri}/{path}" if path else self.source.uri

    def listing(self, revision: str) -> Listing:
        """Every engine file under the prefix; ``revision`` has no meaning here (the digest stands for it)."""
        with store_errors(self._url()):
            objects = [meta for batch in obstore.list(self.store) for meta in batch]
        by_path = {str(m["path"]): m for m in objects}
        patterns = engine_file_patterns(list(by_path))
        files = [
            _listed(by_path[path])
            for path in sorted(by_path)
            if any(Path(path).match(pattern) for pattern in patterns)
        ]
        if not files:
            raise FetchFailure(
                FetchError(message=f"no model files under {self._url()}", http_status=404, url=self._url())
            )
        return Listing(listing_digest(files), tuple(files))

    def download(self, dest: Path, listing: Listing) -> None:
        pending = [f for f in listing.files if size_on_disk(dest / f.path) != f.size_bytes]
        with ThreadPoolExecutor(max_workers=PARALLEL_FILES) as pool:
            for _ in pool.map(lambda f: self._download_file(dest, listing.revision, f), pending):
                pass

    def _download_file(self, dest: Path, revision: str, file: ListedFile) -> None:
        part = dest / file.partial_name(revision)
        part.parent.mkdir(parents=True, exist_ok=True)
        start = size_on_disk(part)
        if start > file.size_bytes:
            part.unlink()
            start = 0
        with store_errors(self._url(file.path)), part.open("ab") as out:
            if start < file.size_bytes:
                options: dict[str, Any] = {"range": (start, file.size_bytes)} if start else {}
                answer = obstore.get(self.store, file.path, options=options)  # type: ignore[arg-type]
                for chunk in answer.stream(min_chunk_size=CHUNK_BYTES):
                    out.write(chunk)
        target = dest / file.path
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(part, target)

    def mismatches(self, dest: Path, listing: Listing) -> list[str]:
        bad = []
        for file in listing.files:
            path = dest / file.path
            if size_on_disk(path) != file.size_bytes or (file.md5 is not None and _md5(path) != file.md5):
                bad.append(file.path)
        return bad

    def forget(self, dest: Path, paths: list[str]) -> None:
        forget(dest, paths)

    def bytes_in_flight(self, dest: Path) -> int:
        return bytes_in_flight(dest)


def _store(source: Source) -> S3Store | GCSStore:
    """The store for the bucket, its settings from the environment (credentials, region, endpoint)."""
    prefix = source.prefix or None
    if source.kind == SourceKind.S3:
        return S3Store(source.location, prefix=prefix)
    return GCSStore(source.location, prefix=prefix)


def _listed(meta: Any) -> ListedFile:
    etag = meta.get("e_tag")
    match = _MD5_ETAG.match(etag or "")
    return ListedFile(str(meta["path"]), int(meta["size"]), md5=match[1] if match else None, etag=etag)


def _md5(path: Path) -> str:
    digest = hashlib.md5(usedforsecurity=False)
    with path.open("rb") as f:
        while chunk := f.read(CHUNK_BYTES):
            digest.update(chunk)
    return digest.hexdigest()
