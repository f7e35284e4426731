"""Each engine's own start-up check on the KV cache: the layout is feasible when the engine starts
and serves one sequence of the rendered context length.

Every engine profiles memory after loading weights and running one dummy prefill; what is left
under its memory fraction is the KV pool (``pool_bytes`` here: usable - weights - overhead, per
GPU). What it then refuses differs only in wording and in what happens at the edge:

- vLLM (``vllm/v1/core/kv_cache_utils.py``, ``check_enough_kv_cache_memory``): a pool of 0 bytes
  raises "No available memory for the cache blocks"; a pool smaller than one sequence of
  ``max_model_len`` tokens raises "To serve at least one request with the models's max seq len ...".
  More sequences are not required: the scheduler queues what does not fit.
- SGLang (``python/sglang/srt/model_executor/model_runner.py``, ``profile_max_num_token`` /
  ``init_memory_pool``): ``max_total_num_tokens <= 0`` raises "Not enough memory. Please try to
  increase --mem-fraction-static." A smaller pool than ``--context-length`` does start, but the
  scheduler (``managers/tp_worker.py``) caps every request at
  ``max_req_len = min(context_len - 1, max_total_num_tokens - 1)``, so the rendered context would be a
  promise the server breaks; the planner refuses that too.
- TGI (``backends/v3/src/lib.rs``, ``connect_backend``): the warm-up returns
  ``max_supported_total_tokens`` (the pool in tokens); ``--max-total-tokens`` above it fails with
  "Not enough memory to handle `max_total_tokens=N`".

Each rule is ``(pool_bytes, sequence_bytes, max_model_len) -> refusal or None``, where
``sequence_bytes`` is the per-GPU KV of what must fit (one sequence, or ``concurrency`` of them
under ``serving.strict``).
"""

from __future__ import annotations

from collections.abc import Callable

from modelfleet.catalog.types import GIB
from modelfleet.planner.types import Engine

StartupRule = Callable[[int, int, int], str | None]


def _gib(value: int) -> str:
    return f"{value / GIB:.2f}"


def pool_tokens(pool_bytes: int, sequence_bytes: int, max_model_len: int) -> int:
    """Tokens the pool holds at the cost per token of a ``max_model_len`` sequence (engines' token pool).

    >>> pool_tokens(4 * GIB, 2 * GIB, 8192)
    16384
    >>> pool_tokens(-1, 2 * GIB, 8192)
    0
    """
    if pool_bytes <= 0:
        return 0
    if sequence_bytes <= 0:  # no KV at all (cannot happen for a decoder; kept total)
        return max_model_len
    return pool_bytes * max_model_len // sequence_bytes


def vllm_refusal(pool_bytes: int, sequence_bytes: int, max_model_len: int) -> str | None:
    """vLLM's ``check_enough_kv_cache_memory``, in its own words.

    >>> vllm_refusal(GIB, GIB, 32768) is None
    True
    >>> vllm_refusal(GIB, 2 * GIB, 32768)[:59]
    'vLLM refuses to start: To serve at least one request with t'
    """
    if pool_bytes <= 0:
        return (
            "vLLM refuses to start: No available memory for the cache blocks. "
            "Try increasing `gpu_memory_utilization`"
        )
    if sequence_bytes > pool_bytes:
        estimate = pool_tokens(pool_bytes, sequence_bytes, max_model_len)
        return (
            f"vLLM refuses to start: To serve at least one request with the models's max seq len "
            f"({max_model_len}), ({_gib(sequence_bytes)} GiB KV cache is needed, which is larger than the "
            f"available KV cache memory ({_gib(pool_bytes)} GiB). Based on the available memory, the "
            f"estimated maximum model length is {estimate}"
        )
    return None


def sglang_refusal(pool_bytes: int, sequence_bytes: int, max_model_len: int) -> str | None:
    """SGLang's ``init_memory_pool`` check, and the request cap its scheduler applies.

    >>> sglang_refusal(0, GIB, 8192)
    'SGLang refuses to start: Not enough memory. Please try to increase --mem-fraction-static.'
    >>> sglang_refusal(GIB, 2 * GIB, 8192)[:59]
    'SGLang starts but caps requests at 4095 tokens (max_req_len'
    """
    tokens = pool_tokens(pool_bytes, sequence_bytes, max_model_len)
    if tokens <= 0:
        return "SGLang refuses to start: Not enough memory. Please try to increase --mem-fraction-static."
    if sequence_bytes > pool_bytes:
        return (
            f"SGLang starts but caps requests at {tokens - 1} tokens (max_req_len = min(context_len - 1, "
            f"max_total_num_tokens - 1)): its token pool of {tokens} tokens is smaller than "
            f"--context-length {max_model_len}"
        )
    return None


def tgi_refusal(pool_bytes: int, sequence_bytes: int, max_model_len: int) -> str | None:
    """TGI's ``connect_backend`` check of ``--max-total-tokens`` against the warm-up's token pool.

    >>> tgi_refusal(2 * GIB, GIB, 4096) is None
    True
    >>> tgi_refusal(GIB, 2 * GIB, 4096)
    'TGI refuses to start: Not enough memory to handle `max_total_tokens=4096` (the warm-up leaves room for 2048 tokens)'
    """
    if sequence_bytes > pool_bytes or pool_bytes <= 0:
        tokens = pool_tokens(pool_bytes, sequence_bytes, max_model_len)
        return (
            f"TGI refuses to start: Not enough memory to handle `max_total_tokens={max_model_len}` "
            f"(the warm-up leaves room for {tokens} tokens)"
        )
    return None


STARTUP_RULES: dict[Engine, StartupRule] = {
    Engine.VLLM: vllm_refusal,
    Engine.SGLANG: sglang_refusal,
    Engine.TGI: tgi_refusal,
}


def startup_refusal(engine: Engine, pool_bytes: int, sequence_bytes: int, max_model_len: int) -> str | None:
    """The engine's refusal to start (or to serve ``max_model_len``) with this KV pool, or None."""
    return STARTUP_RULES[engine](pool_bytes, sequence_bytes, max_model_len)
