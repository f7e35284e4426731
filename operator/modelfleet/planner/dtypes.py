"""Weight dtypes: bytes per parameter and the hardware each one needs.

A checkpoint's ``native_dtype`` and a requested ``Quantization`` are both normalised to one of the
names in ``DTYPES`` so the rest of the planner compares plain strings.

>>> normalize_dtype("bfloat16"), normalize_dtype("FP8"), normalize_dtype("float8_e4m3fn")
('bf16', 'fp8', 'fp8')
>>> bytes_per_param("bf16"), bytes_per_param("fp8"), bytes_per_param("awq")
(2.0, 1.0, 0.515)
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from modelfleet.catalog.types import GpuType, Vendor
from modelfleet.planner.types import Engine

# 4-bit formats store 0.5 byte per weight, but group scales (one fp16 per 128 weights = 1.6%), and
# the embeddings, lm_head and norms that stay in bf16 add about 3% on real checkpoints
# (Llama-3.1-70B AWQ: 39.8 GB on disk vs 70.6e9 x 0.5 = 35.3 GB before the embeddings).
FOUR_BIT_OVERHEAD = 0.03

# Ampere (sm 8.0 / 8.6) has no fp8 tensor cores; vLLM can still serve fp8 checkpoints there with
# weight-only FP8 Marlin kernels (weights stay 1 byte, compute is bf16).
# https://docs.vllm.ai/en/latest/features/quantization/fp8.html
MARLIN_MIN_CAPABILITY = (8, 0)


@dataclass(frozen=True)
class DtypeInfo:
    name: str
    bytes_per_param: float
    needs_fp8_hardware: bool = False
    needs_fp4_hardware: bool = False


DTYPES: dict[str, DtypeInfo] = {
    "bf16": DtypeInfo("bf16", 2.0),
    "fp16": DtypeInfo("fp16", 2.0),
    "fp32": DtypeInfo("fp32", 4.0),
    "fp8": DtypeInfo("fp8", 1.0, needs_fp8_hardware=True),
    "int8": DtypeInfo("int8", 1.0),
    "fp4": DtypeInfo("fp4", 0.5 * (1 + FOUR_BIT_OVERHEAD), needs_fp4_hardware=True),
    # MXFP4 checkpoints (gpt-oss) run on Hopper and Ampere through Marlin / Triton kernels. Each block
    # of 32 weights carries a 1-byte shared exponent: 0.5 + 1/32 bytes per weight before the 3%.
    "mxfp4": DtypeInfo("mxfp4", (0.5 + 1 / 32) * (1 + FOUR_BIT_OVERHEAD)),
    "int4": DtypeInfo("int4", 0.5 * (1 + FOUR_BIT_OVERHEAD)),
    "awq": DtypeInfo("awq", 0.5 * (1 + FOUR_BIT_OVERHEAD)),
    "gptq": DtypeInfo("gptq", 0.5 * (1 + FOUR_BIT_OVERHEAD)),
}

_ALIASES = {
    "bfloat16": "bf16",
    "float16": "fp16",
    "half": "fp16",
    "f16": "fp16",
    "float32": "fp32",
    "float": "fp32",
    "float8": "fp8",
    "float8_e4m3fn": "fp8",
    "fp8_e4m3": "fp8",
    "e4m3": "fp8",
    "w8a8": "int8",
    "nvfp4": "fp4",
    "float4": "fp4",
    "w4a16": "int4",
}


@lru_cache(maxsize=256)
def normalize_dtype(name: str | None) -> str | None:
    """Canonical dtype name, or None when ``name`` is unknown or not a weight dtype."""
    if name is None:
        return None
    key = str(name).strip().lower().replace("-", "_")
    key = _ALIASES.get(key, key)
    return key if key in DTYPES else None


def bytes_per_param(dtype: str) -> float:
    return DTYPES[dtype].bytes_per_param


def _capability(gpu: GpuType) -> tuple[int, int] | None:
    if gpu.compute_capability is None:
        return None
    try:
        major, _, minor = gpu.compute_capability.partition(".")
        return int(major), int(minor or 0)
    except ValueError:
        return None


@dataclass(frozen=True)
class HardwareVerdict:
    ok: bool
    message: str = ""  # why not, or a note when ok through a fallback


_OK = HardwareVerdict(True)


def dtype_on_hardware(dtype: str, gpu: GpuType, engine: Engine) -> HardwareVerdict:
    """Can ``engine`` serve ``dtype`` weights on ``gpu``?

    >>> from modelfleet.catalog.types import GpuType, Vendor
    >>> a100 = GpuType("A100-80GB", Vendor.NVIDIA, 80 * 1024**3, 8, "8.0", "ampere", False, False,
    ...                "nvidia.com/gpu", (), 1.0)
    >>> dtype_on_hardware("fp8", a100, Engine.VLLM).ok, dtype_on_hardware("fp8", a100, Engine.SGLANG).ok
    (True, False)
    """
    info = DTYPES[dtype]
    if info.needs_fp4_hardware:
        if gpu.fp4 and engine is not Engine.TGI:
            return _OK
    elif not info.needs_fp8_hardware or gpu.fp8:
        return _OK
    return _unsupported(dtype, gpu, engine)


@lru_cache(maxsize=1024)
def _unsupported(dtype: str, gpu: GpuType, engine: Engine) -> HardwareVerdict:
    if DTYPES[dtype].needs_fp4_hardware:
        if engine is Engine.TGI:
            return HardwareVerdict(False, "TGI has no fp4 (NVFP4) kernels; use vLLM or SGLang")
        return HardwareVerdict(
            False,
            f"fp4 weights need Blackwell or CDNA4 hardware; {gpu.name} ({gpu.arch}) has no fp4 "
            "tensor cores; choose B200/GB200/MI355X or quantization fp8/int4",
        )
    return _fp8_fallback(gpu, engine)


def _fp8_fallback(gpu: GpuType, engine: Engine) -> HardwareVerdict:
    capability = _capability(gpu)
    arch = f"sm {gpu.compute_capability}" if capability else gpu.arch
    if (
        gpu.vendor is Vendor.NVIDIA
        and engine is Engine.VLLM
        and capability
        and capability >= MARLIN_MIN_CAPABILITY
    ):
        return HardwareVerdict(
            True,
            f"{gpu.name} ({arch}) has no fp8 tensor cores: vLLM serves fp8 weights with its weight-only "
            "FP8 Marlin kernels (same memory, bf16 compute, slower than on Hopper)",
        )
    return HardwareVerdict(
        False,
        f"fp8 weights need native fp8 hardware (sm >= 8.9 or CDNA3); {gpu.name} is {arch}; "
        f"{engine.value} has no weight-only fallback: use engine vllm, a Hopper/Ada/Blackwell GPU, "
        "or quantization bf16/awq",
    )
