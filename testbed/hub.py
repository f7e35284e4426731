"""A Hugging Face Hub-compatible file server on 127.0.0.1, for tests that use the real `huggingface_hub` client.

The Hub cannot be reached from the test bed, yet the code that reads models stays the real client. This server
speaks the part of the Hub's HTTP protocol that `huggingface_hub` uses to read a model repository:

- ``GET /api/models/{repo}[/revision/{rev}]``: model info (``sha``, ``siblings``, ``gated``; sizes and LFS
  metadata with ``?blobs=true``), as ``HfApi.model_info`` / ``repo_info`` read it;
- ``GET /api/models/{repo}/tree/{rev}[/{path}]``: the file listing ``snapshot_download`` and
  ``list_repo_tree`` read;
- ``HEAD`` and ``GET /{repo}/resolve/{rev}/{path}``: file metadata (``X-Repo-Commit``, ``ETag``,
  ``Content-Length``) and content, with ``Range`` requests (206) so interrupted downloads resume and
  safetensors headers can be read without the weights;
- errors the way the Hub signals them, with ``X-Error-Code``: ``RepoNotFound``, ``RevisionNotFound``,
  ``EntryNotFound`` and ``GatedRepo`` (401 without a token, 403 with a token that has no access).

Files are bytes the test creates. Faults a test may switch on: a delay before every response (a slow
server), a connection cut after N bytes of one file's body (an interrupted download), a file's body
streamed at a set rate (a download slow enough to kill halfway), and a file served with other bytes
than its listed checksum (a corrupted download). Every request is recorded, so a test can
assert which files were fetched (never the weights, for discovery).

    with HubServer() as hub:
        hub.add_repo("acme/tiny", {"config.json": b"{...}"})
        # HF_ENDPOINT=hub.url, or HfApi(endpoint=hub.url)
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

# Files stored through Git LFS on the Hub: the ones the client checks by sha256 rather than by git blob id.
_LFS_SUFFIXES = (".safetensors", ".bin", ".pt", ".gguf", ".pth", ".msgpack", ".h5")
_COMMIT = re.compile(r"^[0-9a-f]{40}$")


def git_blob_id(data: bytes) -> str:
    """The git object id of a file's content, which the Hub reports as ``oid`` and ETag for non-LFS files."""
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


@dataclass
class Commit:
    sha: str
    files: dict[str, bytes]

    def is_lfs(self, path: str) -> bool:
        return path.endswith(_LFS_SUFFIXES)

    def entry(self, path: str, with_sizes: bool = True) -> dict[str, Any]:
        data = self.files[path]
        row: dict[str, Any] = {"type": "file", "path": path, "oid": git_blob_id(data), "size": len(data)}
        if self.is_lfs(path):
            row["lfs"] = {"oid": hashlib.sha256(data).hexdigest(), "size": len(data), "pointerSize": 134}
        return row

    def etag(self, path: str) -> str:
        data = self.files[path]
        return hashlib.sha256(data).hexdigest() if self.is_lfs(path) else git_blob_id(data)


@dataclass
class Repo:
    repo_id: str
    commits: dict[str, Commit] = field(default_factory=dict)
    branches: dict[str, str] = field(default_factory=dict)
    gated: bool = False
    tokens: frozenset[str] = frozenset()
    card_data: dict[str, Any] = field(default_factory=dict)

    def resolve(self, revision: str) -> Commit | None:
        sha = self.branches.get(revision, revision if _COMMIT.match(revision) else "")
        return self.commits.get(sha)


@dataclass
class Faults:
    delay_seconds: float = 0.0
    # path -> bytes of body after which the next GET of that file is cut (once per entry)
    cut_after_bytes: dict[str, int] = field(default_factory=dict)
    # paths served with a flipped byte, while their listed size and sha256 stay the original ones
    corrupt: set[str] = field(default_factory=set)
    # path -> bytes per second at which that file's body is streamed (a download slow enough to interrupt)
    bytes_per_second: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    range: str | None
    authorization: str | None


class HubServer:
    """A threaded Hub-compatible server on 127.0.0.1 with a free port; a context manager."""

    def __init__(self) -> None:
        self.repos: dict[str, Repo] = {}
        self.faults = Faults()
        self.requests: list[Request] = []
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="hub-server", daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def __enter__(self) -> HubServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def add_repo(
        self,
        repo_id: str,
        files: dict[str, bytes],
        *,
        gated: bool = False,
        tokens: tuple[str, ...] = (),
        card_data: dict[str, Any] | None = None,
    ) -> str:
        """Creates the repository with one commit on ``main``; returns the commit sha."""
        repo = Repo(repo_id, gated=gated, tokens=frozenset(tokens), card_data=dict(card_data or {}))
        with self._lock:
            self.repos[repo_id] = repo
        return self.add_commit(repo_id, files)

    def add_commit(self, repo_id: str, files: dict[str, bytes], branch: str = "main") -> str:
        """A new commit on ``branch`` holding exactly ``files``; returns its sha (content-derived, stable)."""
        digest = hashlib.sha1()
        for path in sorted(files):
            digest.update(path.encode() + b"\0" + git_blob_id(files[path]).encode())
        repo = self.repos[repo_id]
        digest.update(str(len(repo.commits)).encode())
        sha = digest.hexdigest()
        with self._lock:
            repo.commits[sha] = Commit(sha, dict(files))
            repo.branches[branch] = sha
        return sha

    def fetched(self, suffix: str = "") -> list[str]:
        """Paths of file bodies requested with GET (not HEAD), in order, optionally only those ending with suffix."""
        with self._lock:
            rows = list(self.requests)
        return [
            r.path for r in rows if r.method == "GET" and "/resolve/" in r.path and r.path.endswith(suffix)
        ]

    def _record(self, request: Request) -> None:
        with self._lock:
            self.requests.append(request)


def _handler_for(hub: HubServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base class's name
            return  # tests read hub.requests instead of stderr

        def do_HEAD(self) -> None:  # noqa: N802 - http.server's naming
            self._serve(head=True)

        def do_GET(self) -> None:  # noqa: N802
            self._serve(head=False)

        def _serve(self, head: bool) -> None:
            url = urlsplit(self.path)
            hub._record(
                Request(
                    "HEAD" if head else "GET",
                    unquote(url.path),
                    self.headers.get("Range"),
                    self.headers.get("Authorization"),
                )
            )
            if hub.faults.delay_seconds:
                time.sleep(hub.faults.delay_seconds)
            path = unquote(url.path)
            query = parse_qs(url.query)
            if match := re.match(r"^/api/models/(.+?)/tree/([^/]+)(?:/(.*))?$", path):
                return self._tree(match[1], match[2], match[3] or "", query)
            if match := re.match(r"^/api/models/(.+?)/revision/([^/]+)$", path):
                return self._info(match[1], match[2], query)
            if match := re.match(r"^/api/models/([^/]+/[^/]+)$", path):
                return self._info(match[1], "main", query)
            if match := re.match(r"^/([^/]+/[^/]+)/resolve/([^/]+)/(.+)$", path):
                return self._file(match[1], match[2], match[3], head)
            return self._error(404, "RepoNotFound", f"no route for {path}")

        def _repo(self, repo_id: str, revision: str) -> tuple[Repo, Commit] | None:
            repo = hub.repos.get(repo_id)
            if repo is None:
                self._error(404, "RepoNotFound", f"Repository {repo_id} not found")
                return None
            if repo.gated:
                auth = self.headers.get("Authorization") or ""
                token = auth.removeprefix("Bearer ").strip()
                if not token:
                    self._error(
                        401,
                        "GatedRepo",
                        f"Access to model {repo_id} is restricted. You must be authenticated.",
                    )
                    return None
                if token not in repo.tokens:
                    self._error(
                        403,
                        "GatedRepo",
                        f"Access to model {repo_id} is restricted and you are not in the list.",
                    )
                    return None
            commit = repo.resolve(revision)
            if commit is None:
                self._error(404, "RevisionNotFound", f"Invalid rev id: {revision}")
                return None
            return repo, commit

        def _info(self, repo_id: str, revision: str, query: dict[str, list[str]]) -> None:
            found = self._repo(repo_id, revision)
            if found is None:
                return
            repo, commit = found
            blobs = query.get("blobs", ["false"])[0].lower() == "true"
            siblings = []
            for path in sorted(commit.files):
                row: dict[str, Any] = {"rfilename": path}
                if blobs:
                    entry = commit.entry(path)
                    row.update(size=entry["size"], blobId=entry["oid"])
                    if "lfs" in entry:
                        row["lfs"] = {
                            "sha256": entry["lfs"]["oid"],
                            "size": entry["size"],
                            "pointerSize": 134,
                        }
                siblings.append(row)
            body = {
                "_id": commit.sha[:24],
                "id": repo_id,
                "modelId": repo_id,
                "sha": commit.sha,
                "private": False,
                "gated": "manual" if repo.gated else False,
                "disabled": False,
                "tags": [],
                "cardData": repo.card_data,
                "siblings": siblings,
            }
            self._json(200, body, commit.sha)

        def _tree(self, repo_id: str, revision: str, prefix: str, query: dict[str, list[str]]) -> None:
            found = self._repo(repo_id, revision)
            if found is None:
                return
            _, commit = found
            recursive = query.get("recursive", ["false"])[0].lower() == "true"
            prefix = prefix.strip("/")
            base = f"{prefix}/" if prefix else ""
            rows: list[dict[str, Any]] = []
            folders: set[str] = set()
            for path in sorted(commit.files):
                if not path.startswith(base):
                    continue
                rest = path[len(base) :]
                if "/" in rest and not recursive:
                    folders.add(base + rest.split("/", 1)[0])
                    continue
                if recursive:
                    parts = rest.split("/")[:-1]
                    for depth in range(1, len(parts) + 1):
                        folders.add(base + "/".join(parts[:depth]))
                rows.append(commit.entry(path))
            rows += [
                {"type": "directory", "path": f, "oid": git_blob_id(f.encode())} for f in sorted(folders)
            ]
            self._json(200, rows, commit.sha)

        def _file(self, repo_id: str, revision: str, path: str, head: bool) -> None:
            found = self._repo(repo_id, revision)
            if found is None:
                return
            _, commit = found
            if path not in commit.files:
                return self._error(404, "EntryNotFound", f"{path} does not exist on {revision}")
            data = commit.files[path]
            if path in hub.faults.corrupt and data:
                data = bytes([data[0] ^ 0xFF]) + data[1:]
            start, end = 0, len(data)
            status = 200
            wanted = self.headers.get("Range")
            if wanted and (match := re.match(r"bytes=(\d*)-(\d*)$", wanted.strip())):
                if match[1]:
                    start = int(match[1])
                    end = min(len(data), int(match[2]) + 1) if match[2] else len(data)
                else:  # a suffix range: the last N bytes
                    start = max(0, len(data) - int(match[2]))
                if start >= len(data) and len(data):
                    self.send_response(416)
                    self.send_header("Content-Range", f"bytes */{len(data)}")
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                status = 206
            self.send_response(status)
            self.send_header("Content-Type", "application/octet-stream")
            self.send_header("Content-Length", str(end - start))
            self.send_header("Accept-Ranges", "bytes")
            self.send_header("ETag", f'"{commit.etag(path)}"')
            self.send_header("X-Repo-Commit", commit.sha)
            if status == 206:
                self.send_header("Content-Range", f"bytes {start}-{end - 1}/{len(data)}")
            self.end_headers()
            if head:
                return
            body = data[start:end]
            cut = hub.faults.cut_after_bytes.pop(path, None)
            if cut is not None and cut < len(body):
                self.wfile.write(body[:cut])
                self.wfile.flush()
                self.close_connection = True
                self.connection.shutdown(2)  # the peer sees a short body: an interrupted transfer
                return
            rate = hub.faults.bytes_per_second.get(path)
            if rate:
                return self._trickle(body, rate)
            self.wfile.write(body)

        def _trickle(self, body: bytes, bytes_per_second: int) -> None:
            """The body in tenth-of-a-second chunks; a client that goes away ends it quietly."""
            chunk = max(1, bytes_per_second // 10)
            try:
                for start in range(0, len(body), chunk):
                    self.wfile.write(body[start : start + chunk])
                    self.wfile.flush()
                    time.sleep(0.1)
            except (BrokenPipeError, ConnectionResetError):
                self.close_connection = True

        def _json(self, status: int, body: Any, commit_sha: str) -> None:
            raw = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(raw)))
            self.send_header("X-Repo-Commit", commit_sha)
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(raw)

        def _error(self, status: int, code: str, message: str) -> None:
            raw = json.dumps({"error": message}).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(raw)))
            self.send_header("X-Error-Code", code)
            self.send_header("X-Error-Message", message)
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(raw)

    return Handler
