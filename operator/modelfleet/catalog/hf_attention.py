"""The attention kind of a config.json and the facts its KV-cache formula needs.

Decision order (first match wins), most specific first:

1. ``compress_ratios`` -> compressed (DeepSeek V4: no closed KV formula).
2. ``kv_lora_rank`` -> MLA (DeepSeek V3, Kimi K2, GLM-5, Mistral Large 3).
3. ``layer_types`` -> linear hybrid when any layer is linear attention, sliding hybrid when any layer
   is windowed; full layers are counted from the list.
4. ``full_attention_interval`` (Qwen3-Next without ``layer_types``) -> linear hybrid.
5. ``attention_chunk_size`` (Llama 4) -> sliding hybrid; ``no_rope_layers`` zeros are the global layers.
6. ``sliding_window`` with ``sliding_window_pattern`` (Gemma 3) -> sliding hybrid; with
   ``use_sliding_window: false`` (Qwen2) it is ignored; alone (Mistral 7B v0.1) every layer is windowed,
   except in a Gemma 3 text config (``model_type: gemma3_text``), which takes transformers' default
   pattern of 6: google/gemma-3-27b-it's config.json states no pattern, and its 10 global layers of 62
   are what the engines cache in full.
7. otherwise GQA (MHA and MQA included).

>>> facts = attention_facts({"layer_types": ["sliding_attention"] * 5 + ["full_attention"],
...                          "sliding_window": 1024}, 6, 16, 256, "config.json")
>>> facts.kind.value, facts.full_attention_layers, facts.sliding_window
('sliding-hybrid', 1, 1024)
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from modelfleet.catalog import values as v
from modelfleet.catalog.errors import CatalogError
from modelfleet.catalog.types import AttentionKind

FULL_LAYER_TYPES = frozenset({"full_attention", "attention", "global", "global_attention"})
WINDOWED_LAYER_TYPES = frozenset({"sliding_attention", "chunked_attention", "local", "local_attention"})
# transformers' Gemma3TextConfig default: every 6th layer is global (sliding_window_pattern=6).
GEMMA3_DEFAULT_PATTERN = 6
LINEAR_LAYER_TYPES = frozenset({"linear_attention", "mamba", "mamba2", "ssm", "gated_deltanet"})


@dataclass(frozen=True)
class AttentionFacts:
    kind: AttentionKind
    kv_lora_rank: int | None = None
    qk_rope_head_dim: int | None = None
    sliding_window: int | None = None
    full_attention_layers: int | None = None
    full_attention_kv_heads: int | None = None
    full_attention_head_dim: int | None = None
    indexer_head_dim: int | None = None


def attention_facts(
    text: Mapping[str, Any], layers: int | None, kv_heads: int | None, head_dim: int | None, where: str
) -> AttentionFacts:
    """See the module docstring for the decision order."""
    indexer = v.count(text, "index_head_dim", where=where)
    rope = v.count(text, "qk_rope_head_dim", where=where)
    if text.get("compress_ratios") is not None:
        window = v.count(text, "sliding_window", where=where)
        return AttentionFacts(AttentionKind.COMPRESSED, qk_rope_head_dim=rope, sliding_window=window)
    kv_lora_rank = v.count(text, "kv_lora_rank", where=where)
    if kv_lora_rank is not None:
        return AttentionFacts(AttentionKind.MLA, kv_lora_rank, rope, indexer_head_dim=indexer)
    hybrid = _from_layer_types(text, layers, where)
    if hybrid is None:
        hybrid = _from_intervals(text, layers, where)
    if hybrid is None:
        return AttentionFacts(AttentionKind.GQA)
    if hybrid.kind is not AttentionKind.SLIDING_HYBRID:
        return hybrid
    return AttentionFacts(
        AttentionKind.SLIDING_HYBRID,
        sliding_window=hybrid.sliding_window,
        full_attention_layers=hybrid.full_attention_layers,
        # Gemma 4: the global layers have their own KV shape (31B: 4 x 512 against 16 x 256).
        full_attention_kv_heads=v.count(text, "num_global_key_value_heads", where=where) or kv_heads,
        full_attention_head_dim=v.count(text, "global_head_dim", where=where) or head_dim,
    )


def _from_layer_types(text: Mapping[str, Any], layers: int | None, where: str) -> AttentionFacts | None:
    layer_types = text.get("layer_types")
    if layer_types is None:
        return None
    if not isinstance(layer_types, list) or not all(isinstance(kind, str) for kind in layer_types):
        raise CatalogError(
            f"{where}: field layer_types must be a list of strings, got {v.describe(layer_types)}"
        )
    if layers is not None and len(layer_types) != layers:
        raise CatalogError(
            f"{where}: field layer_types has {len(layer_types)} entries but num_hidden_layers is {layers}; "
            "the file is inconsistent or truncated"
        )
    kinds = set(layer_types)
    unknown_kinds = kinds - FULL_LAYER_TYPES - WINDOWED_LAYER_TYPES - LINEAR_LAYER_TYPES
    if unknown_kinds:
        # A new layer type we have no KV formula for: say unknown, and let the planner ask for facts.
        return AttentionFacts(AttentionKind.UNKNOWN)
    full = sum(kind in FULL_LAYER_TYPES for kind in layer_types)
    if kinds & LINEAR_LAYER_TYPES:
        return AttentionFacts(AttentionKind.LINEAR_HYBRID, full_attention_layers=full)
    if kinds & WINDOWED_LAYER_TYPES:
        window = v.count(text, "sliding_window", where=where) or v.count(
            text, "attention_chunk_size", where=where
        )
        return AttentionFacts(AttentionKind.SLIDING_HYBRID, sliding_window=window, full_attention_layers=full)
    return None  # every layer is full attention: plain GQA


def _from_intervals(text: Mapping[str, Any], layers: int | None, where: str) -> AttentionFacts | None:
    interval = v.count(text, "full_attention_interval", where=where)
    if interval is not None:
        # Qwen3-Next: layer i is full attention when (i + 1) % interval == 0.
        return AttentionFacts(AttentionKind.LINEAR_HYBRID, full_attention_layers=_every(layers, interval))
    chunk = v.count(text, "attention_chunk_size", where=where)
    if chunk is not None:
        return AttentionFacts(
            AttentionKind.SLIDING_HYBRID,
            sliding_window=chunk,
            full_attention_layers=_llama4_global_layers(text, layers, where),
        )
    window = v.count(text, "sliding_window", where=where)
    if window is None or text.get("use_sliding_window") is False:
        return None
    pattern = v.count(text, "sliding_window_pattern", where=where)
    if pattern is None and text.get("model_type") == "gemma3_text":
        pattern = GEMMA3_DEFAULT_PATTERN
    # Gemma 3: layer i is global when (i + 1) % pattern == 0. Without a pattern, every layer slides.
    full = _every(layers, pattern) if pattern is not None else 0
    return AttentionFacts(AttentionKind.SLIDING_HYBRID, sliding_window=window, full_attention_layers=full)


def _every(layers: int | None, interval: int) -> int | None:
    return None if layers is None else layers // interval


def _llama4_global_layers(text: Mapping[str, Any], layers: int | None, where: str) -> int | None:
    # Llama 4: no_rope_layers[i] == 0 marks a NoPE layer, which attends globally; RoPE layers are chunked.
    flags = text.get("no_rope_layers")
    if (
        isinstance(flags, list)
        and flags
        and all(flag in (0, 1) and not isinstance(flag, float) for flag in flags)
    ):
        if layers is not None and len(flags) != layers:
            raise CatalogError(
                f"{where}: field no_rope_layers has {len(flags)} entries but num_hidden_layers is {layers}"
            )
        return sum(1 for flag in flags if flag == 0)
    if flags not in (None, []):
        raise CatalogError(
            f"{where}: field no_rope_layers must be a list of 0/1 flags, got {v.describe(flags)}"
        )
    interval = v.count(text, "no_rope_layer_interval", where=where)
    return _every(layers, interval) if interval is not None else None
