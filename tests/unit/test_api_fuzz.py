"""Spec parsing never fails with anything but SpecError, whatever a user (or etcd) hands it."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from modelfleet.api import SpecError, parse_spec
from modelfleet.api.errors import field_path

FIELD_NAMES = [
    "model", "id", "revision", "quantization", "source", "huggingface", "tokenSecretRef", "pvc", "uri",
    "licenseAccepted", "overrides", "numLayers", "attention", "engine", "name", "args", "env", "serving",
    "maxModelLen", "concurrency", "gpuMemoryUtilization", "kvCacheDtype", "accelerator", "type",
    "gpusPerReplica", "tensorParallel", "pipelineParallel", "replicas", "rollout", "canary", "steps",
    "setWeight", "pause", "duration", "analysis", "templates", "trafficRouting", "provider", "gatewayAPI",
    "analysisTemplates", "query", "max", "min", "progressDeadline", "action", "job", "image",
]  # fmt: skip

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=20),
    st.sampled_from(["a/b", "vllm", "fp8", "10m", "auto", "H200", "gatewayAPI", "Canary", "promote"]),
)
keys = st.one_of(st.sampled_from(FIELD_NAMES), st.text(max_size=10))
json_values = st.recursive(
    scalars,
    lambda children: st.one_of(st.lists(children, max_size=4), st.dictionaries(keys, children, max_size=5)),
    max_leaves=25,
)

VALID = {
    "model": {
        "id": "deepseek-ai/DeepSeek-V4-Flash",
        "source": {"huggingface": {"tokenSecretRef": {"name": "hf"}}},
    },
    "serving": {"maxModelLen": 131072, "concurrency": 16},
    "accelerator": {"type": "H200", "gpusPerReplica": 8, "tensorParallel": 8, "pipelineParallel": 1},
    "rollout": {"canary": {"steps": [{"setWeight": 10}, {"pause": {"duration": "10m"}}]}},
}


def parse_or_spec_error(data: Any) -> None:
    try:
        spec = parse_spec(data)
    except SpecError as error:
        assert error.problems, "a SpecError always names at least one problem"
        assert all(line.startswith("spec") for line in error.problems)
    else:
        # Anything accepted survives its own wire form.
        assert parse_spec(spec.to_wire()) == spec


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(json_values)
def test_random_values_raise_only_spec_errors(data: Any) -> None:
    parse_or_spec_error(data)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.sampled_from(FIELD_NAMES), min_size=1, max_size=4), json_values)
def test_a_valid_spec_with_one_field_replaced_raises_only_spec_errors(path: list[str], value: Any) -> None:
    data: dict[str, Any] = json.loads(json.dumps(VALID))
    node = data
    for key in path[:-1]:
        child = node.get(key)
        if not isinstance(child, dict):
            child = node[key] = {}
        node = child
    node[path[-1]] = value
    parse_or_spec_error(data)


@settings(max_examples=100, deadline=None)
@given(st.text(max_size=200))
def test_random_json_text_raises_only_spec_errors(text: str) -> None:
    try:
        data = json.loads(text)
    except ValueError:
        data = {"model": {"id": text}}
    parse_or_spec_error(data)


def test_field_path_formats_list_indexes() -> None:
    assert (
        field_path(("rollout", "canary", "steps", 3, "setWeight")) == "spec.rollout.canary.steps[3].setWeight"
    )
