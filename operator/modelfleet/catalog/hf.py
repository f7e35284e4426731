"""Model facts from Hugging Face files: ``config.json`` and ``model.safetensors.index.json``.

Files are untrusted input (a user's PVC, a downloaded repo): anything malformed, truncated,
wrong-typed or absurd raises :class:`CatalogError` naming the file and the field, never a
``KeyError`` or ``TypeError``.

Which config keys are read (the spelling differs per model family):

- layers / hidden / heads: ``num_hidden_layers``, ``hidden_size``, ``num_attention_heads``;
  ``num_key_value_heads`` (absent = MHA: as many KV heads as heads); explicit ``head_dim`` wins over
  ``hidden_size / num_attention_heads`` (Qwen3-32B: 64 heads x 128 with hidden 5120).
- multimodal configs nest the language model under ``text_config``; it is read from there.
- MLA (DeepSeek, Kimi, GLM-5): ``kv_lora_rank`` and ``qk_rope_head_dim``; DSA ``index_head_dim``.
- DeepSeek V4 compressed attention: ``compress_ratios`` (KV bytes then need a measured figure).
- hybrids: ``layer_types`` (Gemma 3/4, gpt-oss: ``sliding_attention``/``full_attention``; Qwen3-Next
  and Qwen 3.5: ``linear_attention``/``full_attention``); older Gemma 3 configs give
  ``sliding_window_pattern`` instead; Qwen3-Next ``full_attention_interval``; Llama 4 chunked
  attention ``attention_chunk_size`` with ``no_rope_layers``. Gemma 4 global layers:
  ``num_global_key_value_heads``, ``global_head_dim``.
- MoE: ``n_routed_experts`` / ``num_experts`` / ``num_local_experts``, ``num_experts_per_tok``,
  ``n_shared_experts`` (or ``shared_expert_intermediate_size`` = one shared expert),
  ``moe_intermediate_size`` (absent: experts use ``intermediate_size``, as in Mixtral).
- dtype: ``quantization_config`` first (the stored weight format), else ``torch_dtype`` / ``dtype``;
  block-quantized weights: ``quantization_config.weight_block_size`` ([block_n, block_k]); group-quantized
  int weights: ``quantization_config.group_size`` (or the first config group's ``weights.group_size``).
"""

from __future__ import annotations

import dataclasses
import json
import os
import stat
from collections.abc import Mapping
from typing import Any

from modelfleet.catalog import values as v
from modelfleet.catalog.errors import CatalogError
from modelfleet.catalog.facts import missing_facts
from modelfleet.catalog.hf_attention import AttentionFacts, attention_facts
from modelfleet.catalog.hf_dtype import native_dtype, weight_block_size, weight_group_size
from modelfleet.catalog.merge import merge_facts
from modelfleet.catalog.types import ModelFacts, MoeFacts

__all__ = ["facts_from_config", "merge_facts", "read_config_json", "weight_bytes_from_index"]

# config.json files are a few KiB and index files a few MiB; anything far larger is not one of them.
MAX_CONFIG_BYTES = 4 * 1024**2
MAX_INDEX_BYTES = 64 * 1024**2


def facts_from_config(config: Mapping[str, Any], model_id: str, *, where: str = "config.json") -> ModelFacts:
    """The facts a Hugging Face ``config.json`` (already parsed) states about ``model_id``.

    Facts a config never holds (parameter counts, weight bytes, licence) stay unknown.

    >>> facts = facts_from_config({"architectures": ["LlamaForCausalLM"], "num_hidden_layers": 32,
    ...     "hidden_size": 4096, "num_attention_heads": 32, "num_key_value_heads": 8,
    ...     "intermediate_size": 14336, "torch_dtype": "bfloat16", "max_position_embeddings": 131072},
    ...     "meta-llama/Llama-3.1-8B-Instruct")
    >>> facts.attention.value, facts.head_dim, facts.native_dtype, facts.unknown
    ('gqa', 128, 'bf16', ('total_params', 'active_params', 'weight_bytes', 'license'))
    """
    if not isinstance(config, Mapping):
        raise CatalogError(f"{where}: must be a JSON object, got {v.describe(config)}")
    text = _text_config(config, where)
    text_where = f"{where} text_config" if text is not config else where
    layers = _first_count(text, ("num_hidden_layers", "num_layers", "n_layer"), text_where)
    hidden = _first_count(text, ("hidden_size", "d_model", "n_embd"), text_where)
    heads = _first_count(text, ("num_attention_heads", "n_head"), text_where)
    kv_heads = v.count(text, "num_key_value_heads", where=text_where)
    if kv_heads is None and heads is not None and text.get("multi_query") is not True:
        kv_heads = heads  # HF semantics: no num_key_value_heads means multi-head attention
    head_dim = _head_dim(text, hidden, heads, text_where)
    attention = attention_facts(text, layers, kv_heads, head_dim, text_where)
    block = weight_block_size(config, text, where)
    facts = ModelFacts(
        id=model_id,
        architecture=_architecture(config, where),
        total_params=None,
        active_params=None,
        num_layers=layers,
        hidden_size=hidden,
        num_attention_heads=heads,
        num_kv_heads=kv_heads,
        head_dim=None if attention.kind.value == "mla" else head_dim,
        intermediate_size=v.count(text, "intermediate_size", where=text_where),
        moe=_moe(text, text_where),
        native_dtype=native_dtype(config, text, where),
        weight_block_n=block[0] if block else None,
        weight_block_k=block[1] if block else None,
        weight_group_size=weight_group_size(config, text, where),
        max_context=v.count(text, "max_position_embeddings", where=text_where),
        vision=text is not config or isinstance(config.get("vision_config"), Mapping),
        source=(where,),
        **_attention_fields(attention),
    )
    return _with_unknowns(facts)


def _with_unknowns(facts: ModelFacts) -> ModelFacts:
    return dataclasses.replace(facts, unknown=missing_facts(facts))


def _attention_fields(attention: AttentionFacts) -> dict[str, Any]:
    return {
        "attention": attention.kind,
        "kv_lora_rank": attention.kv_lora_rank,
        "qk_rope_head_dim": attention.qk_rope_head_dim,
        "sliding_window": attention.sliding_window,
        "full_attention_layers": attention.full_attention_layers,
        "full_attention_kv_heads": attention.full_attention_kv_heads,
        "full_attention_head_dim": attention.full_attention_head_dim,
        "indexer_head_dim": attention.indexer_head_dim,
    }


def _text_config(config: Mapping[str, Any], where: str) -> Mapping[str, Any]:
    # Multimodal configs (Gemma 3/4, Llama 4, Qwen 3.5, Mistral 3) nest the language model; top-level
    # keys then describe the wrapper, so the text config is authoritative for architecture facts.
    text = v.mapping(config, "text_config", where=where)
    return text if text is not None else config


def _architecture(config: Mapping[str, Any], where: str) -> str | None:
    architectures = config.get("architectures")
    if architectures is None:
        return None
    if not isinstance(architectures, list) or not architectures:
        raise CatalogError(
            f"{where}: field architectures must be a non-empty list, got {v.describe(architectures)}"
        )
    return v.text({"architectures": architectures[0]}, "architectures", where=where, field="architectures[0]")


def _first_count(data: Mapping[str, Any], keys: tuple[str, ...], where: str) -> int | None:
    for key in keys:
        value = v.count(data, key, where=where)
        if value is not None:
            return value
    return None


def _head_dim(text: Mapping[str, Any], hidden: int | None, heads: int | None, where: str) -> int | None:
    explicit = v.count(text, "head_dim", where=where)
    if explicit is not None:
        return explicit
    if hidden is not None and heads is not None and hidden % heads == 0:
        return hidden // heads
    return None


def _moe(text: Mapping[str, Any], where: str) -> MoeFacts | None:
    routed = _first_count(text, ("n_routed_experts", "num_experts", "num_local_experts"), where)
    if routed is None or routed < 2:
        return None
    shared = v.count(text, "n_shared_experts", where=where, minimum=0)
    if shared is None:
        shared = v.count(text, "num_shared_experts", where=where, minimum=0)
    if shared is None:
        # Qwen2/3-MoE style: one shared expert of this size. No shared-expert key at all means the
        # modelling code builds none (Mixtral, gpt-oss, Qwen3-MoE).
        shared_size = v.count(text, "shared_expert_intermediate_size", where=where, minimum=0)
        shared = 1 if shared_size else 0
    expert_size = v.count(text, "moe_intermediate_size", where=where)
    if expert_size is None:
        expert_size = v.count(text, "intermediate_size", where=where)
    return MoeFacts(
        routed_experts=routed,
        shared_experts=shared,
        experts_per_token=_first_count(
            text, ("num_experts_per_tok", "num_experts_per_token", "moe_topk"), where
        ),
        expert_intermediate_size=expert_size,
    )


# ---- files ------------------------------------------------------------------------------------------


def read_json_file(path: str | os.PathLike[str], max_bytes: int) -> Any:
    """Parsed JSON of a small file, or CatalogError saying what is wrong with it."""
    where = os.fspath(path)
    try:
        # A FIFO or device would block or stream forever: only a regular file is a metadata file.
        if not stat.S_ISREG(os.stat(path).st_mode):
            raise CatalogError(
                f"{where}: cannot be read (not a regular file); point at the model's config.json or index file"
            )
        with open(path, "rb") as handle:
            raw = handle.read(max_bytes + 1)
    except OSError as error:
        raise CatalogError(
            f"{where}: cannot be read ({error.strerror or error}); check the path and permissions"
        ) from error
    if len(raw) > max_bytes:
        raise CatalogError(
            f"{where}: larger than {max_bytes} bytes; this is not a Hugging Face metadata file"
        )
    try:
        return json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as error:
        raise CatalogError(f"{where}: is not UTF-8 text ({error.reason} at byte {error.start})") from error
    except json.JSONDecodeError as error:
        raise CatalogError(
            f"{where}: is not valid JSON ({error.msg} at line {error.lineno}); is it truncated?"
        ) from error
    except (RecursionError, ValueError) as error:  # absurd nesting, or an integer with thousands of digits
        raise CatalogError(f"{where}: is not a usable JSON file ({type(error).__name__})") from error


def read_config_json(path: str | os.PathLike[str], model_id: str | None = None) -> ModelFacts:
    """Facts from a ``config.json`` file; ``model_id`` defaults to the file's directory name."""
    where = os.fspath(path)
    config = read_json_file(path, MAX_CONFIG_BYTES)
    if not isinstance(config, Mapping):
        raise CatalogError(f"{where}: must be a JSON object, got {v.describe(config)}")
    return facts_from_config(
        config, model_id or os.path.basename(os.path.dirname(os.path.abspath(where))), where=where
    )


def weight_bytes_from_index(path: str | os.PathLike[str]) -> int:
    """``metadata.total_size`` of a ``model.safetensors.index.json``: the checkpoint's weight bytes.

    >>> import json, tempfile, os
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     index = os.path.join(folder, "model.safetensors.index.json")
    ...     _ = open(index, "w").write(json.dumps({"metadata": {"total_size": 16060522496}, "weight_map": {}}))
    ...     weight_bytes_from_index(index)
    16060522496
    """
    where = os.fspath(path)
    index = read_json_file(path, MAX_INDEX_BYTES)
    if not isinstance(index, Mapping):
        raise CatalogError(f"{where}: must be a JSON object, got {v.describe(index)}")
    metadata = v.mapping(index, "metadata", where=where)
    total = (
        None
        if metadata is None
        else v.count(metadata, "total_size", where=where, field="metadata.total_size", maximum=v.MAX_BYTES)
    )
    if total is None:
        raise CatalogError(
            f"{where}: field metadata.total_size is missing; give spec.model.overrides.weightBytes instead"
        )
    return total
