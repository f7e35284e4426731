"""``spec.model``: which checkpoint to serve, where to get it, and facts the catalog lacks."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BeforeValidator, Field, WithJsonSchema, model_validator

from modelfleet.api.base import (
    NAME_MAX_LENGTH,
    SHORT_STRING_MAX_LENGTH,
    ApiModel,
    _check_pattern,
    cel,
)
from modelfleet.catalog.types import AttentionKind, Quantization

MODEL_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,95}/[A-Za-z0-9][A-Za-z0-9._-]{0,95}$"
URI_PATTERN = r"^(s3|gs|hf)://[^\s]+$"

ModelId = Annotated[
    str,
    _check_pattern(MODEL_ID_PATTERN, "model id (Hugging Face 'org/name')", "deepseek-ai/DeepSeek-V4-Flash"),
    WithJsonSchema({"type": "string", "pattern": MODEL_ID_PATTERN, "maxLength": 193}),
]
SourceUri = Annotated[
    str,
    _check_pattern(URI_PATTERN, "model URI (s3://, gs:// or hf://)", "s3://models/llama"),
    WithJsonSchema({"type": "string", "pattern": URI_PATTERN, "maxLength": 1024}),
]


# ``unknown`` is how the catalog marks a fact it lacks; an override names a kind the planner can size.
SPEC_ATTENTION_KINDS = tuple(kind.value for kind in AttentionKind if kind is not AttentionKind.UNKNOWN)


def _known_attention(value: Any) -> Any:
    if value not in SPEC_ATTENTION_KINDS:
        raise ValueError(f"{value!r} is not an attention kind; use one of {', '.join(SPEC_ATTENTION_KINDS)}")
    return value


SpecAttentionKind = Annotated[
    AttentionKind,
    BeforeValidator(_known_attention),
    WithJsonSchema({"type": "string", "enum": list(SPEC_ATTENTION_KINDS)}),
]


class SecretKeyRef(ApiModel):
    name: str = Field(
        description="Name of a Secret in the ModelDeployment's namespace.",
        min_length=1,
        max_length=NAME_MAX_LENGTH,
    )
    key: str = Field(
        "token",
        description="Key in the Secret that holds the Hugging Face token.",
        min_length=1,
        max_length=NAME_MAX_LENGTH,
    )


class HuggingFaceSource(ApiModel):
    token_secret_ref: SecretKeyRef | None = Field(
        None,
        description="Secret holding a Hugging Face token (for gated or private repos); passed as HF_TOKEN via secretKeyRef.",
    )


class PvcSource(ApiModel):
    claim_name: str = Field(
        description="PersistentVolumeClaim that holds the model files (mounted read-only).",
        min_length=1,
        max_length=NAME_MAX_LENGTH,
    )
    sub_path: str | None = Field(
        None,
        description="Directory inside the volume that holds config.json and the weights.",
        max_length=1024,
    )


class ModelSource(ApiModel):
    """Where the engine loads weights from; omit to download from the Hugging Face Hub anonymously."""

    model_config = cel(
        (
            "(has(self.huggingface) ? 1 : 0) + (has(self.pvc) ? 1 : 0) + (has(self.uri) ? 1 : 0) == 1",
            "set exactly one of huggingface, pvc, uri",
        )
    )

    huggingface: HuggingFaceSource | None = Field(None, description="Download from the Hugging Face Hub.")
    pvc: PvcSource | None = Field(None, description="Load from a PersistentVolumeClaim prepared in advance.")
    uri: SourceUri | None = Field(
        None, description="Object-store location: s3://bucket/path, gs://bucket/path or hf://org/name."
    )

    @model_validator(mode="after")
    def _exactly_one(self) -> ModelSource:
        chosen = [name for name in ("huggingface", "pvc", "uri") if getattr(self, name) is not None]
        if len(chosen) != 1:
            raise ValueError(f"set exactly one of huggingface, pvc, uri (got {', '.join(chosen) or 'none'})")
        return self


def _count(description: str, minimum: int = 1) -> Any:
    return Field(None, description=description, ge=minimum)


class ModelOverrides(ApiModel):
    """Architecture facts for a model the catalog lacks, or where it has unknowns. A value here wins
    over the catalog and over config.json; the planner refuses, naming the fact, rather than guess."""

    total_params: int | None = _count("Total parameters (a count, not billions), e.g. 284000000000.")
    active_params: int | None = _count("Parameters active per token (MoE), a count.")
    num_layers: int | None = _count("Transformer layers (num_hidden_layers).")
    hidden_size: int | None = _count("Hidden size (hidden_size).")
    num_attention_heads: int | None = _count("Query heads (num_attention_heads).")
    num_key_value_heads: int | None = _count(
        "KV heads (num_key_value_heads); equal to heads for MHA, 1 for MQA."
    )
    head_dim: int | None = _count("Head dimension; wins over hidden_size / heads.")
    intermediate_size: int | None = _count("Dense MLP intermediate size.")
    attention: SpecAttentionKind | None = Field(
        None, description="Attention kind; decides the KV-cache bytes-per-token formula."
    )
    kv_lora_rank: int | None = _count("MLA latent KV rank (kv_lora_rank).")
    qk_rope_head_dim: int | None = _count("MLA decoupled RoPE dimension (qk_rope_head_dim).")
    sliding_window: int | None = _count("Tokens kept by sliding-window layers.")
    full_attention_layers: int | None = _count("For hybrids: layers that keep every token.", 0)
    full_attention_kv_heads: int | None = _count(
        "For sliding hybrids: KV heads of the full-attention layers."
    )
    full_attention_head_dim: int | None = _count(
        "For sliding hybrids: head dimension of the full-attention layers."
    )
    indexer_head_dim: int | None = _count(
        "DeepSeek sparse attention: indexer key size cached per layer and token."
    )
    routed_experts: int | None = _count("MoE routed experts per layer.")
    shared_experts: int | None = _count("MoE shared (always active) experts per layer.", 0)
    experts_per_token: int | None = _count("MoE experts activated per token.")
    expert_intermediate_size: int | None = _count("MoE expert intermediate size.")
    native_dtype: Quantization | None = Field(
        None, description="How the checkpoint stores its weights (bf16, fp8, fp4, int4 ...)."
    )
    weight_bytes: int | None = _count("Checkpoint size in bytes (safetensors metadata.total_size).")
    kv_bytes_per_token: int | None = _count(
        "Measured KV-cache bytes per token, for attention with no closed formula."
    )
    max_context: int | None = _count("Longest context the model supports, in tokens.")
    license: str | None = Field(
        None,
        description="Licence id from the catalog's licence list (e.g. apache-2.0, mit).",
        min_length=1,
        max_length=64,
    )


class ModelSpec(ApiModel):
    id: ModelId = Field(
        description="Hugging Face repo id or catalog key, 'org/name', e.g. deepseek-ai/DeepSeek-V4-Flash."
    )
    revision: str | None = Field(
        None,
        description="Repo revision (commit hash, tag or branch). A new revision is a new version, rolled out as a canary.",
        min_length=1,
        max_length=SHORT_STRING_MAX_LENGTH,
    )
    quantization: Quantization | None = Field(
        None, description="Served weight dtype. Omit to serve the checkpoint's own dtype."
    )
    source: ModelSource | None = Field(
        None, description="Where to load weights from; default: the Hugging Face Hub, anonymously."
    )
    license_accepted: bool = Field(
        False,
        description="Set true to accept a licence that requires explicit acceptance (e.g. attribution or use limits).",
    )
    trust_remote_code: bool = Field(
        False,
        description="Let the engine import and run Python code shipped in the model repository "
        "(--trust-remote-code), as the published recipes of DeepSeek V4, Kimi K2 and MiniMax M2 do. That code "
        "runs inside the engine pods with their credentials and network access: review the repository and pin "
        "model.revision before setting this.",
    )
    overrides: ModelOverrides | None = Field(
        None,
        description="Architecture facts for models the catalog lacks or has unknowns; they win over the catalog.",
    )


# ModelOverrides attribute -> ModelFacts attribute, where the names differ (the spec uses the
# config.json-style names users copy from a checkpoint).
FACT_NAME_OF_OVERRIDE = {
    "num_key_value_heads": "num_kv_heads",
    "kv_bytes_per_token": "kv_bytes_per_token_override",
}


def override_name(fact: str) -> str | None:
    """The ``spec.model.overrides`` key that sets a ModelFacts fact, for messages that say what to set.

    >>> override_name("num_kv_heads"), override_name("moe.routed_experts"), override_name("vision")
    ('numKeyValueHeads', 'routedExperts', None)
    """
    fact = fact.removeprefix("moe.")
    by_fact = {FACT_NAME_OF_OVERRIDE.get(name, name): name for name in ModelOverrides.model_fields}
    attribute = by_fact.get(fact)
    return ModelOverrides.model_fields[attribute].alias if attribute else None
