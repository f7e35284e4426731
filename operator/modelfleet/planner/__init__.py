"""Pure sizing: (model facts, serving goals, GPU pool) -> Plan with memory breakdown and rejections."""

from modelfleet.planner.fit import FitResult, fit_in_inventory
from modelfleet.planner.sizing import plan
from modelfleet.planner.types import (
    Candidate,
    Engine,
    GpuPool,
    MemoryPerGpu,
    Plan,
    PlanRequest,
    Quantization,
    Rejected,
)

__all__ = [
    "Candidate",
    "Engine",
    "FitResult",
    "GpuPool",
    "MemoryPerGpu",
    "Plan",
    "PlanRequest",
    "Quantization",
    "Rejected",
    "fit_in_inventory",
    "plan",
]
