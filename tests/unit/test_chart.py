"""The Helm chart's static contract: generated files in sync, a schema that rejects unknown keys,
values that document every key, and an operator configuration with the operator's own keys.

What needs helm and an API server (lint, template, install, RBAC) is in tests/integration/test_helm.py.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from hack import gen_install_manifest
from pydantic import BaseModel

from modelfleet.analysis.templates import SELECTOR
from modelfleet.reconcile.config import (
    LeaderElectionConfig,
    LicensePolicyConfig,
    OperatorConfig,
    PrometheusConfig,
    WatchConfig,
)
from modelfleet.render.names import MANAGED_BY, REVISION_LABEL, ROLE_LABEL, ROLE_SERVER

REPO = Path(__file__).resolve().parents[2]
CHART = REPO / "charts" / "modelfleet"
VALUES = yaml.safe_load((CHART / "values.yaml").read_text())
SCHEMA = json.loads((CHART / "values.schema.json").read_text())
# Kubernetes structures handed to the pod spec unchanged; the API server validates their insides.
PASS_THROUGH = {
    ".global",
    ".operator.affinity.nodeAffinity",
    ".operator.affinity.podAffinity",
    ".operator.affinity.podAntiAffinity",
}
# Keys the chart derives from other values instead of taking them from `config`.
DERIVED_CONFIG_KEYS = {"namespaces", "metrics", "gatewayApi", "leaderWorkerSet", "keda"}


def object_nodes(node: dict[str, Any], path: str = "") -> list[tuple[str, dict[str, Any]]]:
    """Every schema node of type object, with its path (``.config.prometheus``)."""
    found = [(path, node)] if node.get("type") == "object" else []
    for name, child in (node.get("properties") or {}).items():
        found += object_nodes(child, f"{path}.{name}")
    for key in ("items", "additionalProperties"):
        if isinstance(node.get(key), dict):
            found += object_nodes(node[key], f"{path}[]")
    return found


def aliases(model: type[BaseModel]) -> set[str]:
    return {field.alias or name for name, field in model.model_fields.items()}


# ---- generated files --------------------------------------------------------------------------------


def test_chart_crd_templates_are_generated_from_crds_folder() -> None:
    files = gen_install_manifest.chart_crds()
    assert files, "crds/ holds at least the ModelDeployment CRD"
    assert gen_install_manifest.drifted(files) == [], (
        "run `make install-manifests` (hack/gen_install_manifest.py)"
    )
    assert gen_install_manifest.orphans(files) == []


def test_chart_crd_template_keeps_the_crd_body_byte_for_byte() -> None:
    """Only the header, the metadata include and brace escaping differ from crds/."""
    for source in sorted((REPO / "crds").glob("*.yaml")):
        template = (CHART / "templates" / "crds" / source.name).read_text()
        unescaped = template.replace('{{ "{{" }}', "{{").replace('{{ "}}" }}', "}}")
        body = [
            line
            for line in unescaped.splitlines()
            if not line.startswith("{{-") and "modelfleet.crdMetadata" not in line
        ]
        original = [line for line in source.read_text().splitlines() if not line.startswith("#")]
        assert body == original
        assert gen_install_manifest.escape_template_braces("{{x}}") == '{{ "{{" }}x{{ "}}" }}'


def test_template_braces_in_a_crd_cannot_reach_helm_unescaped() -> None:
    text = gen_install_manifest.chart_crd_template(
        "apiVersion: v1\nmetadata:\n  name: x\nspec:\n  d: use {{revision}}\n", "x.yaml"
    )
    body = text.split("\n", 2)[2]  # after the two template header lines
    assert "{{revision}}" not in body and '{{ "{{" }}revision{{ "}}" }}' in body


# ---- values.schema.json -----------------------------------------------------------------------------


def test_every_schema_object_rejects_unknown_keys() -> None:
    loose = [
        path
        for path, node in object_nodes(SCHEMA)
        if path not in PASS_THROUGH and node.get("additionalProperties") is not False and "properties" in node
    ]
    maps_without_value_types = [
        path
        for path, node in object_nodes(SCHEMA)
        if path not in PASS_THROUGH
        and "properties" not in node
        and not isinstance(node.get("additionalProperties"), dict)
    ]
    assert loose == [], "objects with fixed keys need additionalProperties: false"
    assert maps_without_value_types == [], "free-form maps need a schema for their values"


def schema_keys(node: dict[str, Any], path: str = "") -> set[str]:
    keys = set()
    for name, child in (node.get("properties") or {}).items():
        keys.add(f"{path}.{name}")
        keys |= schema_keys(child, f"{path}.{name}")
    return keys


def value_keys(values: dict[str, Any], node: dict[str, Any], path: str = "") -> set[str]:
    """Keys in values.yaml, descending only where the schema has fixed properties (not into maps)."""
    keys = set()
    for name, value in values.items():
        keys.add(f"{path}.{name}")
        child = (node.get("properties") or {}).get(name, {})
        if isinstance(value, dict) and "properties" in child:
            keys |= value_keys(value, child, f"{path}.{name}")
    return keys


def test_values_yaml_sets_every_key_the_schema_allows() -> None:
    """values.yaml is the documentation: every key the schema allows appears there (the optional
    licence policy keys as comments, so the operator's built-in lists stay the default)."""
    optional = {
        ".config.licensePolicy.requireAcceptance",
        ".config.licensePolicy.refused",
        ".config.licensePolicy.allowUnknown",
        ".global",
    }
    in_values = value_keys(VALUES, SCHEMA)
    assert in_values - schema_keys(SCHEMA) == set(), "a key in values.yaml the schema would reject"
    assert schema_keys(SCHEMA) - in_values - optional - PASS_THROUGH == set()
    commented = (CHART / "values.yaml").read_text()
    for key in optional - {".global"}:
        assert f"# {key.rsplit('.', 1)[1]}:" in commented


# ---- operator configuration --------------------------------------------------------------------------


def test_config_values_are_a_valid_operator_configuration() -> None:
    config = OperatorConfig.model_validate(VALUES["config"])
    assert config.resync_seconds == VALUES["config"]["resyncSeconds"]


def test_config_schema_has_exactly_the_operator_configuration_keys() -> None:
    config = SCHEMA["properties"]["config"]["properties"]
    assert set(config) | DERIVED_CONFIG_KEYS == aliases(OperatorConfig)
    assert set(config["licensePolicy"]["properties"]) == aliases(LicensePolicyConfig)
    assert set(config["prometheus"]["properties"]) == aliases(PrometheusConfig)
    assert set(config["watch"]["properties"]) == aliases(WatchConfig)
    # The Lease is named after the release, in its namespace: the template sets both.
    assert set(config["leaderElection"]["properties"]) | {"leaseName", "leaseNamespace"} == aliases(
        LeaderElectionConfig
    )


@pytest.mark.parametrize("key", sorted(DERIVED_CONFIG_KEYS))
def test_derived_config_keys_are_set_by_the_template(key: str) -> None:
    helpers = (CHART / "templates" / "_helpers.tpl").read_text()
    assert f'set $config "{key}"' in helpers


# ---- security defaults --------------------------------------------------------------------------------


def test_operator_runs_two_replicas_with_leader_election_and_the_restricted_security_context() -> None:
    deployment = (CHART / "templates" / "deployment.yaml").read_text()
    assert VALUES["operator"]["replicas"] == 2 and VALUES["config"]["leaderElection"]["enabled"] is True
    assert "maxUnavailable: 0" in deployment and "type: Recreate" in deployment  # Recreate without election
    for line in (
        "runAsNonRoot: true",
        "runAsUser: 65532",
        "readOnlyRootFilesystem: true",
        "allowPrivilegeEscalation: false",
        "drop: [ALL]",
        "type: RuntimeDefault",
    ):
        assert line in deployment, line


def test_secrets_are_only_read_by_name_and_only_for_model_discovery() -> None:
    """HF tokens are referenced by name in the pods the operator renders; the operator itself only
    gets the named token Secret, to read a gated model's config.json, and never lists or watches."""
    templates = "\n".join(
        p.read_text() for p in (CHART / "templates").glob("*.*") if p.suffix in (".yaml", ".tpl")
    )
    rule = '- apiGroups: [""]\n  resources: [secrets]\n  verbs: [get]\n{{- end }}'
    assert templates.count("secrets") == 1 and rule in templates
    guard = templates[: templates.index(rule)].rsplit("{{- if", 1)[1]
    assert guard.startswith(" .Values.config.modelDiscovery.enabled }}")
    assert '"*"' not in templates and "['*']" not in templates and "[*]" not in templates


# ---- monitoring ---------------------------------------------------------------------------------------


def test_engine_pod_monitor_selects_the_serving_pods_the_operator_renders() -> None:
    monitor = (CHART / "templates" / "engine-monitor.yaml").read_text()
    assert f"app.kubernetes.io/managed-by: {MANAGED_BY}" in monitor
    assert f"{ROLE_LABEL}: {ROLE_SERVER}" in monitor
    # The revision label the analysis queries select by comes out of the labelmap.
    label = REVISION_LABEL.replace(".", "_").replace("/", "_")
    assert "__meta_kubernetes_pod_label_modelfleet_io_(.+)" in monitor and label.startswith("modelfleet_io_")
    assert f'{label}="{{{{revision}}}}"' in SELECTOR


@pytest.mark.parametrize("switch", ["engines", "prometheusRule", "dashboards"])
def test_each_monitoring_object_is_behind_its_own_switch_off_by_default(switch: str) -> None:
    values = VALUES[switch]
    enabled = values["podMonitor"]["enabled"] if switch == "engines" else values["enabled"]
    assert enabled is False
