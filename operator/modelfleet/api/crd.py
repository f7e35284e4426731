"""The ModelDeployment CustomResourceDefinition, generated from the pydantic models.

Kubernetes wants a *structural* OpenAPI v3 schema: every node has a ``type``, no ``$ref``, no
``anyOf`` with null, no ``title`` or ``const``, and ``properties`` never next to
``additionalProperties``. Pydantic emits JSON Schema 2020-12, so this module rewrites it:
refs are inlined, ``Optional[X]`` becomes plain optional ``X``, nested objects that have defaults
get ``default: {}`` so the API server fills their fields in, and the CEL rules each model declares
in ``json_schema_extra`` travel with it. Output is deterministic: the drift test compares bytes.
"""

from __future__ import annotations

import copy
from typing import Any

import yaml
from pydantic import BaseModel

from modelfleet import GROUP, KIND, NAME_MAX_LENGTH, PLURAL, VERSION
from modelfleet.api.base import ApiModel
from modelfleet.api.spec import ModelDeploymentSpec
from modelfleet.api.status import ModelDeploymentStatus

CRD_FILENAME = f"{GROUP}_{PLURAL}.yaml"
SHORT_NAMES = ["md"]
CATEGORIES = ["modelfleet"]
NAME_TOO_LONG = (
    f"metadata.name must be at most {NAME_MAX_LENGTH} characters: it becomes the modelfleet.io/name label "
    f"of the model's pods and the name of its Service; choose a shorter name"
)
HEADER = "# Generated from operator/modelfleet/api by `modelfleet crd -o crds` (`make crds`). Do not edit.\n"

_EXCLUSIVE_BOUNDS = {"exclusiveMinimum": "minimum", "exclusiveMaximum": "maximum"}
# Keywords the API server rejects, or that mean nothing once refs are inlined.
_DROPPED_KEYS = {"title", "$defs", "additionalProperties"}

PRINTER_COLUMNS: list[dict[str, Any]] = [
    {"name": "Model", "type": "string", "jsonPath": ".spec.model.id"},
    {"name": "Engine", "type": "string", "jsonPath": ".spec.engine.name"},
    {"name": "GPU", "type": "string", "jsonPath": ".status.plan.gpuType"},
    {
        "name": "GPUs",
        "type": "integer",
        "jsonPath": ".status.plan.gpusPerReplica",
        "description": "GPUs per replica",
    },
    {"name": "TP", "type": "integer", "jsonPath": ".status.plan.tensorParallel"},
    {"name": "PP", "type": "integer", "jsonPath": ".status.plan.pipelineParallel"},
    {"name": "Ready", "type": "string", "jsonPath": ".status.ready"},
    {
        "name": "Current",
        "type": "integer",
        "jsonPath": ".status.replicas",
        "description": "Replicas running, all revisions",
    },
    {
        "name": "Desired",
        "type": "integer",
        "jsonPath": ".spec.replicas",
        "description": "Replicas asked for (by the autoscaler when spec.autoscaling is set)",
    },
    {
        "name": "Canary",
        "type": "integer",
        "jsonPath": ".status.rollout.weight",
        "description": "Canary weight, percent",
    },
    {"name": "Phase", "type": "string", "jsonPath": ".status.phase"},
    {
        "name": "Weights",
        "type": "string",
        "jsonPath": ".status.staging.progress",
        "description": "The weight cache of the spec's revision: Staging 41%, Staged or Failed",
    },
    {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"},
]


def structural_schema(model: type[BaseModel], with_defaults: bool = True) -> dict[str, Any]:
    """The structural OpenAPI v3 schema of one pydantic model (refs inlined, nulls removed)."""
    raw = model.model_json_schema(by_alias=True, mode="validation")
    definitions = raw.get("$defs", {})
    if with_defaults:
        _add_factory_defaults(raw, definitions)
    return _clean(raw, definitions, with_defaults)


def _add_factory_defaults(root: dict[str, Any], definitions: dict[str, Any]) -> None:
    """Pydantic leaves ``default_factory`` values out of the schema; put them back.

    A nested object gets ``default: {}`` (the API server then applies its fields' own defaults), or
    the whole default value when its fields have none of their own;
    a non-empty list default (the canary steps) is written out in full; an empty list is left
    absent, which means the same and keeps stored objects short.
    """
    schemas = {**definitions, root.get("title", ""): root}
    for cls in _api_models():
        schema = schemas.get(cls.__name__)
        if schema is None:
            continue
        for name, field in cls.model_fields.items():
            if field.default_factory is None:
                continue
            value = field.default_factory()  # type: ignore[call-arg]
            alias = field.alias or name
            if isinstance(value, BaseModel) and any(
                f.is_required() for f in type(value).model_fields.values()
            ):
                # Its fields have no defaults of their own (scaleUp and scaleDown differ): write it out.
                schema["properties"][alias]["default"] = value.model_dump(
                    by_alias=True, exclude_none=True, mode="json"
                )
            elif isinstance(value, BaseModel):
                schema["properties"][alias]["default"] = {}
            elif isinstance(value, list) and value:
                schema["properties"][alias]["default"] = [
                    v.model_dump(by_alias=True, exclude_none=True, mode="json")
                    if isinstance(v, BaseModel)
                    else v
                    for v in value
                ]


def _api_models() -> list[type[ApiModel]]:
    found: list[type[ApiModel]] = []
    pending: list[type[ApiModel]] = [ApiModel]
    while pending:
        cls = pending.pop()
        found.append(cls)
        pending.extend(cls.__subclasses__())
    return found


def _clean(node: Any, definitions: dict[str, Any], with_defaults: bool) -> Any:
    if isinstance(node, list):
        return [_clean(item, definitions, with_defaults) for item in node]
    if not isinstance(node, dict):
        return node
    node = _resolve(node, definitions)
    result: dict[str, Any] = {}
    for key, value in node.items():
        if key == "additionalProperties" and isinstance(value, dict) and "properties" not in node:
            result[key] = _clean(value, definitions, with_defaults)  # a map (labels, nodeSelector)
            continue
        if key in _DROPPED_KEYS or (key == "default" and (value is None or not with_defaults)):
            continue
        if key == "description" and isinstance(value, str):
            # Docstrings wrap lines; `kubectl explain` re-wraps, so one paragraph reads best.
            result[key] = " ".join(value.split())
        elif key == "const":
            result["enum"] = [value]
        elif key in _EXCLUSIVE_BOUNDS and not isinstance(value, bool):
            # JSON Schema 2020-12 writes `gt=0` as exclusiveMinimum: 0; OpenAPI v3 (the API server)
            # wants minimum: 0 with exclusiveMinimum: true.
            result[_EXCLUSIVE_BOUNDS[key]] = value
            result[key] = True
        elif key in ("properties", "patternProperties"):
            result[key] = {k: _clean(v, definitions, with_defaults) for k, v in value.items()}
        elif key == "x-kubernetes-validations" or key.startswith("x-kubernetes-list"):
            result[key] = value
        else:
            result[key] = _clean(value, definitions, with_defaults)
    if "properties" in result:
        result.setdefault("type", "object")
    return result


def _resolve(node: dict[str, Any], definitions: dict[str, Any]) -> dict[str, Any]:
    """Inline ``$ref`` / ``allOf: [$ref]`` and unwrap ``anyOf: [X, null]``; the field's own keys
    (description, default) win over the referenced model's."""
    while True:
        if "$ref" in node:
            target = definitions[node["$ref"].rsplit("/", 1)[-1]]
            siblings = {k: v for k, v in node.items() if k != "$ref"}
            node = {**copy.deepcopy(target), **siblings}
        elif "allOf" in node and len(node["allOf"]) == 1:
            siblings = {k: v for k, v in node.items() if k != "allOf"}
            node = {**node["allOf"][0], **siblings}
        elif "anyOf" in node:
            branches = [b for b in node["anyOf"] if b.get("type") != "null"]
            if len(branches) != 1:
                raise ValueError(f"cannot express a union of {len(branches)} types structurally: {node}")
            siblings = {k: v for k, v in node.items() if k != "anyOf"}
            node = {**branches[0], **siblings}
        else:
            return node


def openapi_schema() -> dict[str, Any]:
    """The whole object's schema: apiVersion, kind, metadata, spec (required) and status."""
    spec = structural_schema(ModelDeploymentSpec)
    # Status is written by the operator alone: no API-server defaults, the operator fills it.
    status = structural_schema(ModelDeploymentStatus, with_defaults=False)
    status["description"] = "Observed state, written by the operator."
    return {
        "type": "object",
        "description": "A model served by a fleet of inference pods, sized and rolled out by ModelFleet.",
        "required": ["spec"],
        "x-kubernetes-validations": [
            {
                "rule": f"self.metadata.name.size() <= {NAME_MAX_LENGTH}",
                "message": NAME_TOO_LONG,
            }
        ],
        "properties": {
            "apiVersion": {"type": "string", "description": "APIVersion of this object."},
            "kind": {"type": "string", "description": "Kind of this object."},
            "metadata": {"type": "object"},
            "spec": spec,
            "status": status,
        },
    }


def crd() -> dict[str, Any]:
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"{PLURAL}.{GROUP}"},
        "spec": {
            "group": GROUP,
            "names": {
                "kind": KIND,
                "listKind": f"{KIND}List",
                "plural": PLURAL,
                "singular": KIND.lower(),
                "shortNames": SHORT_NAMES,
                "categories": CATEGORIES,
            },
            "scope": "Namespaced",
            "versions": [
                {
                    "name": VERSION,
                    "served": True,
                    "storage": True,
                    "schema": {"openAPIV3Schema": openapi_schema()},
                    "subresources": {
                        "status": {},
                        "scale": {
                            "specReplicasPath": ".spec.replicas",
                            "statusReplicasPath": ".status.replicas",
                            "labelSelectorPath": ".status.selector",
                        },
                    },
                    "additionalPrinterColumns": PRINTER_COLUMNS,
                }
            ],
        },
    }


def crd_yaml() -> str:
    """The CRD as YAML text, byte-for-byte stable across runs (sorted keys, fixed width)."""
    return HEADER + yaml.safe_dump(
        crd(), sort_keys=True, default_flow_style=False, width=120, allow_unicode=True
    )
