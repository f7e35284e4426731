"""Request-level decisions made before any GPU is considered: validity, served dtype, context length."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from modelfleet.catalog.types import ModelFacts
from modelfleet.planner.dtypes import normalize_dtype
from modelfleet.planner.types import PlanRequest

# Auto-fit context: when serving.maxModelLen is not set, the planner serves the largest context the
# chosen layout holds, from the model's own maximum down to this floor; a layout that cannot hold
# one sequence of the floor is not a layout. 4096 tokens is the shortest context the published
# recipes run (TGI's historical default for --max-total-tokens, vLLM's L4 / T4 examples) and still
# holds a chat turn with a few retrieved passages.
CONTEXT_FLOOR = 4096

# Upper bound of the auto-fit when the model's context is unknown: rendering a longer context than
# the checkpoint's max_position_embeddings makes vLLM refuse to start, and 32768 is what current
# open models support at the least.
UNKNOWN_CONTEXT_CEILING = 32768

# Auto-fitted contexts are rounded down to a multiple of this many tokens (readable flags; every
# engine's page size divides it), unless the model's whole context fits.
CONTEXT_STEP = 1024

# Assumed when neither the request nor the catalog says how the checkpoint is stored: the
# overwhelmingly common case for open checkpoints, and the larger (safer) of the common dtypes.
ASSUMED_DTYPE = "bf16"


def validate_request(request: PlanRequest) -> str | None:
    """A sentence naming the first invalid request field, or None."""
    if request.concurrency < 1:
        return f"serving.concurrency must be at least 1 (got {request.concurrency})"
    if not 0 < request.gpu_memory_utilization <= 1:
        return f"gpuMemoryUtilization must be in (0, 1] (got {request.gpu_memory_utilization})"
    if request.max_model_len is not None and request.max_model_len < 1:
        return f"serving.maxModelLen must be positive (got {request.max_model_len})"
    for name in ("gpus_per_replica", "tensor_parallel", "pipeline_parallel", "data_parallel"):
        value = getattr(request, name)
        if value is not None and value < 1:
            return f"{name} must be at least 1 (got {value})"
    return None


def served_dtype(request: PlanRequest, model: ModelFacts) -> tuple[str, tuple[str, ...]]:
    """The weight dtype the engine will serve, with notes when it had to be assumed."""
    if request.quantization is not None:
        return str(request.quantization.value), ()
    native = normalize_dtype(model.native_dtype)
    if native is not None:
        return native, ()
    said = f" ({model.native_dtype!r} is not a dtype the planner knows)" if model.native_dtype else ""
    return ASSUMED_DTYPE, (
        f"checkpoint dtype unknown{said}: sized as {ASSUMED_DTYPE}; set spec.model.quantization to be explicit",
    )


@dataclass(frozen=True)
class ContextBounds:
    """The context length a layout is checked at, and how far auto-fit may raise it."""

    check_tokens: int  # pinned maxModelLen, or the auto-fit floor
    ceiling: int | None  # None: pinned; else the longest context auto-fit may choose
    notes: tuple[str, ...] = ()
    problem: str | None = None


def context_bounds(request: PlanRequest, model: ModelFacts) -> ContextBounds:
    """Pinned maxModelLen as is (refused above the model's context), else the auto-fit range.

    >>> from modelfleet.catalog.types import AttentionKind, ModelFacts
    >>> m = ModelFacts("acme/m", None, None, None, 1, 1, 1, 1, 1, 1, AttentionKind.GQA, max_context=131072)
    >>> auto = context_bounds(PlanRequest("acme/m"), m)
    >>> auto.check_tokens, auto.ceiling
    (4096, 131072)
    >>> pinned = context_bounds(PlanRequest("acme/m", max_model_len=8192), m)
    >>> pinned.check_tokens, pinned.ceiling
    (8192, None)
    """
    context = model.max_context
    pinned = request.max_model_len
    if pinned is not None:
        if context is not None and pinned > context:
            problem = (
                f"maxModelLen {pinned} exceeds the model's context of {context} tokens; "
                f"lower serving.maxModelLen to at most {context}"
            )
            return ContextBounds(pinned, None, problem=problem)
        return ContextBounds(pinned, None)
    if context is None:
        note = (
            f"the model's context is unknown: auto-fit goes up to {UNKNOWN_CONTEXT_CEILING} tokens at most "
            "(set serving.maxModelLen or overrides.maxContext)"
        )
        return ContextBounds(min(CONTEXT_FLOOR, UNKNOWN_CONTEXT_CEILING), UNKNOWN_CONTEXT_CEILING, (note,))
    return ContextBounds(min(CONTEXT_FLOOR, context), context)


def fit_context(fits: Callable[[int], bool], floor: int, ceiling: int) -> int:
    """The largest context in [floor, ceiling] for which ``fits`` holds (``fits(floor)`` is assumed).

    The whole ceiling when it fits; otherwise a multiple of CONTEXT_STEP found by bisection, as vLLM's
    ``estimate_max_model_len`` does for its error message.

    >>> fit_context(lambda tokens: tokens <= 50_000, 4096, 131072)
    49152
    >>> fit_context(lambda tokens: True, 4096, 131072)
    131072
    """
    if fits(ceiling):
        return ceiling
    low, high = floor // CONTEXT_STEP, ceiling // CONTEXT_STEP  # in steps; low fits (or is the floor)
    while low < high:
        middle = (low + high + 1) // 2
        if fits(middle * CONTEXT_STEP):
            low = middle
        else:
            high = middle - 1
    return max(floor, low * CONTEXT_STEP)


# spec.model.overrides keys whose name is not the camelCase of the ModelFacts field.
_OVERRIDE_KEYS = {"num_kv_heads": "numKeyValueHeads", "kv_bytes_per_token_override": "kvBytesPerToken"}


def override_key(fact: str) -> str:
    """The ``spec.model.overrides`` key that sets a ModelFacts field.

    >>> override_key("num_layers"), override_key("num_kv_heads")
    ('numLayers', 'numKeyValueHeads')
    """
    if fact in _OVERRIDE_KEYS:
        return _OVERRIDE_KEYS[fact]
    head, *rest = fact.split("_")
    return head + "".join(part.capitalize() for part in rest)


def missing_facts_reason(model: ModelFacts, missing: tuple[str, ...], notes: tuple[str, ...] = ()) -> str:
    """'cannot size X: not even the weight size is known (unknown total_params, ...); set ...'.

    Only the weight size is indispensable: other unknown facts are bounded and the plan is marked
    estimated, so this names the weight facts first.
    """
    if "total_params" in missing:
        missing = ("total_params", "weight_bytes") + tuple(m for m in missing if m != "total_params")
    fields = ", ".join(missing)
    overrides = ", ".join(override_key(name) for name in missing)
    extra = f" ({'; '.join(notes)})" if notes else ""
    return (
        f"cannot size {model.id}: not even the weight size is known (unknown {fields}{extra}); "
        "set at least totalParams or weightBytes in spec.model.overrides "
        f"(the others help: {overrides}) or make the checkpoint's config.json readable (spec.model.source) so they can be read"
    )


def describe_pins(request: PlanRequest) -> str:
    pins = [
        f"{name}={value}"
        for name, value in (
            ("gpus_per_replica", request.gpus_per_replica),
            ("tensor_parallel", request.tensor_parallel),
            ("pipeline_parallel", request.pipeline_parallel),
            ("data_parallel", request.data_parallel),
        )
        if value is not None
    ]
    return ("pinned " + ", ".join(pins)) if pins else ""
