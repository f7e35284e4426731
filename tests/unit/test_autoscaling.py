"""Autoscaling: the rendered ScaledObject and HPA, the decision around them (GPU-aware placement,
ScalingLimited, status.autoscaling, garbage collection), and the canary's share of a scaled count."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from modelfleet.analysis.templates import builtin_templates
from modelfleet.api import AutoscalingProvider, CanaryCapacity, TrafficProvider, parse_spec
from modelfleet.catalog.types import Engine
from modelfleet.decide import decide
from modelfleet.decide.inventory import PodGpus
from modelfleet.decide.observed import child_summary
from modelfleet.render.autoscaling import render_autoscaler
from modelfleet.render.config import OperatorConfig
from modelfleet.render.errors import RenderError
from modelfleet.rollout.replicas import ReplicaSplit, split_replicas
from tests.unit.test_decide import CTX, condition, created, observed, settle, spec
from tests.unit.test_rollout_world import FakeCluster, at, make_spec
from tests.unit.test_rollout_world import decide as rollout_decide

PROMETHEUS = "http://127.0.0.1:9090"
KEDA_CTX = replace(CTX, keda=True, render=OperatorConfig(prometheus_url=PROMETHEUS))
HPA_CTX = replace(CTX, keda=False, render=OperatorConfig(prometheus_url=PROMETHEUS))
# Another team's pods hold all 4 GPUs of l4-0: 4 L4 stay free on l4-1.
OTHERS = (PodGpus("l4-0", "nvidia.com/gpu", 4, "other/x"),)


def model(engine: str = "vllm", **autoscaling: Any) -> dict[str, Any]:
    return {
        "model": {"id": "x/y"},
        "engine": {"name": engine},
        "autoscaling": {"maxReplicas": 4, **autoscaling},
    }


def scaled_object(engine: str = "vllm", **autoscaling: Any) -> dict[str, Any]:
    return render_autoscaler(
        parse_spec(model(engine, **autoscaling)),
        AutoscalingProvider.KEDA,
        name="m",
        namespace="llm",
        prometheus_url=PROMETHEUS,
    )


# --- render -------------------------------------------------------------------------------------

QUERIES = {
    ("vllm", "waitingRequests"): 'sum(vllm:num_requests_waiting{namespace="llm",modelfleet_io_name="m"})',
    ("sglang", "waitingRequests"): 'sum(sglang:num_queue_reqs{namespace="llm",modelfleet_io_name="m"})',
    ("tgi", "waitingRequests"): 'sum(tgi_queue_size{namespace="llm",modelfleet_io_name="m"})',
    ("vllm", "runningRequests"): 'sum(vllm:num_requests_running{namespace="llm",modelfleet_io_name="m"})',
    ("sglang", "runningRequests"): 'sum(sglang:num_running_reqs{namespace="llm",modelfleet_io_name="m"})',
    ("tgi", "runningRequests"): 'sum(tgi_batch_current_size{namespace="llm",modelfleet_io_name="m"})',
    ("sglang", "kvCacheUsage"): 'sum(sglang:token_usage{namespace="llm",modelfleet_io_name="m"})',
    ("vllm", "kvCacheUsage"): 'sum(vllm:kv_cache_usage_perc{namespace="llm",modelfleet_io_name="m"})'
    ' or sum(vllm:gpu_cache_usage_perc{namespace="llm",modelfleet_io_name="m"})',
}


@pytest.mark.parametrize(("engine", "type_"), sorted(QUERIES), ids=[f"{e}-{t}" for e, t in sorted(QUERIES)])
def test_each_builtin_metric_is_queried_in_the_engines_own_names(engine: str, type_: str) -> None:
    target = 0.8 if type_ == "kvCacheUsage" else 4
    [trigger] = scaled_object(engine, metrics=[{"type": type_, "target": target}])["spec"]["triggers"]
    assert trigger["type"] == "prometheus" and trigger["metricType"] == "AverageValue"
    assert trigger["metadata"]["query"] == QUERIES[(engine, type_)]
    assert trigger["metadata"]["serverAddress"] == PROMETHEUS
    assert trigger["metadata"]["threshold"] == ("0.8" if type_ == "kvCacheUsage" else "4")


@pytest.mark.parametrize("engine", list(Engine))
def test_ttft_p95_uses_the_same_histograms_as_the_canary_analysis(engine: Engine) -> None:
    [trigger] = scaled_object(engine.value, metrics=[{"type": "ttftP95", "target": 2}])["spec"]["triggers"]
    assert trigger["metricType"] == "Value"
    analysis = builtin_templates(engine)["ttft-p95"].query
    histogram = analysis.split("rate(", 1)[1].split("_bucket", 1)[0]
    assert (
        f'rate({histogram}_bucket{{namespace="llm",modelfleet_io_name="m"}}' in trigger["metadata"]["query"]
    )


def test_the_scaled_object_targets_the_model_deployment_through_its_scale_subresource() -> None:
    obj = scaled_object(minReplicas=0, idleTimeout="20m")
    assert obj["spec"]["scaleTargetRef"] == {
        "apiVersion": "modelfleet.io/v1alpha1",
        "kind": "ModelDeployment",
        "name": "m",
    }
    assert obj["spec"]["minReplicaCount"] == 0 and obj["spec"]["maxReplicaCount"] == 4
    assert obj["spec"]["cooldownPeriod"] == 1200
    assert obj["metadata"]["labels"]["modelfleet.io/name"] == "m"


def test_behaviour_defaults_are_slow_to_add_and_slower_to_remove_replicas() -> None:
    behavior = scaled_object()["spec"]["advanced"]["horizontalPodAutoscalerConfig"]["behavior"]
    assert behavior["scaleUp"]["stabilizationWindowSeconds"] == 60
    assert behavior["scaleUp"]["policies"] == [{"type": "Pods", "value": 2, "periodSeconds": 180}]
    assert behavior["scaleDown"]["stabilizationWindowSeconds"] == 600
    assert behavior["scaleDown"]["policies"] == [{"type": "Pods", "value": 1, "periodSeconds": 300}]


def test_cron_windows_become_cron_triggers_with_string_metadata() -> None:
    window = {"timezone": "Europe/Paris", "start": "0 8 * * 1-5", "end": "0 20 * * 1-5", "replicas": 2}
    obj = scaled_object(minReplicas=0, cron=[window])
    cron = [t for t in obj["spec"]["triggers"] if t["type"] == "cron"]
    assert cron == [
        {
            "type": "cron",
            "name": "cron-0",
            "metadata": {
                "timezone": "Europe/Paris",
                "start": "0 8 * * 1-5",
                "end": "0 20 * * 1-5",
                "desiredReplicas": "2",  # KEDA's trigger metadata is a map of strings
            },
        }
    ]


def test_a_free_promql_query_gets_the_models_namespace_and_name() -> None:
    metric = {
        "type": "prometheus",
        "name": "tokens",
        "query": 'sum(rate(t{ns="{{namespace}}",m="{{name}}"}[1m]))',
        "target": 500,
    }
    [trigger] = scaled_object(metrics=[metric])["spec"]["triggers"]
    assert trigger["name"] == "tokens"
    assert trigger["metadata"]["query"] == 'sum(rate(t{ns="llm",m="m"}[1m]))'


def test_the_hpa_reads_external_metrics_named_after_the_engines_metrics() -> None:
    obj = render_autoscaler(
        parse_spec(model("sglang", provider="hpa", metrics=[{"type": "waitingRequests", "target": 3}])),
        AutoscalingProvider.HPA,
        name="m",
        namespace="llm",
        prometheus_url=None,
    )
    assert obj["apiVersion"] == "autoscaling/v2" and obj["spec"]["minReplicas"] == 1
    assert obj["spec"]["metrics"] == [
        {
            "type": "External",
            "external": {
                "metric": {
                    "name": "sglang_num_queue_reqs",
                    "selector": {"matchLabels": {"modelfleet_io_name": "m"}},
                },
                "target": {"type": "AverageValue", "averageValue": "3"},
            },
        }
    ]


def test_keda_metrics_without_a_prometheus_url_say_what_to_configure() -> None:
    with pytest.raises(RenderError, match="prometheus.url"):
        render_autoscaler(
            parse_spec(model()), AutoscalingProvider.KEDA, name="m", namespace="llm", prometheus_url=None
        )


# --- decide -------------------------------------------------------------------------------------


def autoscaled(replicas: int, **autoscaling: Any) -> dict[str, Any]:
    return spec(replicas=replicas, autoscaling={"maxReplicas": 8, **autoscaling})


def test_provider_auto_renders_a_scaled_object_with_keda_and_an_hpa_without() -> None:
    for ctx, kind in ((KEDA_CTX, "ScaledObject"), (HPA_CTX, "HorizontalPodAutoscaler")):
        decision = decide(observed(autoscaled(2)), ctx)
        [scaler] = [o for o in decision.apply if o["kind"] == kind]
        [owner] = scaler["metadata"]["ownerReferences"]
        assert owner["kind"] == "ModelDeployment" and owner["controller"] is True
        assert decision.status["autoscaling"]["provider"] == ("keda" if kind == "ScaledObject" else "hpa")


def test_the_operator_never_writes_spec_replicas() -> None:
    decision = decide(observed(autoscaled(3)), KEDA_CTX)
    assert all(o["kind"] != "ModelDeployment" for o in decision.apply)
    assert all(child.kind != "ModelDeployment" for child, _ in decision.scale)
    [deployment] = [o for o in decision.apply if o["kind"] == "Deployment"]
    assert deployment["spec"]["replicas"] == 3


def test_more_replicas_than_free_gpus_hold_places_those_that_fit_and_says_the_numbers() -> None:
    decision = decide(observed(autoscaled(6), gpu_pods=OTHERS), KEDA_CTX)
    [deployment] = [o for o in decision.apply if o["kind"] == "Deployment"]
    assert deployment["spec"]["replicas"] == 4
    limited = condition(decision, "ScalingLimited")
    assert (limited["status"], limited["reason"]) == ("True", "InsufficientCapacity")
    assert (
        "asks for 6 replicas; the free GPUs hold 4" in limited["message"]
        and "2 not placed" in limited["message"]
    )
    assert decision.status["autoscaling"]["placedReplicas"] == 4
    assert any(e.type == "Warning" and e.reason == "InsufficientCapacity" for e in decision.events)


def test_a_limited_model_with_every_placed_replica_ready_is_healthy() -> None:
    first = decide(observed(autoscaled(6), gpu_pods=OTHERS), KEDA_CTX)
    obs = observed(autoscaled(6), status=first.status, children=created(first), gpu_pods=OTHERS)
    decision = decide(obs, KEDA_CTX)
    assert decision.status["phase"] == "Healthy" and decision.status["ready"] == "4/4"
    assert condition(decision, "ScalingLimited")["status"] == "True"


def test_max_replicas_beyond_the_whole_fleet_is_a_warning() -> None:
    decision = decide(observed(spec(replicas=1, autoscaling={"maxReplicas": 20})), KEDA_CTX)
    limited = condition(decision, "ScalingLimited")
    assert (limited["status"], limited["reason"]) == ("True", "MaxReplicasAboveCapacity")
    assert "maxReplicas 20" in limited["message"] and "8 replicas" in limited["message"]
    assert any(e.type == "Warning" and e.reason == "MaxReplicasAboveCapacity" for e in decision.events)


def test_within_capacity_scaling_is_not_limited_and_posts_nothing() -> None:
    decision = decide(observed(autoscaled(2)), KEDA_CTX)
    limited = condition(decision, "ScalingLimited")
    assert (limited["status"], limited["reason"]) == ("False", "WithinCapacity")
    assert [e.reason for e in decision.events] == ["PlanFeasible"]


def test_the_autoscalers_decision_is_read_from_its_hpa() -> None:
    first = decide(observed(autoscaled(2)), KEDA_CTX)
    keda_hpa = child_summary(
        {
            "apiVersion": "autoscaling/v2",
            "kind": "HorizontalPodAutoscaler",
            "metadata": {"name": "keda-hpa-m", "labels": {"modelfleet.io/name": "m"}, "ownerReferences": []},
            "status": {
                "desiredReplicas": 3,
                "currentReplicas": 2,
                "lastScaleTime": "2026-11-01T11:59:00Z",
                "conditions": [{"type": "ScalingActive", "status": "True", "reason": "ValidMetricFound"}],
            },
        }
    )
    obs = observed(autoscaled(2), status=first.status, children=(*created(first), keda_hpa))
    decision = decide(obs, KEDA_CTX)
    assert decision.status["autoscaling"] == {
        "provider": "keda",
        "object": "ScaledObject/m",
        "desiredReplicas": 3,
        "currentReplicas": 2,
        "placedReplicas": 2,
        "lastScaleTime": "2026-11-01T11:59:00Z",
        "message": "HorizontalPodAutoscaler: ScalingActive=True (ValidMetricFound)",
    }
    assert keda_hpa not in decision.delete, "KEDA's HPA belongs to its ScaledObject, never deleted by us"


def test_removing_autoscaling_deletes_its_object_and_keeps_replicas() -> None:
    obs, settled = settle(autoscaled(3))
    assert settled.apply == [], "a settled autoscaled model rewrites nothing"
    without = {k: v for k, v in obs.spec.items() if k != "autoscaling"}
    decision = decide(replace(obs, spec=without, status=settled.status), KEDA_CTX)
    assert [c.kind for c in decision.delete] == ["ScaledObject"]
    assert all(o["kind"] != "Deployment" for o in decision.apply), "spec.replicas 3 stays as it was"
    assert "autoscaling" not in decision.status
    assert all(c["type"] != "ScalingLimited" for c in decision.status["conditions"])


@pytest.fixture(autouse=True)
def _settle_with_keda(monkeypatch: pytest.MonkeyPatch) -> None:
    """`settle` decides with the module's CTX; these tests settle with KEDA installed."""
    monkeypatch.setattr("tests.unit.test_decide.CTX", KEDA_CTX)


# --- the canary's share of a scaled count -------------------------------------------------------

SPLITS = [
    # desired, weight, provider, capacity -> stable, canary
    (4, 25, TrafficProvider.REPLICAS, CanaryCapacity.SWAP, 3, 1),
    (8, 25, TrafficProvider.REPLICAS, CanaryCapacity.SWAP, 6, 2),
    (8, 25, TrafficProvider.REPLICAS, CanaryCapacity.SURGE, 8, 2),
    (8, 50, TrafficProvider.GATEWAY_API, CanaryCapacity.SWAP, 4, 4),
    (8, 25, TrafficProvider.GATEWAY_API, CanaryCapacity.SURGE, 8, 8),
    (1, 10, TrafficProvider.REPLICAS, CanaryCapacity.SWAP, 1, 1),
    (0, 50, TrafficProvider.REPLICAS, CanaryCapacity.SWAP, 1, 1),
]


@pytest.mark.parametrize(("desired", "weight", "provider", "capacity", "stable", "canary"), SPLITS)
def test_the_desired_count_is_split_by_the_steps_weight(
    desired: int, weight: int, provider: TrafficProvider, capacity: CanaryCapacity, stable: int, canary: int
) -> None:
    assert split_replicas(desired, weight, provider, capacity) == ReplicaSplit(stable, canary)


@pytest.mark.parametrize("scaled_to", [2, 8])
def test_a_scale_event_during_a_canary_neither_restarts_nor_skips_a_step(scaled_to: int) -> None:
    """At the untimed pause after setWeight 50, the autoscaler moves the count from 4: the step
    stays, its start time stays, no step Event is posted, and the canary's replicas follow."""
    steps = [{"setWeight": 50}, {"pause": {}}]
    spec_ = make_spec(steps, canary={"capacity": "swap", "trafficRouting": {"provider": "replicas"}})
    cluster = FakeCluster(
        provider=TrafficProvider.REPLICAS, workloads={"old": 4}, ready={"old": 4}, stable="old"
    )
    for second in range(0, 40, 10):  # reach the pause with the canary Ready
        decision = rollout_decide(cluster.observe(at(second), "new", 4, spec_))
        cluster.apply(decision)
        cluster.make_ready("new")
    assert cluster.status is not None and cluster.status.step == 1
    started = cluster.status.step_started_at
    decision = rollout_decide(cluster.observe(at(60), "new", scaled_to, spec_))
    assert decision.status is not None and decision.status.step == 1
    assert decision.status.step_started_at == started
    assert decision.events == ()
    assert (
        decision.replicas["new"]
        == split_replicas(scaled_to, 50, TrafficProvider.REPLICAS, CanaryCapacity.SWAP).canary
    )


def test_provider_keda_without_keda_installed_is_refused_with_what_to_do() -> None:
    decision = decide(observed(autoscaled(2, provider="keda")), HPA_CTX)
    assert decision.apply == [] and decision.status["phase"] == "Failed"
    assert "KEDA is not installed" in condition(decision, "Ready")["message"]


def test_scale_to_zero_on_auto_without_keda_is_refused_not_silently_kept_at_one() -> None:
    decision = decide(observed(autoscaled(2, minReplicas=0, idleTimeout="10m")), HPA_CTX)
    assert decision.apply == [] and "minReplicas 0 and cron windows need KEDA" in decision.status["message"]
