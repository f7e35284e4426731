"""``plan``: from model facts, serving goals and a GPU pool to the cheapest layout the engine starts.

A layout is feasible when the engine starts and serves: its own start-up check (``startup.py``)
passes for one sequence of the served context, or for ``concurrency`` of them under
``serving.strict``. ``concurrency`` is otherwise a goal: layouts meeting it rank first, and the plan
reports how many full-length sequences the chosen one holds. When ``maxModelLen`` is not set the
layout is checked at ``requests.CONTEXT_FLOOR`` tokens and then serves the longest context it holds
(``autofit.py``). Unknown architecture facts are bounded (``estimate.py``) and the plan is marked
estimated; only an unknown weight size refuses.

Worked examples (vLLM, 32768 tokens pinned x 1 sequence, utilization 0.90; asserted in
tests/unit/test_planner_table.py):

- Llama-3.1-70B bf16 on H100-80GB: 70.6e9 x 2 B x 1.02 = 134.1 GiB of weights. TP=2: 67.1 + KV 5.0
  + overhead 3.5 = 75.6 GiB > 72.0 GiB usable (short by 3.6): vLLM would refuse to start. TP=4:
  33.5 + 2.5 + 3.1 = 39.1 GiB: 4 x H100 on one node. Unpinned, TP=2 holds one 9216-token
  sequence in its 1.4 GiB pool and is chosen, auto-fitted to 9216 tokens.
- DeepSeek-V3 fp8: 641.3 GiB on disk x 1.02 = 654.1 GiB. On H200 (126.9 GiB usable) 8 GPUs hold
  81.8 GiB each + 2.1 GiB of replicated MLA cache + 3.8 GiB overhead (with expert parallel): one
  node. On H100 8 GPUs would need 87.7 GiB each; 16 GPUs as TP=8 x PP=2 over 2 nodes hold
  40.9 + 1.1 + 3.8 GiB each.
"""

from __future__ import annotations

from collections.abc import Mapping

from modelfleet.catalog.types import AttentionKind, GpuType, ModelFacts
from modelfleet.planner.autofit import context_sentences, served_context
from modelfleet.planner.context import FP8_BLOCK, Sizing
from modelfleet.planner.derived import derive
from modelfleet.planner.engine_models import architecture_problem
from modelfleet.planner.engines import profile
from modelfleet.planner.memory import breakdown_sentence, kv_pool_bytes, memory_per_gpu, sequence_bytes
from modelfleet.planner.ranking import Found, RejectionLog, found_key, rank_key
from modelfleet.planner.requests import (
    ContextBounds,
    context_bounds,
    describe_pins,
    missing_facts_reason,
    served_dtype,
    validate_request,
)
from modelfleet.planner.search import search
from modelfleet.planner.types import Plan, PlanRequest, Rejected


def plan(request: PlanRequest, model: ModelFacts, gpus: Mapping[str, GpuType]) -> Plan:
    """The cheapest feasible layout for ``model`` under ``request``, or why none exists.

    Pure: no I/O, no clock; the same inputs give the same ``Plan``.

    >>> from modelfleet.catalog.types import AttentionKind, GpuType, ModelFacts, Vendor
    >>> h100 = GpuType("H100-80GB", Vendor.NVIDIA, 80 * 2**30, 8, "9.0", "hopper", True, False,
    ...                "nvidia.com/gpu", ("NVIDIA-H100-80GB-HBM3",), 2.0)
    >>> llama70 = ModelFacts("meta-llama/Llama-3.1-70B-Instruct", "LlamaForCausalLM", 70_600_000_000,
    ...     70_600_000_000, 80, 8192, 64, 8, 128, 28672, AttentionKind.GQA, native_dtype="bf16",
    ...     max_context=131072)
    >>> result = plan(PlanRequest(llama70.id, max_model_len=32768), llama70, {"H100-80GB": h100})
    >>> result.chosen.gpus_per_replica, result.chosen.tensor_parallel, result.concurrency_at_max_len
    (4, 4, 14)
    >>> fitted = plan(PlanRequest(llama70.id), llama70, {"H100-80GB": h100})
    >>> fitted.chosen.tensor_parallel, fitted.max_model_len, fitted.concurrency_at_max_len
    (2, 9216, 1)
    """
    problem = validate_request(request) or architecture_problem(request.engine, model.architecture)
    if problem:
        return _infeasible(request, model, "unknown", request.max_model_len, (problem,))
    served, dtype_notes = served_dtype(request, model)
    bounds = context_bounds(request, model)
    max_len, len_notes = bounds.check_tokens, bounds.notes
    if bounds.problem:
        return _infeasible(request, model, served, max_len, (bounds.problem,))
    sizing_or_reason = _sizing(request, model, served, bounds)
    if isinstance(sizing_or_reason, str):
        return _infeasible(request, model, served, request.max_model_len, (sizing_or_reason,))
    sizing, fact_notes = sizing_or_reason
    types, type_notes, type_problem = _gpu_types(request, gpus)
    if type_problem:
        return _infeasible(request, model, served, max_len, (type_problem,), sizing.kv.bytes_per_token)
    found, log = search(types, sizing)
    notes = dtype_notes + len_notes + fact_notes + type_notes
    if request.expert_parallel and not sizing.is_moe:
        notes += ("expertParallel is set but the model is dense (no routed experts): ignored",)
    if not found:
        return _nothing_fits(request, sizing, log, notes)
    best = min(found, key=found_key)
    return _feasible(sizing, best, log, notes)


def _sizing(
    request: PlanRequest, model: ModelFacts, served: str, bounds: ContextBounds
) -> tuple[Sizing, tuple[str, ...]] | str:
    facts = derive(model, served, request.kv_cache_dtype)
    if facts.missing or facts.kv is None:
        return missing_facts_reason(model, facts.missing or ("total_params",), facts.missing_notes)
    sizing = Sizing(
        request=request,
        model=model,
        engine=profile(request.engine),
        served_dtype=served,
        native_dtype=facts.native_dtype,
        weight_bytes=facts.weight_bytes,
        kv=facts.kv,
        tokens_per_sequence=bounds.check_tokens,
        sequences=request.concurrency if request.strict else 1,
        activation_width=facts.activation_width,
        weight_block=_weight_block(model, served, facts.native_dtype),
        weight_group=model.weight_group_size if served == facts.native_dtype else None,
        context_ceiling=bounds.ceiling,
        goal_sequences=request.concurrency,
        assumptions=facts.assumptions,
        is_moe=model.is_moe,
        routed_experts=(model.moe.routed_experts or 0) if model.moe else 0,
        kv_head_counts=_kv_head_counts(model, facts.kv.kv_head_counts),
        expert_weight_bytes=_expert_weight_bytes(model, facts.weight_bytes),
    )
    return sizing, facts.notes


def _expert_weight_bytes(model: ModelFacts, weight_bytes: int) -> int | None:
    """The routed experts' share of ``weight_bytes``, from parameter counts.

    Active = dense + routed x k / R (k of R routed experts per token; shared experts count as dense),
    total = dense + routed, so routed = (total - active) x R / (R - k). DeepSeek-V3: (671 - 37) x
    256 / 248 = 654.4B of 671B parameters are routed experts (97.5 %).
    """
    moe = model.moe
    total, active = model.total_params, model.active_params
    if moe is None or not (total and active and moe.routed_experts and moe.experts_per_token):
        return None
    routed, k = moe.routed_experts, moe.experts_per_token
    if routed <= k or active >= total:
        return None
    expert_params = min(total, (total - active) * routed / (routed - k))
    return int(weight_bytes * expert_params / total)


def _weight_block(model: ModelFacts, served: str, native: str | None) -> tuple[int, int] | None:
    """The quantization blocks of the served weights: only a checkpoint served in its own format has them."""
    if served != native:
        return None  # quantized on load (per-tensor / per-channel), or dequantized
    if model.weight_block_n and model.weight_block_k:
        return model.weight_block_n, model.weight_block_k
    return FP8_BLOCK if served == "fp8" else None


def _kv_head_counts(model: ModelFacts, from_shape: tuple[int, ...]) -> tuple[int, ...]:
    """KV head counts tensor parallel must respect: the KV shape's, and the model's own GQA head counts
    even when a measured bytes/token figure replaced the shape (the engine still splits those heads)."""
    if model.attention not in (AttentionKind.GQA, AttentionKind.SLIDING_HYBRID, AttentionKind.LINEAR_HYBRID):
        return from_shape
    declared = (
        model.num_kv_heads,
        model.full_attention_kv_heads if model.attention is AttentionKind.SLIDING_HYBRID else None,
    )
    extra = tuple(k for k in declared if k and k > 1 and k not in from_shape)
    return from_shape + extra


def _gpu_types(
    request: PlanRequest, gpus: Mapping[str, GpuType]
) -> tuple[list[GpuType], tuple[str, ...], str | None]:
    wanted = request.gpu if request.gpu and request.gpu.lower() != "auto" else None
    if wanted is not None and wanted not in gpus:
        # Accept the catalog name in any letter case ("h100-80gb").
        wanted = next((name for name in gpus if name.lower() == wanted.lower()), None) or wanted
    if wanted is not None and wanted not in gpus:
        return [], (), f"unknown GPU type {wanted!r}; known types: {', '.join(sorted(gpus))}"
    # Cheapest first: the search prunes counts that cost more than the best plan found so far.
    ordered = [gpus[wanted]] if wanted else sorted(gpus.values(), key=lambda g: (g.relative_cost, g.name))
    inventory = request.pool.free_per_node
    if inventory is None:
        return ordered, (), None
    notes = tuple(
        f"inventory GPU type {name!r} is not in the catalog: ignored"
        for name in sorted(inventory)
        if name not in gpus
    )
    present = [gpu for gpu in ordered if any(count > 0 for count in inventory.get(gpu.name, ()))]
    if not present:
        target = wanted or "any catalog GPU type"
        have = ", ".join(f"{name}: {sum(counts)}" for name, counts in sorted(inventory.items())) or "nothing"
        return (
            [],
            notes,
            f"no free {target} in the cluster inventory (free GPUs: {have}); add nodes or change accelerator.type",
        )
    return present, notes, None


def _feasible(sizing: Sizing, best: Found, log: RejectionLog, notes: tuple[str, ...]) -> Plan:
    c, gpu = best.candidate, best.gpu
    served = served_context(sizing, best)
    memory = memory_per_gpu(c, gpu, sizing, served)
    # per GPU of one DP rank; a DP x EP replica holds that many per rank
    held = c.data_parallel * (kv_pool_bytes(memory) // max(1, sequence_bytes(c, sizing, served)))
    chosen = (
        f"chose {c.gpus_per_replica} x {gpu.name} on {c.nodes_per_replica} node(s): TP={c.tensor_parallel}, "
        f"PP={c.pipeline_parallel}, "
        + (f"DP={c.data_parallel}, " if c.data_parallel > 1 else "")
        + f"EP={'on' if c.expert_parallel else 'off'}; {_why_chosen(sizing, best)} "
        f"(relative cost {c.gpus_per_replica * gpu.relative_cost:g})"
    )
    reasons: tuple[str, ...] = (chosen, breakdown_sentence(c, memory, gpu, sizing, served))
    reasons += context_sentences(sizing, best, served, held) + notes
    if best.hardware_note:
        reasons += (best.hardware_note,)
    if c.expert_parallel and sizing.engine.expert_parallel_flag:
        ranks = c.tensor_parallel * c.data_parallel
        reasons += (f"expert parallel over {ranks} ranks ({sizing.engine.expert_parallel_flag})",)
    if sizing.assumptions:
        reasons += ("estimated plan: " + "; ".join(sizing.assumptions),)
    return Plan(
        feasible=True,
        model_id=sizing.model.id,
        engine=sizing.request.engine,
        quantization=sizing.served_dtype,
        max_model_len=served,
        chosen=c,
        memory=memory,
        kv_bytes_per_token=sizing.kv.bytes_per_token,
        reasons=reasons,
        rejected=log.top(rank_key),
        concurrency_at_max_len=held,
        assumptions=sizing.assumptions,
    )


def _why_chosen(sizing: Sizing, best: Found) -> str:
    if sizing.goal_sequences > sizing.sequences and best.goal_met:
        return "cheapest that meets the concurrency goal"
    return "cheapest feasible"


def _nothing_fits(request: PlanRequest, sizing: Sizing, log: RejectionLog, notes: tuple[str, ...]) -> Plan:
    rejected = log.top(rank_key)
    pins = describe_pins(request)
    if not rejected:
        head = f"{pins}: no layout uses these pins" if pins else "no GPU type to try"
    elif pins:
        head = f"{pins} cannot work: {rejected[0].reason}"
    else:
        head = f"no layout of {sizing.model.id} fits the GPU types tried: " + "; ".join(
            f"{r.candidate.gpus_per_replica} x {r.candidate.gpu_type}: {r.reason}" for r in rejected[:3]
        )
    return Plan(
        feasible=False,
        model_id=sizing.model.id,
        engine=request.engine,
        quantization=sizing.served_dtype,
        max_model_len=sizing.request.max_model_len,
        chosen=None,
        memory=None,
        kv_bytes_per_token=sizing.kv.bytes_per_token,
        reasons=(head,) + notes,
        rejected=rejected,
        assumptions=sizing.assumptions,
    )


def _infeasible(
    request: PlanRequest,
    model: ModelFacts,
    served: str,
    max_len: int | None,
    reasons: tuple[str, ...],
    kv_bytes_per_token: int | None = None,
    rejected: tuple[Rejected, ...] = (),
) -> Plan:
    return Plan(
        feasible=False,
        model_id=model.id,
        engine=request.engine,
        quantization=served,
        max_model_len=max_len,
        chosen=None,
        memory=None,
        kv_bytes_per_token=kv_bytes_per_token,
        reasons=reasons,
        rejected=rejected,
    )
