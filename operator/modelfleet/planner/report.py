"""A Plan as data (``-o json`` / ``-o yaml``, ``status.plan``) and as text for people.

Memory figures in the dict are bytes per GPU (integers, exact); the table shows GiB.
"""

from __future__ import annotations

from typing import Any

from modelfleet.catalog.types import GIB
from modelfleet.planner.types import Candidate, Plan

# How many rejected alternatives the text view shows; the dict carries all of them.
TABLE_REJECTED = 8


def plan_to_dict(plan: Plan) -> dict[str, Any]:
    """camelCase keys, stable order, JSON-safe values.

    >>> from modelfleet.planner.types import Engine, Plan
    >>> plan_to_dict(Plan(False, "m", Engine.VLLM, "bf16", None, None, None, None, ("why",)))["gpuType"] is None
    True
    """
    chosen = plan.chosen
    memory = plan.memory
    return {
        "feasible": plan.feasible,
        "modelId": plan.model_id,
        "engine": plan.engine.value,
        "gpuType": chosen.gpu_type if chosen else None,
        "gpusPerReplica": chosen.gpus_per_replica if chosen else None,
        "nodesPerReplica": chosen.nodes_per_replica if chosen else None,
        "tensorParallel": chosen.tensor_parallel if chosen else None,
        "pipelineParallel": chosen.pipeline_parallel if chosen else None,
        "dataParallel": chosen.data_parallel if chosen else None,
        "expertParallel": chosen.expert_parallel if chosen else None,
        "quantization": plan.quantization,
        "maxModelLen": plan.max_model_len,
        "concurrencyAtMaxLen": plan.concurrency_at_max_len,
        "estimated": plan.estimated,
        "kvBytesPerToken": plan.kv_bytes_per_token,
        "memory": None
        if memory is None
        else {
            "weights": memory.weights,
            "kvCache": memory.kv_cache,
            "overhead": memory.overhead,
            "usable": memory.usable,
            "free": memory.free,
        },
        "reasons": list(plan.reasons),
        "rejected": [
            {
                "gpuType": r.candidate.gpu_type,
                "gpusPerReplica": r.candidate.gpus_per_replica,
                "nodesPerReplica": r.candidate.nodes_per_replica,
                "tensorParallel": r.candidate.tensor_parallel,
                "pipelineParallel": r.candidate.pipeline_parallel,
                "expertParallel": r.candidate.expert_parallel,
                "reason": r.reason,
            }
            for r in plan.rejected
        ],
    }


def _gib(value: int) -> str:
    return f"{value / GIB:8.1f} GiB"


def describe_layout(candidate: Candidate) -> str:
    """``4 x H100-80GB on 1 node: TP=4 PP=1 DP=1``: a candidate layout in one line."""
    text = (
        f"{candidate.gpus_per_replica} x {candidate.gpu_type} on {candidate.nodes_per_replica} "
        f"node{'s' if candidate.nodes_per_replica != 1 else ''}: TP={candidate.tensor_parallel} "
        f"PP={candidate.pipeline_parallel} DP={candidate.data_parallel}"
    )
    return text + (" EP=on" if candidate.expert_parallel else "")


def plan_to_table(plan: Plan) -> str:
    """Human text: summary, memory per GPU in GiB, reasons, top rejected alternatives."""
    lines = [
        f"Model:         {plan.model_id}",
        f"Engine:        {plan.engine.value}",
        f"Feasible:      {'yes' if plan.feasible else 'no'}",
        f"Layout:        {describe_layout(plan.chosen) if plan.chosen else '-'}",
        f"Weights dtype: {plan.quantization}",
        f"Max model len: {plan.max_model_len if plan.max_model_len is not None else '-'}",
        f"Sequences:     {plan.concurrency_at_max_len if plan.concurrency_at_max_len is not None else '-'} at max model len",
        f"Estimated:     {'yes (SizingEstimated)' if plan.estimated else 'no'}",
        f"KV per token:  {plan.kv_bytes_per_token if plan.kv_bytes_per_token is not None else '-'} bytes",
    ]
    if plan.memory is not None:
        m = plan.memory
        lines += [
            "",
            "Memory per GPU:",
            f"  weights   {_gib(m.weights)}",
            f"  KV cache  {_gib(m.kv_cache)}",
            f"  overhead  {_gib(m.overhead)}",
            f"  free      {_gib(m.free)}",
            f"  usable    {_gib(m.usable)}",
        ]
    lines += ["", "Reasons:"] + [f"  - {reason}" for reason in plan.reasons]
    if plan.rejected:
        shown = plan.rejected[:TABLE_REJECTED]
        lines += ["", f"Rejected alternatives ({len(shown)} of {len(plan.rejected)}):"]
        lines += [f"  - {describe_layout(r.candidate)}: {r.reason}" for r in shown]
    return "\n".join(lines) + "\n"
