"""Weight bytes of one replica in the served dtype.

Best source: the checkpoint's own size (safetensors ``metadata.total_size`` or the on-disk size),
valid only when serving the checkpoint's native dtype. Otherwise: parameters x bytes per parameter.
Either way a 2% slack covers buffers the engines allocate next to the weights (rotary caches,
fused-layer padding, MoE routing tables).

Worked examples (``GIB`` = 2**30):

- Llama-3.1-70B in bf16 from parameters: 70.6e9 x 2 B = 141.2 GB = 131.5 GiB; x 1.02 = 134.1 GiB.
- DeepSeek-V3 in its native fp8: 641.3 GiB on disk x 1.02 = 654.1 GiB.
- Llama-3.1-70B as awq: 70.6e9 x 0.5 x 1.03 = 36.4 GB = 33.9 GiB; x 1.02 = 34.6 GiB.
"""

from __future__ import annotations

from dataclasses import dataclass

from modelfleet.catalog.types import ModelFacts
from modelfleet.planner.dtypes import bytes_per_param

WEIGHT_SLACK = 1.02


@dataclass(frozen=True)
class WeightEstimate:
    total_bytes: int  # whole replica, served dtype, slack included
    notes: tuple[str, ...] = ()
    missing: tuple[str, ...] = ()  # facts that would be needed; non-empty means no estimate

    @property
    def known(self) -> bool:
        return not self.missing


def estimate_weight_bytes(model: ModelFacts, served: str, native: str | None) -> WeightEstimate:
    """Weight bytes for the whole replica (before dividing by TP x PP).

    >>> from modelfleet.catalog.types import AttentionKind, ModelFacts
    >>> llama = ModelFacts("meta-llama/Llama-3.1-70B-Instruct", "LlamaForCausalLM", 70_600_000_000,
    ...     70_600_000_000, 80, 8192, 64, 8, 128, 28672, AttentionKind.GQA, native_dtype="bf16")
    >>> round(estimate_weight_bytes(llama, "bf16", "bf16").total_bytes / 2**30, 1)
    134.1
    >>> round(estimate_weight_bytes(llama, "fp8", "bf16").total_bytes / 2**30, 1)
    67.1
    """
    notes: list[str] = []
    if native is not None and served != native and bytes_per_param(served) > bytes_per_param(native):
        notes.append(
            f"serving {served} from a {native} checkpoint: weights grow to {bytes_per_param(served):g} "
            "bytes/param and the engine must dequantize on load; the native dtype is cheaper"
        )
    raw = _raw_bytes(model, served, native, notes)
    if raw is None:
        return WeightEstimate(0, tuple(notes), missing=("total_params",))
    return WeightEstimate(int(raw * WEIGHT_SLACK), tuple(notes))


def _raw_bytes(model: ModelFacts, served: str, native: str | None, notes: list[str]) -> float | None:
    if served == native and model.weight_bytes:
        return float(model.weight_bytes)
    if model.total_params:
        if served == native:
            notes.append(
                f"checkpoint size unknown: weights estimated as {model.total_params / 1e9:.1f}B params x "
                f"{bytes_per_param(served):g} bytes ({served})"
            )
        return model.total_params * bytes_per_param(served)
    if model.weight_bytes and native is not None:
        # No parameter count, but the checkpoint size in a known dtype scales linearly.
        notes.append(
            f"parameter count unknown: weights scaled from the {native} checkpoint size "
            f"by {bytes_per_param(served):g}/{bytes_per_param(native):g}"
        )
        return model.weight_bytes * bytes_per_param(served) / bytes_per_param(native)
    return None
