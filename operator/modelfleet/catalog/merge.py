"""Filling a model's unknown facts from a more specific source.

``merge_facts(base, override)``: every fact the override knows wins over the base; facts the override
leaves unknown keep the base's value. Sources, in the order they are usually applied: the catalog
(base) <- the checkpoint's own config.json <- ``spec.model.overrides``. The result's ``unknown`` is
recomputed, so whatever stays unknown is still named.

>>> from modelfleet.catalog.loader import get_model
>>> llama5 = get_model("meta-llama/Llama-5")
>>> merged = merge_facts(llama5, {"num_layers": 126, "attention": "gqa"})
>>> merged.num_layers, merged.attention.value, "num_layers" in merged.unknown
(126, 'gqa', False)
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from modelfleet.catalog import values as v
from modelfleet.catalog.errors import CatalogError
from modelfleet.catalog.facts import missing_facts
from modelfleet.catalog.types import AttentionKind, ModelFacts, MoeFacts

TEXT_FIELDS = ("architecture", "native_dtype", "license")
MOE_FIELDS = ("routed_experts", "shared_experts", "experts_per_token", "expert_intermediate_size")
WHERE = "model override"


def merge_facts(base: ModelFacts, override: ModelFacts | Mapping[str, Any]) -> ModelFacts:
    """``base`` with every fact ``override`` knows; see the module docstring."""
    if isinstance(override, ModelFacts):
        return _merge_facts(base, override)
    if isinstance(override, Mapping):
        return _merge_mapping(base, override)
    raise CatalogError(
        f"{WHERE}: must be ModelFacts or a mapping of fact -> value, got {v.describe(override)}"
    )


def _merge_facts(base: ModelFacts, override: ModelFacts) -> ModelFacts:
    changes: dict[str, Any] = {
        name: getattr(override, name)
        for name in (*v.MODEL_INT_FIELDS, *TEXT_FIELDS)
        if getattr(override, name) is not None
    }
    if override.attention is not AttentionKind.UNKNOWN:
        changes["attention"] = override.attention
    moe_known = "moe" not in override.unknown  # a config.json with no expert keys says "dense"
    if override.moe is not None or moe_known:
        changes["moe"] = _merge_moe(base.moe, override.moe) if override.moe is not None else None
    changes["vision"] = base.vision or override.vision
    changes["trust_remote_code"] = base.trust_remote_code or override.trust_remote_code
    merged = _finish(base, changes, override.source, override.notes)
    return merged if moe_known or "moe" not in base.unknown else _keep_moe_unknown(merged)


def _merge_mapping(base: ModelFacts, override: Mapping[str, Any]) -> ModelFacts:
    allowed = {*v.MODEL_INT_FIELDS, *TEXT_FIELDS, "attention", "moe", "vision", "source", "notes"}
    extra = sorted(str(key) for key in override if key not in allowed)
    if extra:
        raise CatalogError(
            f"{WHERE}: unknown fact(s) {', '.join(extra)}; known facts: {', '.join(sorted(allowed))}"
        )
    changes: dict[str, Any] = {}
    for name, top in v.MODEL_INT_FIELDS.items():
        value = v.count(
            override, name, where=WHERE, minimum=0 if name == "full_attention_layers" else 1, maximum=top
        )
        if value is not None:
            changes[name] = value
    for name in TEXT_FIELDS:
        label = v.text(override, name, where=WHERE)
        if label is not None:
            changes[name] = label
    if override.get("attention") is not None:
        changes["attention"] = _attention(override["attention"])
    moe = v.mapping(override, "moe", where=WHERE)
    if moe is not None:
        changes["moe"] = _merge_moe(base.moe, _moe_from_mapping(moe))
    if override.get("vision") is not None:
        changes["vision"] = v.flag(override, "vision", where=WHERE)
    merged = _finish(
        base,
        changes,
        v.string_list(override, "source", where=WHERE) or (WHERE,),
        str(override.get("notes") or ""),
    )
    return merged if moe is not None or "moe" not in base.unknown else _keep_moe_unknown(merged)


def _attention(value: Any) -> AttentionKind:
    try:
        return AttentionKind(value)
    except ValueError:
        kinds = ", ".join(kind.value for kind in AttentionKind)
        raise CatalogError(
            f"{WHERE}: field attention must be one of {kinds}, got {v.describe(value)}"
        ) from None


def _moe_from_mapping(moe: Mapping[str, Any]) -> MoeFacts:
    extra = sorted(str(key) for key in moe if key not in MOE_FIELDS)
    if extra:
        raise CatalogError(f"{WHERE}: field moe has unknown field(s) {', '.join(extra)}")
    return MoeFacts(
        **{name: v.count(moe, name, where=WHERE, field=f"moe.{name}", minimum=0) for name in MOE_FIELDS}
    )


def _merge_moe(base: MoeFacts | None, override: MoeFacts) -> MoeFacts:
    if base is None:
        return override
    return MoeFacts(
        **{
            name: getattr(override, name) if getattr(override, name) is not None else getattr(base, name)
            for name in MOE_FIELDS
        }
    )


def _finish(base: ModelFacts, changes: dict[str, Any], source: tuple[str, ...], notes: str) -> ModelFacts:
    merged = dataclasses.replace(
        base,
        **changes,
        source=tuple(dict.fromkeys((*base.source, *source))),
        notes=" ".join(part for part in (base.notes, notes) if part),
        unknown=(),
    )
    return dataclasses.replace(merged, unknown=missing_facts(merged))


def _keep_moe_unknown(facts: ModelFacts) -> ModelFacts:
    # Neither side said whether the model is MoE: keep saying so.
    if facts.moe is not None or "moe" in facts.unknown:
        return facts
    return dataclasses.replace(facts, unknown=(*facts.unknown, "moe"))
