"""Object names and labels: stable, valid Kubernetes names derived from the ModelDeployment's name.

The one home of the label keys: the renderer writes them here, and the decision reads them back by
the same constants (the name label holds :func:`name_label_value`).

The CRD caps a ModelDeployment's name at 63 characters (``modelfleet.NAME_MAX_LENGTH``), so it is
its own ``modelfleet.io/name`` label value, but it may hold dots, which Service names (DNS labels) may
not. Names that do not fit are cleaned and given a hash suffix, so two names never collide and the
same name always maps to the same result.
"""

from __future__ import annotations

import hashlib
import re

from modelfleet import GROUP

NAME_LABEL = f"{GROUP}/name"
REVISION_LABEL = f"{GROUP}/revision"
SPEC_HASH_LABEL = f"{GROUP}/spec-hash"
ENGINE_LABEL = f"{GROUP}/engine"
ROLE_LABEL = f"{GROUP}/role"
# On a weight download Job: the JSON of modelfleet.api.fetch.FetchProgress, patched by the Job's own process
FETCH_PROGRESS_ANNOTATION = f"{GROUP}/fetch-progress"
# On a weight cache's PVC once its download is verified: the final FetchProgress JSON (phase Complete)
STAGED_ANNOTATION = f"{GROUP}/staged"
# On a weight cache's PVC and download Job, and on the engine workloads that mount it: the cache's name
CACHE_LABEL = f"{GROUP}/cache"
MANAGED_BY_LABEL = "app.kubernetes.io/managed-by"
ROLE_SERVER = "server"  # pods that answer HTTP; every Service selects only these
ROLE_WORKER = "worker"  # multi-node workers: part of the process group, never behind a Service
ROLE_WEIGHTS = "weights"  # a weight cache's PVC
ROLE_FETCH = "fetch"  # a weight cache's download Job and its pod

APP_NAME = "modelfleet-engine"
MANAGED_BY = "modelfleet"

DNS_LABEL_MAX = 63
REVISION_HASH_LENGTH = 10
# "<md>-<revision>": leaves room for the revision hash and the dash in a 63-character label.
REVISION_PREFIX_MAX = DNS_LABEL_MAX - REVISION_HASH_LENGTH - 1

_LABEL_RE = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")


def dns_label(name: str, max_length: int = DNS_LABEL_MAX) -> str:
    """``name`` as a DNS-1035 label of at most ``max_length`` characters.

    >>> dns_label("deepseek-v4-flash")
    'deepseek-v4-flash'
    >>> dns_label("llama.3-1", 40)
    'llama-3-1-1f0f36fc'
    >>> len(dns_label("a" * 80, 52))
    52
    """
    if len(name) <= max_length and _LABEL_RE.match(name):
        return name
    digest = hashlib.sha256(name.encode()).hexdigest()[:8]
    cleaned = re.sub(r"[^a-z0-9-]", "-", name.lower())
    if not cleaned[:1].isalpha():
        cleaned = "m" + cleaned
    prefix = cleaned[: max_length - len(digest) - 1].rstrip("-")
    return f"{prefix}-{digest}"


def umbrella_name(md_name: str) -> str:
    """The ModelDeployment's Service and HTTPRoute name."""
    return dns_label(md_name)


def revision_name(md_name: str, revision: str) -> str:
    """The Deployment / LeaderWorkerSet / Service of one revision: ``<md>-<revision>``.

    >>> revision_name("qwen3-8b", "3f2a9c1d0e")
    'qwen3-8b-3f2a9c1d0e'
    """
    return f"{dns_label(md_name, REVISION_PREFIX_MAX)}-{revision}"


def name_label_value(md_name: str) -> str:
    """The ``modelfleet.io/name`` label value (label values are limited to 63 characters)."""
    return md_name if len(md_name) <= DNS_LABEL_MAX else dns_label(md_name)


def selector_labels(md_name: str, revision: str | None = None) -> dict[str, str]:
    """What a Service selects: serving pods of the ModelDeployment (of one revision when given).

    The umbrella Service selects every revision, so with the ``replicas`` traffic provider the
    split follows the ratio of ready serving pods.
    """
    labels = {NAME_LABEL: name_label_value(md_name), ROLE_LABEL: ROLE_SERVER}
    if revision is not None:
        labels[REVISION_LABEL] = revision
    return labels


def object_labels(md_name: str, revision: str | None = None) -> dict[str, str]:
    """Labels on every object we create (the reconciler finds its children by ``modelfleet.io/name``)."""
    labels = {
        "app.kubernetes.io/name": APP_NAME,
        "app.kubernetes.io/instance": name_label_value(md_name),
        MANAGED_BY_LABEL: MANAGED_BY,
        NAME_LABEL: name_label_value(md_name),
    }
    if revision is not None:
        labels[REVISION_LABEL] = revision
    return labels
