"""ModelDeployments for the reliability tests, the user objects they must never delete, and the end
state every rollout must reach."""

from __future__ import annotations

import json
import time
from typing import Any

from testbed.cluster import LocalCluster
from tests.integration.kube import apply
from tests.reliability.invariants import InvariantChecker
from tests.reliability.reader import Reader, Unavailable

MODEL = "mistralai/Mistral-7B-Instruct-v0.3"  # one GPU per replica on every GPU type of the fleet
SHORT_STEPS: list[dict[str, Any]] = [{"setWeight": 50}, {"pause": {"duration": "3s"}}]
GATEWAY = {"provider": "gatewayAPI", "gatewayAPI": {"parentRefs": [{"name": "inference-gateway"}]}}
REPLICAS = {"provider": "replicas"}


def canary_md(
    name: str,
    namespace: str,
    *,
    revision: str = "r1",
    replicas: int = 2,
    gpu: str = "H200",
    routing: dict[str, Any] | None = None,
    token_secret: str | None = None,
) -> dict[str, Any]:
    model: dict[str, Any] = {"id": MODEL, "revision": revision}
    if token_secret:
        model["source"] = {"huggingface": {"tokenSecretRef": {"name": token_secret, "key": "token"}}}
    return {
        "apiVersion": "modelfleet.io/v1alpha1",
        "kind": "ModelDeployment",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "model": model,
            "accelerator": {"type": gpu},
            "replicas": replicas,
            "serving": {"maxModelLen": 8192},
            "rollout": {
                "canary": {"steps": SHORT_STEPS, "trafficRouting": routing or REPLICAS},
                "progressDeadline": "2m",
            },
        },
    }


def patch_spec(cluster: LocalCluster, namespace: str, name: str, spec: dict[str, Any]) -> None:
    cluster.kubectl("patch", "md", name, "-n", namespace, "--type=merge", "-p", json.dumps({"spec": spec}))


def create_user_objects(
    cluster: LocalCluster, checker: InvariantChecker, namespace: str, md_name: str
) -> None:
    """A PVC, a Secret and an HTTPRoute the user owns, labelled exactly like the operator's children."""
    labels = {"app.kubernetes.io/managed-by": "modelfleet", "modelfleet.io/name": md_name}
    meta = {"namespace": namespace, "labels": labels}
    objects = [
        {
            "apiVersion": "v1",
            "kind": "PersistentVolumeClaim",
            "metadata": {"name": f"{md_name}-cache", **meta},
            "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}},
        },
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": f"{md_name}-user-secret", **meta},
            "stringData": {"note": "owned by the user"},
        },
        {
            "apiVersion": "gateway.networking.k8s.io/v1",
            "kind": "HTTPRoute",
            "metadata": {"name": f"{md_name}-user-route", **meta},
            "spec": {
                "parentRefs": [{"name": "user-gateway"}],
                "rules": [{"backendRefs": [{"name": md_name, "port": 80}]}],
            },
        },
    ]
    for obj in objects:
        apply(cluster, obj, manager="user")
    checker.protect(f"/api/v1/namespaces/{namespace}/persistentvolumeclaims/{md_name}-cache")
    checker.protect(f"/api/v1/namespaces/{namespace}/secrets/{md_name}-user-secret")
    checker.protect(
        f"/apis/gateway.networking.k8s.io/v1/namespaces/{namespace}/httproutes/{md_name}-user-route"
    )


def status_of(reader: Reader, namespace: str, name: str) -> dict[str, Any]:
    try:
        return dict(reader.md(namespace, name).get("status") or {})
    except Unavailable:
        return {}


def rolled_out(reader: Reader, namespace: str, name: str, revision: str, replicas: int) -> str | None:
    """None when the ModelDeployment is Healthy on `revision` with one Deployment, else what is missing."""
    try:
        md = reader.md(namespace, name)
        deployments = reader.deployments(namespace, name)
    except Unavailable as error:
        return str(error)
    status, meta = md.get("status") or {}, md.get("metadata") or {}
    revisions = status.get("revisions") or {}
    problems = []
    if status.get("observedGeneration") != meta.get("generation"):
        problems.append(f"observedGeneration {status.get('observedGeneration')} != {meta.get('generation')}")
    if status.get("phase") != "Healthy" or revisions.get("canary") or not revisions.get("stable"):
        problems.append(f"phase {status.get('phase')} revisions {revisions}")
    if len(deployments) != 1:
        problems.append(f"{len(deployments)} Deployments")
    else:
        [deployment] = deployments
        labels = deployment["metadata"]["labels"]
        command = deployment["spec"]["template"]["spec"]["containers"][0].get("command", [])
        if labels.get("modelfleet.io/revision") != revisions.get("stable"):
            problems.append(f"the Deployment is revision {labels.get('modelfleet.io/revision')}")
        if f"--revision={revision}" not in command:
            problems.append(f"the Deployment does not serve model revision {revision}")
        ready = int((deployment.get("status") or {}).get("readyReplicas") or 0)
        if deployment["spec"].get("replicas") != replicas or ready != replicas:
            problems.append(f"{ready}/{deployment['spec'].get('replicas')} ready, want {replicas}")
    return "; ".join(problems) or None


def wait_rolled_out(
    reader: Reader, namespace: str, name: str, revision: str, replicas: int, timeout: float = 120
) -> float:
    """Seconds until the end state the spec dictates; fails naming what is still missing."""
    began = time.monotonic()
    problem: str | None = "not checked yet"
    while time.monotonic() - began < timeout:
        problem = rolled_out(reader, namespace, name, revision, replicas)
        if problem is None:
            return time.monotonic() - began
        time.sleep(0.25)
    raise AssertionError(
        f"{namespace}/{name} not Healthy on model revision {revision} with one Deployment "
        f"after {timeout:.0f}s: {problem}"
    )


def delete_md(cluster: LocalCluster, namespace: str, name: str) -> None:
    cluster.kubectl("delete", "md", name, "-n", namespace, "--wait=true", "--timeout=60s", check=False)


def wait_children_collected(reader: Reader, namespace: str, timeout: float = 60) -> None:
    """Every Deployment and Service with our labels in `namespace` is gone (the garbage collector's
    work once their owners are deleted)."""
    began = time.monotonic()
    left: list[str] = []
    while time.monotonic() - began < timeout:
        try:
            left = [f"deployment/{d['metadata']['name']}" for d in reader.deployments(namespace)]
            left += [f"service/{s['metadata']['name']}" for s in reader.services(namespace)]
        except Unavailable as error:
            left = [str(error)]
        if not left:
            return
        time.sleep(0.5)
    raise AssertionError(
        f"children left in {namespace} {timeout:.0f}s after their owners were deleted: {left}"
    )


def wait_canary_started(reader: Reader, namespace: str, name: str, timeout: float = 60) -> dict[str, Any]:
    """The status once a canary revision is rolling out beside the stable."""
    began = time.monotonic()
    while time.monotonic() - began < timeout:
        status = status_of(reader, namespace, name)
        if (status.get("revisions") or {}).get("canary"):
            return status
        time.sleep(0.1)
    raise AssertionError(
        f"{namespace}/{name}: no canary after {timeout:.0f}s: {status_of(reader, namespace, name)}"
    )
