"""`make demo`: the operator on a local cluster with a simulated GPU fleet, serving seed-model examples.

Starts the control plane (building what is missing) with the LeaderWorkerSet controller, installs the CRD, runs `modelfleet run`, applies
several examples, prints `kubectl get md -o wide` with the reason each model that is not Healthy is
not, and one `kubectl describe md`, then rolls a new model version out through its canary steps, and
shuts everything down (``--keep`` leaves it running).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import signal
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

from testbed.cluster import REPO, LocalCluster
from testbed.operator_process import OperatorProcess, install_crds
from testbed.progress import Progress
from testbed.wait import wait_for

EXAMPLES = REPO / "manifests" / "examples"
# Examples that together fit the simulated fleet, plus two that show a refusal and an unknown model.
DEMO_EXAMPLES = (
    "qwen3.5-9b.yaml",
    "gemma-4-31b.yaml",
    "deepseek-v4-flash.yaml",
    "minimax-m2.7.yaml",
    "llama-5.yaml",
)
CANARY = {
    "apiVersion": "modelfleet.io/v1alpha1",
    "kind": "ModelDeployment",
    "metadata": {"name": "qwen-canary", "namespace": "llm"},
    "spec": {
        "model": {"id": "Qwen/Qwen3.5-9B", "revision": "v1"},
        "accelerator": {"type": "L4"},
        "replicas": 2,
        "serving": {"maxModelLen": 8192},
        "rollout": {
            "canary": {
                "steps": [{"setWeight": 50}, {"pause": {"duration": "10s"}}],
                "trafficRouting": {"provider": "replicas"},
            }
        },
    },
}


# The condition that explains a model that is not Healthy, first match wins: what blocks it outright
# (licence, placement), then what it lacks while serving (Degraded, a stalled rollout, readiness).
EXPLAINING_CONDITIONS = (
    ("LicenseAccepted", "False"),
    ("Schedulable", "False"),
    ("Degraded", "True"),
    ("Progressing", "False"),
    ("Ready", "False"),
    ("Progressing", "True"),
)


def why_not_healthy(status: dict[str, Any]) -> str:
    """`Reason: message` of the first condition that explains the phase, else the status message.

    >>> why_not_healthy({"phase": "Failed", "conditions": [
    ...     {"type": "Ready", "status": "False", "reason": "ReplicasNotReady", "message": "0/1 ready"},
    ...     {"type": "LicenseAccepted", "status": "False", "reason": "LicenseRefused", "message": "non-commercial"}]})
    'LicenseRefused: non-commercial'
    >>> why_not_healthy({"phase": "Pending", "message": "waiting for GPUs"})
    'waiting for GPUs'
    """
    conditions = {c.get("type"): c for c in status.get("conditions") or []}
    for condition_type, wanted in EXPLAINING_CONDITIONS:
        condition = conditions.get(condition_type) or {}
        if condition.get("status") == wanted and condition.get("message"):
            reason = condition.get("reason")
            return f"{reason}: {condition['message']}" if reason else condition["message"]
    return status.get("message") or f"phase {status.get('phase') or 'not set yet'}"


def explanations(statuses: dict[str, dict[str, Any]]) -> list[str]:
    """One line per model that is not Healthy: its name, phase and why, in the order given."""
    rows = [(name, s.get("phase") or "-", why_not_healthy(s)) for name, s in statuses.items()]
    rows = [row for row in rows if row[1] != "Healthy"]
    width = max((len(name) for name, _, _ in rows), default=0)
    return [f"  {name:<{width}}  {phase:<11} {why}" for name, phase, why in rows]


# The sections of the run, for its progress lines: cluster, examples, the three views, the canary.
DEMO_SECTIONS = 6


def section_line(line: str) -> None:
    print(f"\n=== {line}", flush=True)


def md_status(cluster: LocalCluster, namespace: str, name: str) -> dict[str, Any]:
    out = cluster.kubectl("get", "md", name, "-n", namespace, "-o", "json", check=False)
    return json.loads(out.stdout).get("status", {}) if out.returncode == 0 else {}


def show_canary(cluster: LocalCluster, timeout: float = 180) -> float:
    """Apply v1, wait until Healthy, roll out v2 and print each step; returns the canary's seconds."""
    cluster.kubectl("apply", "--server-side", "-f", "-", input=json.dumps(CANARY))
    wait_for(
        lambda: md_status(cluster, "llm", "qwen-canary").get("phase") == "Healthy", "v1 Healthy", timeout=120
    )
    v2 = json.loads(json.dumps(CANARY))
    v2["spec"]["model"]["revision"] = "v2"
    cluster.kubectl("apply", "--server-side", "-f", "-", input=json.dumps(v2))
    started, last = time.monotonic(), None
    deadline = started + timeout
    steps = len(CANARY["spec"]["rollout"]["canary"]["steps"])
    while time.monotonic() < deadline:
        status = md_status(cluster, "llm", "qwen-canary")
        rollout = status.get("rollout") or {}
        done = rollout.get("step")
        line = (
            f"phase={status.get('phase')} steps done={'-' if done is None else f'{min(done, steps)}/{steps}'} "
            f"weight={rollout.get('weight')} "
            f"revisions={status.get('revisions')} {rollout.get('message') or ''}"
        )
        if line != last:
            print(f"  +{time.monotonic() - started:5.1f}s  {line}", flush=True)
            last = line
        if (
            status.get("phase") == "Healthy"
            and not (status.get("revisions") or {}).get("canary")
            and rollout.get("step") is None
            and time.monotonic() - started > 2
        ):
            break
        time.sleep(0.5)
    return time.monotonic() - started


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="make demo", description=__doc__.split("\n")[0])
    parser.add_argument("--keep", action="store_true", help="keep the cluster and operator running")
    args = parser.parse_args(argv)
    workdir = Path(tempfile.mkdtemp(prefix="modelfleet-demo-"))
    progress = Progress(DEMO_SECTIONS, say=section_line)
    section = progress.begin
    with LocalCluster(lws_controller=True) as cluster:  # multi-node examples become real pod groups
        operator = OperatorProcess(cluster, workdir)
        try:
            section(f"local cluster up in {cluster.startup_seconds:.1f}s; simulated GPU nodes")
            print(
                cluster.kubectl(
                    "get", "nodes", "-L", "nvidia.com/gpu.product,amd.com/gpu.product-name"
                ).stdout
            )
            install_crds(cluster)
            operator.start()
            section("applying seed-model examples")
            cluster.kubectl("create", "namespace", "llm", check=False)
            wait_for(
                lambda: cluster.kubectl("get", "sa", "default", "-n", "llm", check=False).returncode == 0,
                "namespace llm",
            )
            names = []
            for example in DEMO_EXAMPLES:
                path = EXAMPLES / example
                if not path.exists():
                    print(f"  (missing example {example})")
                    continue
                names.append(yaml.safe_load(path.read_text())["metadata"]["name"])
                print(cluster.kubectl("apply", "--server-side", "-f", str(path)).stdout.strip())
            wait_for(
                lambda: all(md_status(cluster, "llm", n).get("observedGeneration") for n in names),
                "every example reconciled",
                timeout=120,
            )
            with contextlib.suppress(AssertionError):
                wait_for(
                    lambda: all(md_status(cluster, "llm", n).get("phase") != "Progressing" for n in names),
                    "rollouts to settle",
                    timeout=60,
                )
            section("kubectl get md -o wide -n llm")
            print(cluster.kubectl("get", "md", "-o", "wide", "-n", "llm").stdout)
            unexplained = explanations({n: md_status(cluster, "llm", n) for n in names})
            if unexplained:
                print("Not Healthy, and why (the condition that explains it):")
                print("\n".join(unexplained))
            shown = next(
                (n for n in names if md_status(cluster, "llm", n).get("phase") == "Healthy"), names[0]
            )
            section(f"kubectl describe md {shown}")
            print(cluster.kubectl("describe", "md", shown, "-n", "llm").stdout)
            section("kubectl get pods -n llm -o wide")
            print(cluster.kubectl("get", "pods", "-n", "llm", "-o", "wide").stdout)
            section("canary rollout of a new model revision (steps: 50% -> pause 10s -> promote)")
            seconds = show_canary(cluster)
            print(f"canary rolled out in {seconds:.1f}s")
            print(cluster.kubectl("get", "md", "-n", "llm").stdout)
            progress.finish("demo done")
            if args.keep:
                section_line("running; Ctrl-C stops everything")
                print(f"export KUBECONFIG={cluster.kubeconfig}", flush=True)
                with contextlib.suppress(KeyboardInterrupt):
                    signal.pause()
        finally:
            operator.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
