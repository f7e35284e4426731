"""The plan as status stores it, and back: a running ModelDeployment keeps its plan (pure).

Planning with `accelerator.type: auto` looks at free capacity, which the ModelDeployment's own pods
change. Re-planning every pass could flip the GPU type and roll out a new revision for nothing, so
the plan is kept in status with a hash of the spec fields it came from, and reused while they hold.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from modelfleet.api import ModelDeploymentSpec, PlanStatus
from modelfleet.planner.types import Candidate, MemoryPerGpu, Plan


def plan_inputs_hash(spec: ModelDeploymentSpec, files_commit: str | None = None) -> str:
    """Hash of every spec field the planner reads (model, engine, serving, accelerator), not replicas,
    and of the commit whose files gave the model's facts (facts read from another commit: plan again)."""
    relevant: dict[str, Any] = {
        "model": spec.model.model_dump(mode="json", exclude={"license_accepted", "source", "revision"}),
        "engine": spec.engine.name.value,
        "serving": spec.serving.model_dump(mode="json"),
        "accelerator": spec.accelerator.model_dump(mode="json"),
    }
    if files_commit is not None:
        relevant["modelFiles"] = files_commit
    return hashlib.sha256(json.dumps(relevant, sort_keys=True).encode()).hexdigest()[:16]


def plan_to_status(plan: Plan, inputs_hash: str | None) -> dict[str, Any]:
    chosen, memory = plan.chosen, plan.memory
    status = PlanStatus(
        feasible=plan.feasible,
        gpu_type=chosen.gpu_type if chosen else None,
        gpus_per_replica=chosen.gpus_per_replica if chosen else None,
        nodes_per_replica=chosen.nodes_per_replica if chosen else None,
        tensor_parallel=chosen.tensor_parallel if chosen else None,
        pipeline_parallel=chosen.pipeline_parallel if chosen else None,
        data_parallel=chosen.data_parallel if chosen else None,
        expert_parallel=chosen.expert_parallel if chosen else None,
        quantization=plan.quantization,
        max_model_len=plan.max_model_len,
        concurrency_at_max_len=plan.concurrency_at_max_len,
        estimated=plan.estimated or None,
        assumptions=list(plan.assumptions)[:16],
        kv_bytes_per_token=plan.kv_bytes_per_token,
        memory={
            "weights_bytes": memory.weights,
            "kv_cache_bytes": memory.kv_cache,
            "overhead_bytes": memory.overhead,
            "usable_bytes": memory.usable,
        }
        if memory
        else None,
        summary=summary(plan),
        reasons=list(plan.reasons)[:32],
        inputs_hash=inputs_hash,
    )
    return status.model_dump(by_alias=True, exclude_none=True, mode="json")


def plan_from_status(stored: PlanStatus | None, inputs_hash: str, spec: ModelDeploymentSpec) -> Plan | None:
    """The stored plan when it was made from the same inputs and is complete; else None (plan again)."""
    if stored is None or not stored.feasible or stored.inputs_hash != inputs_hash:
        return None
    needed = (
        stored.gpu_type,
        stored.gpus_per_replica,
        stored.nodes_per_replica,
        stored.tensor_parallel,
        stored.pipeline_parallel,
        stored.memory,
        stored.quantization,
    )
    if any(v is None for v in needed):
        return None
    assert stored.memory is not None
    return Plan(
        feasible=True,
        model_id=spec.model.id,
        engine=spec.engine.name,
        quantization=str(stored.quantization),
        max_model_len=stored.max_model_len,
        chosen=Candidate(
            gpu_type=str(stored.gpu_type),
            gpus_per_replica=int(stored.gpus_per_replica or 0),
            nodes_per_replica=int(stored.nodes_per_replica or 0),
            tensor_parallel=int(stored.tensor_parallel or 0),
            pipeline_parallel=int(stored.pipeline_parallel or 0),
            data_parallel=stored.data_parallel or 1,
            expert_parallel=bool(stored.expert_parallel),
        ),
        memory=MemoryPerGpu(
            weights=stored.memory.weights_bytes,
            kv_cache=stored.memory.kv_cache_bytes,
            overhead=stored.memory.overhead_bytes,
            usable=stored.memory.usable_bytes,
        ),
        kv_bytes_per_token=stored.kv_bytes_per_token,
        reasons=tuple(stored.reasons),
        concurrency_at_max_len=stored.concurrency_at_max_len,
        assumptions=tuple(stored.assumptions),
    )


def summary(plan: Plan) -> str | None:
    """'8 x H200 (1 node), TP=8 PP=1, fp8' — the line `kubectl describe` and events show."""
    c = plan.chosen
    if c is None:
        return None
    nodes = f"{c.nodes_per_replica} node{'s' if c.nodes_per_replica > 1 else ''}"
    ep = ", EP" if c.expert_parallel else ""
    return f"{c.gpus_per_replica} x {c.gpu_type} ({nodes}), TP={c.tensor_parallel} PP={c.pipeline_parallel}{ep}, {plan.quantization}"
