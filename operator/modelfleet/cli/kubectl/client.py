"""The plugin's only contact with the cluster: it runs ``kubectl`` itself.

Why kubectl and not the Kubernetes client: a kubectl plugin is run by kubectl, so the binary is on
PATH, and ``--kubeconfig``, ``--context``, ``-n`` and every auth plugin (exec credentials, OIDC,
cloud providers) then behave exactly as in the user's own ``kubectl`` commands; kubectl also exports
``KUBECONFIG`` and the like to plugins. It keeps the Kubernetes client and kopf out of the plugin
(the import contracts allow them in the operator's shell only) and its start-up fast.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

from modelfleet.api.conditions import ACTION_ANNOTATION
from modelfleet.cli.common import EXIT_BAD_INPUT, EXIT_INFEASIBLE, CliError
from modelfleet.cli.kubectl.snapshot import Snapshot, snapshot_from
from modelfleet.render.names import NAME_LABEL, name_label_value

RESOURCE = "modeldeployments.modelfleet.io"
LWS_RESOURCE = "leaderworkersets.leaderworkerset.x-k8s.io"
KUBECTL_ENV = "MODELFLEET_KUBECTL"  # another kubectl binary than the one on PATH
TIMEOUT_SECONDS = 30


@dataclass(frozen=True)
class Kubectl:
    """kubectl with the connection flags the user gave (none: kubectl's own defaults)."""

    kubeconfig: str | None = None
    context: str | None = None
    namespace: str | None = None

    def flags(self, namespaced: bool = True) -> list[str]:
        flags = []
        if self.kubeconfig:
            flags += ["--kubeconfig", self.kubeconfig]
        if self.context:
            flags += ["--context", self.context]
        if namespaced and self.namespace:
            flags += ["--namespace", self.namespace]
        return flags

    def in_namespace(self, namespace: str) -> Kubectl:
        return replace(self, namespace=namespace)

    def run(self, args: Sequence[str], namespaced: bool = True) -> str:
        binary = os.environ.get(KUBECTL_ENV) or shutil.which("kubectl")
        if binary is None:
            raise CliError(
                "kubectl not found on PATH (the plugin runs it to reach the cluster)", EXIT_BAD_INPUT
            )
        try:
            proc = subprocess.run(
                [binary, *self.flags(namespaced), *args],
                capture_output=True,
                text=True,
                timeout=TIMEOUT_SECONDS,
                check=False,
            )
        except subprocess.TimeoutExpired:
            raise CliError(
                f"kubectl {' '.join(args)}: no answer in {TIMEOUT_SECONDS}s", EXIT_INFEASIBLE
            ) from None
        if proc.returncode != 0:
            raise CliError(
                proc.stderr.strip().splitlines() or [f"kubectl exited {proc.returncode}"], EXIT_INFEASIBLE
            )
        return proc.stdout

    def get(self, *args: str, namespaced: bool = True) -> dict[str, Any]:
        return dict(json.loads(self.run(["get", *args, "-o", "json"], namespaced)))


def fetch(kubectl: Kubectl, name: str) -> Snapshot:
    """The ModelDeployment, its Deployments (or LeaderWorkerSets) and its pods, found by their name label."""
    md = kubectl.get(RESOURCE, name)
    namespace = md["metadata"]["namespace"]
    scoped = kubectl.in_namespace(namespace)
    selector = f"{NAME_LABEL}={name_label_value(name)}"
    children = scoped.get("deployments,pods", "-l", selector)["items"]
    plan = (md.get("status") or {}).get("plan") or {}
    if (plan.get("nodesPerReplica") or 1) > 1:  # only a multi-node replica is a LeaderWorkerSet
        children += scoped.get(LWS_RESOURCE, "-l", selector)["items"]
    workloads = [c for c in children if c.get("kind") != "Pod"]
    pods = [c for c in children if c.get("kind") == "Pod"]
    return snapshot_from(md, workloads, pods)


def list_all(kubectl: Kubectl, all_namespaces: bool) -> list[dict[str, Any]]:
    args = [RESOURCE, "--all-namespaces"] if all_namespaces else [RESOURCE]
    return list(kubectl.get(*args, namespaced=not all_namespaces)["items"])


def set_action(kubectl: Kubectl, snapshot: Snapshot, action: str) -> None:
    """The annotation the operator reads once and removes (docs/rollout.md, "Manual control")."""
    kubectl.in_namespace(snapshot.namespace).run(
        ["annotate", RESOURCE, snapshot.name, f"{ACTION_ANNOTATION}={action}", "--overwrite"]
    )
