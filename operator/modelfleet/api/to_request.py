"""From a ModelDeployment spec to the planner's input: ``(PlanRequest, ModelFacts)``.

Shared by the CLI (``modelfleet plan -f``) and the reconciler, so both plan the same thing.
Facts come from the catalog; ``spec.model.overrides`` win field by field, and a model the catalog
does not know can be planned from overrides alone.
"""

from __future__ import annotations

from typing import Any

from modelfleet.api.errors import SpecError
from modelfleet.api.spec import ModelDeploymentSpec
from modelfleet.api.spec_model import FACT_NAME_OF_OVERRIDE, ModelOverrides
from modelfleet.catalog.types import AttentionKind, ModelFacts
from modelfleet.planner.types import GpuPool, PlanRequest

OVERRIDES_SOURCE = "spec.model.overrides"

_MOE_FIELDS = ("routed_experts", "shared_experts", "experts_per_token", "expert_intermediate_size")


class UnknownModelError(LookupError):
    """The catalog does not know the model and the spec gives no overrides to plan it from."""


def plan_request_from_spec(
    spec: ModelDeploymentSpec, pool: GpuPool | None = None
) -> tuple[PlanRequest, ModelFacts]:
    """The planner's request and the model facts (catalog merged with overrides).

    Raises :class:`UnknownModelError` when neither the catalog nor overrides describe the model, and
    :class:`SpecError` when an override is out of the catalog's bounds.
    """
    facts = model_facts_for(spec)
    accelerator, serving = spec.accelerator, spec.serving
    request = PlanRequest(
        model_id=spec.model.id,
        engine=spec.engine.name,
        gpu=None if accelerator.type == "auto" else accelerator.type,
        quantization=spec.model.quantization,
        kv_cache_dtype=serving.kv_cache_dtype.value,
        max_model_len=serving.max_model_len,
        concurrency=serving.concurrency,
        strict=serving.strict,
        gpu_memory_utilization=serving.gpu_memory_utilization,
        gpus_per_replica=accelerator.gpus_per_replica,
        tensor_parallel=accelerator.tensor_parallel,
        pipeline_parallel=accelerator.pipeline_parallel,
        expert_parallel=accelerator.expert_parallel,
        data_parallel=accelerator.data_parallel,
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

    Raises :class:`SpecError` naming ``spec.model.overrides`` when the catalog rejects a value.

    >>> base = _empty_facts("acme/model")
    >>> apply_overrides(base, ModelOverrides(num_layers=32, num_key_value_heads=8)).num_kv_heads
    8
    """
    from modelfleet.catalog import CatalogError, merge_facts

    try:
        return merge_facts(facts, overrides_as_facts(overrides))
    except CatalogError as error:
        raise SpecError([f"spec.model.overrides: {error}"]) from None


def overrides_as_facts(overrides: ModelOverrides) -> dict[str, Any]:
    """The overrides as the catalog's fact mapping (ModelFacts names, MoE facts nested under ``moe``).

    >>> overrides_as_facts(ModelOverrides(num_key_value_heads=8, routed_experts=64, attention="gqa"))
    {'num_kv_heads': 8, 'attention': 'gqa', 'moe': {'routed_experts': 64}, 'source': ['spec.model.overrides']}
    """
    given = overrides.model_dump(exclude_none=True, mode="json")
    mapping: dict[str, Any] = {
        FACT_NAME_OF_OVERRIDE.get(k, k): v for k, v in given.items() if k not in _MOE_FIELDS
    }
    moe = {k: v for k, v in given.items() if k in _MOE_FIELDS}
    if moe:
        mapping["moe"] = moe
    mapping["source"] = [OVERRIDES_SOURCE]
    return mapping
