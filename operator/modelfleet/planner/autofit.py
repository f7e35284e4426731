"""The context the chosen layout serves, and the sentences that report it with the concurrency.

When ``serving.maxModelLen`` is not set the planner serves the longest context the chosen layout's
KV pool holds (one sequence; ``concurrency`` of them under ``serving.strict``), from the model's own
maximum down to ``requests.CONTEXT_FLOOR``, and renders it explicitly (vLLM ``--max-model-len``,
SGLang ``--context-length``, TGI ``--max-input-tokens`` / ``--max-total-tokens``). vLLM alone would
refuse to start at the model's full context instead; TGI 3 and KAITO fit it the same way.
"""

from __future__ import annotations

from modelfleet.planner.context import Sizing
from modelfleet.planner.memory import kv_pool_bytes, sequence_bytes
from modelfleet.planner.ranking import Found
from modelfleet.planner.requests import fit_context
from modelfleet.planner.types import Engine

# The second length the concurrency report names ("3 at 131072 tokens; ~40 at 8192"): a typical
# chat or RAG request.
SHORT_REQUEST_TOKENS = 8192


def served_context(sizing: Sizing, best: Found) -> int:
    """The pinned maxModelLen, or the longest context ``best`` holds (auto-fit)."""
    ceiling = sizing.context_ceiling
    if ceiling is None:
        return sizing.tokens_per_sequence
    pool = kv_pool_bytes(best.memory)
    candidate = best.candidate

    def fits(tokens: int) -> bool:
        return sequence_bytes(candidate, sizing, tokens, sizing.sequences) <= pool

    return fit_context(fits, sizing.tokens_per_sequence, ceiling)


def context_flags(engine: Engine, tokens: int) -> str:
    """How each engine's renderer spells the served context.

    >>> context_flags(Engine.TGI, 8192)
    '--max-input-tokens 8191 --max-total-tokens 8192'
    """
    if engine is Engine.SGLANG:
        return f"--context-length {tokens}"
    if engine is Engine.TGI:
        return f"--max-input-tokens {tokens - 1} --max-total-tokens {tokens}"
    return f"--max-model-len {tokens}"


def context_sentences(sizing: Sizing, best: Found, served: int, held: int) -> tuple[str, ...]:
    """Auto-fit (when maxModelLen was not set), sequences held, and the concurrency goal's outcome."""
    sentences: list[str] = []
    ceiling = sizing.context_ceiling
    if ceiling is not None:
        whole = (
            "the model's whole context"
            if served == ceiling
            else f"the longest this layout holds of {ceiling}"
        )
        sentences.append(
            f"maxModelLen not set: auto-fit to {served} tokens, {whole} (floor {sizing.tokens_per_sequence}); "
            f"rendered as {context_flags(sizing.request.engine, served)}"
        )
    held_text = f"at {served} tokens this replica holds {held} full-length sequence{'s' if held != 1 else ''}"
    if served > SHORT_REQUEST_TOKENS:
        short = kv_pool_bytes(best.memory) // max(
            1, sequence_bytes(best.candidate, sizing, SHORT_REQUEST_TOKENS)
        )
        held_text += f"; ~{short} at {SHORT_REQUEST_TOKENS}"
    sentences.append(held_text)
    goal = sizing.goal_sequences
    if goal > 1 and not sizing.request.strict:
        checked = sizing.tokens_per_sequence
        if best.goal_met:
            sentences.append(f"concurrency goal of {goal} sequences of {checked} tokens: met")
        else:
            sentences.append(
                f"concurrency goal of {goal} sequences of {checked} tokens: not met by any layout tried; "
                "chose the cheapest that starts (set serving.strict to require the goal)"
            )
    return tuple(sentences)
