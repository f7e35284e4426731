"""The generated CRD: in sync with api/, structural, and its CEL rules agree with the pydantic validators."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import celpy
import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import BaseModel, ValidationError

from modelfleet.api import (
    AcceleratorSpec,
    AnalysisTemplate,
    AutoscalingMetric,
    AutoscalingSpec,
    CacheSpec,
    CanaryStep,
    ModelDeploymentSpec,
    ModelSource,
    ModelSpec,
    ScalingRules,
    TrafficRouting,
    parse_spec,
)
from modelfleet.api.crd import CRD_FILENAME, crd, crd_yaml, structural_schema
from modelfleet.api.spec_pod import PodSpecAdditions

REPO = Path(__file__).resolve().parents[2]
CRD_PATH = REPO / "crds" / CRD_FILENAME
FORBIDDEN_KEYS = {
    "$ref",
    "$defs",
    "definitions",
    "anyOf",
    "oneOf",
    "allOf",
    "not",
    "title",
    "const",
    "nullable",
}


def schema_nodes(node: dict[str, Any], path: str = "") -> list[tuple[str, dict[str, Any]]]:
    """Every schema node with its path, e.g. ``.spec.rollout.canary.steps[]``."""
    found = [(path, node)]
    for name, child in node.get("properties", {}).items():
        found += schema_nodes(child, f"{path}.{name}")
    if "items" in node:
        found += schema_nodes(node["items"], f"{path}[]")
    return found


def root_schema() -> dict[str, Any]:
    return crd()["spec"]["versions"][0]["schema"]["openAPIV3Schema"]


def apply_defaults(schema: dict[str, Any], value: Any) -> Any:
    """What the API server does before validation: fill defaults of absent fields, recursively."""
    if isinstance(value, dict) and "properties" in schema:
        result = dict(value)
        for name, child in schema["properties"].items():
            if name not in result and "default" in child:
                result[name] = child["default"]
            if name in result:
                result[name] = apply_defaults(child, result[name])
        return result
    if isinstance(value, list) and "items" in schema:
        return [apply_defaults(schema["items"], item) for item in value]
    return value


def test_committed_crd_matches_the_api_models() -> None:
    assert CRD_PATH.exists(), "crds/ has no CRD: run `make crds`"
    assert CRD_PATH.read_text(encoding="utf-8") == crd_yaml(), (
        "crds/ is out of date with operator/modelfleet/api: run `make crds`"
    )


def test_generation_is_deterministic() -> None:
    assert crd_yaml() == crd_yaml()


def test_schema_has_no_keywords_the_api_server_rejects() -> None:
    for path, node in schema_nodes(root_schema()):
        assert not FORBIDDEN_KEYS & node.keys(), f"{path or '/'} uses {sorted(FORBIDDEN_KEYS & node.keys())}"
        assert not ("properties" in node and "additionalProperties" in node), path


def test_every_schema_node_has_a_type() -> None:
    for path, node in schema_nodes(root_schema()):
        assert node.get("type") in {"object", "array", "string", "integer", "number", "boolean"}, path


def test_every_field_has_a_description_for_kubectl_explain() -> None:
    undocumented = [
        path
        for path, node in schema_nodes(root_schema())
        if path not in {"", ".metadata"} and not path.endswith("[]") and not node.get("description")
    ]
    assert undocumented == []


def test_spec_bounds_every_list_and_string_for_the_cel_cost_estimator() -> None:
    spec = root_schema()["properties"]["spec"]
    for path, node in schema_nodes(spec, ".spec"):
        if node["type"] == "array":
            assert "maxItems" in node, f"{path} needs maxItems"
        if node["type"] == "string" and "enum" not in node:
            assert "maxLength" in node, f"{path} needs maxLength"


def test_defaults_validate_against_their_own_schema() -> None:
    spec_schema = root_schema()["properties"]["spec"]
    for path, node in schema_nodes(spec_schema, ".spec"):
        if "default" in node:
            default = node["default"]
            kind = {
                "object": dict,
                "array": list,
                "string": str,
                "integer": int,
                "boolean": bool,
                "number": float,
            }
            assert isinstance(default, kind[node["type"]]), path
            if "enum" in node:
                assert default in node["enum"], path


def test_api_server_defaulting_gives_the_same_spec_as_pydantic() -> None:
    spec_schema = root_schema()["properties"]["spec"]
    minimal = {"model": {"id": "a/b"}}
    defaulted = apply_defaults(spec_schema, minimal)
    assert parse_spec(defaulted) == parse_spec(minimal)
    assert (
        defaulted["rollout"]["canary"]["steps"] == parse_spec(minimal).to_wire()["rollout"]["canary"]["steps"]
    )


def test_patterns_compile_as_regular_expressions() -> None:
    for path, node in schema_nodes(root_schema()):
        if "pattern" in node:
            re.compile(node["pattern"])
            assert node["pattern"].startswith("^") and node["pattern"].endswith("$"), path


def test_crd_names_subresources_and_printer_columns() -> None:
    spec = crd()["spec"]
    version = spec["versions"][0]
    assert spec["names"]["shortNames"] == ["md"] and spec["names"]["categories"] == ["modelfleet"]
    assert version["subresources"]["scale"] == {
        "specReplicasPath": ".spec.replicas",
        "statusReplicasPath": ".status.replicas",
        "labelSelectorPath": ".status.selector",
    }
    assert "status" in version["subresources"]
    columns = {c["name"].upper(): c["jsonPath"] for c in version["additionalPrinterColumns"]}
    assert list(columns) == [
        "MODEL",
        "ENGINE",
        "GPU",
        "GPUS",
        "TP",
        "PP",
        "READY",
        "CURRENT",
        "DESIRED",
        "CANARY",
        "PHASE",
        "WEIGHTS",
        "AGE",
    ]
    assert columns["CURRENT"] == ".status.replicas" and columns["DESIRED"] == ".spec.replicas"
    assert columns["CANARY"] == ".status.rollout.weight" and columns["READY"] == ".status.ready"
    assert columns["WEIGHTS"] == ".status.staging.progress"


def test_printer_columns_point_at_fields_in_the_schema() -> None:
    root = root_schema()
    for column in crd()["spec"]["versions"][0]["additionalPrinterColumns"]:
        node = root
        for part in column["jsonPath"].strip(".").split("."):
            if part == "creationTimestamp":
                break
            node = node["properties"][part]
        else:
            assert node["type"] in {"string", "integer"}, column["name"]


def test_committed_file_is_one_valid_yaml_document() -> None:
    documents = list(yaml.safe_load_all(CRD_PATH.read_text(encoding="utf-8")))
    assert len(documents) == 1 and documents[0]["kind"] == "CustomResourceDefinition"


# --- CEL rules agree with the pydantic validators -------------------------------------------------

_CEL = celpy.Environment()


def cel_accepts(model: type[BaseModel], wire: dict[str, Any]) -> bool:
    schema = structural_schema(model)
    wire = apply_defaults(schema, wire)
    for rule in schema.get("x-kubernetes-validations", []):
        program = _CEL.program(_CEL.compile(rule["rule"]))
        if not bool(program.evaluate({"self": celpy.json_to_cel(wire)})):
            return False
    return True


def pydantic_accepts(model: type[BaseModel], wire: dict[str, Any]) -> bool:
    try:
        model.model_validate(wire)
    except ValidationError:
        return False
    return True


def optional(key: str, value: Any) -> st.SearchStrategy[dict[str, Any]]:
    return st.sampled_from([{}, {key: value}])


def merged(*parts: st.SearchStrategy[dict[str, Any]]) -> st.SearchStrategy[dict[str, Any]]:
    return st.tuples(*parts).map(lambda dicts: {k: v for d in dicts for k, v in d.items()})


RULE_CASES: list[tuple[type[BaseModel], st.SearchStrategy[dict[str, Any]]]] = [
    (CacheSpec, st.sampled_from([{}, {"mode": "none"}, {"mode": "shared"}, {"mode": "node"}])),
    (
        ModelSpec,
        merged(
            st.just({"id": "org/m"}),
            st.sampled_from([{}, {"cache": {}}, {"cache": {"mode": "shared"}}, {"cache": {"mode": "none"}}]),
            st.sampled_from([{}, {"source": {"pvc": {"claimName": "w"}}}, {"source": {"uri": "s3://b/m"}}]),
        ),
    ),
    (
        ModelSource,
        merged(optional("huggingface", {}), optional("pvc", {"claimName": "w"}), optional("uri", "s3://b/m")),
    ),
    (
        CanaryStep,
        merged(
            optional("setWeight", 10),
            optional("pause", {}),
            optional("analysis", {"templates": ["ttft-p95"]}),
        ),
    ),
    (
        AcceleratorSpec,
        merged(
            *(
                st.one_of(st.just({}), st.integers(1, 16).map(lambda n, k=key: {k: n}))
                for key in ("gpusPerReplica", "tensorParallel", "pipelineParallel")
            )
        ),
    ),
    (
        TrafficRouting,
        merged(
            st.sampled_from([{}, {"provider": "auto"}, {"provider": "gatewayAPI"}, {"provider": "replicas"}]),
            optional("gatewayAPI", {"parentRefs": [{"name": "gw"}]}),
        ),
    ),
    (
        AnalysisTemplate,
        merged(st.just({"name": "t", "query": "up"}), optional("max", 1.0), optional("min", 0.0)),
    ),
    (
        AutoscalingMetric,
        merged(
            st.sampled_from([{"type": "waitingRequests"}, {"type": "prometheus"}, {"type": "kvCacheUsage"}]),
            st.sampled_from([{"target": 0.5}, {"target": 4}]),
            optional("query", "up"),
            optional("name", "q"),
        ),
    ),
    (
        ScalingRules,
        merged(
            st.sampled_from(
                [{"stabilizationWindow": "0s"}, {"stabilizationWindow": "1h"}, {"stabilizationWindow": "61m"}]
            ),
            st.just({"replicasPerStep": 1}),
            st.sampled_from([{"period": "500ms"}, {"period": "1s"}, {"period": "30m"}, {"period": "31m"}]),
        ),
    ),
    (
        AutoscalingSpec,
        merged(
            st.sampled_from([{"maxReplicas": 1}, {"maxReplicas": 3}]),
            st.sampled_from([{}, {"minReplicas": 0}, {"minReplicas": 2}]),
            optional("idleTimeout", "5m"),
            optional("metrics", []),
            st.sampled_from([{}, {"provider": "hpa"}, {"provider": "keda"}]),
            optional("cron", [{"timezone": "UTC", "start": "0 8 * * *", "end": "0 9 * * *", "replicas": 2}]),
        ),
    ),
    (
        PodSpecAdditions,
        merged(
            optional("priorityClassName", "llm"),
            optional("containers", [{"name": "engine"}]),
            optional("resources", {"limits": {"nvidia.com/gpu": 1}}),
            optional("command", ["sh"]),
            optional("startupProbe", {}),
            optional("terminationGracePeriodSeconds", 5),
        ),
    ),
]


@pytest.mark.parametrize(("model", "cases"), RULE_CASES, ids=[m.__name__ for m, _ in RULE_CASES])
def test_cel_rule_and_pydantic_validator_agree(model: type[BaseModel], cases: st.SearchStrategy[Any]) -> None:
    @settings(max_examples=60, deadline=None)
    @given(cases)
    def agree(wire: dict[str, Any]) -> None:
        assert cel_accepts(model, wire) == pydantic_accepts(model, wire), wire

    agree()


def test_every_model_with_a_cel_rule_is_checked_against_its_validator() -> None:
    checked = {model.__name__ for model, _ in RULE_CASES}
    schema = ModelDeploymentSpec.model_json_schema(by_alias=True)
    with_rules = {name for name, node in schema["$defs"].items() if "x-kubernetes-validations" in node}
    assert with_rules == checked


def test_exclusive_bounds_are_openapi_v3_booleans_next_to_their_bound() -> None:
    """pydantic's gt=0 is exclusiveMinimum: 0 (JSON Schema 2020-12); the API server refuses a number there."""
    target = crd()["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]["properties"][
        "autoscaling"
    ]["properties"]["metrics"]["items"]["properties"]["target"]
    assert target["exclusiveMinimum"] is True and target["minimum"] == 0
