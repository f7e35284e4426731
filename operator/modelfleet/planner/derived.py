"""Facts derived from one model for one served dtype and KV dtype, memoized.

Sizing a model for several GPU types, engines or serving goals recomputes none of this: the
result depends only on the (frozen, hashable) model facts and two dtype names.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from modelfleet.catalog.types import ModelFacts
from modelfleet.planner.dtypes import normalize_dtype
from modelfleet.planner.engines import activation_width
from modelfleet.planner.estimate import estimated_kv_shape
from modelfleet.planner.kv import KvShape, kv_element_bytes, kv_shape
from modelfleet.planner.weights import estimate_weight_bytes


@dataclass(frozen=True)
class DerivedFacts:
    native_dtype: str | None
    weight_bytes: int  # whole replica, served dtype, slack included
    kv: KvShape | None
    activation_width: tuple[int, int] | None
    missing: tuple[str, ...]  # facts needed and unknown, in the order a user should read them
    missing_notes: tuple[str, ...]  # context for the missing facts
    notes: tuple[str, ...]  # how estimates were made
    assumptions: tuple[str, ...] = ()  # non-empty: architecture facts were unknown and bounded (estimated)


@lru_cache(maxsize=4096)
def derive(model: ModelFacts, served: str, kv_cache_dtype: str) -> DerivedFacts:
    """Weights, KV shape and activation width; unknown attention facts become a stated upper bound.

    ``missing`` is non-empty only when not even the weight size is known: then nothing can be sized.
    """
    native = normalize_dtype(model.native_dtype)
    weights = estimate_weight_bytes(model, served, native)
    kv = kv_shape(model, kv_cache_dtype)
    width = activation_width(model)
    notes = weights.notes + kv.notes
    if width is None:
        notes += ("hidden_size unknown: activation memory taken as a 2 GiB allowance",)
    unknown = kv.missing + (("num_attention_heads",) if model.num_attention_heads is None else ())
    shape = kv.shape
    assumptions: tuple[str, ...] = ()
    bound = estimated_kv_shape(model, kv_element_bytes(kv_cache_dtype)) if kv.shape is None else None
    if bound is not None:
        shape, assumptions = bound[0], (f"unknown {', '.join(dict.fromkeys(unknown))}", bound[1])
    elif kv.shape is not None and model.num_attention_heads is None:
        assumptions = (
            "unknown num_attention_heads: tensor-parallel divisibility of the heads is not checked",
        )
    missing = weights.missing + (kv.missing if shape is None else ())
    return DerivedFacts(
        native_dtype=native,
        weight_bytes=weights.total_bytes,
        kv=shape if not weights.missing else None,
        activation_width=width,
        missing=tuple(dict.fromkeys(missing)),
        missing_notes=kv.notes if shape is None else (),
        notes=notes,
        assumptions=assumptions if not weights.missing else (),
    )
