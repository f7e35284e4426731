"""Helpers every engine builder shares: flag spelling, user-arg merging, quantization lookup."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from modelfleet.render.errors import RenderError


def flag(name: str, value: object) -> str:
    """One ``--name=value`` argv item; ``=`` keeps a value that starts with ``-`` unambiguous.

    >>> flag("--gpu-memory-utilization", 0.9), flag("--tensor-parallel-size", 8)
    ('--gpu-memory-utilization=0.9', '--tensor-parallel-size=8')
    """
    text = format(value, "g") if isinstance(value, float) else str(value)
    return f"{name}={text}"


def with_user_args(ours: Sequence[str], user: Sequence[str]) -> tuple[str, ...]:
    """Our argv followed by the user's ``engine.args``; a flag the user passes replaces ours.

    Dropping ours avoids a duplicate: argparse keeps the last value, but TGI's launcher (clap)
    refuses a flag given twice.

    >>> with_user_args(["vllm", "--port=8000", "--max-model-len=4096"], ["--max-model-len", "8192"])
    ('vllm', '--port=8000', '--max-model-len', '8192')
    """
    user_flags = {arg.split("=", 1)[0] for arg in user if arg.startswith("--")}
    kept = [arg for arg in ours if arg.split("=", 1)[0] not in user_flags]
    return (*kept, *user)


# Formats that only a checkpoint can carry: they come from a calibration pass (AWQ, GPTQ) the engine
# does not run on load. vLLM fails on load and TGI requires pre-quantized weights for them.
PRE_QUANTIZED_ONLY = ("awq", "gptq", "fp4", "int4")


def engine_quantization(
    engine: str, requested: str | None, table: Mapping[str, str], why_not: Mapping[str, str] | None = None
) -> str | None:
    """The engine's name for a quantization to apply on load, or a :class:`RenderError` that says what to do.

    ``why_not`` explains, per dtype, why this engine cannot apply it on load (printed before the advice).
    """
    if requested is None:
        return None
    if requested not in table:
        reason = (why_not or {}).get(requested) or (
            f"{requested} weights come from a calibration pass the engine does not run on load"
            if requested in PRE_QUANTIZED_ONLY
            else f"{engine} cannot quantize to {requested} on load"
        )
        raise RenderError(
            f"model.quantization {requested!r} asks {engine} to quantize on load, but {reason} "
            f"({engine} can quantize on load to: {', '.join(sorted(table)) or 'nothing'}); serve a checkpoint "
            f"already in {requested} (its config.json names the format) and set model.overrides.nativeDtype: "
            f"{requested} if the catalog does not know it, or choose a quantization {engine} applies on load"
        )
    return table[requested]


def optional(name: str, value: object | None) -> Iterable[str]:
    """``[flag(name, value)]`` when value is set, else nothing."""
    return [] if value is None else [flag(name, value)]


@dataclass(frozen=True)
class Shutdown:
    """How an engine pod stops without failing the requests it holds.

    ``serve_after_stop_seconds`` is the preStop sleep: the pod is already out of its Services'
    endpoints (no new requests) but the engine has not been signalled, so in-flight requests finish.
    ``exit_seconds`` is what the engine gets after SIGTERM before the kubelet kills it. The pod's
    terminationGracePeriodSeconds is their sum (the grace period counts the preStop hook too).
    """

    serve_after_stop_seconds: int
    exit_seconds: int

    @property
    def grace_period_seconds(self) -> int:
        return self.serve_after_stop_seconds + self.exit_seconds
