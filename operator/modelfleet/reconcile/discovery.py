"""Which files of a model the operator reads, from where, and when: a cache in front of :mod:`.hub`.

Facts are read once per (repository, revision): they are kept in memory, and the decision persists
them in ``status.model`` with the commit they came from, so a restarted operator takes them from the
status instead of reading again. A failed read is kept too, and tried again after a backoff that
doubles from ``retryMinSeconds`` to ``retryMaxSeconds``; until then every pass reports the same failure.

Sources:

- ``spec.model.source.huggingface`` (or no source) and ``uri: hf://org/name``: the Hub, or the mirror
  the operator is configured with, with the token Secret the pods use;
- ``pvc`` and ``uri: s3://`` / ``gs://``: not read (the operator mounts no volume and holds no
  object-store credentials); facts come from the catalog and ``spec.model.overrides``, and the
  ModelDiscovered condition says so.
"""

from __future__ import annotations

import base64
import binascii
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from modelfleet.api import ModelDeploymentSpec, ModelFilesStatus, Reason
from modelfleet.decide.inputs import Discovery
from modelfleet.hub import DEFAULT_ENDPOINT, HubError, HubReader, Target, hub_target
from modelfleet.reconcile.config import ModelDiscoveryConfig

MAX_ENTRIES = 4096  # distinct (repository, revision) pairs remembered; a fleet has far fewer
# (namespace, Secret name, key) -> the token, or None when the Secret or key is absent; raises on 403.
ReadSecret = Callable[[str, str, str], str | None]


@dataclass
class _Entry:
    files: ModelFilesStatus | None = None
    error: HubError | None = None
    failures: int = 0
    retry_at: float = 0.0  # monotonic seconds


def endpoint_of(config: ModelDiscoveryConfig) -> str:
    """The configured endpoint, else $HF_ENDPOINT (as huggingface_hub and the engines read it)."""
    return (config.endpoint or os.environ.get("HF_ENDPOINT") or DEFAULT_ENDPOINT).rstrip("/")


class ModelDiscovery:
    """Thread-safe: reconciles of several ModelDeployments call :meth:`discover` at once."""

    def __init__(
        self,
        config: ModelDiscoveryConfig,
        read_secret: ReadSecret,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.config = config
        self.endpoint = endpoint_of(config)
        self._read_secret = read_secret
        self._clock = clock
        self._entries: dict[Target, _Entry] = {}
        self._lock = threading.Lock()
        self.reads = 0  # reads attempted against the Hub, for tests and metrics

    def discover(
        self, namespace: str, spec: ModelDeploymentSpec, stored: ModelFilesStatus | None
    ) -> Discovery | None:
        """What is known of the model's files now; reads them when nothing is known yet (or a failed
        read's backoff is over). None when discovery is switched off."""
        if not self.config.enabled:
            return None
        target = hub_target(spec)
        if isinstance(target, str):
            return Discovery(Reason.SOURCE_NOT_READ, target)
        with self._lock:
            entry = self._entries.get(target)
            if entry is None and _matches(stored, target):
                entry = self._remember(target, _Entry(files=stored))
        if entry is not None and entry.files is not None:
            return _read(entry.files)
        now = self._clock()
        if entry is not None and entry.error is not None and now < entry.retry_at:
            return _failed(entry.error, entry.retry_at - now)
        return self._read_now(namespace, spec, target, entry.failures if entry else 0)

    def _read_now(
        self, namespace: str, spec: ModelDeploymentSpec, target: Target, failures: int
    ) -> Discovery:
        try:
            token = self._token(namespace, spec)
            self.reads += 1
            files = HubReader(self.endpoint, self.config.timeout_seconds, token).read(*target)
        except HubError as error:
            backoff = min(self.config.retry_max_seconds, self.config.retry_min_seconds * 2.0**failures)
            with self._lock:
                self._remember(
                    target, _Entry(error=error, failures=failures + 1, retry_at=self._clock() + backoff)
                )
            return _failed(error, backoff)
        with self._lock:
            self._remember(target, _Entry(files=files))
        return _read(files)

    def _token(self, namespace: str, spec: ModelDeploymentSpec) -> str | bool:
        """The token the pods use (spec.model.source.huggingface.tokenSecretRef), else none at all."""
        source = spec.model.source
        ref = source.huggingface.token_secret_ref if source and source.huggingface else None
        if ref is None:
            return False
        where = f"Secret {namespace}/{ref.name} key {ref.key}"
        try:
            token = self._read_secret(namespace, ref.name, ref.key)
        except PermissionError as error:
            raise HubError(
                Reason.TOKEN_SECRET_UNREADABLE,
                f"cannot read {where} ({error}); grant the operator get on secrets",
            ) from None
        if not token:
            raise HubError(Reason.TOKEN_SECRET_UNREADABLE, f"{where} does not exist or is empty")
        return token

    def _remember(self, target: Target, entry: _Entry) -> _Entry:
        if target not in self._entries and len(self._entries) >= MAX_ENTRIES:
            self._entries.pop(next(iter(self._entries)))
        self._entries[target] = entry
        return entry


def _matches(stored: ModelFilesStatus | None, target: Target) -> bool:
    return stored is not None and stored.commit is not None and (stored.id, stored.revision) == target


def _read(files: ModelFilesStatus) -> Discovery:
    names = ", ".join(files.files) or "config.json"
    commit = (files.commit or "")[:12]
    return Discovery(Reason.FILES_READ, f"read {names} of {files.id} at {commit}", files)


def _failed(error: HubError, retry_after_seconds: float) -> Discovery:
    message = f"{error}; trying again in {retry_after_seconds:.0f}s"
    return Discovery(error.reason, message, retry_after_seconds=max(1.0, retry_after_seconds))


def secret_value(secret: dict[str, object] | None, key: str) -> str | None:
    """The decoded value of ``key`` in a Secret object, or None when it is absent or not base64.

    >>> secret_value({"data": {"token": "aGZfYWJj"}}, "token"), secret_value({"data": {}}, "token")
    ('hf_abc', None)
    """
    data = (secret or {}).get("data")
    value = data.get(key) if isinstance(data, dict) else None
    if not isinstance(value, str):
        return None
    try:
        return base64.b64decode(value, validate=True).decode("utf-8").strip() or None
    except (binascii.Error, UnicodeDecodeError):
        return None
