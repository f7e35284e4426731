"""What ``kubectl modelfleet get`` shows, parsed once from the fetched objects (no I/O here).

The ModelDeployment's spec and status become the API's own pydantic models; its Deployments,
LeaderWorkerSets and pods become the few fields the tree shows, grouped by their
``modelfleet.io/revision`` label.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from modelfleet.api.errors import SpecError
from modelfleet.api.spec import ModelDeploymentSpec, parse_spec
from modelfleet.api.status import ModelDeploymentStatus
from modelfleet.render.names import REVISION_LABEL


@dataclass(frozen=True)
class Workload:
    """A Deployment or LeaderWorkerSet of one revision."""

    kind: str
    name: str
    revision: str
    replicas: int
    ready_replicas: int


@dataclass(frozen=True)
class Pod:
    name: str
    revision: str
    phase: str  # Pending, Running, ... or Terminating
    ready: bool
    node: str | None


@dataclass(frozen=True)
class Snapshot:
    name: str
    namespace: str
    spec: ModelDeploymentSpec | None
    problems: tuple[str, ...]  # fields this plugin could not read (the spec, or a newer operator's status)
    status: ModelDeploymentStatus
    workloads: tuple[Workload, ...] = ()
    pods: tuple[Pod, ...] = ()


def snapshot_from(
    md: Mapping[str, Any], workloads: Sequence[Mapping[str, Any]] = (), pods: Sequence[Mapping[str, Any]] = ()
) -> Snapshot:
    """The snapshot of a ModelDeployment and its children, as ``kubectl get -o json`` returns them.

    >>> s = snapshot_from({"metadata": {"name": "m", "namespace": "ns"}, "spec": {}, "status": {"phase": "Pending"}})
    >>> (s.name, s.status.phase, s.spec, s.problems[0])
    ('m', <Phase.PENDING: 'Pending'>, None, 'spec.model: Field required')
    """
    metadata = md.get("metadata") or {}
    spec: ModelDeploymentSpec | None = None
    problems: list[str] = []
    try:
        spec = parse_spec(md.get("spec"))
    except SpecError as error:
        problems += error.problems
    status, unread = read_status(md.get("status") or {})
    problems += unread
    return Snapshot(
        name=str(metadata.get("name", "")),
        namespace=str(metadata.get("namespace", "")),
        spec=spec,
        problems=tuple(problems),
        status=status,
        workloads=tuple(sorted((_workload(w) for w in workloads), key=lambda w: (w.revision, w.name))),
        pods=tuple(sorted((_pod(p) for p in pods), key=lambda p: (p.revision, p.name))),
    )


def read_status(raw: Mapping[str, Any]) -> tuple[ModelDeploymentStatus, list[str]]:
    """The status, with the top-level fields it cannot read left out and named: a newer operator may
    write a phase or a field this plugin does not know, and the rest is still worth showing.

    >>> status, unread = read_status({"phase": "Hibernating", "ready": "1/1"})
    >>> (status.phase, status.ready, unread)
    (None, '1/1', ["status.phase: Input should be 'Pending', 'Staging', 'Progressing', 'Healthy', 'Paused', 'Degraded' or 'Failed'"])
    """
    try:
        return ModelDeploymentStatus.model_validate(raw), []
    except ValidationError as error:
        bad = {str(e["loc"][0]): e["msg"] for e in error.errors() if e["loc"]}
    readable = {key: value for key, value in raw.items() if key not in bad}
    try:
        status = ModelDeploymentStatus.model_validate(readable)
    except ValidationError:
        status = ModelDeploymentStatus()
    return status, [f"status.{key}: {message}" for key, message in sorted(bad.items())]


def _revision(obj: Mapping[str, Any]) -> str:
    return str(((obj.get("metadata") or {}).get("labels") or {}).get(REVISION_LABEL, ""))


def _workload(obj: Mapping[str, Any]) -> Workload:
    status = obj.get("status") or {}
    return Workload(
        kind=str(obj.get("kind", "")),
        name=str((obj.get("metadata") or {}).get("name", "")),
        revision=_revision(obj),
        replicas=int((obj.get("spec") or {}).get("replicas") or 0),
        ready_replicas=int(status.get("readyReplicas") or 0),
    )


def _pod(obj: Mapping[str, Any]) -> Pod:
    metadata = obj.get("metadata") or {}
    status = obj.get("status") or {}
    conditions = status.get("conditions") or []
    ready = any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions)
    phase = "Terminating" if metadata.get("deletionTimestamp") else str(status.get("phase", "Pending"))
    return Pod(
        name=str(metadata.get("name", "")),
        revision=_revision(obj),
        phase=phase,
        ready=ready,
        node=(obj.get("spec") or {}).get("nodeName"),
    )
