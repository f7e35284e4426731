"""``spec.podTemplate``: what a user adds to the engine pods, merged with what ModelFleet renders.

The shape is a narrow PodTemplateSpec (``metadata`` + ``spec``) holding only fields that add to a
pod without changing what it runs: scheduling (nodeSelector, tolerations, affinity additions,
priorityClassName, runtimeClassName), identity (serviceAccountName, imagePullSecrets), pod labels
and annotations, and extra volumes mounted into the engine container. Extra environment variables
are ``spec.engine.env``.

Fields ModelFleet owns (the containers with their command, GPU limits and probes, the grace period
sized per engine) are refused by name, in the CRD (a CEL rule per field) and in pydantic, so a user
learns at ``kubectl apply`` which spec field to use instead; they are never silently dropped.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field, WithJsonSchema, field_validator, model_validator

from modelfleet import GROUP
from modelfleet.api.base import LIST_MAX_ITEMS, NAME_MAX_LENGTH, ApiModel

# Pod spec fields ModelFleet renders itself -> what to set instead. One home: the CRD rules, the
# pydantic check and docs/api.md read this table.
OWNED_POD_FIELDS: dict[str, str] = {
    "containers": "the engine container (command, GPU limits, probes) is rendered from spec.engine and "
    "the GPU plan; use spec.engine.args / spec.engine.env, and podTemplate.spec.volumeMounts for files",
    "initContainers": "ModelFleet renders the whole container list; bake set-up into the engine image",
    "resources": "GPU requests and limits come from the GPU plan; set spec.accelerator instead",
    "terminationGracePeriodSeconds": "the grace period is sized per engine so in-flight requests finish "
    "(docs/engines.md)",
    "command": "the engine command is rendered from spec.engine; add flags with spec.engine.args",
    "args": "add engine flags with spec.engine.args",
    "livenessProbe": "probes are sized from the model's load time; they are not configurable",
    "readinessProbe": "probes are sized from the model's load time; they are not configurable",
    "startupProbe": "probes are sized from the model's load time; they are not configurable",
}

# Volumes and mount paths the engine container already has (render/templates/_pod.yaml.j2).
CACHE_MOUNT_PATH = "/cache"  # emptyDir: Hub downloads and compile caches
MODEL_MOUNT_PATH = "/model"  # the user's PVC, read-only
SHM_MOUNT_PATH = "/dev/shm"
RESERVED_VOLUME_NAMES = ("cache", "dshm", "model")
RESERVED_MOUNT_PATHS = (CACHE_MOUNT_PATH, MODEL_MOUNT_PATH, SHM_MOUNT_PATH)
RESERVED_LABEL_PREFIX = f"{GROUP}/"

# A Kubernetes object we pass through as the user wrote it (the API server validates it when the
# Deployment is applied); the CRD keeps its fields instead of pruning them.
RawObject = Annotated[
    dict[str, Any],
    WithJsonSchema({"type": "object", "x-kubernetes-preserve-unknown-fields": True}),
]
StringMap = Annotated[dict[str, Annotated[str, Field(max_length=4096)]], Field(max_length=LIST_MAX_ITEMS)]


# Each refused field is declared with its Kubernetes shape, so the API server keeps it long enough for
# the rule to refuse it (an undeclared field would be pruned silently).
_ANY_OBJECT: dict[str, Any] = {"type": "object", "x-kubernetes-preserve-unknown-fields": True}
_REFUSED_SHAPES: dict[str, dict[str, Any]] = {
    "containers": {"type": "array", "maxItems": 16, "items": _ANY_OBJECT},
    "initContainers": {"type": "array", "maxItems": 16, "items": _ANY_OBJECT},
    "command": {"type": "array", "maxItems": 16, "items": {"type": "string", "maxLength": 256}},
    "args": {"type": "array", "maxItems": 16, "items": {"type": "string", "maxLength": 256}},
    "terminationGracePeriodSeconds": {"type": "integer"},
}


def _refused(owned: dict[str, str]) -> Any:
    """CRD additions for refused fields: each declared (so it is not pruned before the rule runs)
    and a CEL rule whose message is the same sentence pydantic gives."""

    def extra(schema: dict[str, Any]) -> None:
        properties = schema.setdefault("properties", {})
        rules = schema.setdefault("x-kubernetes-validations", [])
        for name, instead in owned.items():
            properties[name] = {
                **_REFUSED_SHAPES.get(name, _ANY_OBJECT),
                "description": f"Refused (owned by ModelFleet): {instead}.",
            }
            rules.append({"rule": f"!has(self.{name})", "message": _refused_message(name, instead)})

    return extra


def _refused_message(name: str, instead: str) -> str:
    return f"{name} is owned by ModelFleet and cannot be set: {instead}"


class Toleration(ApiModel):
    key: str | None = Field(None, description="Taint key the toleration matches.", max_length=NAME_MAX_LENGTH)
    operator: Literal["Exists", "Equal"] | None = Field(None, description="Exists or Equal (default Equal).")
    value: str | None = Field(None, description="Taint value, with operator Equal.", max_length=63)
    effect: Literal["NoSchedule", "PreferNoSchedule", "NoExecute"] | None = Field(
        None, description="Taint effect to match; empty matches all."
    )
    toleration_seconds: int | None = Field(
        None, description="NoExecute only: seconds the pod stays bound after the taint appears.", ge=0
    )


class LocalObjectReference(ApiModel):
    name: str = Field(
        description="Name of a Secret in the ModelDeployment's namespace.",
        min_length=1,
        max_length=NAME_MAX_LENGTH,
    )


class VolumeMount(ApiModel):
    name: str = Field(description="A volume of podTemplate.spec.volumes.", min_length=1, max_length=63)
    mount_path: str = Field(description="Where the engine container sees it.", min_length=1, max_length=1024)
    sub_path: str | None = Field(None, description="Path inside the volume.", max_length=1024)
    read_only: bool | None = Field(None, description="Mount read-only.")


class PodMetadata(ApiModel):
    labels: StringMap = Field(
        default_factory=dict,
        description=f"Labels added to every engine pod; keys under {RESERVED_LABEL_PREFIX} are ModelFleet's.",
    )
    annotations: StringMap = Field(default_factory=dict, description="Annotations added to every engine pod.")

    @field_validator("labels")
    @classmethod
    def _not_ours(cls, labels: dict[str, str]) -> dict[str, str]:
        ours = sorted(key for key in labels if key.startswith(RESERVED_LABEL_PREFIX))
        if ours:
            raise ValueError(
                f"{', '.join(ours)}: labels under {RESERVED_LABEL_PREFIX} are set by ModelFleet "
                "(the Services and budgets select pods by them); choose another prefix"
            )
        return labels


class PodSpecAdditions(ApiModel):
    """What is added to the rendered pod spec. Lists are appended to ModelFleet's own entries."""

    model_config = {**ApiModel.model_config, "json_schema_extra": _refused(OWNED_POD_FIELDS)}

    node_selector: StringMap = Field(
        default_factory=dict, description="Node labels the pods require, on top of the GPU type."
    )
    tolerations: list[Toleration] = Field(
        default_factory=list,
        description="Tolerations added to the GPU taint toleration ModelFleet renders.",
        max_length=LIST_MAX_ITEMS,
    )
    affinity: RawObject | None = Field(
        None,
        description="Affinity additions (core/v1 Affinity). Required node terms are ANDed with the GPU "
        "type term; preferred terms, podAffinity and podAntiAffinity are added as written.",
    )
    priority_class_name: str | None = Field(
        None, description="PriorityClass of the engine pods.", min_length=1, max_length=NAME_MAX_LENGTH
    )
    runtime_class_name: str | None = Field(
        None,
        description="RuntimeClass of the engine pods (e.g. nvidia).",
        min_length=1,
        max_length=NAME_MAX_LENGTH,
    )
    service_account_name: str | None = Field(
        None,
        description="ServiceAccount the pods run as (its token is still not mounted).",
        min_length=1,
        max_length=NAME_MAX_LENGTH,
    )
    image_pull_secrets: list[LocalObjectReference] = Field(
        default_factory=list, description="Secrets for pulling the engine image.", max_length=LIST_MAX_ITEMS
    )
    volumes: list[RawObject] = Field(
        default_factory=list,
        description=f"Extra volumes (core/v1 Volume, each with a name); {', '.join(RESERVED_VOLUME_NAMES)} are ModelFleet's.",
        max_length=LIST_MAX_ITEMS,
    )
    volume_mounts: list[VolumeMount] = Field(
        default_factory=list,
        description="Extra mounts in the engine container, of podTemplate.spec.volumes.",
        max_length=LIST_MAX_ITEMS,
    )

    @model_validator(mode="before")
    @classmethod
    def _owned_fields(cls, data: Any) -> Any:
        if isinstance(data, dict):
            for name, instead in OWNED_POD_FIELDS.items():
                if name in data:
                    raise ValueError(_refused_message(name, instead))
        return data

    @field_validator("affinity")
    @classmethod
    def _affinity_kinds(cls, affinity: dict[str, Any] | None) -> dict[str, Any] | None:
        unknown = sorted(set(affinity or {}) - {"nodeAffinity", "podAffinity", "podAntiAffinity"})
        if unknown:
            raise ValueError(
                f"{', '.join(unknown)}: affinity holds nodeAffinity, podAffinity and podAntiAffinity"
            )
        return affinity

    @model_validator(mode="after")
    def _volumes_fit(self) -> PodSpecAdditions:
        if any(not isinstance(v.get("name"), str) or not v["name"] for v in self.volumes):
            raise ValueError("volumes: every volume needs a name")
        names = [str(v["name"]) for v in self.volumes]
        taken = sorted(set(names) & set(RESERVED_VOLUME_NAMES))
        if taken:
            raise ValueError(
                f"volumes: {', '.join(taken)} is a volume ModelFleet renders; choose another name"
            )
        missing = sorted({m.name for m in self.volume_mounts} - set(names))
        if missing:
            raise ValueError(f"volumeMounts: {', '.join(missing)} is not in podTemplate.spec.volumes")
        clashing = sorted({m.mount_path.rstrip("/") for m in self.volume_mounts} & set(RESERVED_MOUNT_PATHS))
        if clashing:
            raise ValueError(f"volumeMounts: {', '.join(clashing)} is where ModelFleet mounts its own volume")
        return self


class PodTemplateAdditions(ApiModel):
    """``spec.podTemplate``: labels, annotations and pod spec fields added to every engine pod."""

    metadata: PodMetadata = Field(default_factory=PodMetadata, description="Pod labels and annotations.")
    spec: PodSpecAdditions = Field(default_factory=PodSpecAdditions, description="Pod spec additions.")
