"""Which facts a model needs, so "unknown" is computed the same way for the catalog and config.json.

A fact is *applicable* when the planner's formulas use it for the model's attention kind: MLA needs
``kv_lora_rank`` and ``qk_rope_head_dim`` but no ``head_dim``; a sliding hybrid needs its window, its
full-attention layer count and the KV shape of those layers. An applicable fact that is ``None`` is
unknown and must be named in ``ModelFacts.unknown``; a fact that does not apply stays ``None``
without being unknown.

>>> from modelfleet.catalog.types import ModelFacts, AttentionKind
>>> facts = ModelFacts("org/m", "LlamaForCausalLM", 8_000_000_000, 8_000_000_000, 32, 4096, 32, 8,
...                    128, None, AttentionKind.GQA, native_dtype="bf16", max_context=131072,
...                    license="llama3.1")
>>> missing_facts(facts)
('intermediate_size', 'weight_bytes')
"""

from __future__ import annotations

from modelfleet.catalog.types import AttentionKind, ModelFacts

# Facts every model needs whatever its attention (head_dim is dropped for MLA below).
COMMON_FACTS: tuple[str, ...] = (
    "architecture",
    "total_params",
    "active_params",
    "num_layers",
    "hidden_size",
    "num_attention_heads",
    "num_kv_heads",
    "head_dim",
    "intermediate_size",
    "native_dtype",
    "weight_bytes",
    "max_context",
    "license",
)

FACTS_BY_ATTENTION: dict[AttentionKind, tuple[str, ...]] = {
    AttentionKind.GQA: (),
    AttentionKind.MLA: ("kv_lora_rank", "qk_rope_head_dim"),
    AttentionKind.SLIDING_HYBRID: (
        "sliding_window",
        "full_attention_layers",
        "full_attention_kv_heads",
        "full_attention_head_dim",
    ),
    AttentionKind.LINEAR_HYBRID: ("full_attention_layers",),
    AttentionKind.COMPRESSED: ("kv_bytes_per_token_override",),
    AttentionKind.UNKNOWN: (),
}

MOE_FACTS: tuple[str, ...] = (
    "routed_experts",
    "shared_experts",
    "experts_per_token",
    "expert_intermediate_size",
)


def applicable_facts(attention: AttentionKind) -> tuple[str, ...]:
    """Top-level ModelFacts fields the planner uses for a model with this attention kind."""
    common = tuple(
        name for name in COMMON_FACTS if not (attention is AttentionKind.MLA and name == "head_dim")
    )
    return common + FACTS_BY_ATTENTION[attention]


def missing_facts(facts: ModelFacts) -> tuple[str, ...]:
    """Names of applicable facts that are ``None``: what ``facts.unknown`` must list.

    ``attention`` is listed when the kind is unknown; MoE sub-facts as ``moe.<field>``. Whether a
    model is MoE at all cannot be read from a ``None`` (dense models have ``moe=None`` too), so the
    catalog lists ``moe`` explicitly when that is unknown and this function keeps it.
    """
    names = [name for name in applicable_facts(facts.attention) if getattr(facts, name) is None]
    if facts.attention is AttentionKind.UNKNOWN:
        names.append("attention")
    if facts.moe is None:
        if "moe" in facts.unknown:
            names.append("moe")
    else:
        names.extend(f"moe.{name}" for name in MOE_FACTS if getattr(facts.moe, name) is None)
    return tuple(names)
