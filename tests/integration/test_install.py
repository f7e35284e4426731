"""The plain install: manifests/install.yaml is the chart rendered with its default values (re-rendered
here with the testbed's helm and compared), and `kubectl apply --server-side` of it works on the API
server, with the operator pod admitted under the "restricted" Pod Security Standard.

The CRD is left in place afterwards: other tests share this cluster, and deleting the CRD would
delete their ModelDeployments.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from hack import gen_install_manifest

from testbed import cluster as testbed_cluster
from testbed.cluster import REPO, LocalCluster
from tests.integration.kube import get_json, get_or_none, wait_for

pytestmark = pytest.mark.cluster
INSTALL = REPO / "manifests" / "install.yaml"
NAMESPACE = "modelfleet-system"


def documents() -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(INSTALL.read_text()) if d]


def test_install_manifest_is_the_chart_rendered_with_default_values() -> None:
    helm = str(Path(testbed_cluster.testbed_root()) / "bin" / "helm")  # the version the cluster tests use
    files = gen_install_manifest.install_manifest(helm)
    assert gen_install_manifest.drifted(files) == [], (
        "run `make install-manifests` (hack/gen_install_manifest.py)"
    )


def test_install_manifest_holds_the_namespace_crd_rbac_and_the_operator() -> None:
    kinds = [d["kind"] for d in documents()]
    assert kinds[0] == "Namespace", "the namespace must exist before anything in it"
    assert sorted(kinds) == sorted(
        [
            "Namespace",
            "ServiceAccount",
            "ConfigMap",
            "CustomResourceDefinition",
            "ClusterRole",
            "ClusterRoleBinding",
            "Role",  # the Lease of the leader election, in the operator's namespace
            "RoleBinding",
            "Service",
            "Deployment",
        ]
    )
    [deployment] = [d for d in documents() if d["kind"] == "Deployment"]
    assert deployment["spec"]["replicas"] == 2
    [namespace] = [d for d in documents() if d["kind"] == "Namespace"]
    assert namespace["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"
    assert all(d["metadata"].get("namespace", NAMESPACE) == NAMESPACE for d in documents())


def test_plain_install_applies_server_side_and_deletes_cleanly(cluster: LocalCluster) -> None:
    out = cluster.kubectl("apply", "--server-side", "-f", str(INSTALL), timeout=120)
    assert out.stdout.count("serverside-applied") == len(documents())
    try:
        deployment = get_json(cluster, "deployment", "modelfleet", "-n", NAMESPACE)
        assert deployment["spec"]["template"]["spec"]["serviceAccountName"] == "modelfleet"
        # Admitted by PodSecurity (enforce=restricted), then faked Running by kwok (nothing executes).
        pods = wait_for(
            lambda: get_json(cluster, "pods", "-n", NAMESPACE, "-l", "app.kubernetes.io/name=modelfleet")[
                "items"
            ],
            "the operator pod",
            timeout=60,
        )
        assert pods[0]["spec"]["containers"][0]["securityContext"]["readOnlyRootFilesystem"] is True
        config = yaml.safe_load(
            get_json(cluster, "configmap", "modelfleet", "-n", NAMESPACE)["data"]["config.yaml"]
        )
        assert config["metrics"] == {"address": "0.0.0.0", "port": 8080} and config["namespaces"] == []
        assert config["leaderElection"]["enabled"] is True
        assert (config["leaderElection"]["leaseName"], config["leaderElection"]["leaseNamespace"]) == (
            "modelfleet",
            NAMESPACE,
        )
        assert get_or_none(cluster, "crd", "modeldeployments.modelfleet.io") is not None
        can = cluster.kubectl(
            "auth",
            "can-i",
            "patch",
            "deployments",
            "-n",
            "default",
            f"--as=system:serviceaccount:{NAMESPACE}:modelfleet",
            check=False,
        )
        cannot = cluster.kubectl(
            "auth",
            "can-i",
            "list",  # a named token Secret may be read (model discovery); listing them may not
            "secrets",
            "-n",
            "default",
            f"--as=system:serviceaccount:{NAMESPACE}:modelfleet",
            check=False,
        )
        assert can.stdout.strip() == "yes" and cannot.stdout.strip() == "no"
    finally:
        # Everything but the CRD (see the module docstring).
        rest = [d for d in documents() if d["kind"] != "CustomResourceDefinition"]
        cluster.kubectl(
            "delete",
            "--ignore-not-found",
            "--wait=false",
            "-f",
            "-",
            input=json.dumps({"apiVersion": "v1", "kind": "List", "items": rest}),
        )
    assert get_or_none(cluster, "clusterrole", "modelfleet") is None
    assert get_or_none(cluster, "clusterrolebinding", "modelfleet") is None
    wait_for(
        lambda: get_or_none(cluster, "namespace", NAMESPACE) is None,
        f"namespace {NAMESPACE} gone",
        timeout=90,
    )
