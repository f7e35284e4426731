"""``modelfleet fetch SOURCE --revision REV --dest DIR``: fill a weight cache, verify it, mark it complete.

The staging Job runs this (docs/weights.md). Its exit codes are the Job's contract with the operator:

- 0: complete and verified (or already so: a valid marker for the same commit makes it a no-op)
- 1: a failure a retry may cure (5xx, 429, a dropped connection, a full disk); the Job retries
- 2: a permanent failure (401, 403, 404, a checksum that still differs after one fresh download,
  a SOURCE it cannot read)

Progress goes to stderr, to the Job's ``modelfleet.io/fetch-progress`` annotation when
``MODELFLEET_FETCH_JOB`` names it, and, at the end, to the termination message.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import Protocol

from modelfleet.api.fetch import (
    COMPLETE_MARKER,
    FetchedFile,
    FetchError,
    FetchPhase,
    FetchProgress,
)
from modelfleet.api.fetch_plan import (
    FetchFailure,
    Listing,
    Source,
    SourceError,
    SourceKind,
    is_commit,
    marker_holds,
    parse_source,
)
from modelfleet.cli.fetch_report import (
    Reporter,
    StderrSink,
    now_rfc3339,
    sinks_from_environment,
    write_termination_message,
)


class Fetcher(Protocol):
    """What a source gives a fetch: its listing, the transfer, the check and the cleanup of bad files."""

    def listing(self, revision: str) -> Listing: ...
    def download(self, dest: Path, listing: Listing) -> None: ...
    def mismatches(self, dest: Path, listing: Listing) -> list[str]: ...
    def forget(self, dest: Path, paths: list[str]) -> None: ...
    def bytes_in_flight(self, dest: Path) -> int: ...


EXIT_COMPLETE = 0
EXIT_RETRYABLE = 1
EXIT_PERMANENT = 2


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "fetch",
        allow_abbrev=False,
        help="download a model's weights into a cache directory, verify them, mark them complete",
        description="Download SOURCE (hf://org/name or org/name, s3://bucket/prefix, gs://bucket/prefix) "
        "at REVISION into DEST, verify sizes and checksums, then write "
        f"{COMPLETE_MARKER}. Exit 0: complete; 1: retry may help; 2: permanent failure.",
    )
    parser.add_argument("source", metavar="SOURCE")
    parser.add_argument("--revision", default="main", help="branch, tag or commit (default main)")
    parser.add_argument("--dest", required=True, type=Path, metavar="DIR", help="the cache directory")
    parser.add_argument(
        "--endpoint", default=os.environ.get("HF_ENDPOINT"), help="Hub endpoint (default $HF_ENDPOINT)"
    )
    parser.add_argument(
        "--progress-seconds",
        type=float,
        default=5.0,
        metavar="S",
        help="report progress at most this often (default 5)",
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    environ = dict(os.environ)
    base = FetchProgress(phase=FetchPhase.LISTING, source=args.source, updated_at=now_rfc3339())
    try:
        sinks = sinks_from_environment(environ)
    except ValueError as error:  # a malformed MODELFLEET_FETCH_JOB: the Job's spec is wrong, not the network
        reporter = Reporter([StderrSink()], args.progress_seconds)
        write_termination_message(_failed(base, FetchError(message=str(error)), reporter), environ)
        return EXIT_PERMANENT
    reporter = Reporter(sinks, args.progress_seconds)
    try:
        source = parse_source(args.source)
        base = base.model_copy(update={"source": source.uri})
        final = Fetch(source, args, reporter, base).run()
        code = EXIT_COMPLETE
    except SourceError as error:
        final, code = _failed(base, FetchError(message=str(error)), reporter), EXIT_PERMANENT
    except FetchFailure as failure:
        code = EXIT_RETRYABLE if failure.error.retryable else EXIT_PERMANENT
        final = _failed(reporter.last or base, failure.error, reporter)
    except Exception as error:  # a bug: still say so where the operator looks, then fail as usual (exit 1)
        bug = FetchError(message=f"internal error: {type(error).__name__}: {error}", retryable=True)
        write_termination_message(_failed(reporter.last or base, bug, reporter), environ)
        raise
    finally:
        reporter.stop()
    write_termination_message(final, environ)
    return code


def _failed(last: FetchProgress, error: FetchError, reporter: Reporter) -> FetchProgress:
    failed = last.model_copy(
        update={"phase": FetchPhase.FAILED, "error": error, "updated_at": now_rfc3339(), "eta_seconds": None}
    )
    return reporter.report(failed, force=True)


class Fetch:
    """One run: list, (maybe) download, verify, mark; each step reports its phase."""

    def __init__(self, source: Source, args: argparse.Namespace, reporter: Reporter, base: FetchProgress):
        self.fetcher = _fetcher_for(source, args.endpoint)
        # Object stores have no revisions: a pinned commit cannot be checked before listing them.
        self.revision: str = args.revision if source.kind == SourceKind.HUB else ""
        self.dest: Path = args.dest
        self.reporter = reporter
        self.base = base

    def run(self) -> FetchProgress:
        self.reporter.report(self.base, force=True)
        self.dest.mkdir(parents=True, exist_ok=True)
        held = self._valid_marker(self.revision if is_commit(self.revision) else None)
        if held is not None:
            return self.reporter.report(held.model_copy(update={"updated_at": now_rfc3339()}), force=True)
        listing = self.fetcher.listing(self.revision)
        held = self._valid_marker(listing.revision)
        if held is not None:
            return self.reporter.report(held.model_copy(update={"updated_at": now_rfc3339()}), force=True)
        # The marker goes first: from here on the directory is changing, and nothing may vouch for it.
        (self.dest / COMPLETE_MARKER).unlink(missing_ok=True)
        self._download(listing)
        bad = self._verify(listing)
        if bad:
            self.fetcher.forget(self.dest, bad)  # one fresh download: a cut or a flipped bit in transit
            self._download(listing)
            bad = self._verify(listing)
        if bad:
            raise FetchFailure(
                FetchError(
                    message=f"checksum or size differs from the source after a fresh download: {', '.join(bad)}"
                )
            )
        return self._mark_complete(listing)

    def _progress(self, phase: FetchPhase, listing: Listing) -> FetchProgress:
        done_files = [f for f in listing.files if _size_of(self.dest / f.path) == f.size_bytes]
        bytes_done = sum(f.size_bytes for f in done_files) + self.fetcher.bytes_in_flight(self.dest)
        return self.base.model_copy(
            update={
                "phase": phase,
                "revision": listing.revision,
                "bytes_done": min(bytes_done, listing.bytes_total),
                "bytes_total": listing.bytes_total,
                "files_done": len(done_files),
                "files_total": len(listing.files),
                "updated_at": now_rfc3339(),
            }
        )

    def _download(self, listing: Listing) -> None:
        self.reporter.report(self._progress(FetchPhase.DOWNLOADING, listing), force=True)
        self.reporter.watch(lambda: self._progress(FetchPhase.DOWNLOADING, listing), every_seconds=1.0)
        try:
            self.fetcher.download(self.dest, listing)
        finally:
            self.reporter.stop()

    def _verify(self, listing: Listing) -> list[str]:
        self.reporter.report(self._progress(FetchPhase.VERIFYING, listing), force=True)
        return self.fetcher.mismatches(self.dest, listing)

    def _mark_complete(self, listing: Listing) -> FetchProgress:
        files = [FetchedFile(path=f.path, size_bytes=f.size_bytes, sha256=f.sha256) for f in listing.files]
        done = self._progress(FetchPhase.COMPLETE, listing).model_copy(
            update={"files": files, "eta_seconds": 0}
        )
        staging = self.dest / f"{COMPLETE_MARKER}.tmp"
        staging.write_text(done.model_dump_json(by_alias=True, exclude_none=True, indent=1))
        os.replace(staging, self.dest / COMPLETE_MARKER)  # atomic: a reader sees no marker or a whole one
        return self.reporter.report(done, force=True)

    def _valid_marker(self, revision: str | None) -> FetchProgress | None:
        """The marker already in the cache, when it vouches for ``revision`` (any commit when None)."""
        path = self.dest / COMPLETE_MARKER
        if revision is None or not path.is_file():
            return None
        try:
            marker = FetchProgress.model_validate_json(path.read_text())
        except ValueError:  # a torn or foreign file vouches for nothing
            return None
        sizes = {f.path: _size_of(self.dest / f.path) for f in marker.files or []}
        return marker if marker_holds(marker, revision, sizes) else None


def _fetcher_for(source: Source, endpoint: str | None) -> Fetcher:
    # The clients load only for the source at hand (`modelfleet --help` stays light).
    if source.kind == SourceKind.HUB:
        from modelfleet.cli.fetch_hub import HubFetcher

        return HubFetcher(source.location, endpoint, os.environ.get("HF_TOKEN") or None)
    from modelfleet.cli.fetch_objects import ObjectStoreFetcher

    return ObjectStoreFetcher(source)


def _size_of(path: Path) -> int | None:
    try:
        return path.stat().st_size if path.is_file() else None
    except OSError:
        return None
