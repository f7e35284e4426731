"""Security properties checked on the real API server: what the engine pods run with, the operator pod
under the restricted Pod Security Standard, secrets never echoed, and an RBAC role with no read of
Secrets."""

from __future__ import annotations

import base64
import json
import subprocess
from collections.abc import Iterator
from typing import Any

import pytest
import yaml

from testbed.cluster import REPO, LocalCluster
from tests.integration.kube import make_namespace, wait_for_a_whole_pass
from tests.reliability.conftest import Rig
from tests.reliability.helpers import apply, canary_md, patch_spec, wait_rolled_out

pytestmark = pytest.mark.cluster
CHART = REPO / "charts" / "modelfleet"
NS = "rel-secrets"
# A fake token with a shape no other string in the system has; its base64 form is checked too.
FAKE_TOKEN = "hf_RELIABILITYfakeTOKEN0123456789abcdef"


def helm_template(cluster: LocalCluster, release: str, namespace: str, *values: str) -> list[dict[str, Any]]:
    args = [cluster.bin("helm"), "template", release, str(CHART), "--namespace", namespace]
    for value in values:
        args += ["--set", value]
    out = subprocess.run(args, capture_output=True, text=True, check=True, timeout=60)
    return [doc for doc in yaml.safe_load_all(out.stdout) if doc]


def of_kind(docs: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [d for d in docs if d.get("kind") == kind]


# ---- the engine pods ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def token_rollout(rig: Rig) -> Iterator[dict[str, Any]]:
    """A ModelDeployment reading a token Secret, driven through create -> scale -> new revision; yields
    every status it went through and the pods it ran, and deletes it at the end."""
    cluster = rig.cluster
    cluster.kubectl("create", "secret", "generic", "hf-token", "-n", NS, f"--from-literal=token={FAKE_TOKEN}")
    statuses: list[dict[str, Any]] = []
    pods: list[dict[str, Any]] = []
    name = "gated"
    try:
        apply(
            cluster, canary_md(name, NS, revision="r1", replicas=1, gpu="H100-80GB", token_secret="hf-token")
        )
        for revision, replicas, change in (
            ("r1", 1, None),
            ("r1", 2, {"replicas": 2}),
            ("r2", 2, {"model": {"revision": "r2"}}),
        ):
            if change:
                patch_spec(cluster, NS, name, change)
            wait_rolled_out(rig.reader, NS, name, revision, replicas, timeout=90)
            statuses.append(rig.reader.md(NS, name)["status"])
            pods += rig.reader.items(f"/api/v1/namespaces/{NS}/pods", f"modelfleet.io/name={name}")
        yield {"statuses": statuses, "pods": pods}
    finally:
        cluster.kubectl("delete", "md", name, "-n", NS, "--wait=true", "--timeout=60s", check=False)


def test_engine_pods_run_without_a_token_privileges_or_capabilities(token_rollout: dict[str, Any]) -> None:
    pods = token_rollout["pods"]
    assert pods
    for pod in pods:
        spec, name = pod["spec"], pod["metadata"]["name"]
        assert spec["automountServiceAccountToken"] is False, name
        assert not any(v.get("projected") or v.get("secret") for v in spec.get("volumes", [])), name
        assert (spec.get("securityContext") or {}).get("seccompProfile", {}).get(
            "type"
        ) == "RuntimeDefault", name
        assert not (spec.get("hostNetwork") or spec.get("hostPID") or spec.get("hostIPC")), name
        for container in spec["containers"] + spec.get("initContainers", []):
            context = container.get("securityContext") or {}
            assert context.get("allowPrivilegeEscalation") is False, (name, container["name"])
            assert "ALL" in (context.get("capabilities") or {}).get("drop", []), (name, container["name"])
            assert not context.get("privileged"), (name, container["name"])
            assert not (context.get("capabilities") or {}).get("add"), (name, container["name"])
            token_env = [e for e in container.get("env", []) if e["name"] == "HF_TOKEN"]
            assert token_env and "value" not in token_env[0], "the token is passed by secretKeyRef only"
            assert token_env[0]["valueFrom"]["secretKeyRef"] == {"name": "hf-token", "key": "token"}


def test_engine_pods_are_admitted_where_baseline_pod_security_is_enforced(
    rig: Rig, token_rollout: dict[str, Any]
) -> None:
    """The engine images run as root (docs/engines.md), so restricted is out of reach; baseline is not."""
    namespace = "rel-psa-baseline"
    make_namespace(rig.cluster, namespace)
    rig.cluster.kubectl(
        "label", "namespace", namespace, "pod-security.kubernetes.io/enforce=baseline", "--overwrite"
    )
    pod = token_rollout["pods"][0]
    copy = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "engine-copy", "namespace": namespace},
        "spec": {k: v for k, v in pod["spec"].items() if k not in ("nodeName",)},
    }
    out = rig.cluster.kubectl("create", "--dry-run=server", "-f", "-", input=json.dumps(copy), check=False)
    assert out.returncode == 0, out.stderr


# ---- the operator pod ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def restricted_namespace(rig: Rig) -> str:
    namespace = "rel-psa-restricted"
    make_namespace(rig.cluster, namespace)
    rig.cluster.kubectl(
        "label",
        "namespace",
        namespace,
        "pod-security.kubernetes.io/enforce=restricted",
        "pod-security.kubernetes.io/enforce-version=latest",
        "--overwrite",
    )
    return namespace


def operator_pod(rig: Rig, namespace: str) -> dict[str, Any]:
    """The chart's operator Deployment, as the Pod its ReplicaSet would create; its ServiceAccount exists."""
    docs = helm_template(rig.cluster, "psa", namespace)
    [deployment] = of_kind(docs, "Deployment")
    for account in of_kind(docs, "ServiceAccount"):
        apply(rig.cluster, account)
    template = deployment["spec"]["template"]
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "operator", "namespace": namespace, "labels": template["metadata"]["labels"]},
        "spec": template["spec"],
    }


def test_the_charts_operator_pod_is_admitted_under_restricted_pod_security(
    rig: Rig, restricted_namespace: str
) -> None:
    pod = operator_pod(rig, restricted_namespace)
    out = rig.cluster.kubectl("create", "--dry-run=server", "-f", "-", input=json.dumps(pod), check=False)
    assert out.returncode == 0, out.stderr
    assert "Warning" not in out.stderr, out.stderr


@pytest.mark.parametrize(
    ("change", "named"),
    [
        ({"privileged": True, "allowPrivilegeEscalation": True}, "privileged"),
        ({"allowPrivilegeEscalation": True}, "allowPrivilegeEscalation"),
        ({"capabilities": {"drop": []}}, "capabilities"),
        ({"runAsNonRoot": False, "runAsUser": 0}, "runAsNonRoot"),
    ],
)
def test_a_weakened_operator_pod_is_refused_under_restricted_pod_security(
    rig: Rig, restricted_namespace: str, change: dict[str, Any], named: str
) -> None:
    pod = operator_pod(rig, restricted_namespace)
    pod["spec"]["containers"][0]["securityContext"].update(change)
    out = rig.cluster.kubectl("create", "--dry-run=server", "-f", "-", input=json.dumps(pod), check=False)
    assert out.returncode != 0 and 'violates PodSecurity "restricted' in out.stderr, out.stderr
    assert named in out.stderr, out.stderr
    # The same pod in a namespace without the label is valid: the refusal above is Pod Security's.
    pod["metadata"]["namespace"] = NS
    pod["spec"]["serviceAccountName"] = "default"
    out = rig.cluster.kubectl("create", "--dry-run=server", "-f", "-", input=json.dumps(pod), check=False)
    assert out.returncode == 0, out.stderr


# ---- secrets -------------------------------------------------------------------------------------------


def test_the_token_never_appears_in_logs_events_or_status(rig: Rig, token_rollout: dict[str, Any]) -> None:
    encoded = base64.b64encode(FAKE_TOKEN.encode()).decode()
    # Every pass of the rollout is done, and with it the Events it decided: a whole pass came after it.
    wait_for_a_whole_pass(rig.operator, NS, "gated")
    places = {
        "operator log": rig.operator.log(),
        "events": json.dumps(rig.reader.items("/api/v1/events")),
        "statuses": json.dumps(token_rollout["statuses"]),
        "engine pods": json.dumps(token_rollout["pods"]),
    }
    assert "hf-token" in places["engine pods"], "the pods did reference the Secret (so the test can fail)"
    for where, text in places.items():
        assert FAKE_TOKEN not in text and encoded not in text, f"the token leaked into the {where}"


@pytest.mark.parametrize(
    ("values", "may_get"),
    [
        ((), True),
        (("watchNamespaces={rel-secrets}",), True),
        (("config.modelDiscovery.enabled=false",), False),
    ],
    ids=["cluster-wide", "namespaced", "discovery-off"],
)
def test_the_operators_role_never_lists_secrets_and_gets_one_by_name_only_for_model_discovery(
    rig: Rig, values: tuple[str, ...], may_get: bool
) -> None:
    """Model discovery reads the token Secret a spec names, by name: `get`, never `list` or `watch`
    (which would hand the operator every Secret's content), and nothing at all with discovery off."""
    release = "rbac-check"
    docs = helm_template(rig.cluster, release, NS, *values)
    rbac = [
        d
        for d in docs
        if d["kind"] in ("ClusterRole", "Role", "ClusterRoleBinding", "RoleBinding", "ServiceAccount")
    ]
    secret_rules = [
        r
        for role in rbac
        if role["kind"] in ("ClusterRole", "Role")
        for r in role.get("rules", [])
        if {"secrets", "*"} & set(r.get("resources", [])) and "" in r.get("apiGroups", [])
    ]
    for rule in secret_rules:
        assert set(rule["verbs"]) == {"get"} and rule["resources"] == ["secrets"], rule
    assert bool(secret_rules) is may_get
    [account] = [d for d in rbac if d["kind"] == "ServiceAccount"]
    user = f"system:serviceaccount:{NS}:{account['metadata']['name']}"
    try:
        for obj in rbac:
            apply(rig.cluster, obj)

        def can(verb: str, resource: str) -> bool:
            out = rig.cluster.kubectl("auth", "can-i", verb, resource, "-n", NS, f"--as={user}", check=False)
            return out.stdout.strip() == "yes"

        assert can("list", "modeldeployments.modelfleet.io"), "the role is bound (so the test can fail)"
        for verb in ("list", "watch"):
            assert not can(verb, "secrets"), f"the operator may {verb} secrets"
        assert can("get", "secrets") is may_get
    finally:
        for obj in rbac:
            kind, meta = obj["kind"].lower(), obj["metadata"]
            namespace = ["-n", meta["namespace"]] if meta.get("namespace") else []
            rig.cluster.kubectl("delete", kind, meta["name"], *namespace, "--ignore-not-found", check=False)
