"""``spec.model.cache``: where the weights are staged before the engine pods start.

Without it (or with ``mode`` left out) the operator's configured default applies (``cache.mode`` in
operator.yaml, the Helm value ``cache.mode``); its own default is ``none``: every engine pod downloads
its weights when it starts, as before.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

from pydantic import Field, WithJsonSchema, model_validator

from modelfleet.api.base import NAME_MAX_LENGTH, ApiModel, _check_pattern, cel

# A Kubernetes quantity with a binary or decimal suffix: 200Gi, 1.5Ti, 500G.
SIZE_PATTERN = r"^[0-9]+(\.[0-9]+)?(Ki|Mi|Gi|Ti|Pi|k|M|G|T|P)?$"
RETAIN_MAX = 10

Size = Annotated[
    str,
    _check_pattern(SIZE_PATTERN, "size (a Kubernetes quantity)", "200Gi"),
    WithJsonSchema({"type": "string", "pattern": SIZE_PATTERN, "maxLength": 32}),
]

NODE_MODE_MESSAGE = (
    "cache mode node (node-local disk on every eligible node) is not supported yet; "
    "use shared (a ReadWriteMany volume) or none"
)


class CacheMode(StrEnum):
    NONE = "none"  # every engine pod downloads the weights when it starts
    SHARED = "shared"  # one ReadWriteMany volume per (model, revision, source) in the namespace
    NODE = "node"  # node-local disk; refused until it is built


class CacheSpec(ApiModel):
    """A weight cache: filled once by a download Job, mounted read-only by every engine pod."""

    model_config = cel(("!has(self.mode) || self.mode != 'node'", NODE_MODE_MESSAGE))

    mode: CacheMode | None = Field(
        None,
        description="none (each pod downloads), shared (one ReadWriteMany volume per model revision in the "
        "namespace, filled before any pod starts), or node (not supported yet). Default: the operator's cache.mode.",
    )
    storage_class_name: str | None = Field(
        None,
        description="StorageClass of the cache volume (it must offer ReadWriteMany). Default: the operator's "
        "cache.storageClassName, else the cluster's default class.",
        min_length=1,
        max_length=NAME_MAX_LENGTH,
    )
    size: Size | None = Field(
        None,
        description="Requested size of the cache volume. Default: the checkpoint's bytes x 1.1 plus 5 GiB.",
    )
    retain: int | None = Field(
        None,
        description="Caches of earlier revisions this ModelDeployment keeps (for a fast rollback). "
        "Default: the operator's cache.retain (1).",
        ge=0,
        le=RETAIN_MAX,
    )

    @model_validator(mode="after")
    def _mode_supported(self) -> CacheSpec:
        if self.mode is CacheMode.NODE:
            raise ValueError(NODE_MODE_MESSAGE)
        return self
