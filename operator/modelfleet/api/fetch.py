"""What a weight download reports while it runs: the contract between `modelfleet fetch` and the operator.

The download Job's process writes this as JSON into the ``modelfleet.io/fetch-progress`` annotation of its
own Job (``render.names.FETCH_PROGRESS_ANNOTATION``) and, at the end, into its termination message. The
operator reads it from the Job it watches, so it never dials the pod. The same model is written, verified,
into the cache directory as the completion marker (``COMPLETE_MARKER``), last, once every file is checked.
"""

from __future__ import annotations

from enum import StrEnum

from pydantic import Field

from modelfleet.api.base import ApiModel

# Written at the root of a filled cache, after every file's size and checksum are verified; its absence
# means "not staged", whatever else the directory holds.
COMPLETE_MARKER = ".modelfleet-complete.json"


class FetchPhase(StrEnum):
    LISTING = "Listing"
    DOWNLOADING = "Downloading"
    VERIFYING = "Verifying"
    COMPLETE = "Complete"
    FAILED = "Failed"


class FetchError(ApiModel):
    message: str = Field(description="What failed, in the source's words where it gave any.")
    http_status: int | None = Field(
        None, description="The HTTP status the source answered, when it answered."
    )
    url: str | None = Field(None, description="The URL that failed.")
    retryable: bool = Field(
        False, description="False for answers a retry cannot change: 401, 403, 404, a checksum that differs."
    )


class FetchedFile(ApiModel):
    path: str = Field(description="The file's path under the cache directory, as the source names it.")
    size_bytes: int = Field(ge=0)
    sha256: str | None = Field(
        None, description="The checksum the source listed and the file was checked against."
    )


class FetchProgress(ApiModel):
    phase: FetchPhase
    source: str = Field(description="What is fetched: hf://org/name, s3://bucket/path or gs://bucket/path.")
    revision: str | None = Field(
        None, description="The commit the revision resolved to, when the source has one."
    )
    bytes_done: int = Field(0, ge=0)
    bytes_total: int | None = Field(None, ge=0, description="Unknown until the listing is read.")
    files_done: int = Field(0, ge=0)
    files_total: int | None = Field(None, ge=0)
    rate_bytes_per_second: float | None = Field(None, ge=0)
    eta_seconds: int | None = Field(None, ge=0)
    updated_at: str = Field(description="RFC 3339 time of this report.")
    error: FetchError | None = None
    files: list[FetchedFile] | None = Field(
        None,
        description="Every verified file with its size: in the completion marker only (an annotation or a "
        "termination message, 4 KiB at most, carries the totals).",
    )
