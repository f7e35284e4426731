"""Plans per second over a mix of catalog models, GPU choices and engines.

    python bench/plan_throughput.py [--seconds 3] [--processes 2]

The mix: every catalog model x every engine x (auto, H100-80GB, H200, A100-80GB, L4, MI300X, B200),
default serving goals. The target is >= 10,000 plans/s on 2 cores. One process uses one core, so the
figure that matters is plans per CPU-second (process time), which a busy machine does not distort;
wall-clock plans/s is printed next to it.
"""

from __future__ import annotations

import argparse
import multiprocessing
import sys
import time
from dataclasses import dataclass

from modelfleet.catalog import gpu_catalog, model_catalog
from modelfleet.catalog.types import ModelFacts
from modelfleet.planner import Engine, PlanRequest, plan

GPU_CHOICES = (None, "H100-80GB", "H200", "A100-80GB", "L4", "MI300X", "B200")


def workload() -> list[tuple[PlanRequest, ModelFacts]]:
    """The request mix, built once (catalog loading is not part of what is measured)."""
    gpus = gpu_catalog()
    return [
        (PlanRequest(model.id, engine=engine, gpu=gpu), model)
        for model in model_catalog().values()
        for engine in Engine
        for gpu in GPU_CHOICES
        if gpu is None or gpu in gpus
    ]


@dataclass(frozen=True)
class Result:
    plans: int
    wall_seconds: float
    cpu_seconds: float
    feasible: int

    @property
    def per_cpu_second(self) -> float:
        return self.plans / max(self.cpu_seconds, 1e-9)

    @property
    def per_wall_second(self) -> float:
        return self.plans / max(self.wall_seconds, 1e-9)


def run(seconds: float = 3.0, max_plans: int | None = None) -> Result:
    """Plan the mix round-robin for about ``seconds`` of CPU time, or exactly ``max_plans`` plans."""
    gpus = gpu_catalog()
    mix = workload()
    plans = feasible = 0
    wall, cpu = time.perf_counter(), time.process_time()
    while True:
        for request, model in mix:
            feasible += plan(request, model, gpus).feasible
            plans += 1
            if max_plans is not None and plans >= max_plans:
                return Result(plans, time.perf_counter() - wall, time.process_time() - cpu, feasible)
        if max_plans is None and time.process_time() - cpu >= seconds:
            return Result(plans, time.perf_counter() - wall, time.process_time() - cpu, feasible)


def run_parallel(processes: int, seconds: float) -> Result:
    """``processes`` independent runs at once (one per core); plans add up, wall time is the longest."""
    with multiprocessing.get_context("spawn").Pool(processes) as pool:
        results = pool.map(run, [seconds] * processes)
    return Result(
        plans=sum(r.plans for r in results),
        wall_seconds=max(r.wall_seconds for r in results),
        cpu_seconds=max(r.cpu_seconds for r in results),
        feasible=sum(r.feasible for r in results),
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--seconds", type=float, default=3.0, help="CPU seconds to run (per process)")
    parser.add_argument("--processes", type=int, default=1, help="parallel processes, e.g. 2 for 2 cores")
    args = parser.parse_args(argv)
    result = run(args.seconds) if args.processes <= 1 else run_parallel(args.processes, args.seconds)
    scope = "per core" if args.processes <= 1 else f"aggregate over {args.processes} processes"
    print(
        f"{result.per_cpu_second:,.0f} plans/s {scope} (CPU time), {result.per_wall_second:,.0f} plans/s wall "
        f"({result.plans} plans, {len(workload())} distinct requests, {result.feasible / result.plans:.0%} feasible)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
