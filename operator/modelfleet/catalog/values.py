"""Checked reads of untrusted values: every failure is a CatalogError naming the file and the field.

Shared by the data-file loader and the config.json reader, so a hand-edited catalog entry and a hostile
config.json fail the same way: ``CatalogError("config.json: field num_hidden_layers must be ...")``,
never a ``KeyError`` or ``TypeError`` from deep inside the planner.

>>> count({"n": 8}, "n", where="config.json")
8
>>> count({"n": "8"}, "n", where="config.json")
Traceback (most recent call last):
...
modelfleet.catalog.errors.CatalogError: config.json: field n must be a whole number, got str '8'
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from modelfleet.catalog.errors import CatalogError

# Upper bounds that no real model reaches, so a corrupted or hostile file cannot make the planner
# multiply absurd numbers (10**400 layers) or allocate for them.
MAX_COUNT = 10**8  # layers, heads, dims, experts, tokens of context (Llama 4 Scout: 10M)
MAX_PARAMS = 10**14  # 100T parameters
MAX_BYTES = 2**50  # 1 PiB of weights


def describe(value: Any) -> str:
    """A short, safe rendering of a bad value for an error message."""
    text = repr(value)
    return f"{type(value).__name__} {text[:40]}{'...' if len(text) > 40 else ''}"


def count(
    data: Mapping[str, Any],
    key: str,
    *,
    where: str,
    minimum: int = 1,
    maximum: int = MAX_COUNT,
    field: str | None = None,
) -> int | None:
    """``data[key]`` as an int in ``[minimum, maximum]``; ``None`` when absent or null."""
    value = data.get(key)
    if value is None:
        return None
    return checked_int(value, where=where, field=field or key, minimum=minimum, maximum=maximum)


def checked_int(value: Any, *, where: str, field: str, minimum: int = 1, maximum: int = MAX_COUNT) -> int:
    # bool is an int subclass: `true` for a layer count is a typo, not 1. A float that is a whole
    # number (e.g. 4096.0 written by some exporters) is accepted; 1e400 becomes inf and is refused.
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        raise CatalogError(f"{where}: field {field} must be a whole number, got {describe(value)}")
    if not minimum <= value <= maximum:
        raise CatalogError(f"{where}: field {field} must be between {minimum} and {maximum}, got {value}")
    return value


def text(data: Mapping[str, Any], key: str, *, where: str, field: str | None = None) -> str | None:
    """``data[key]`` as a non-empty string of at most 200 characters; ``None`` when absent or null."""
    value = data.get(key)
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip() or len(value) > 200:
        raise CatalogError(
            f"{where}: field {field or key} must be a short non-empty string, got {describe(value)}"
        )
    return value.strip()


def mapping(
    data: Mapping[str, Any], key: str, *, where: str, field: str | None = None
) -> Mapping[str, Any] | None:
    """``data[key]`` as a mapping; ``None`` when absent or null."""
    value = data.get(key)
    if value is None:
        return None
    if not isinstance(value, Mapping):
        raise CatalogError(f"{where}: field {field or key} must be an object, got {describe(value)}")
    return value


def flag(data: Mapping[str, Any], key: str, *, where: str, default: bool = False) -> bool:
    value = data.get(key, default)
    if value is None:
        return default
    if not isinstance(value, bool):
        raise CatalogError(f"{where}: field {key} must be true or false, got {describe(value)}")
    return value


def string_list(data: Mapping[str, Any], key: str, *, where: str) -> tuple[str, ...]:
    value = data.get(key)
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(item, str) and item for item in value):
        raise CatalogError(f"{where}: field {key} must be a list of non-empty strings, got {describe(value)}")
    return tuple(value)


# ModelFacts integer fields and the largest value a data file, config.json or override may give.
MODEL_INT_FIELDS: dict[str, int] = {
    "total_params": MAX_PARAMS,
    "active_params": MAX_PARAMS,
    "num_layers": MAX_COUNT,
    "hidden_size": MAX_COUNT,
    "num_attention_heads": MAX_COUNT,
    "num_kv_heads": MAX_COUNT,
    "head_dim": MAX_COUNT,
    "intermediate_size": MAX_COUNT,
    "kv_lora_rank": MAX_COUNT,
    "qk_rope_head_dim": MAX_COUNT,
    "sliding_window": MAX_COUNT,
    "full_attention_layers": MAX_COUNT,
    "full_attention_kv_heads": MAX_COUNT,
    "full_attention_head_dim": MAX_COUNT,
    "indexer_head_dim": MAX_COUNT,
    "weight_bytes": MAX_BYTES,
    "kv_bytes_per_token_override": MAX_BYTES,
    "max_context": MAX_COUNT,
    "weight_block_n": MAX_COUNT,
    "weight_block_k": MAX_COUNT,
    "weight_group_size": MAX_COUNT,
}
