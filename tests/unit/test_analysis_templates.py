"""Built-in analysis templates: real metric names per engine, the canary selector, the thresholds."""

from __future__ import annotations

import promql_parser
import pytest

from modelfleet.analysis import builtin_templates, render_query, resolve_templates
from modelfleet.analysis.templates import MIN_REQUESTS
from modelfleet.api import BUILTIN_ANALYSIS_TEMPLATES, AnalysisTemplate, Engine, RolloutSpec

ENGINES = list(Engine)

# The metric each (engine, template) must read: names as the engines define them (see templates.py).
METRICS = {
    (Engine.VLLM, "ttft-p95"): ["vllm:time_to_first_token_seconds_bucket"],
    (Engine.VLLM, "itl-p95"): [
        "vllm:inter_token_latency_seconds_bucket",
        "vllm:time_per_output_token_seconds_bucket",
    ],
    (Engine.VLLM, "error-rate"): ["vllm:request_success_total{", 'finished_reason=~"error|abort"'],
    (Engine.VLLM, "queue-depth"): ["vllm:num_requests_waiting"],
    (Engine.SGLANG, "ttft-p95"): ["sglang:time_to_first_token_seconds_bucket"],
    (Engine.SGLANG, "itl-p95"): ["sglang:inter_token_latency_seconds_bucket"],
    (Engine.SGLANG, "error-rate"): ["sglang:num_aborted_requests_total", "sglang:num_requests_total"],
    (Engine.SGLANG, "queue-depth"): ["sglang:num_queue_reqs"],
    (Engine.TGI, "ttft-p95"): [
        "tgi_request_queue_duration_bucket",
        "tgi_batch_inference_duration_bucket{",
        'method="prefill"',
    ],
    (Engine.TGI, "itl-p95"): ["tgi_request_mean_time_per_token_duration_bucket"],
    (Engine.TGI, "error-rate"): ["tgi_request_failure{", "tgi_request_count{"],
    (Engine.TGI, "queue-depth"): ["tgi_queue_size"],
}


@pytest.mark.parametrize("engine", ENGINES)
def test_every_engine_has_every_builtin_template(engine: Engine) -> None:
    assert set(builtin_templates(engine)) == set(BUILTIN_ANALYSIS_TEMPLATES)


@pytest.mark.parametrize(("engine", "name"), list(METRICS))
def test_builtin_queries_read_the_engines_own_metric_names(engine: Engine, name: str) -> None:
    query = builtin_templates(engine)[name].query
    for metric in METRICS[(engine, name)]:
        assert metric in query


@pytest.mark.parametrize("engine", ENGINES)
def test_builtin_queries_parse_as_promql_once_rendered(engine: Engine) -> None:
    for template in builtin_templates(engine).values():
        query = render_query(template, revision="7f3a9c1", namespace="llm", name="flash")
        promql_parser.parse(query)  # raises ValueError on a syntax error


@pytest.mark.parametrize("engine", ENGINES)
def test_builtin_queries_select_the_canary_by_revision_and_namespace(engine: Engine) -> None:
    for template in builtin_templates(engine).values():
        query = render_query(template, revision="7f3a9c1", namespace="llm", name="flash")
        assert 'modelfleet_io_revision="7f3a9c1"' in query
        assert 'namespace="llm"' in query
        assert "{{" not in query


@pytest.mark.parametrize("engine", ENGINES)
def test_too_few_requests_give_no_data_rather_than_a_verdict(engine: Engine) -> None:
    for template in builtin_templates(engine).values():
        assert template.query.endswith(f">= {MIN_REQUESTS})")
        assert "and on()" in template.query


def test_default_thresholds() -> None:
    thresholds = {name: t.max for name, t in builtin_templates(Engine.VLLM).items()}
    assert thresholds == {"ttft-p95": 2.0, "itl-p95": 0.2, "error-rate": 0.05, "queue-depth": 32.0}


def test_error_ratio_of_a_canary_without_errors_is_zero_not_no_data() -> None:
    """A counter never incremented has no series; ``or vector(0)`` keeps the ratio defined."""
    for engine in ENGINES:
        assert "or vector(0)" in builtin_templates(engine)["error-rate"].query


def test_a_user_template_replaces_the_builtin_of_the_same_name() -> None:
    spec = RolloutSpec.model_validate(
        {"analysisTemplates": [{"name": "ttft-p95", "query": "my_ttft", "max": 0.5, "count": 3}]}
    )
    templates = resolve_templates(spec, Engine.SGLANG)
    assert templates["ttft-p95"].query == "my_ttft"
    assert templates["ttft-p95"].count == 3
    assert "sglang:num_queue_reqs" in templates["queue-depth"].query


def test_a_user_template_with_a_new_name_is_added() -> None:
    spec = RolloutSpec.model_validate({"analysisTemplates": [{"name": "gpu-util", "query": "q", "min": 0.2}]})
    assert set(resolve_templates(spec, Engine.TGI)) == {*BUILTIN_ANALYSIS_TEMPLATES, "gpu-util"}


def test_render_query_fills_name_and_escapes_quotes() -> None:
    template = AnalysisTemplate(name="x", query='up{job="{{ name }}",rev="{{revision}}"}', max=1)
    assert (
        render_query(template, revision='a"b', namespace="n", name="flash") == 'up{job="flash",rev="a\\"b"}'
    )
