"""The Helm chart on the real API server: lint, schema, server-side dry run, install, upgrade, uninstall,
and the operator reconciling under the chart's own ServiceAccount, with its RBAC shown sufficient
(a ModelDeployment gets to Ready) and necessary (one verb less gives a 403 and no children).

The chart's operator pod cannot run here (no container runtime: kwok fakes every pod as Running,
which is harmless: nothing executes), so the operator runs as a local process authenticated only by
a token of the chart's ServiceAccount.
"""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from modelfleet.render.names import MANAGED_BY, ROLE_LABEL, ROLE_SERVER
from testbed.cluster import REPO, LocalCluster
from testbed.hub import HubServer
from testbed.operator_process import OperatorProcess
from tests.integration.kube import apply, condition, get_json, get_or_none, make_namespace, wait_for
from tests.unit.test_hf_readers import QWEN35_9B

pytestmark = pytest.mark.cluster

CHART = REPO / "charts" / "modelfleet"
CRD_NAME = "modeldeployments.modelfleet.io"


class Helm:
    """helm with its cache, config and data under `home`, so tests never touch ~/.cache or ~/.config."""

    def __init__(self, cluster: LocalCluster, home: Path) -> None:
        self.cluster = cluster
        self.env = {
            "HOME": str(home),
            "HELM_CACHE_HOME": str(home / "cache"),
            "HELM_CONFIG_HOME": str(home / "config"),
            "HELM_DATA_HOME": str(home / "data"),
            "PATH": "/usr/bin:/bin",
        }

    def __call__(
        self, *args: str, check: bool = True, timeout: float = 300
    ) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run(
            [self.cluster.bin("helm"), "--kubeconfig", str(self.cluster.kubeconfig), *args],
            capture_output=True,
            text=True,
            env=self.env,
            timeout=timeout,
        )
        if check and proc.returncode != 0:
            raise AssertionError(f"helm {' '.join(args)} failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
        return proc

    def template(self, release: str, namespace: str, *sets: str) -> list[dict[str, Any]]:
        out = self("template", release, str(CHART), "--namespace", namespace, *sets).stdout
        return [d for d in yaml.safe_load_all(out) if d]


def set_values(**values: Any) -> list[str]:
    """--set-json flags: set_values(watchNamespaces=["a"]) -> ["--set-json", 'watchNamespaces=["a"]']."""
    flags: list[str] = []
    for key, value in values.items():
        flags += ["--set-json", f"{key.replace('__', '.')}={json.dumps(value)}"]
    return flags


def adopt_crd(cluster: LocalCluster, release: str, namespace: str) -> None:
    """Let `release` take over a CRD installed by `kubectl apply` (as other tests and the plain install
    do): Helm adopts an existing object only when it carries the release's ownership metadata."""
    if get_or_none(cluster, "crd", CRD_NAME) is None:
        return
    cluster.kubectl(
        "annotate",
        "crd",
        CRD_NAME,
        "--overwrite",
        f"meta.helm.sh/release-name={release}",
        f"meta.helm.sh/release-namespace={namespace}",
    )
    cluster.kubectl("label", "crd", CRD_NAME, "--overwrite", "app.kubernetes.io/managed-by=Helm")


# The chart's operator reads each model's config.json from the Hub; the test bed reaches no Hub but a
# loopback one, so the endpoint is a test's Hub, or a closed loopback port (reads fail, the catalog plans).
CLOSED_PORT_HUB = "http://127.0.0.1:9"
HUB_TOKEN = "hf_chart_test_token"


def chart_config(
    cluster: LocalCluster, release_fullname: str, namespace: str, hub_url: str = CLOSED_PORT_HUB
) -> dict[str, Any]:
    """The operator configuration from the chart's ConfigMap, without the in-pod metrics address
    (OperatorProcess serves metrics on a free loopback port instead), reading models from `hub_url`."""
    configmap = json.loads(
        cluster.kubectl("get", "configmap", release_fullname, "-n", namespace, "-o", "json").stdout
    )
    config = dict(yaml.safe_load(configmap["data"]["config.yaml"]))
    config.pop("metrics")
    assert config["modelDiscovery"]["enabled"] is True, "the chart reads model files by default"
    config["modelDiscovery"] = {**config["modelDiscovery"], "endpoint": hub_url}
    return config


@pytest.fixture(scope="module")
def hub() -> Iterator[HubServer]:
    """A loopback Hub where the test model is gated: reading it needs the token Secret the spec names."""
    with HubServer() as server:
        config = json.dumps(QWEN35_9B).encode()
        server.add_repo("Qwen/Qwen3.5-9B", {"config.json": config}, gated=True, tokens=(HUB_TOKEN,))
        yield server


def operator_as_service_account(
    cluster: LocalCluster, workdir: Path, service_account: str, namespace: str, config: dict[str, Any]
) -> OperatorProcess:
    """`modelfleet run` authenticated only by a token of the chart's ServiceAccount (no admin cert)."""
    token = cluster.kubectl(
        "create", "token", service_account, "-n", namespace, "--duration=2h"
    ).stdout.strip()
    kubeconfig = cluster.token_kubeconfig(token, workdir / "sa.kubeconfig")
    return OperatorProcess(cluster, workdir, config=config, kubeconfig=kubeconfig)


def model_deployment(name: str, namespace: str) -> dict[str, Any]:
    """A small model on one L4: quick to plan and schedule, one GPU of the shared fleet."""
    return {
        "apiVersion": "modelfleet.io/v1alpha1",
        "kind": "ModelDeployment",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "model": {"id": "Qwen/Qwen3.5-9B"},
            "accelerator": {"type": "L4"},
            "replicas": 1,
            "serving": {"maxModelLen": 8192},
            "rollout": {"strategy": "RollingUpdate"},
        },
    }


# kopf lists and watches CRDs (to notice new resources at run time) and, when it watches only some
# namespaces, namespaces too. The chart grants neither (the operator needs neither; see
# docs/install.md): kopf retries, logs a warning and carries on. Any other denial is a missing rule.
KOPF_SCANNING_DENIAL = re.compile(
    r'cannot (list|watch) resource \\?"(customresourcedefinitions|namespaces)\\?"'
)


DENIAL = re.compile(r"forbidden", re.IGNORECASE)  # "403" alone would match a timestamp's milliseconds


def unexpected_denials(log: str) -> list[str]:
    return [
        line for line in log.splitlines() if DENIAL.search(line) and not KOPF_SCANNING_DENIAL.search(line)
    ]


def children(cluster: LocalCluster, kind: str, namespace: str, name: str) -> list[dict[str, Any]]:
    out = cluster.kubectl("get", kind, "-n", namespace, "-l", f"modelfleet.io/name={name}", "-o", "json")
    return list(json.loads(out.stdout)["items"])


def delete_model(cluster: LocalCluster, namespace: str, name: str) -> None:
    """Delete and wait for the engine pods to go, so the GPUs return to the shared fleet."""
    cluster.kubectl(
        "delete", "md", name, "-n", namespace, "--ignore-not-found", "--wait=true", "--timeout=60s"
    )
    wait_for(
        lambda: not children(cluster, "pods", namespace, name), f"pods of {namespace}/{name} gone", timeout=60
    )


# ---- the module's release -----------------------------------------------------------------------------

RELEASE = "mf-helm"
FULLNAME = f"{RELEASE}-modelfleet"
SYSTEM_NS = "mf-helm-system"
APP_NS = "mf-helm-apps"
SCOPED_RELEASE = "mf-scoped"
SCOPED_NS = "mf-scoped-apps"


@pytest.fixture(scope="module")
def helm(cluster: LocalCluster, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Helm]:
    h = Helm(cluster, tmp_path_factory.mktemp("helm-home"))
    for namespace in (SYSTEM_NS, APP_NS, SCOPED_NS):
        make_namespace(cluster, namespace)
    # The operator pod must pass the strictest Pod Security Standard.
    cluster.kubectl(
        "label", "namespace", SYSTEM_NS, "--overwrite", "pod-security.kubernetes.io/enforce=restricted"
    )
    yield h
    for release in (RELEASE, SCOPED_RELEASE):
        h("uninstall", release, "-n", SYSTEM_NS, "--wait", check=False)
    for namespace in (APP_NS, SCOPED_NS):
        for md in get_json(cluster, "md", "-n", namespace)["items"]:
            delete_model(cluster, namespace, md["metadata"]["name"])
    cluster.kubectl("delete", "namespace", SYSTEM_NS, APP_NS, SCOPED_NS, "--wait=false", check=False)


def installed(helm: Helm) -> bool:
    return helm("status", RELEASE, "-n", SYSTEM_NS, check=False).returncode == 0


@pytest.fixture(scope="module")
def release(cluster: LocalCluster, helm: Helm) -> str:
    """The chart installed with its default values (every namespace), once for the module."""
    adopt_crd(cluster, RELEASE, SYSTEM_NS)
    helm("install", RELEASE, str(CHART), "-n", SYSTEM_NS, "--wait", "--timeout=120s")
    return RELEASE


def rules_of(cluster: LocalCluster, kind: str, name: str, *namespace: str) -> dict[str, set[str]]:
    """{"apps/deployments": {"list", ...}} for a ClusterRole or Role."""
    role = get_json(cluster, kind, name, *namespace)
    found: dict[str, set[str]] = {}
    for rule in role["rules"]:
        for group in rule["apiGroups"]:
            for resource in rule["resources"]:
                found.setdefault(f"{group}/{resource}".lstrip("/"), set()).update(rule["verbs"])
    return found


# ---- static checks through helm ----------------------------------------------------------------------


def test_chart_passes_strict_lint_in_both_rbac_modes(helm: Helm) -> None:
    for values in ([], set_values(watchNamespaces=["a", "b"], metrics__serviceMonitor__enabled=True)):
        out = helm("lint", "--strict", str(CHART), *values)
        assert "0 chart(s) failed" in out.stdout


MONITORING = {
    "metrics__serviceMonitor__enabled": True,
    "engines__podMonitor__enabled": True,
    "prometheusRule__enabled": True,
    "dashboards__enabled": True,
}
MONITORING_KINDS = {"ServiceMonitor", "PodMonitor", "PrometheusRule"}


def test_chart_passes_strict_lint_with_every_monitoring_switch_on(helm: Helm) -> None:
    for values in (set_values(**MONITORING), set_values(watchNamespaces=["a"], **MONITORING)):
        out = helm("lint", "--strict", str(CHART), *values)
        assert "0 chart(s) failed" in out.stdout


def test_monitoring_objects_are_off_by_default(helm: Helm) -> None:
    docs = helm.template("plain", SYSTEM_NS)
    assert {d["kind"] for d in docs} & MONITORING_KINDS == set()
    assert not any("grafana_dashboard" in (d["metadata"].get("labels") or {}) for d in docs)


def test_monitoring_objects_carry_the_repositorys_rules_and_dashboards(helm: Helm) -> None:
    docs = helm.template("mon", SYSTEM_NS, *set_values(watchNamespaces=[APP_NS], **MONITORING))
    by_name = {(d["kind"], d["metadata"]["name"]): d for d in docs}
    [rule] = [d for d in docs if d["kind"] == "PrometheusRule"]
    groups = [
        g
        for path in sorted((CHART / "rules").glob("*.yaml"))
        for g in yaml.safe_load(path.read_text())["groups"]
    ]
    assert rule["spec"]["groups"] == groups
    dashboards = by_name[("ConfigMap", "mon-modelfleet-dashboards")]
    assert dashboards["metadata"]["labels"]["grafana_dashboard"] == "1"
    assert dashboards["data"] == {
        f"modelfleet-{path.name}": path.read_text().rstrip("\n")
        for path in sorted((CHART / "dashboards").glob("*.json"))
    }
    engines = by_name[("PodMonitor", "mon-modelfleet-engines")]["spec"]
    assert engines["namespaceSelector"] == {"matchNames": [APP_NS]}
    assert engines["selector"]["matchLabels"] == {
        "app.kubernetes.io/managed-by": MANAGED_BY,
        ROLE_LABEL: ROLE_SERVER,
    }
    [endpoint] = engines["podMetricsEndpoints"]
    assert endpoint["relabelings"] == [
        {
            "action": "labelmap",
            "regex": "__meta_kubernetes_pod_label_modelfleet_io_(.+)",
            "replacement": "modelfleet_io_$1",
        }
    ]
    operator = by_name[("ServiceMonitor", "mon-modelfleet")]["spec"]
    assert [e["honorLabels"] for e in operator["endpoints"]] == [True]


@pytest.mark.parametrize(
    "flag, complaint",
    [
        ("bogus=1", "additional properties 'bogus' not allowed"),
        ("config.prometheus.adress=http://p:9090", "additional properties 'adress' not allowed"),
        ("operator.replicas=11", "maximum"),
        ("config.leaderElection.enabled=false", "operator.replicas > 1 needs config.leaderElection.enabled"),
        ("config.leaderElection.leaseName=x", "additional properties 'leaseName' not allowed"),
        ("image.tag=latest", "image/tag"),
        ("watchNamespaces[0]=team-*", "watchNamespaces/0"),
    ],
)
def test_schema_rejects_unknown_keys_and_unsafe_values(helm: Helm, flag: str, complaint: str) -> None:
    out = helm("template", "x", str(CHART), "--set", flag, check=False)
    assert out.returncode != 0 and complaint in out.stderr, out.stderr


def test_rendered_chart_is_accepted_by_the_api_server(cluster: LocalCluster, helm: Helm) -> None:
    for values in (
        [],
        set_values(
            watchNamespaces=[APP_NS, SCOPED_NS], gatewayApi__enabled=False, leaderWorkerSet__enabled=False
        ),
    ):
        docs = helm.template("dry", SYSTEM_NS, *values)
        out = cluster.kubectl(
            "apply",
            "--dry-run=server",
            "-f",
            "-",
            input=json.dumps({"apiVersion": "v1", "kind": "List", "items": docs}),
            check=False,
        )
        assert out.returncode == 0, out.stderr
        assert len(out.stdout.strip().splitlines()) == len(docs)


def test_namespaced_mode_uses_roles_and_a_read_only_cluster_role(helm: Helm) -> None:
    docs = helm.template("scoped", SYSTEM_NS, *set_values(watchNamespaces=["a", "b"]))
    kinds = [(d["kind"], d["metadata"].get("namespace")) for d in docs]
    assert ("Role", "a") in kinds and ("Role", "b") in kinds and ("RoleBinding", "b") in kinds
    [cluster_role] = [d for d in docs if d["kind"] == "ClusterRole"]
    assert {v for rule in cluster_role["rules"] for v in rule["verbs"]} == {"get", "list", "watch"}
    assert {r for rule in cluster_role["rules"] for r in rule["resources"]} == {
        "nodes",
        "customresourcedefinitions",
    }


# ---- install, run as the chart's identity, upgrade, uninstall ---------------------------------------------


def test_install_creates_an_operator_that_passes_restricted_pod_security(
    cluster: LocalCluster, helm: Helm, release: str
) -> None:
    deployment = get_json(cluster, "deployment", FULLNAME, "-n", SYSTEM_NS)
    # Two replicas, one leading through the Lease; a rollout replaces one pod at a time.
    assert deployment["spec"]["replicas"] == 2
    assert deployment["spec"]["strategy"] == {
        "type": "RollingUpdate",
        "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 1},
    }
    # PodSecurity admission (enforce=restricted on the namespace) admitted the pods: kwok then fakes them Running.
    pods = get_json(cluster, "pods", "-n", SYSTEM_NS, "-l", f"app.kubernetes.io/instance={release}")["items"]
    assert len(pods) == 2 and {p["spec"]["securityContext"]["runAsUser"] for p in pods} == {65532}
    crd = get_json(cluster, "crd", CRD_NAME)
    assert crd["metadata"]["annotations"]["helm.sh/resource-policy"] == "keep"
    # Secrets: get only (the token a spec names, read by name for model discovery), never list or watch.
    rules = get_json(cluster, "clusterrole", FULLNAME)["rules"]
    assert [rule["verbs"] for rule in rules if "secrets" in rule["resources"]] == [["get"]]


def test_a_privileged_pod_is_refused_in_the_same_namespace(cluster: LocalCluster, release: str) -> None:
    """The admission check above can fail: the same namespace refuses a pod without the restricted context."""
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "loose", "namespace": SYSTEM_NS},
        "spec": {"containers": [{"name": "c", "image": "busybox:1.37"}]},
    }
    out = cluster.kubectl("apply", "--dry-run=server", "-f", "-", input=json.dumps(pod), check=False)
    assert out.returncode != 0 and "violates PodSecurity" in out.stderr


def test_operator_with_the_charts_service_account_reconciles_to_ready(
    cluster: LocalCluster, release: str, hub: HubServer, tmp_path: Path
) -> None:
    operator = operator_as_service_account(
        cluster, tmp_path, FULLNAME, SYSTEM_NS, chart_config(cluster, FULLNAME, SYSTEM_NS, hub.url)
    ).start()
    secret = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "hf-token", "namespace": APP_NS},
        "stringData": {"token": HUB_TOKEN},
    }
    try:
        apply(cluster, secret)
        body = model_deployment("granted", APP_NS)
        body["spec"]["model"]["source"] = {"huggingface": {"tokenSecretRef": {"name": "hf-token"}}}
        apply(cluster, body)
        out = cluster.kubectl(
            "wait",
            "--for=condition=Ready",
            "md/granted",
            "-n",
            APP_NS,
            "--timeout=90s",
            check=False,
            timeout=100,
        )
        got = get_json(cluster, "md", "granted", "-n", APP_NS)
        assert out.returncode == 0, (
            f"not Ready: {json.dumps(got.get('status'), indent=1)}\n{operator.log()[-3000:]}"
        )
        assert got["status"]["phase"] == "Healthy" and condition(got, "Schedulable")["status"] == "True"
        # The chart lets the operator get the token Secret the spec names, and read the gated model with it.
        assert condition(got, "ModelDiscovered")["reason"] == "FilesRead"
        assert f"Bearer {HUB_TOKEN}" in {r.authorization for r in hub.requests}
        assert len(children(cluster, "deployments", APP_NS, "granted")) == 1
        assert children(cluster, "services", APP_NS, "granted")
        # Events leave the operator from a background queue, just after the status they go with.
        wait_for(
            lambda: get_json(
                cluster, "events", "-n", APP_NS, "--field-selector", "involvedObject.name=granted"
            )["items"],
            "the operator's events, created under the chart's identity",
            timeout=15,
        )
        assert unexpected_denials(operator.log()) == []
        # It reconciled as the leader: the chart's Role lets it hold the Lease and post the Event on it.
        lease = get_json(cluster, "lease", FULLNAME, "-n", SYSTEM_NS)
        assert lease["spec"]["holderIdentity"]
        wait_for(
            lambda: [
                e
                for e in get_json(cluster, "events", "-n", SYSTEM_NS)["items"]
                if e["reason"] == "LeaderElection" and e["involvedObject"]["name"] == FULLNAME
            ],
            "the LeaderElection event on the Lease",
            timeout=15,
        )
    finally:
        operator.stop()
        delete_model(cluster, APP_NS, "granted")


def test_one_verb_less_gives_403_and_no_children(cluster: LocalCluster, release: str, tmp_path: Path) -> None:
    original = get_json(cluster, "clusterrole", FULLNAME)
    reduced = json.loads(json.dumps(original))
    for rule in reduced["rules"]:
        if rule["resources"] == ["deployments"]:
            rule["verbs"].remove("patch")  # server-side apply is a PATCH
    cluster.kubectl("replace", "-f", "-", input=json.dumps(reduced))
    operator = operator_as_service_account(
        cluster, tmp_path, FULLNAME, SYSTEM_NS, chart_config(cluster, FULLNAME, SYSTEM_NS)
    ).start()
    try:
        apply(cluster, model_deployment("denied", APP_NS))
        denials = wait_for(
            lambda: unexpected_denials(operator.log()), "a denied request in the operator's log", timeout=60
        )
        assert "403 Forbidden" in denials[0] and 'cannot patch resource "deployments"' in denials[0], denials
        assert children(cluster, "deployments", APP_NS, "denied") == []
        # Given the verb back, the same operator finishes: the 403 was the only thing in the way.
        cluster.kubectl("replace", "-f", "-", input=json.dumps(_without_version(original)))
        wait_for(
            lambda: children(cluster, "deployments", APP_NS, "denied"),
            "the Deployment once allowed",
            timeout=90,
        )
    finally:
        cluster.kubectl("replace", "-f", "-", input=json.dumps(_without_version(original)), check=False)
        operator.stop()
        delete_model(cluster, APP_NS, "denied")


def _without_version(obj: dict[str, Any]) -> dict[str, Any]:
    copy = json.loads(json.dumps(obj))
    copy["metadata"].pop("resourceVersion", None)
    return copy


def test_upgrade_rewrites_the_configuration_and_restarts_the_operator(
    cluster: LocalCluster, helm: Helm, release: str
) -> None:
    before = get_json(cluster, "deployment", FULLNAME, "-n", SYSTEM_NS)
    helm(
        "upgrade",
        RELEASE,
        str(CHART),
        "-n",
        SYSTEM_NS,
        "--reuse-values",
        "--wait",
        "--timeout=120s",
        *set_values(config__resyncSeconds=30, config__prometheus__url="http://127.0.0.1:9090"),
    )
    config = chart_config(cluster, FULLNAME, SYSTEM_NS)
    assert config["resyncSeconds"] == 30 and config["prometheus"]["url"] == "http://127.0.0.1:9090"
    after = get_json(cluster, "deployment", FULLNAME, "-n", SYSTEM_NS)
    checksum = "checksum/config"
    assert (
        after["spec"]["template"]["metadata"]["annotations"][checksum]
        != before["spec"]["template"]["metadata"]["annotations"][checksum]
    )
    assert get_or_none(cluster, "crd", CRD_NAME) is not None


def test_a_namespaced_release_reconciles_its_namespace_only(
    cluster: LocalCluster, helm: Helm, release: str, tmp_path: Path
) -> None:
    """A second release, Roles in one namespace only, the CRD left to the first release (crds.install=false)."""
    helm(
        "install",
        SCOPED_RELEASE,
        str(CHART),
        "-n",
        SYSTEM_NS,
        "--wait",
        "--timeout=120s",
        *set_values(watchNamespaces=[SCOPED_NS], crds__install=False, metrics__enabled=False),
    )
    scoped = f"{SCOPED_RELEASE}-modelfleet"
    assert rules_of(cluster, "role", scoped, "-n", SCOPED_NS)["apps/deployments"] >= {"create", "patch"}
    assert get_or_none(cluster, "role", scoped, "-n", APP_NS) is None
    operator = operator_as_service_account(
        cluster, tmp_path, scoped, SYSTEM_NS, chart_config(cluster, scoped, SYSTEM_NS)
    ).start()
    try:
        apply(cluster, model_deployment("inside", SCOPED_NS))
        apply(cluster, model_deployment("outside", APP_NS))
        out = cluster.kubectl(
            "wait",
            "--for=condition=Ready",
            "md/inside",
            "-n",
            SCOPED_NS,
            "--timeout=90s",
            check=False,
            timeout=100,
        )
        assert out.returncode == 0, operator.log()[-3000:]
        assert (get_json(cluster, "md", "outside", "-n", APP_NS).get("status") or {}) == {}
        assert children(cluster, "deployments", APP_NS, "outside") == []
        assert unexpected_denials(operator.log()) == []
    finally:
        operator.stop()
        delete_model(cluster, SCOPED_NS, "inside")
        delete_model(cluster, APP_NS, "outside")
        helm("uninstall", SCOPED_RELEASE, "-n", SYSTEM_NS, "--wait")


def test_uninstall_keeps_the_crd_and_every_model_deployment(
    cluster: LocalCluster, helm: Helm, release: str
) -> None:
    apply(cluster, model_deployment("survivor", APP_NS))
    helm("uninstall", RELEASE, "-n", SYSTEM_NS, "--wait")
    assert get_or_none(cluster, "crd", CRD_NAME) is not None
    assert get_or_none(cluster, "md", "survivor", "-n", APP_NS) is not None
    assert get_or_none(cluster, "clusterrole", FULLNAME) is None
    assert get_or_none(cluster, "deployment", FULLNAME, "-n", SYSTEM_NS) is None
    cluster.kubectl("delete", "md", "survivor", "-n", APP_NS, "--wait=true", "--timeout=60s")
