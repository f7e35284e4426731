"""KV cache bytes: per token for the model, and per GPU for a layout.

Formulas (``b`` = bytes per KV element: 2 for bf16/fp16, 1 for ``kv_cache_dtype: fp8``):

- GQA / MQA / MHA: ``2 (K and V) x layers x kv_heads x head_dim x b`` per token. Tensor parallel
  splits the KV heads; when TP > kv_heads every rank holds one whole (replicated) KV head.
- MLA (DeepSeek V3, Kimi K2, GLM-5): ``layers x (kv_lora_rank + qk_rope_head_dim) x b`` per token:
  one latent per layer, no heads, replicated on every TP rank (vLLM and SGLang both do this unless
  DP-attention is enabled, which the planner does not assume).
- Sliding-window hybrids (Gemma 3/4, gpt-oss): full layers hold every token, windowed layers hold at
  most ``window`` tokens (plus one 16-token block) per sequence; the full layers may have their own KV
  head count and head dim (Gemma 4: 4 x 512 global, 16 x 256 windowed). TGI allocates every layer for
  every token, so there the window saves nothing.
- Linear-attention hybrids (Qwen3-Next, Qwen 3.5): only the full-attention layers grow with tokens;
  each linear layer keeps a constant state per sequence (``LINEAR_STATE_BYTES_PER_LAYER``).
- Compressed attention (DeepSeek V4): no closed formula; ``kv_bytes_per_token_override`` (measured)
  is used as is, replicated on every TP rank.

Pipeline parallel splits the layers: each stage holds ``ceil(layers / PP)`` of them.

Worked examples (``GiB`` = 2**30, 32768 tokens x 1 sequence, bf16 KV):

- Llama-3.1-70B: 2 x 80 x 8 x 128 x 2 = 327,680 B/token; 10.0 GiB per replica; at TP=4 each GPU holds
  2 of the 8 KV heads: 2.5 GiB per GPU.
- Qwen3-235B-A22B: 2 x 94 x 4 x 128 x 2 = 192,512 B/token; at TP=4 1.47 GiB per GPU; at TP=8 still
  1.47 GiB per GPU (each rank keeps one whole replicated head).
- DeepSeek-V3: 61 x (512 + 64) x 2 = 70,272 B/token; 2.14 GiB on every GPU whatever the TP.
"""

from __future__ import annotations

from dataclasses import dataclass

from modelfleet.catalog.types import AttentionKind, ModelFacts

# Sliding-window layers keep the window plus the partly filled block the next token lands in.
KV_BLOCK_TOKENS = 16

# Constant recurrent state of one linear-attention (Gated DeltaNet / Mamba) layer for one sequence.
# Qwen3.5-397B: 64 value heads x 128 x 128 state elements = 1 Mi elements; engines keep it in fp32
# (4 MiB) plus a small convolution state. 4 MiB per layer covers the Qwen3-Next / Qwen 3.5 family.
LINEAR_STATE_BYTES_PER_LAYER = 4 * 1024**2

# DeepSeek Sparse Attention (V3.2, GLM-5): the lightning indexer keeps one fp8 key of
# indexer_head_dim bytes per layer and token plus a 4-byte fp32 scale, whatever the KV dtype.
INDEXER_SCALE_BYTES = 4


@dataclass(frozen=True)
class LayerGroup:
    """Layers that share one KV shape."""

    layers: int
    kv_heads: int  # heads TP can split; 1 for latents and measured figures (replicated on every rank)
    bytes_per_head: int  # one token, one layer, one KV head (or the whole latent)
    window_tokens: int | None = None  # None: keeps every token; else at most this many per sequence


@dataclass(frozen=True)
class KvShape:
    """How one token's KV cache is laid out across layers and heads."""

    groups: tuple[LayerGroup, ...]
    state_layers: int = 0  # linear-attention layers with constant per-sequence state

    @property
    def bytes_per_token(self) -> int:
        """Bytes every token costs in the replica's full-attention layers (before TP replication)."""
        return sum(g.layers * g.kv_heads * g.bytes_per_head for g in self.groups if g.window_tokens is None)

    @property
    def kv_head_counts(self) -> tuple[int, ...]:
        """KV head counts that tensor parallel must divide (or be a multiple of)."""
        return tuple(g.kv_heads for g in self.groups if g.kv_heads > 1)


@dataclass(frozen=True)
class KvShapeResult:
    shape: KvShape | None
    missing: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()


def kv_element_bytes(kv_cache_dtype: str) -> int:
    """Bytes per KV element: fp8 (e4m3 / e5m2) halves the default bf16 cache."""
    return 1 if kv_cache_dtype.lower().startswith("fp8") else 2


def kv_shape(model: ModelFacts, kv_cache_dtype: str = "auto") -> KvShapeResult:
    """Resolve the KV layout of ``model``, or name the facts that are missing.

    >>> from modelfleet.catalog.types import AttentionKind, ModelFacts
    >>> llama70 = ModelFacts("meta-llama/Llama-3.1-70B-Instruct", "LlamaForCausalLM", None, None, 80,
    ...     8192, 64, 8, 128, 28672, AttentionKind.GQA)
    >>> kv_shape(llama70).shape.bytes_per_token
    327680
    >>> gemma4 = ModelFacts("google/gemma-4-31B-it", None, None, None, 60, 5376, 32, 16, 256, 21504,
    ...     AttentionKind.SLIDING_HYBRID, sliding_window=1024, full_attention_layers=10,
    ...     full_attention_kv_heads=4, full_attention_head_dim=512)
    >>> kv_shape(gemma4).shape.bytes_per_token
    81920
    >>> dsv3 = ModelFacts("deepseek-ai/DeepSeek-V3", None, None, None, 61, 7168, 128, 128, None, 18432,
    ...     AttentionKind.MLA, kv_lora_rank=512, qk_rope_head_dim=64)
    >>> kv_shape(dsv3).shape.bytes_per_token, kv_shape(dsv3, "fp8").shape.bytes_per_token
    (70272, 35136)
    """
    element = kv_element_bytes(kv_cache_dtype)
    kind = model.attention
    if kind is AttentionKind.MLA:
        return _mla_shape(model, element)
    if kind in (AttentionKind.GQA, AttentionKind.SLIDING_HYBRID, AttentionKind.LINEAR_HYBRID):
        result = _gqa_shape(model, element)
        if result.shape is None and model.kv_bytes_per_token_override:
            return _measured_shape(model)
        return result
    if model.kv_bytes_per_token_override:
        return _measured_shape(model)
    if kind is AttentionKind.COMPRESSED:
        return KvShapeResult(
            None,
            ("kv_bytes_per_token_override",),
            ("compressed attention has no closed KV formula: give a measured kvBytesPerToken",),
        )
    # Most models are GQA: name the GQA facts that are missing too, so one round of overrides suffices.
    missing = ("attention",) + _missing(model, ("num_layers", "num_kv_heads", "head_dim"))
    return KvShapeResult(
        None,
        missing,
        (
            "attention kind unknown: give the attention kind (gqa, mla, ...) and its sizes, or kvBytesPerToken",
        ),
    )


def _missing(model: ModelFacts, names: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(name for name in names if getattr(model, name) is None)


def _mla_shape(model: ModelFacts, element: int) -> KvShapeResult:
    missing = _missing(model, ("num_layers", "kv_lora_rank", "qk_rope_head_dim"))
    if missing:
        return KvShapeResult(None, missing)
    latent = ((model.kv_lora_rank or 0) + (model.qk_rope_head_dim or 0)) * element
    notes: tuple[str, ...] = ()
    if model.indexer_head_dim:
        latent += model.indexer_head_dim + INDEXER_SCALE_BYTES
        notes = (
            f"sparse-attention indexer adds {model.indexer_head_dim + INDEXER_SCALE_BYTES} bytes per layer and token",
        )
    return KvShapeResult(KvShape((LayerGroup(model.num_layers or 0, 1, latent),)), notes=notes)


def _measured_shape(model: ModelFacts) -> KvShapeResult:
    """A measured bytes/token figure, spread evenly over the layers so PP can split it."""
    override = model.kv_bytes_per_token_override or 0
    layers = model.num_layers or 1
    per_layer = -(-override // layers)
    note = f"KV size from the measured {override} bytes/token (no closed formula for this attention)"
    return KvShapeResult(KvShape((LayerGroup(layers, 1, per_layer),)), notes=(note,))


def _head_dim(model: ModelFacts) -> tuple[int | None, tuple[str, ...]]:
    if model.head_dim:
        return model.head_dim, ()
    if model.hidden_size and model.num_attention_heads:
        derived = model.hidden_size // model.num_attention_heads
        return derived, (f"head_dim not given: using hidden_size / attention heads = {derived}",)
    return None, ()


def _gqa_shape(model: ModelFacts, element: int) -> KvShapeResult:
    needed: tuple[str, ...] = ("num_layers", "num_kv_heads")
    if model.attention is AttentionKind.SLIDING_HYBRID:
        needed += (
            "full_attention_layers",
            "sliding_window",
            "full_attention_kv_heads",
            "full_attention_head_dim",
        )
    elif model.attention is AttentionKind.LINEAR_HYBRID:
        needed += ("full_attention_layers",)
    missing = _missing(model, needed)
    head_dim, notes = _head_dim(model)
    if head_dim is None:
        missing += ("head_dim",)
    if missing:
        return KvShapeResult(None, missing)
    layers = model.num_layers or 0
    heads = model.num_kv_heads or 0
    per_head = 2 * (head_dim or 0) * element  # K and V
    if model.attention is AttentionKind.GQA:
        return KvShapeResult(KvShape((LayerGroup(layers, heads, per_head),)), notes=notes)
    full = min(model.full_attention_layers or 0, layers)
    if model.attention is AttentionKind.LINEAR_HYBRID:
        return KvShapeResult(
            KvShape((LayerGroup(full, heads, per_head),), state_layers=layers - full), notes=notes
        )
    full_group = LayerGroup(
        full,
        model.full_attention_kv_heads or heads,
        2 * (model.full_attention_head_dim or head_dim or 0) * element,
    )
    windowed = LayerGroup(layers - full, heads, per_head, model.sliding_window or 0)
    return KvShapeResult(KvShape((full_group, windowed)), notes=notes)


def kv_bytes_per_gpu(
    shape: KvShape,
    tensor_parallel: int,
    pipeline_parallel: int,
    tokens_per_sequence: int,
    sequences: int,
    windows_save_memory: bool = True,
) -> int:
    """KV cache bytes on the fullest GPU of a replica.

    >>> llama70 = KvShape((LayerGroup(80, kv_heads=8, bytes_per_head=2 * 128 * 2),))
    >>> kv_bytes_per_gpu(llama70, 4, 1, 32768, 1) / 2**30
    2.5
    >>> qwen235 = KvShape((LayerGroup(94, kv_heads=4, bytes_per_head=2 * 128 * 2),))
    >>> kv_bytes_per_gpu(qwen235, 8, 1, 32768, 1) == kv_bytes_per_gpu(qwen235, 4, 1, 32768, 1)
    True
    >>> dsv3 = KvShape((LayerGroup(61, kv_heads=1, bytes_per_head=576 * 2),))
    >>> round(kv_bytes_per_gpu(dsv3, 8, 1, 32768, 1) / 2**30, 2), round(kv_bytes_per_gpu(dsv3, 8, 2, 32768, 1) / 2**30, 2)
    (2.14, 1.09)
    >>> gemma4 = KvShape((LayerGroup(10, 4, 2 * 512 * 2), LayerGroup(50, 16, 2 * 256 * 2, window_tokens=1024)))
    >>> round(kv_bytes_per_gpu(gemma4, 1, 1, 32768, 1) / 2**30, 2), round(kv_bytes_per_gpu(gemma4, 1, 1, 32768, 1, False) / 2**30, 2)
    (3.29, 27.5)
    """
    total = 0
    for group in shape.groups:
        layers = -(-group.layers // pipeline_parallel)
        heads = max(1, -(-group.kv_heads // tensor_parallel))
        tokens = tokens_per_sequence
        if group.window_tokens is not None and windows_save_memory:
            tokens = min(tokens, group.window_tokens + KV_BLOCK_TOKENS)
        total += layers * heads * group.bytes_per_head * tokens
    if shape.state_layers:
        # Linear-attention heads are sharded across TP like attention heads.
        state_layers = -(-shape.state_layers // pipeline_parallel)
        total += state_layers * LINEAR_STATE_BYTES_PER_LAYER // tensor_parallel
    return sequences * total
