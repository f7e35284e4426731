"""The ModelDeployment spec: defaults, validation and the messages users see."""

from __future__ import annotations

import pytest

from modelfleet.api import (
    ConditionType,
    ModelDeploymentSpec,
    ModelDeploymentStatus,
    Phase,
    Reason,
    SpecError,
    parse_duration,
    parse_spec,
)
from modelfleet.api.duration import DurationError, format_duration
from modelfleet.catalog.types import AttentionKind
from modelfleet.planner import Engine, Quantization

MINIMAL = {"model": {"id": "deepseek-ai/DeepSeek-V4-Flash"}}


def spec_with(**sections: object) -> dict[str, object]:
    return {**MINIMAL, **sections}


def problems(data: object) -> str:
    with pytest.raises(SpecError) as caught:
        parse_spec(data)  # type: ignore[arg-type]
    return str(caught.value)


def test_a_model_id_alone_gets_every_default() -> None:
    spec = parse_spec(MINIMAL)
    assert spec.engine.name == "vllm"
    assert spec.serving.concurrency == 1
    assert spec.serving.gpu_memory_utilization == 0.90
    assert spec.serving.kv_cache_dtype == "auto"
    assert spec.accelerator.type == "auto"
    assert spec.replicas == 1
    assert spec.model.license_accepted is False
    assert spec.rollout.strategy == "Canary"
    assert spec.rollout.canary.capacity == "surge"
    assert spec.rollout.canary.traffic_routing.provider == "auto"
    assert (spec.rollout.analysis_interval, spec.rollout.progress_deadline) == ("1m", "30m")
    assert (spec.rollout.failure_limit, spec.rollout.error_limit, spec.rollout.abort_on_deadline) == (
        1,
        3,
        True,
    )
    assert spec.rollout.action == ""


def test_default_canary_is_ten_percent_pause_analysis_fifty_percent_pause() -> None:
    steps = parse_spec(MINIMAL).to_wire()["rollout"]["canary"]["steps"]
    assert steps == [
        {"setWeight": 10},
        {"pause": {"duration": "5m"}},
        {"analysis": {"templates": ["ttft-p95", "error-rate"]}},
        {"setWeight": 50},
        {"pause": {"duration": "5m"}},
    ]


def test_wire_form_is_camel_case_and_round_trips() -> None:
    data = spec_with(serving={"maxModelLen": 131072, "gpuMemoryUtilization": 0.85})
    wire = parse_spec(data).to_wire()
    assert wire["serving"]["maxModelLen"] == 131072
    assert parse_spec(wire) == parse_spec(data)


def test_snake_case_names_are_accepted_from_python() -> None:
    spec = ModelDeploymentSpec.model_validate({"model": {"id": "a/b", "license_accepted": True}})
    assert spec.model.license_accepted is True


def test_unknown_field_is_rejected_with_its_path() -> None:
    assert "spec.serving.concurency: unknown field" in problems(spec_with(serving={"concurency": 4}))


def test_top_level_unknown_field_is_rejected() -> None:
    assert "spec.replica: unknown field" in problems(spec_with(replica=2))


@pytest.mark.parametrize(
    ("section", "field", "bad", "path"),
    [
        ("engine", "name", "triton", "spec.engine.name"),
        ("serving", "kvCacheDtype", "int4", "spec.serving.kvCacheDtype"),
        ("rollout", "strategy", "BlueGreen", "spec.rollout.strategy"),
        ("rollout", "action", "rollback", "spec.rollout.action"),
    ],
)
def test_bad_enum_value_names_the_field(section: str, field: str, bad: str, path: str) -> None:
    assert problems(spec_with(**{section: {field: bad}})).startswith(f"{path}: ")


def test_bad_quantization_names_the_field() -> None:
    assert problems({"model": {"id": "a/b", "quantization": "fp16"}}).startswith("spec.model.quantization: ")


@pytest.mark.parametrize("kind", [kind for kind in AttentionKind if kind is not AttentionKind.UNKNOWN])
def test_an_override_may_name_every_attention_kind_the_planner_sizes(kind: AttentionKind) -> None:
    spec = parse_spec({"model": {"id": "a/b", "overrides": {"attention": kind.value}}})
    assert spec.model.overrides is not None and spec.model.overrides.attention is kind


@pytest.mark.parametrize("bad", ["unknown", "mha"])
def test_an_override_naming_no_sizable_attention_kind_lists_the_kinds(bad: str) -> None:
    assert problems({"model": {"id": "a/b", "overrides": {"attention": bad}}}) == (
        f"spec.model.overrides.attention: {bad!r} is not an attention kind; "
        "use one of gqa, mla, sliding-hybrid, linear-hybrid, compressed"
    )


def test_a_specs_engine_and_dtype_are_the_enums_the_planner_reads() -> None:
    spec = parse_spec({"model": {"id": "a/b", "quantization": "fp8"}, "engine": {"name": "sglang"}})
    assert spec.engine.name is Engine.SGLANG and spec.model.quantization is Quantization.FP8


@pytest.mark.parametrize(
    ("data", "path"),
    [
        (spec_with(serving={"concurrency": 0}), "spec.serving.concurrency"),
        (spec_with(serving={"concurrency": 4097}), "spec.serving.concurrency"),
        (spec_with(serving={"gpuMemoryUtilization": 0.99}), "spec.serving.gpuMemoryUtilization"),
        (spec_with(serving={"maxModelLen": 0}), "spec.serving.maxModelLen"),
        (spec_with(replicas=-1), "spec.replicas"),
        (spec_with(replicas=1001), "spec.replicas"),
        (
            spec_with(rollout={"canary": {"steps": [{"setWeight": 101}]}}),
            "spec.rollout.canary.steps[0].setWeight",
        ),
        (spec_with(accelerator={"tensorParallel": 0}), "spec.accelerator.tensorParallel"),
    ],
)
def test_out_of_range_numbers_name_the_field(data: dict[str, object], path: str) -> None:
    assert problems(data).startswith(f"{path}: ")


@pytest.mark.parametrize("model_id", ["llama", "a/b/c", "/b", "a/", "a b/c", ""])
def test_model_id_must_be_org_slash_name(model_id: str) -> None:
    assert "spec.model.id: " in problems({"model": {"id": model_id}})


def test_model_is_required() -> None:
    assert problems({}).startswith("spec.model: Field required")


def test_source_needs_exactly_one_of_huggingface_pvc_uri() -> None:
    both = {"huggingface": {}, "uri": "s3://bucket/model"}
    assert "set exactly one of huggingface, pvc, uri (got huggingface, uri)" in problems(
        {"model": {"id": "a/b", "source": both}}
    )
    assert "(got none)" in problems({"model": {"id": "a/b", "source": {}}})


def test_source_token_key_defaults_to_token() -> None:
    source = {"huggingface": {"tokenSecretRef": {"name": "hf"}}}
    spec = parse_spec({"model": {"id": "a/b", "source": source}})
    assert spec.model.source is not None and spec.model.source.huggingface is not None
    assert spec.model.source.huggingface.token_secret_ref is not None
    assert spec.model.source.huggingface.token_secret_ref.key == "token"


def test_uri_source_must_be_an_object_store_url() -> None:
    assert "spec.model.source.uri: " in problems({"model": {"id": "a/b", "source": {"uri": "http://x/y"}}})


def test_pinned_layout_must_multiply_out() -> None:
    message = problems(
        spec_with(accelerator={"gpusPerReplica": 8, "tensorParallel": 4, "pipelineParallel": 1})
    )
    assert (
        "spec.accelerator: gpusPerReplica (8) must equal tensorParallel x pipelineParallel x dataParallel (4 x 1 x 1 = 4)"
        in message
    )


def test_partial_layout_pins_are_left_to_the_planner() -> None:
    spec = parse_spec(spec_with(accelerator={"gpusPerReplica": 16, "tensorParallel": 8}))
    assert spec.accelerator.pipeline_parallel is None


def test_canary_step_sets_exactly_one_action() -> None:
    steps = [{"setWeight": 10}, {"setWeight": 20, "pause": {}}]
    assert (
        "spec.rollout.canary.steps[1]: each step sets exactly one of setWeight, pause, analysis"
        in problems(spec_with(rollout={"canary": {"steps": steps}}))
    )
    assert "(got none)" in problems(spec_with(rollout={"canary": {"steps": [{}]}}))


def test_pause_without_duration_waits_for_promotion() -> None:
    step = parse_spec(spec_with(rollout={"canary": {"steps": [{"pause": {}}]}})).rollout.canary.steps[0]
    assert step.pause is not None and step.pause.duration is None


def test_analysis_step_must_name_a_known_template() -> None:
    steps = [{"analysis": {"templates": ["ttft-p95", "p99-latency"]}}]
    message = problems(spec_with(rollout={"canary": {"steps": steps}}))
    assert "unknown template p99-latency" in message and "define it in analysisTemplates" in message


def test_user_template_can_be_used_in_a_step() -> None:
    template = {"name": "p99-latency", "query": "histogram_quantile(0.99, x)", "max": 2.0}
    rollout = {
        "analysisTemplates": [template],
        "canary": {"steps": [{"analysis": {"templates": ["p99-latency"]}}]},
    }
    spec = parse_spec(spec_with(rollout=rollout))
    assert spec.rollout.analysis_templates[0].count == 1


def test_analysis_template_needs_a_threshold() -> None:
    template = {"name": "p99-latency", "query": "up"}
    assert "set max, min or both" in problems(spec_with(rollout={"analysisTemplates": [template]}))


def test_analysis_template_names_are_unique() -> None:
    template = {"name": "gpu", "query": "up", "min": 1}
    assert "duplicate name gpu" in problems(spec_with(rollout={"analysisTemplates": [template, template]}))


def test_gateway_api_provider_needs_parent_refs() -> None:
    routing = {"provider": "gatewayAPI"}
    assert "provider gatewayAPI needs gatewayAPI.parentRefs" in problems(
        spec_with(rollout={"canary": {"trafficRouting": routing}})
    )
    routing_ok = {"provider": "gatewayAPI", "gatewayAPI": {"parentRefs": [{"name": "inference"}]}}
    spec = parse_spec(spec_with(rollout={"canary": {"trafficRouting": routing_ok}}))
    assert spec.to_wire()["rollout"]["canary"]["trafficRouting"]["gatewayAPI"]["parentRefs"] == [
        {"name": "inference"}
    ]


def test_duplicate_env_names_are_rejected() -> None:
    env = [{"name": "A", "value": "1"}, {"name": "A", "value": "2"}]
    assert "duplicate name A" in problems(spec_with(engine={"env": env}))


def test_bad_duration_says_how_to_write_one() -> None:
    message = problems(spec_with(rollout={"progressDeadline": "10 minutes"}))
    assert message.startswith("spec.rollout.progressDeadline: invalid duration '10 minutes'")
    assert "e.g. 30s, 10m, 1h30m" in message


@pytest.mark.parametrize(
    ("text", "seconds"), [("1h30m", 5400.0), ("90s", 90.0), ("250ms", 0.25), ("1m30s", 90.0)]
)
def test_parse_duration_returns_seconds(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "10", "10 m", "-5m", "1.5h", "1d", "m", "5M"])
def test_parse_duration_rejects_what_the_schema_rejects(text: str) -> None:
    with pytest.raises(DurationError):
        parse_duration(text)


@pytest.mark.parametrize("seconds", [0.5, 1, 59, 60, 5400, 3661])
def test_format_duration_round_trips(seconds: float) -> None:
    assert parse_duration(format_duration(seconds)) == seconds


def test_spec_that_is_not_a_mapping_is_a_spec_error() -> None:
    assert problems(["model"]) == "spec: must be an object, got list"


def test_status_round_trips_with_camel_case() -> None:
    wire = {
        "observedGeneration": 3,
        "phase": "Progressing",
        "conditions": [
            {"type": "Ready", "status": "True", "reason": "ReplicasReady", "message": "2/2 ready"}
        ],
        "plan": {
            "gpuType": "H200",
            "gpusPerReplica": 8,
            "tensorParallel": 8,
            "memory": {"weightsBytes": 1, "kvCacheBytes": 2, "overheadBytes": 3, "usableBytes": 10},
        },
        "revisions": {"stable": "abc", "canary": "def"},
        "rollout": {
            "step": 2,
            "weight": 10,
            "analysis": [{"name": "ttft-p95", "verdict": "success", "value": 0.4}],
        },
        "ready": "2/2",
        "selector": "modelfleet.io/name=flash",
    }
    status = ModelDeploymentStatus.model_validate(wire)
    assert status.phase == Phase.PROGRESSING
    assert status.condition(ConditionType.READY) is not None
    assert status.condition(ConditionType.READY).reason == Reason.REPLICAS_READY  # type: ignore[union-attr]
    assert ModelDeploymentStatus.model_validate(status.to_wire()) == status


def test_status_rejects_an_unknown_verdict() -> None:
    with pytest.raises(ValueError, match="verdict"):
        ModelDeploymentStatus.model_validate({"rollout": {"analysis": [{"name": "x", "verdict": "maybe"}]}})
