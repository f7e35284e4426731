"""Hub sources for ``modelfleet fetch``: list, download and verify with the ``huggingface_hub`` client.

The client is the one the engines use, so the protocol, authentication, retries and error types are the
Hub's own. One piece is ours: where a partial file lives. Since huggingface_hub 2.x, ``snapshot_download``
and ``hf_hub_download`` write each file to a process-unique temporary name and delete it when the
download fails (https://github.com/huggingface/huggingface_hub/pull/4228), so a download Job whose pod
is killed would begin every shard in flight again, up to tens of gigabytes each time. Here each file is
transferred by the client's ``http_get`` into a partial file with a stable name under
``DEST/.cache/modelfleet/partial``; the next run asks for the rest with a ``Range`` request, and the
file is renamed into place only when whole.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

import httpx2
from huggingface_hub import HfApi, hf_hub_url
from huggingface_hub.errors import HfHubHTTPError, LocalEntryNotFoundError
from huggingface_hub.file_download import http_get
from huggingface_hub.utils import build_hf_headers, disable_progress_bars, filter_repo_objects

from modelfleet.api.fetch import FetchError
from modelfleet.api.fetch_plan import FetchFailure, ListedFile, Listing, engine_file_patterns
from modelfleet.cli.fetch_disk import bytes_in_flight, forget, size_on_disk

# The answers a retry cannot change; anything else (5xx, 429, a dropped connection) is worth another try.
PERMANENT_HTTP_STATUSES = frozenset({400, 401, 403, 404, 410})
# Files transferred at once, as snapshot_download does by default.
PARALLEL_FILES = 8


@contextmanager
def hub_errors() -> Iterator[None]:
    """The client's exceptions as a FetchFailure that says what failed, where, and whether to retry."""
    try:
        yield
    except HfHubHTTPError as error:
        response = error.response
        status = response.status_code if response is not None else None
        url = str(response.url) if response is not None else None
        detail = getattr(error, "server_message", None) or _first_line(error)
        raise FetchFailure(
            FetchError(
                message=f"{status} from the Hub: {detail}" if status else detail,
                http_status=status,
                url=url,
                retryable=status not in PERMANENT_HTTP_STATUSES,
            )
        ) from error
    # No answer at all: the network (httpx2 is the client's HTTP library), a full disk.
    except (LocalEntryNotFoundError, httpx2.TransportError, OSError) as error:
        raise FetchFailure(FetchError(message=_first_line(error), retryable=True)) from error


class HubFetcher:
    def __init__(self, repo_id: str, endpoint: str | None, token: str | None) -> None:
        self.repo_id = repo_id
        self.endpoint = endpoint
        self.token: str | bool = token or False  # False: never a token saved on the host
        self.api = HfApi(endpoint=endpoint, token=self.token)

    def listing(self, revision: str) -> Listing:
        """The files an engine needs at ``revision``, with the sizes and sha256 the Hub lists."""
        with hub_errors():
            info = self.api.model_info(self.repo_id, revision=revision, files_metadata=True)
        siblings = {s.rfilename: s for s in info.siblings or []}
        wanted = filter_repo_objects(sorted(siblings), allow_patterns=engine_file_patterns(list(siblings)))
        files = []
        for path in wanted:
            sibling = siblings[path]
            lfs = sibling.lfs
            files.append(ListedFile(path, int(sibling.size or 0), lfs.sha256 if lfs else None))
        if not info.sha:
            raise FetchFailure(FetchError(message=f"the Hub gave no commit for {revision}", retryable=True))
        return Listing(info.sha, tuple(files))

    def download(self, dest: Path, listing: Listing) -> None:
        """Every listed file into ``dest`` at the listed commit. Files already whole are kept, partial ones
        continue from their last byte."""
        disable_progress_bars()  # progress goes to the reports, not to a terminal nobody watches
        pending = [f for f in listing.files if size_on_disk(dest / f.path) != f.size_bytes]
        with hub_errors(), ThreadPoolExecutor(max_workers=PARALLEL_FILES) as pool:
            for _ in pool.map(lambda f: self._download_file(dest, listing.revision, f), pending):
                pass

    def _download_file(self, dest: Path, revision: str, file: ListedFile) -> None:
        part = self.partial_path(dest, revision, file)
        part.parent.mkdir(parents=True, exist_ok=True)
        resume_bytes = size_on_disk(part)
        if resume_bytes > file.size_bytes:  # not this file's bytes: start over
            part.unlink()
            resume_bytes = 0
        url = hf_hub_url(self.repo_id, file.path, revision=revision, endpoint=self.endpoint)
        with part.open("ab") as out:
            http_get(
                url,
                out,
                resume_size=resume_bytes,
                headers=build_hf_headers(token=self.token),
                expected_size=file.size_bytes,
            )
        target = dest / file.path
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(part, target)

    @staticmethod
    def partial_path(dest: Path, revision: str, file: ListedFile) -> Path:
        return dest / file.partial_name(revision)

    def mismatches(self, dest: Path, listing: Listing) -> list[str]:
        """Listed files whose size differs, or whose checksum differs from the Hub's (sha256 for LFS
        files, the git blob id for the others), by the client's own ``verify_repo_checksums``."""
        wrong_size = [
            f.path
            for f in listing.files
            if not (dest / f.path).is_file() or (dest / f.path).stat().st_size != f.size_bytes
        ]
        with hub_errors():
            verdict = self.api.verify_repo_checksums(
                self.repo_id, revision=listing.revision, local_dir=dest, token=self.token
            )
        listed = {f.path for f in listing.files}
        wrong_sum = {m["path"] for m in verdict.mismatches} & listed
        return sorted(set(wrong_size) | wrong_sum)

    def forget(self, dest: Path, paths: list[str]) -> None:
        forget(dest, paths)

    def bytes_in_flight(self, dest: Path) -> int:
        return bytes_in_flight(dest)


def _first_line(error: BaseException) -> str:
    text = str(error).strip() or type(error).__name__
    return text.splitlines()[0][:500]
