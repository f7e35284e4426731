"""How a checkpoint stores its weights, from config.json.

``quantization_config`` describes the stored format and wins over ``torch_dtype``, which for quantised
checkpoints names only the dtype of the unquantised parts (DeepSeek V3: ``bfloat16`` + fp8 weights).
The result uses the planner's dtype names: bf16, fp16, fp32, fp8, int8, fp4, mxfp4, int4, awq, gptq.
An unrecognised quantisation is ``None`` (unknown), not a guess.

>>> native_dtype({"quantization_config": {"quant_method": "fp8"}, "torch_dtype": "bfloat16"}, {}, "c")
'fp8'
>>> native_dtype({"torch_dtype": "bfloat16"}, {}, "c"), native_dtype({}, {"dtype": "float16"}, "c")
('bf16', 'fp16')
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from modelfleet.catalog import values as v
from modelfleet.catalog.errors import CatalogError

TORCH_DTYPES = {"bfloat16": "bf16", "float16": "fp16", "half": "fp16", "float32": "fp32", "float": "fp32"}
SIMPLE_METHODS = {"fp8": "fp8", "fbgemm_fp8": "fp8", "mxfp4": "mxfp4", "awq": "awq", "gptq": "gptq"}
COMPRESSED_TENSORS_WEIGHTS = {
    (8, "float"): "fp8",
    (4, "float"): "fp4",
    (8, "int"): "int8",
    (4, "int"): "int4",
}
MODELOPT_ALGOS = {"fp8": "fp8", "nvfp4": "fp4", "w4a8_awq": "int4", "int4_awq": "int4"}


def quantization_config(
    config: Mapping[str, Any], text: Mapping[str, Any], where: str
) -> Mapping[str, Any] | None:
    """The checkpoint's ``quantization_config`` (top level, else in ``text_config``), or None."""
    found = v.mapping(config, "quantization_config", where=where)
    return found if found is not None else v.mapping(text, "quantization_config", where=where)


def weight_block_size(
    config: Mapping[str, Any], text: Mapping[str, Any], where: str
) -> tuple[int, int] | None:
    """``quantization_config.weight_block_size`` as (block_n, block_k): the fp8 scale blocks of
    DeepSeek V3 / Qwen3 FP8 / MiniMax checkpoints ([128, 128]). None when weights are not block-quantized.

    >>> weight_block_size({"quantization_config": {"quant_method": "fp8", "weight_block_size": [128, 128]}}, {}, "c")
    (128, 128)
    >>> weight_block_size({"quantization_config": {"quant_method": "fp8"}}, {}, "c") is None
    True
    """
    quantization = quantization_config(config, text, where)
    if quantization is None or quantization.get("weight_block_size") is None:
        return None
    block = quantization["weight_block_size"]
    field = "quantization_config.weight_block_size"
    if not isinstance(block, list) or len(block) != 2:
        raise CatalogError(
            f"{where}: field {field} must be a list [block_n, block_k], got {v.describe(block)}"
        )
    n = v.count({"n": block[0]}, "n", where=where, field=field + "[0]", maximum=v.MAX_COUNT)
    k = v.count({"k": block[1]}, "k", where=where, field=field + "[1]", maximum=v.MAX_COUNT)
    return (n, k) if n and k else None


def weight_group_size(config: Mapping[str, Any], text: Mapping[str, Any], where: str) -> int | None:
    """The quantization group of a GPTQ / AWQ / compressed-tensors int checkpoint (``group_size``, 128
    for most); None when weights are per-channel (``-1``) or not group-quantized.

    >>> weight_group_size({"quantization_config": {"quant_method": "gptq", "bits": 4, "group_size": 128}}, {}, "c")
    128
    >>> weight_group_size({"quantization_config": {"quant_method": "awq", "group_size": -1}}, {}, "c") is None
    True
    """
    quantization = quantization_config(config, text, where)
    if quantization is None:
        return None
    group = quantization.get("group_size")
    groups = quantization.get("config_groups")
    if group is None and isinstance(groups, Mapping) and groups:
        first = next(iter(groups.values()))
        weights = first.get("weights") if isinstance(first, Mapping) else None
        group = weights.get("group_size") if isinstance(weights, Mapping) else None
    if group is None or group == -1:
        return None
    return v.checked_int(group, where=where, field="quantization_config group_size", maximum=v.MAX_COUNT)


def native_dtype(config: Mapping[str, Any], text: Mapping[str, Any], where: str) -> str | None:
    quantization = quantization_config(config, text, where)
    if quantization is not None:
        return _quantized(quantization, where)
    for source in (config, text):
        for key in ("torch_dtype", "dtype"):
            name = v.text(source, key, where=where)
            if name is not None:
                return TORCH_DTYPES.get(name.lower())
    return None


def _quantized(quantization: Mapping[str, Any], where: str) -> str | None:
    method = (
        v.text(quantization, "quant_method", where=where, field="quantization_config.quant_method") or ""
    ).lower()
    if method in SIMPLE_METHODS:
        return SIMPLE_METHODS[method]
    if method == "modelopt":
        algo = v.text(quantization, "quant_algo", where=where, field="quantization_config.quant_algo") or ""
        return MODELOPT_ALGOS.get(algo.lower())
    if method == "bitsandbytes":
        return (
            "int4"
            if quantization.get("load_in_4bit") is True
            else "int8"
            if quantization.get("load_in_8bit") is True
            else None
        )
    if method == "compressed-tensors":
        return _compressed_tensors(quantization, where)
    return None


def _compressed_tensors(quantization: Mapping[str, Any], where: str) -> str | None:
    # The weight format of the first config group, e.g. {"weights": {"num_bits": 8, "type": "float"}}.
    groups = v.mapping(quantization, "config_groups", where=where, field="quantization_config.config_groups")
    if not groups:
        return None
    group = next(iter(groups.values()))
    weights = group.get("weights") if isinstance(group, Mapping) else None
    if not isinstance(weights, Mapping):
        return None
    bits = v.count(weights, "num_bits", where=where, field="quantization_config weights.num_bits", maximum=64)
    kind = weights.get("type")
    return COMPRESSED_TENSORS_WEIGHTS.get((bits, kind)) if isinstance(kind, str) and bits else None
