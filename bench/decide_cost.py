"""CPU per reconcile pass spent in the pure decision, on a fleet-sized inventory (no cluster).

    python -m bench.decide_cost [--passes 300] [--pods 1000] [--nodes 160]

Two passes matter at fleet scale: the *first* pass of a new ModelDeployment (plan, render, status) and
the *steady* pass of an unchanged one (what every resync costs: with 1,000 ModelDeployments and
``resyncSeconds: 300`` the operator makes ~3 of them per second for nothing). Both are timed with the
GPU inventory the benchmark fleet has at N = 1,000 (160 nodes, 1,000 one-GPU pods). A first pass
starts with an empty render memo (the context's ``RenderMemo``: it renders); a steady pass finds its
objects there, as in the operator.
"""

from __future__ import annotations

import argparse
import copy
import json
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bench.workload import spec as bench_spec
from modelfleet.catalog.license import LicensePolicy
from modelfleet.decide import Context, Decision, Observed, decide
from modelfleet.decide.inventory import Inventory, NodeGpus, PodGpus
from modelfleet.decide.observed import child_summary
from modelfleet.render.config import OperatorConfig

NOW = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)
CONTEXT = Context(license_policy=LicensePolicy(), render=OperatorConfig(), gateway_api=True)


def inventory(nodes: int, pods: int) -> Inventory:
    """The benchmark fleet's GPU inventory, built once as the operator builds it once per change."""
    node_list = tuple(
        NodeGpus(f"bench-h100-{i}", "H100-80GB", "NVIDIA-H100-80GB-HBM3", "nvidia.com/gpu", 8, True)
        for i in range(nodes)
    )
    pod_list = tuple(
        PodGpus(f"bench-h100-{i % nodes}", "nvidia.com/gpu", 1, f"bench-{i % 10}/md-{i:05d}")
        for i in range(pods)
    )
    return Inventory(node_list, pod_list)


def observed(
    status: dict[str, Any],
    children: tuple[Any, ...],
    gpus: Inventory,
    now: datetime,
) -> Observed:
    return Observed(
        name="md-00000",
        namespace="bench-0",
        uid="uid-1",
        generation=1,
        annotations={},
        spec=bench_spec(1),
        status=status,
        children=children,
        pods=(),
        inventory=gpus,
        now=now,
    )


def as_children(decision: Decision) -> tuple[Any, ...]:
    """What the indexes show once the decision's objects exist, with every replica Ready."""
    out = []
    for obj in decision.apply:
        obj = copy.deepcopy(obj)
        obj["metadata"].update(uid=f"uid-{obj['metadata']['name']}", generation=1)
        if obj["kind"] == "Deployment":
            n = obj["spec"]["replicas"]
            obj["status"] = {"observedGeneration": 1, "readyReplicas": n, "updatedReplicas": n}
        out.append(child_summary(obj))
    return tuple(out)


def steady_input(gpus: Inventory) -> Observed:
    """A ModelDeployment whose status and children already match: a pass that should change nothing."""
    decision = decide(observed({}, (), gpus, NOW), CONTEXT)
    children = as_children(decision)
    for i in range(4):
        decision = decide(observed(decision.status, children, gpus, NOW + timedelta(seconds=i)), CONTEXT)
    return observed(decision.status, children, gpus, NOW + timedelta(seconds=10))


def per_pass_ms(make: Callable[[], Observed], passes: int, empty_memo: bool = False) -> float:
    """CPU milliseconds per ``decide``; `empty_memo`: each pass starts with nothing rendered yet."""
    inputs = [make() for _ in range(passes)]
    spent = 0.0
    for obs in inputs:
        if empty_memo:
            CONTEXT.memo.clear()
        started = time.process_time()
        decide(obs, CONTEXT)
        spent += time.process_time() - started
    return spent / passes * 1000


def measure(passes: int, nodes: int, pods: int) -> dict[str, float]:
    gpus = inventory(nodes, pods)
    steady = steady_input(gpus)
    assert not decide(steady, CONTEXT).apply, "the steady input must need no apply"
    return {
        "first pass": per_pass_ms(lambda: observed({}, (), gpus, NOW), passes, empty_memo=True),
        "steady pass": per_pass_ms(lambda: steady, passes),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--passes", type=int, default=300)
    parser.add_argument("--nodes", type=int, default=160)
    parser.add_argument("--pods", type=int, default=1000)
    parser.add_argument("--json", action="store_true", help="print {pass: ms} as JSON")
    args = parser.parse_args(argv)
    results = measure(args.passes, args.nodes, args.pods)
    if args.json:
        print(json.dumps(results))
        return 0
    for name, ms in results.items():
        print(f"decide(), {name}: {ms:.2f} ms CPU ({args.nodes} nodes, {args.pods} GPU pods)")
    return 0


def run_subprocess(passes: int, env: dict[str, str] | None = None) -> dict[str, float]:
    """``measure`` in a fresh interpreter importing the operator code `env` points at."""
    command = [sys.executable, "-m", "bench.decide_cost", "--json", "--passes", str(passes)]
    out = subprocess.run(
        command, capture_output=True, text=True, check=True, cwd=Path(__file__).resolve().parents[1], env=env
    )
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


if __name__ == "__main__":
    sys.exit(main())
