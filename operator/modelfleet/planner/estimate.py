"""A stated, conservative KV-cache bound for models whose attention facts are unknown.

When the catalog lacks a model's architecture and no overrides give it, the planner still sizes
it from what is known (the weight size, from parameters or the checkpoint) and bounds the KV cache
from above, so the plan errs towards more memory, never less. The plan is marked ``estimated`` and
lists these assumptions (condition ``SizingEstimated=True``).

Bounds, tightest first:

1. Layers and hidden size known: full multi-head attention on every layer, ``2 x layers x hidden x b``
   bytes per token, split over TP like the query heads when their count is known (GQA, MQA, sliding
   windows and latents all store less: ``kv_heads x head_dim <= heads x head_dim``, the hidden size
   in most models; tests/unit/test_planner_engine_rules.py checks every catalog model).
   Llama-3.1-70B: 2 x 80 x 8192 x 2 = 2.5 MiB/token, 8x its real 320 KiB.
2. Only parameters known: ``KV_BOUND_BYTES_PER_ACTIVE_PARAM x active parameters x b / 2``, replicated
   on every GPU. 128 KiB per billion parameters in bf16 is twice Llama-3-8B with full multi-head
   attention (512 KiB for 8.0B) and above the dense outliers (Phi-3-mini MHA 103 KiB/B, Gemma 2 9B
   38 KiB/B; Llama-3.1-70B 4.6 KiB/B, DeepSeek-V3 MLA 1.9 KiB/B of active parameters).
"""

from __future__ import annotations

from modelfleet.catalog.types import ModelFacts
from modelfleet.planner.kv import KvShape, LayerGroup

# Bytes per token per parameter (active parameters for MoE), at 2 bytes per KV element.
KV_BOUND_BYTES_PER_ACTIVE_PARAM = 128 * 1024 / 1e9


def estimated_kv_shape(model: ModelFacts, element_bytes: int) -> tuple[KvShape, str] | None:
    """An upper bound of the KV layout and the sentence that states it, or None with no basis at all.

    >>> from modelfleet.catalog.types import AttentionKind, ModelFacts
    >>> bare = ModelFacts("acme/x", None, 70_000_000_000, None, None, None, None, None, None, None,
    ...                   AttentionKind.UNKNOWN)
    >>> shape, why = estimated_kv_shape(bare, 2)
    >>> shape.bytes_per_token, why[:44]
    (9175040, 'KV cache bounded at 9175040 bytes/token (128')
    >>> layered = ModelFacts("acme/y", None, None, None, 80, 8192, 64, None, None, None, AttentionKind.UNKNOWN)
    >>> estimated_kv_shape(layered, 2)[0].bytes_per_token
    2621440
    """
    layers, hidden, heads = model.num_layers, model.hidden_size, model.num_attention_heads
    if layers and hidden:
        split = heads if heads and hidden % heads == 0 else 1
        group = LayerGroup(layers, split, 2 * (hidden // split) * element_bytes)
        shape = KvShape((group,))
        return shape, (
            f"KV cache bounded by full multi-head attention on all {layers} layers: 2 x {layers} x hidden "
            f"{hidden} x {element_bytes} B = {shape.bytes_per_token} bytes/token"
            + (f", split over TP like the {heads} query heads" if split > 1 else ", on every GPU")
        )
    params = model.active_params or model.total_params
    if not params:
        return None
    per_token = int(params * KV_BOUND_BYTES_PER_ACTIVE_PARAM * element_bytes / 2)
    layers = model.num_layers or 1  # spread over the layers when known, so pipeline stages split it
    shape = KvShape((LayerGroup(layers, 1, -(-per_token // layers)),))
    which = "active" if model.active_params else "total"
    return shape, (
        f"KV cache bounded at {per_token} bytes/token (128 KiB per billion {which} parameters in bf16, "
        f"{params / 1e9:.1f}B), on every GPU"
    )
