"""Typed facts about GPUs and models: what the planner reasons about.

A value of ``None`` always means *unknown*: the catalog never guesses. The planner either works
around an unknown (for example, weight bytes from parameters when the safetensors index is absent)
or refuses with a message naming the fact to provide.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

GIB = 1024**3


class Vendor(StrEnum):
    NVIDIA = "nvidia"
    AMD = "amd"


class Engine(StrEnum):
    """An inference engine the planner sizes for and the renderer launches."""

    VLLM = "vllm"
    SGLANG = "sglang"
    TGI = "tgi"


class Quantization(StrEnum):
    """A weight dtype: how a checkpoint stores its weights, or what an engine serves them as."""

    BF16 = "bf16"
    FP8 = "fp8"
    INT8 = "int8"
    FP4 = "fp4"
    INT4 = "int4"
    AWQ = "awq"
    GPTQ = "gptq"


class AttentionKind(StrEnum):
    """How a model's attention stores its KV cache; decides the bytes-per-token formula."""

    GQA = "gqa"  # includes MHA (kv_heads == heads) and MQA (kv_heads == 1)
    MLA = "mla"  # DeepSeek-style latent: (kv_lora_rank + qk_rope_head_dim) per layer, no heads
    SLIDING_HYBRID = "sliding-hybrid"  # some layers keep only a window of tokens
    LINEAR_HYBRID = "linear-hybrid"  # some layers are linear attention / SSM with constant state
    COMPRESSED = "compressed"  # DeepSeek V4 compressed sparse attention: no closed formula
    UNKNOWN = "unknown"


@dataclass(frozen=True)
class GpuType:
    """One accelerator model as the catalog knows it.

    ``memory_bytes`` is the usable HBM reported to the engine (e.g. 80 GiB class parts report
    ~79.6 GiB; the catalog stores the marketing capacity in GiB and the planner applies
    ``gpuMemoryUtilization``). ``relative_cost`` orders otherwise equal plans (an H100 hour
    costs roughly twice an A100 hour); it is a ranking aid, not a price.
    """

    name: str  # catalog key, e.g. "H100-80GB"
    vendor: Vendor
    memory_bytes: int
    gpus_per_node: int  # typical: 8 for SXM/OAM boards, 4 for GB200 trays, 1-8 for PCIe parts
    compute_capability: str | None  # "9.0" for Hopper; None for AMD (uses gfx arch instead)
    arch: str  # "hopper", "ampere", "ada", "blackwell", "cdna3", "cdna4"
    fp8: bool  # native fp8 tensor cores (sm >= 8.9 or CDNA3+)
    fp4: bool  # native fp4 (Blackwell, CDNA4)
    resource_name: str  # "nvidia.com/gpu" or "amd.com/gpu"
    product_names: tuple[str, ...]  # what GPU Feature Discovery reports in nvidia.com/gpu.product
    relative_cost: float
    source: tuple[str, ...] = ()
    # Common GPUs-per-node shapes clouds and vendors sell, most common first (== gpus_per_node).
    node_shapes: tuple[int, ...] = ()

    @property
    def shapes(self) -> tuple[int, ...]:
        """The node shapes, never empty: ``node_shapes`` or just ``gpus_per_node``."""
        return self.node_shapes or (self.gpus_per_node,)


@dataclass(frozen=True)
class MoeFacts:
    routed_experts: int | None
    shared_experts: int | None
    experts_per_token: int | None
    expert_intermediate_size: int | None


@dataclass(frozen=True)
class ModelFacts:
    """Architecture facts for one model checkpoint. ``None`` = unknown, never guessed."""

    id: str  # Hugging Face repo id, also the catalog key
    architecture: str | None  # config.json "architectures"[0]
    total_params: int | None  # parameters, not billions
    active_params: int | None
    num_layers: int | None
    hidden_size: int | None
    num_attention_heads: int | None
    num_kv_heads: int | None
    head_dim: int | None  # explicit head_dim wins over hidden_size / heads
    intermediate_size: int | None
    attention: AttentionKind
    kv_lora_rank: int | None = None  # MLA
    qk_rope_head_dim: int | None = None  # MLA
    sliding_window: int | None = None  # tokens kept by windowed layers
    full_attention_layers: int | None = None  # for hybrids: layers that keep every token
    # Sliding hybrids: KV heads and head dim of the full-attention layers. Set even when equal to
    # num_kv_heads/head_dim, because Gemma 4 differs (global layers 4 x 512, windowed 16 x 256).
    full_attention_kv_heads: int | None = None
    full_attention_head_dim: int | None = None
    # DeepSeek Sparse Attention (V3.2, GLM-5): the lightning indexer caches one key of this size per
    # layer and token on top of the MLA latent (fp8 plus a scale in vLLM). None = no indexer.
    indexer_head_dim: int | None = None
    moe: MoeFacts | None = None
    native_dtype: str | None = None  # "bf16", "fp8", "fp4", "int4" ...: how the checkpoint is stored
    weight_bytes: int | None = None  # safetensors metadata.total_size (or on-disk size), native dtype
    kv_bytes_per_token_override: int | None = None  # measured figure for attention with no formula
    # Block-quantized checkpoints (config.json quantization_config.weight_block_size = [n, k]): each
    # tensor-parallel slice of a weight must hold whole blocks. None = not block-quantized or unknown.
    weight_block_n: int | None = None
    weight_block_k: int | None = None
    # Group-quantized int checkpoints (GPTQ / AWQ / compressed-tensors int4: quantization_config.group_size,
    # usually 128): each row-parallel slice must hold whole groups. None = per-channel or unknown.
    weight_group_size: int | None = None
    max_context: int | None = None
    license: str | None = None  # catalog licence id, see catalog/data/licenses.yaml
    vision: bool = False
    # The published recipes pass --trust-remote-code (custom modelling or tokenizer code in the repo).
    trust_remote_code: bool = False
    source: tuple[str, ...] = ()
    notes: str = ""
    unknown: tuple[str, ...] = field(default=())  # names of facts the sources do not give

    @property
    def is_moe(self) -> bool:
        return self.moe is not None and (self.moe.routed_experts or 0) > 1
