"""From a ModelDeployment spec to the planner's input: ``(PlanRequest, ModelFacts)``.

Shared by the CLI (``modelfleet plan -f``) and the reconciler, so both plan the same thing.
Facts come from the catalog; ``spec.model.overrides`` win field by field, and a model the catalog
does not know can be planned from overrides alone.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from modelfleet.api.spec import ModelDeploymentSpec
from modelfleet.api.spec_model import ModelOverrides
from modelfleet.catalog.types import AttentionKind, ModelFacts, MoeFacts
from modelfleet.planner.types import Engine, GpuPool, PlanRequest, Quantization

OVERRIDES_SOURCE = "spec.model.overrides"

# overrides attribute -> ModelFacts attribute, where the names differ.
_RENAMED = {"num_key_value_heads": "num_kv_heads", "kv_bytes_per_token": "kv_bytes_per_token_override"}
_MOE_FIELDS = ("routed_experts", "shared_experts", "experts_per_token", "expert_intermediate_size")


class UnknownModelError(LookupError):
    """The catalog does not know the model and the spec gives no overrides to plan it from."""


def plan_request_from_spec(
    spec: ModelDeploymentSpec, pool: GpuPool | None = None
) -> tuple[PlanRequest, ModelFacts]:
    """The planner's request and the model facts (catalog merged with overrides).

    Raises :class:`UnknownModelError` when neither the catalog nor overrides describe the model.
    """
    facts = model_facts_for(spec)
    accelerator, serving = spec.accelerator, spec.serving
    request = PlanRequest(
        model_id=spec.model.id,
        engine=Engine(spec.engine.name.value),
        gpu=None if accelerator.type == "auto" else accelerator.type,
        quantization=Quantization(spec.model.quantization.value) if spec.model.quantization else None,
        kv_cache_dtype=serving.kv_cache_dtype.value,
        max_model_len=serving.max_model_len,
        concurrency=serving.concurrency,
        gpu_memory_utilization=serving.gpu_memory_utilization,
        gpus_per_replica=accelerator.gpus_per_replica,
        tensor_parallel=accelerator.tensor_parallel,
        pipeline_parallel=accelerator.pipeline_parallel,
        expert_parallel=accelerator.expert_parallel,
        pool=pool or GpuPool(),
    )
    return request, facts


def model_facts_for(spec: ModelDeploymentSpec) -> ModelFacts:
    catalog_facts = _catalog_facts(spec.model.id)
    overrides = spec.model.overrides
    if catalog_facts is None and overrides is None:
        raise UnknownModelError(
            f"model {spec.model.id!r} is not in the catalog; set spec.model.overrides (numLayers, "
            "numAttentionHeads, numKeyValueHeads, headDim, attention, totalParams or weightBytes) to plan it, "
            "or run `modelfleet catalog models` for the known ids"
        )
    base = catalog_facts or _empty_facts(spec.model.id)
    return apply_overrides(base, overrides) if overrides else base


def _catalog_facts(model_id: str) -> ModelFacts | None:
    # Imported here so the API models stay importable while the catalog is being built or broken.
    from modelfleet.catalog import CatalogError, get_model

    try:
        return get_model(model_id)
    except (CatalogError, KeyError, LookupError):
        return None


def _empty_facts(model_id: str) -> ModelFacts:
    return ModelFacts(
        id=model_id,
        architecture=None,
        total_params=None,
        active_params=None,
        num_layers=None,
        hidden_size=None,
        num_attention_heads=None,
        num_kv_heads=None,
        head_dim=None,
        intermediate_size=None,
        attention=AttentionKind.UNKNOWN,
        source=(OVERRIDES_SOURCE,),
    )


def apply_overrides(facts: ModelFacts, overrides: ModelOverrides) -> ModelFacts:
    """Facts with every set override replacing the catalog's value (and no longer listed unknown).

    >>> base = _empty_facts("acme/model")
    >>> apply_overrides(base, ModelOverrides(num_layers=32, num_key_value_heads=8)).num_kv_heads
    8
    """
    given = overrides.model_dump(exclude_none=True)
    changes: dict[str, Any] = {}
    for name, value in given.items():
        if name in _MOE_FIELDS:
            continue
        target = _RENAMED.get(name, name)
        if target == "attention":
            value = AttentionKind(value.value if hasattr(value, "value") else value)
        elif hasattr(value, "value"):
            value = value.value
        changes[target] = value
    if any(name in given for name in _MOE_FIELDS):
        changes["moe"] = _merged_moe(facts.moe, given)
    # The catalog lists unknowns by ModelFacts name, MoE ones as "moe.routed_experts".
    provided = set(changes) | {f"moe.{name}" for name in given if name in _MOE_FIELDS}
    changes["unknown"] = tuple(u for u in facts.unknown if u not in provided)
    if OVERRIDES_SOURCE not in facts.source:
        changes["source"] = (*facts.source, OVERRIDES_SOURCE)
    return dataclasses.replace(facts, **changes)


def _merged_moe(moe: MoeFacts | None, given: dict[str, Any]) -> MoeFacts:
    current = moe or MoeFacts(None, None, None, None)
    return dataclasses.replace(current, **{k: given[k] for k in _MOE_FIELDS if k in given})
