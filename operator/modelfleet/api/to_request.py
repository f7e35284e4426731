"""From a ModelDeployment spec to the planner's input: ``(PlanRequest, ModelFacts)``.

Shared by the CLI (``modelfleet plan -f``) and the reconciler, so both plan the same thing.
Facts come from three sources, each winning field by field over the one before: the catalog, the
model's own files (config.json and the safetensors index, read by the shell and handed in as a
:class:`ModelFilesStatus`), then ``spec.model.overrides``. A model the catalog does not know can be
planned from its files or from overrides alone.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from modelfleet.api.errors import SpecError
from modelfleet.api.spec import ModelDeploymentSpec
from modelfleet.api.spec_model import FACT_NAME_OF_OVERRIDE, ModelOverrides
from modelfleet.api.status import ModelFilesStatus
from modelfleet.catalog.types import AttentionKind, ModelFacts, MoeFacts
from modelfleet.planner.types import GpuPool, PlanRequest

OVERRIDES_SOURCE = "spec.model.overrides"

_MOE_FIELDS = ("routed_experts", "shared_experts", "experts_per_token", "expert_intermediate_size")


class UnknownModelError(LookupError):
    """The catalog does not know the model and the spec gives no overrides to plan it from."""


def plan_request_from_spec(
    spec: ModelDeploymentSpec, pool: GpuPool | None = None, files: ModelFilesStatus | None = None
) -> tuple[PlanRequest, ModelFacts]:
    """The planner's request and the model facts (catalog, then the model's files, then overrides).

    Raises :class:`UnknownModelError` when neither the catalog, the files nor overrides describe the
    model, and :class:`SpecError` when an override is out of the catalog's bounds.
    """
    facts = model_facts_for(spec, files)
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


def model_facts_for(spec: ModelDeploymentSpec, files: ModelFilesStatus | None = None) -> ModelFacts:
    catalog_facts = _catalog_facts(spec.model.id)
    overrides = spec.model.overrides
    read = facts_from_files(files, spec.model.id) if files is not None else None
    if catalog_facts is None and read is None and overrides is None:
        raise UnknownModelError(
            f"model {spec.model.id!r} is not in the catalog and its config.json was not read; set "
            "spec.model.overrides (numLayers, numAttentionHeads, numKeyValueHeads, headDim, attention, "
            "totalParams or weightBytes) to plan it, or run `modelfleet catalog models` for the known ids"
        )
    base = catalog_facts or read or _empty_facts(spec.model.id)
    if catalog_facts is not None and read is not None:
        base = _merge(catalog_facts, read)
    return apply_overrides(base, overrides) if overrides else base


def _merge(base: ModelFacts, read: ModelFacts) -> ModelFacts:
    from modelfleet.catalog import merge_facts

    return merge_facts(base, read)


def facts_from_files(files: ModelFilesStatus, model_id: str) -> ModelFacts:
    """The facts a :class:`ModelFilesStatus` records, as ModelFacts (what they leave out stays unknown).

    >>> status = ModelFilesStatus(id="acme/m", commit="a" * 40, architecture="LlamaForCausalLM",
    ...     native_dtype="bf16", facts=ModelOverrides(num_layers=32, attention="gqa", routed_experts=8))
    >>> facts = facts_from_files(status, "acme/m")
    >>> facts.num_layers, facts.attention.value, facts.moe.routed_experts, facts.source
    (32, 'gqa', 8, ('acme/m@aaaaaaaaaaaa config.json',))
    """
    from modelfleet.catalog.facts import missing_facts

    given = files.facts or ModelOverrides()
    values = {
        FACT_NAME_OF_OVERRIDE.get(name, name): getattr(given, name)
        for name in ModelOverrides.model_fields
        if name not in _MOE_FIELDS and name not in ("attention", "native_dtype")
    }
    moe_values = {name: getattr(given, name) for name in _MOE_FIELDS}
    facts = ModelFacts(
        **{**_empty_fields(model_id), **values, "architecture": files.architecture},
        attention=given.attention or AttentionKind.UNKNOWN,
        moe=MoeFacts(**moe_values) if any(v is not None for v in moe_values.values()) else None,
        native_dtype=files.native_dtype,
        vision=bool(files.vision),
        source=(f"{files.id}@{(files.commit or files.revision or 'main')[:12]} config.json",),
    )
    return replace(facts, unknown=missing_facts(facts))


def files_facts(facts: ModelFacts) -> ModelOverrides:
    """The inverse of :func:`facts_from_files` for the facts a ModelOverrides can hold.

    >>> from modelfleet.catalog import get_model
    >>> files_facts(get_model("meta-llama/Llama-3.1-8B-Instruct")).num_key_value_heads
    8
    """
    by_fact = {FACT_NAME_OF_OVERRIDE.get(name, name): name for name in ModelOverrides.model_fields}
    given: dict[str, Any] = {
        name: getattr(facts, fact)
        for fact, name in by_fact.items()
        if name not in _MOE_FIELDS and name not in ("attention", "native_dtype") and hasattr(facts, fact)
    }
    if facts.moe is not None:
        given.update({name: getattr(facts.moe, name) for name in _MOE_FIELDS})
    if facts.attention is not AttentionKind.UNKNOWN:
        given["attention"] = facts.attention
    return ModelOverrides(**{k: v for k, v in given.items() if v is not None})


def _empty_fields(model_id: str) -> dict[str, Any]:
    return {
        "id": model_id,
        "architecture": None,
        "total_params": None,
        "active_params": None,
        "num_layers": None,
        "hidden_size": None,
        "num_attention_heads": None,
        "num_kv_heads": None,
        "head_dim": None,
        "intermediate_size": None,
    }


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
