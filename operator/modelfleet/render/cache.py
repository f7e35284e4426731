"""The weight cache of a revision: its name, its size, and the objects that fill it (pure).

One cache per (model id, model revision, source) and namespace: a ReadWriteMany PersistentVolumeClaim
named from a hash of those three, so every ModelDeployment in the namespace that serves the same
weights finds the same claim, and a download Job of the same name that runs ``modelfleet fetch`` into
it. The claim's owner references are its claimants (the ModelDeployments that use it, none of them the
controller): Kubernetes' garbage collector deletes it once every claimant is gone, even while the
operator is down, and the Job goes with it (the claim is the Job's controller). Engine pods mount the
claim read-only at ``/model`` (sub-path ``model``) and run offline.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from modelfleet.api import CacheMode, ModelDeploymentSpec
from modelfleet.catalog.types import GIB
from modelfleet.planner.types import Plan
from modelfleet.render.config import CacheDefaults
from modelfleet.render.inputs import CACHE_SUB_PATH
from modelfleet.render.names import (
    CACHE_LABEL,
    FETCH_PROGRESS_ANNOTATION,
    MANAGED_BY,
    MANAGED_BY_LABEL,
    ROLE_FETCH,
    ROLE_LABEL,
    ROLE_WEIGHTS,
)
from modelfleet.render.sizing import weight_bytes

CACHE_NAME_PREFIX = "weights-"
CACHE_HASH_LENGTH = 12
SUB_PATH = CACHE_SUB_PATH  # the directory inside the volume that holds config.json and the weights
JOB_MOUNT_PATH = "/weights"
FETCH_CONTAINER = "fetch"
EXIT_PERMANENT = 2  # `modelfleet fetch`: a failure a retry cannot change (401, 404, checksum)
SOURCE_ANNOTATION = "modelfleet.io/cache-source"
REVISION_ANNOTATION = "modelfleet.io/cache-revision"
FETCH_JOB_ENV = "MODELFLEET_FETCH_JOB"
FAILED_JOB_TTL_SECONDS = 3600

# Size when the user gives none: the checkpoint's bytes x 1.1 (the Hub's listing and the file system's
# own overhead) plus 5 GiB (tokenizer, config, and partial files while a download resumes).
SIZE_FACTOR = 1.1
SIZE_HEADROOM_BYTES = 5 * GIB
SIZE_UNKNOWN_BYTES = 100 * GIB  # the plan has no weight bytes (no memory breakdown)


@dataclass(frozen=True)
class CacheSettings:
    """The cache a revision uses, with every default applied."""

    name: str
    source: str  # hf://org/name, s3://..., gs://...
    revision: str | None
    storage_class_name: str | None
    size: str
    retain: int
    token_secret: tuple[str, str] | None  # (Secret name, key) for HF_TOKEN


def cache_source(spec: ModelDeploymentSpec) -> str | None:
    """What the download Job fetches; None for a user's PVC, which is never written.

    >>> from modelfleet.api import parse_spec
    >>> cache_source(parse_spec({"model": {"id": "Qwen/Qwen3-8B"}}))
    'hf://Qwen/Qwen3-8B'
    >>> cache_source(parse_spec({"model": {"id": "org/m", "source": {"uri": "s3://models/m"}}}))
    's3://models/m'
    """
    source = spec.model.source
    if source is not None and source.pvc is not None:
        return None
    if source is not None and source.uri is not None:
        return source.uri
    return f"hf://{spec.model.id}"


def cache_name(model_id: str, revision: str | None, source: str) -> str:
    """``weights-<12 hex>``: the same for every ModelDeployment serving the same weights.

    >>> cache_name("Qwen/Qwen3-8B", "main", "hf://Qwen/Qwen3-8B") == cache_name("Qwen/Qwen3-8B", "main", "hf://Qwen/Qwen3-8B")
    True
    >>> cache_name("Qwen/Qwen3-8B", "main", "hf://Qwen/Qwen3-8B") != cache_name("Qwen/Qwen3-8B", "v2", "hf://Qwen/Qwen3-8B")
    True
    """
    key = json.dumps({"id": model_id, "revision": revision, "source": source}, sort_keys=True)
    return CACHE_NAME_PREFIX + hashlib.sha256(key.encode()).hexdigest()[:CACHE_HASH_LENGTH]


def default_size(plan: Plan) -> str:
    """The checkpoint's bytes x 1.1 + 5 GiB, in whole GiB.

    Llama-3.1-70B in bf16 (~131 GiB of weights): 131 x 1.1 + 5 = 149.1, so ``150Gi``.
    """
    weights = weight_bytes(plan)
    wanted = SIZE_UNKNOWN_BYTES if weights is None else weights * SIZE_FACTOR + SIZE_HEADROOM_BYTES
    return f"{math.ceil(wanted / GIB)}Gi"


def cache_settings(spec: ModelDeploymentSpec, plan: Plan, defaults: CacheDefaults) -> CacheSettings | None:
    """The cache this spec's revision uses, or None (mode none, or the weights are the user's PVC)."""
    cache = spec.model.cache
    mode = cache.mode if cache is not None and cache.mode is not None else CacheMode(defaults.mode)
    source = cache_source(spec)
    if mode is not CacheMode.SHARED or source is None:
        return None
    token = None
    hf = spec.model.source.huggingface if spec.model.source is not None else None
    if hf is not None and hf.token_secret_ref is not None:
        token = (hf.token_secret_ref.name, hf.token_secret_ref.key)
    return CacheSettings(
        name=cache_name(spec.model.id, spec.model.revision, source),
        source=source,
        revision=spec.model.revision,
        storage_class_name=(cache.storage_class_name if cache is not None else None)
        or defaults.storage_class_name,
        size=(cache.size if cache is not None else None) or default_size(plan),
        retain=cache.retain if cache is not None and cache.retain is not None else defaults.retain,
        token_secret=token,
    )


def cache_labels(name: str, role: str) -> dict[str, str]:
    return {MANAGED_BY_LABEL: MANAGED_BY, CACHE_LABEL: name, ROLE_LABEL: role}


def claim_reference(owner: Mapping[str, Any]) -> dict[str, Any]:
    """A ModelDeployment's claim on a cache: an owner reference that is not the controller, so the
    claim never blocks another claimant and the garbage collector waits for all of them."""
    return {**owner, "controller": False, "blockOwnerDeletion": False}


def render_cache_claim(
    settings: CacheSettings, namespace: str, claimants: Sequence[Mapping[str, Any]]
) -> dict[str, Any]:
    """The cache's PersistentVolumeClaim, created once (never applied: claimants are added by patch)."""
    spec: dict[str, Any] = {
        "accessModes": ["ReadWriteMany"],
        "resources": {"requests": {"storage": settings.size}},
    }
    if settings.storage_class_name:
        spec["storageClassName"] = settings.storage_class_name
    annotations = {SOURCE_ANNOTATION: settings.source}
    if settings.revision:
        annotations[REVISION_ANNOTATION] = settings.revision
    return {
        "apiVersion": "v1",
        "kind": "PersistentVolumeClaim",
        "metadata": {
            "name": settings.name,
            "namespace": namespace,
            "labels": cache_labels(settings.name, ROLE_WEIGHTS),
            "annotations": annotations,
            "ownerReferences": [claim_reference(c) for c in claimants],
        },
        "spec": spec,
    }


def render_fetch_job(
    settings: CacheSettings, namespace: str, claim_uid: str, defaults: CacheDefaults
) -> dict[str, Any]:
    """The download Job: ``modelfleet fetch`` into the claim, owned (controlled) by the claim.

    Exit 2 (a permanent failure: 401, 404, a checksum that differs) fails the Job at once through its
    pod failure policy; exit 1 (retryable) is retried up to ``backoff_limit`` times, and the fetch
    resumes from what the earlier attempt wrote.
    """
    name = settings.name
    argv = ["modelfleet", "fetch", settings.source, "--dest", f"{JOB_MOUNT_PATH}/{SUB_PATH}"]
    if settings.revision:
        argv[3:3] = ["--revision", settings.revision]
    env: list[dict[str, Any]] = [{"name": FETCH_JOB_ENV, "value": f"{namespace}/{name}"}]
    if defaults.hf_endpoint:
        env.append({"name": "HF_ENDPOINT", "value": defaults.hf_endpoint})
    if settings.token_secret is not None:
        secret, key = settings.token_secret
        env.append({"name": "HF_TOKEN", "valueFrom": {"secretKeyRef": {"name": secret, "key": key}}})
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "labels": cache_labels(name, ROLE_FETCH),
            "annotations": {SOURCE_ANNOTATION: settings.source},
            "ownerReferences": [
                {
                    "apiVersion": "v1",
                    "kind": "PersistentVolumeClaim",
                    "name": name,
                    "uid": claim_uid,
                    "controller": True,
                    # No foreground-deletion block: it would need update on the claim's finalizers.
                    "blockOwnerDeletion": False,
                }
            ],
        },
        "spec": {
            "backoffLimit": defaults.backoff_limit,
            # A verified download's Job is deleted by the operator once it marked the claim staged; a
            # failed one stays this long (its error, `kubectl logs`), then the download is tried again.
            # A finished pod that mounts the claim keeps the claim from being deleted, so none lingers.
            "ttlSecondsAfterFinished": FAILED_JOB_TTL_SECONDS,
            "podFailurePolicy": {
                "rules": [
                    {
                        "action": "FailJob",
                        "onExitCodes": {
                            "containerName": FETCH_CONTAINER,
                            "operator": "In",
                            "values": [EXIT_PERMANENT],
                        },
                    }
                ]
            },
            "template": {
                # No managed-by label: the engine-pod index and the Services must not see this pod.
                "metadata": {"labels": {CACHE_LABEL: name, ROLE_LABEL: ROLE_FETCH}},
                "spec": {
                    "restartPolicy": "Never",
                    "serviceAccountName": defaults.fetch_service_account,
                    "securityContext": {"seccompProfile": {"type": "RuntimeDefault"}},
                    "containers": [
                        {
                            "name": FETCH_CONTAINER,
                            "image": defaults.fetch_image,
                            "command": argv,
                            "env": env,
                            "terminationMessagePolicy": "FallbackToLogsOnError",
                            "securityContext": {
                                "allowPrivilegeEscalation": False,
                                "capabilities": {"drop": ["ALL"]},
                            },
                            "volumeMounts": [{"name": "weights", "mountPath": JOB_MOUNT_PATH}],
                        }
                    ],
                    "volumes": [{"name": "weights", "persistentVolumeClaim": {"claimName": name}}],
                },
            },
        },
    }


def render_fetch_identity(namespace: str, defaults: CacheDefaults) -> list[dict[str, Any]]:
    """The download pods' ServiceAccount, allowed to read and patch Jobs in its namespace and nothing
    else (the progress annotation); applied with each new cache, harmless when it exists."""
    name = defaults.fetch_service_account
    labels = {MANAGED_BY_LABEL: MANAGED_BY, ROLE_LABEL: ROLE_FETCH}
    meta = {"name": name, "namespace": namespace, "labels": labels}
    return [
        {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": dict(meta)},
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "Role",
            "metadata": dict(meta),
            "rules": [{"apiGroups": ["batch"], "resources": ["jobs"], "verbs": ["get", "patch"]}],
        },
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "RoleBinding",
            "metadata": dict(meta),
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": name},
            "subjects": [{"kind": "ServiceAccount", "name": name, "namespace": namespace}],
        },
    ]


__all__ = [
    "FETCH_PROGRESS_ANNOTATION",
    "CacheSettings",
    "cache_name",
    "cache_settings",
    "default_size",
    "render_cache_claim",
    "render_fetch_identity",
    "render_fetch_job",
]
