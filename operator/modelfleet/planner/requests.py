"""Request-level decisions made before any GPU is considered: validity, served dtype, context length."""

from __future__ import annotations

from modelfleet.catalog.types import ModelFacts
from modelfleet.planner.dtypes import normalize_dtype
from modelfleet.planner.types import PlanRequest

# Engines default max_model_len to the model's whole context. For 256K-1M context models that makes
# the KV cache of a single sequence dominate memory (Llama-3.1-70B: 40 GiB at 131072 tokens) and
# multiplies the GPU count for a length few requests use. 32768 tokens covers chat, RAG and most
# agent traffic; longer contexts are an explicit choice (serving.maxModelLen).
DEFAULT_MAX_MODEL_LEN = 32768

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


def resolve_max_model_len(request: PlanRequest, model: ModelFacts) -> tuple[int, tuple[str, ...], str | None]:
    """(max_model_len, notes, problem). ``problem`` is set when the request exceeds the model."""
    context = model.max_context
    if request.max_model_len is not None:
        if context is not None and request.max_model_len > context:
            return (
                request.max_model_len,
                (),
                (
                    f"maxModelLen {request.max_model_len} exceeds the model's context of {context} tokens; "
                    f"lower serving.maxModelLen to at most {context}"
                ),
            )
        return request.max_model_len, (), None
    if context is None:
        return (
            DEFAULT_MAX_MODEL_LEN,
            (
                f"maxModelLen not set and the model's context is unknown: sized for {DEFAULT_MAX_MODEL_LEN} tokens",
            ),
            None,
        )
    length = min(context, DEFAULT_MAX_MODEL_LEN)
    if length == context:
        return length, (f"maxModelLen not set: using the model's full context of {context} tokens",), None
    return (
        length,
        (
            f"maxModelLen not set: sized for {length} tokens of the model's {context} (set serving.maxModelLen "
            "for longer prompts; the KV cache grows linearly with it)",
        ),
        None,
    )


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
    """'cannot size X: unknown num_layers, ...; set spec.model.overrides {...} or ...'."""
    fields = ", ".join(missing)
    overrides = ", ".join(override_key(name) for name in missing)
    extra = f" ({'; '.join(notes)})" if notes else ""
    return (
        f"cannot size {model.id}: unknown {fields}{extra}; set them in spec.model.overrides "
        f"({overrides}) or make the checkpoint's config.json readable (spec.model.source) so they can be read"
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
