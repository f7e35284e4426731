"""A KV size measured instead of derived still leaves the model's KV heads to split: tensor parallel
must divide them or be a multiple of them, as the engines require."""

from __future__ import annotations

from modelfleet.catalog import gpu_catalog
from modelfleet.catalog.types import AttentionKind, ModelFacts
from modelfleet.planner import plan
from modelfleet.planner.types import Engine, PlanRequest

MEASURED = ModelFacts(
    id="test/measured-kv",
    architecture=None,
    total_params=100_000_000,
    active_params=None,
    num_layers=1,
    hidden_size=None,
    num_attention_heads=48,
    num_kv_heads=1,
    head_dim=None,
    intermediate_size=None,
    attention=AttentionKind.SLIDING_HYBRID,
    full_attention_kv_heads=2,
    kv_bytes_per_token_override=1,
    native_dtype="bf16",
    max_context=4096,
)


def test_a_tp_pin_that_splits_two_kv_heads_three_ways_is_refused_with_the_reason() -> None:
    result = plan(
        PlanRequest(model_id=MEASURED.id, engine=Engine.VLLM, tensor_parallel=3), MEASURED, gpu_catalog()
    )
    assert not result.feasible
    assert any("2 KV heads and TP=3" in reason for reason in result.reasons), result.reasons


def test_a_tp_that_divides_the_kv_heads_still_plans() -> None:
    result = plan(
        PlanRequest(model_id=MEASURED.id, engine=Engine.VLLM, tensor_parallel=2), MEASURED, gpu_catalog()
    )
    assert result.feasible and result.chosen is not None and result.chosen.tensor_parallel == 2
