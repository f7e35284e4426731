"""Revision and spec hashes: what makes a new version, and what makes an object change.

``revision_hash`` names a *version to roll out*: it covers everything that changes what the pods
run (model id and revision, quantization, source, engine name / version / image / args / env,
serving settings, and the plan's GPU type and layout) and nothing that only scales or steers a
rollout (``replicas``, ``rollout``), so scaling or editing canary steps never starts a canary.
The spec is hashed as written (defaults left out), so a default added to the API later does not
change the hash of existing ModelDeployments; an operator upgrade that changes a rendered pod
shows up in ``spec_hash`` instead and is applied as an in-place rolling update.

``spec_hash`` fingerprints one rendered object (without ``spec.replicas`` and without its own
label), so the reconciler can skip applying objects that did not change.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from modelfleet.api import ModelDeploymentSpec
from modelfleet.planner.types import Plan
from modelfleet.render.names import REVISION_HASH_LENGTH, SPEC_HASH_LABEL

SPEC_HASH_LENGTH = 10


def _digest(value: Any, length: int) -> str:
    text = json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:length]


def _written(model: Any) -> Any:
    """A pydantic model as the user wrote it: camelCase, no defaults, no unset optionals."""
    return None if model is None else model.model_dump(by_alias=True, exclude_defaults=True, mode="json")


def revision_inputs(spec: ModelDeploymentSpec, plan: Plan) -> dict[str, Any]:
    """The values a revision hash covers (exposed so a test or a user can see what counts)."""
    model = spec.model
    chosen = plan.chosen
    return {
        "model": {
            "id": model.id,
            "revision": model.revision,
            "quantization": None if model.quantization is None else model.quantization.value,
            "source": _written(model.source),
        },
        "engine": _written(spec.engine),
        "serving": _written(spec.serving),
        "plan": {
            "quantization": plan.quantization,
            "maxModelLen": plan.max_model_len,
            "gpuType": None if chosen is None else chosen.gpu_type,
            "gpusPerReplica": None if chosen is None else chosen.gpus_per_replica,
            "nodesPerReplica": None if chosen is None else chosen.nodes_per_replica,
            "tensorParallel": None if chosen is None else chosen.tensor_parallel,
            "pipelineParallel": None if chosen is None else chosen.pipeline_parallel,
            "dataParallel": None if chosen is None else chosen.data_parallel,
            "expertParallel": None if chosen is None else chosen.expert_parallel,
        },
    }


def revision_hash(spec: ModelDeploymentSpec, plan: Plan, cached: bool = False) -> str:
    """Ten hex characters naming the version the spec and plan describe (``cached``: its pods read
    a weight cache).

    >>> from modelfleet.api import parse_spec
    >>> from modelfleet.planner.types import Candidate, Engine
    >>> plan = Plan(True, "org/m", Engine.VLLM, "bf16", 4096, Candidate("L4", 1, 1, 1, 1), None, None, ())
    >>> one, two = parse_spec({"model": {"id": "org/m"}, "replicas": 1}), parse_spec({"model": {"id": "org/m"}, "replicas": 5})
    >>> revision_hash(one, plan) == revision_hash(two, plan), len(revision_hash(one, plan))
    (True, 10)
    """
    inputs = revision_inputs(spec, plan)
    if cached:
        # Pods that read a staged cache differ from pods that download: switching is a new revision,
        # staged before it rolls out. Absent otherwise, so hashes of uncached revisions stay as they were.
        inputs["weights"] = "cache"
    return _digest(inputs, REVISION_HASH_LENGTH)


# Where a workload keeps its pod templates, under its spec: a Deployment, a LeaderWorkerSet.
POD_TEMPLATE_PATHS = (
    ("template",),
    ("leaderWorkerTemplate", "leaderTemplate"),
    ("leaderWorkerTemplate", "workerTemplate"),
)


def spec_hash(obj: dict[str, Any]) -> str:
    """Ten hex characters fingerprinting a rendered object, ignoring ``spec.replicas`` (scaled
    separately) and any ``modelfleet.io/spec-hash`` label already on it."""
    return _digest(_hashed_part(obj), SPEC_HASH_LENGTH)


def _hashed_part(obj: dict[str, Any]) -> dict[str, Any]:
    """`obj` without ``spec.replicas`` and the spec-hash labels, with empty label maps where it has
    none (as the stamp adds them): copied only along those paths, the rest shared, never changed."""
    stripped = {**obj, "metadata": _unlabelled(obj.get("metadata", {}))}
    spec = obj.get("spec")
    if isinstance(spec, dict):
        stripped["spec"] = {key: value for key, value in spec.items() if key != "replicas"}
        for path in POD_TEMPLATE_PATHS:
            _replace_at(stripped["spec"], path, _unlabelled_template)
    return stripped


def _replace_at(tree: dict[str, Any], path: tuple[str, ...], change: Any) -> dict[str, Any]:
    """`tree` with the mapping at `path` replaced by ``change(it)``, copying the mappings on the way."""
    child = tree.get(path[0])
    if isinstance(child, dict):
        tree[path[0]] = change(child) if len(path) == 1 else _replace_at(dict(child), path[1:], change)
    return tree


def _unlabelled_template(template: dict[str, Any]) -> dict[str, Any]:
    return {**template, "metadata": _unlabelled(template.get("metadata", {}))}


def _unlabelled(meta: dict[str, Any]) -> dict[str, Any]:
    labels = {key: value for key, value in meta.get("labels", {}).items() if key != SPEC_HASH_LABEL}
    return {**meta, "labels": labels}


def stamp_spec_hash(obj: dict[str, Any]) -> dict[str, Any]:
    """Put ``spec_hash(obj)`` on the object's labels and on each of its pod templates' labels."""
    value = spec_hash(obj)
    for labels in _label_maps(obj):
        labels[SPEC_HASH_LABEL] = value
    return obj


def _label_maps(obj: dict[str, Any]) -> list[dict[str, str]]:
    """The object's own labels and those of its pod templates (Deployment and LeaderWorkerSet)."""
    maps = [obj.setdefault("metadata", {}).setdefault("labels", {})]
    spec = obj.get("spec") or {}
    for path in POD_TEMPLATE_PATHS:
        template: Any = spec
        for key in path:
            template = template.get(key) if isinstance(template, dict) else None
        if isinstance(template, dict):
            maps.append(template.setdefault("metadata", {}).setdefault("labels", {}))
    return maps
