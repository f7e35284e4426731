"""spec.podTemplate merged with what ModelFleet renders; the disruption budget; spreading; shutdown."""

from __future__ import annotations

from typing import Any

import pytest

from modelfleet.api import SpecError, parse_spec
from modelfleet.planner.types import Engine
from modelfleet.render import render_revision
from modelfleet.render.engines import PROFILES
from modelfleet.render.pod import HOSTNAME_KEY, ZONE_KEY
from tests.unit.golden.cases import H100, POD_TEMPLATE, make_plan, make_spec


def rendered(spec: Any = None, engine: str = "vllm", **plan: Any) -> list[dict[str, Any]]:
    spec = spec or make_spec(engine, engine={"name": engine})
    return render_revision(
        spec, make_plan(engine, **plan), name="m", namespace="ns", revision="0123456789", replicas=2, gpu=H100
    )


def pod_specs(workload: dict[str, Any]) -> list[dict[str, Any]]:
    if workload["kind"] == "Deployment":
        return [workload["spec"]["template"]["spec"]]
    lwt = workload["spec"]["leaderWorkerTemplate"]
    return [lwt["leaderTemplate"]["spec"], lwt["workerTemplate"]["spec"]]


def test_a_users_required_node_term_narrows_the_gpu_type_and_never_replaces_it() -> None:
    workload, _, _ = rendered(make_spec("vllm", podTemplate=POD_TEMPLATE))
    [term] = workload["spec"]["template"]["spec"]["affinity"]["nodeAffinity"][
        "requiredDuringSchedulingIgnoredDuringExecution"
    ]["nodeSelectorTerms"]
    assert [e["key"] for e in term["matchExpressions"]] == ["nvidia.com/gpu.product", "rack"]


def test_each_of_two_user_node_terms_keeps_the_gpu_type() -> None:
    terms = [{"matchExpressions": [{"key": "rack", "operator": "In", "values": [r]}]} for r in ("r1", "r2")]
    affinity = {
        "nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": terms}}
    }
    workload, _, _ = rendered(make_spec("vllm", podTemplate={"spec": {"affinity": affinity}}))
    merged = workload["spec"]["template"]["spec"]["affinity"]["nodeAffinity"][
        "requiredDuringSchedulingIgnoredDuringExecution"
    ]["nodeSelectorTerms"]
    assert [t["matchExpressions"][0]["key"] for t in merged] == ["nvidia.com/gpu.product"] * 2
    assert [t["matchExpressions"][1]["values"] for t in merged] == [["r1"], ["r2"]]


def test_user_tolerations_come_after_the_gpu_toleration() -> None:
    workload, _, _ = rendered(make_spec("vllm", podTemplate=POD_TEMPLATE))
    keys = [t["key"] for t in workload["spec"]["template"]["spec"]["tolerations"]]
    assert keys == ["nvidia.com/gpu", "dedicated"]


def test_user_labels_never_override_the_labels_services_select_by() -> None:
    template = {"metadata": {"labels": {"app.kubernetes.io/name": "mine", "team": "search"}}}
    workload, _, _ = rendered(make_spec("vllm", podTemplate=template))
    labels = workload["spec"]["template"]["metadata"]["labels"]
    assert labels["app.kubernetes.io/name"] == "modelfleet-engine" and labels["team"] == "search"


def test_pod_fields_of_the_template_reach_every_pod_of_a_multi_node_replica() -> None:
    spec = make_spec("vllm", podTemplate=POD_TEMPLATE)
    workload, _, _ = rendered(spec, gpus=16, nodes=2, tp=8, pp=2)
    for pod in pod_specs(workload):
        assert pod["priorityClassName"] == "llm-serving" and pod["runtimeClassName"] == "nvidia"
        assert pod["nodeSelector"] == {"pool": "inference"} and pod["serviceAccountName"] == "llm"
        assert pod["imagePullSecrets"] == [{"name": "registry"}]
        assert {"name": "templates", "configMap": {"name": "chat-templates"}} in pod["volumes"]
        mounts = pod["containers"][0]["volumeMounts"]
        assert {"name": "templates", "mountPath": "/templates", "readOnly": True} in mounts


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("containers", [{"name": "engine", "command": ["sh"]}]),
        ("resources", {"limits": {"nvidia.com/gpu": 1}}),
        ("livenessProbe", {"httpGet": {"path": "/"}}),
        ("command", ["sh"]),
        ("terminationGracePeriodSeconds", 5),
    ],
)
def test_fields_modelfleet_owns_are_refused_by_name(field: str, value: Any) -> None:
    with pytest.raises(SpecError, match=f"{field} is owned by ModelFleet and cannot be set"):
        parse_spec({"model": {"id": "org/m"}, "podTemplate": {"spec": {field: value}}})


@pytest.mark.parametrize(
    ("additions", "message"),
    [
        ({"spec": {"volumes": [{"name": "cache", "emptyDir": {}}]}}, "cache is a volume ModelFleet renders"),
        ({"spec": {"volumes": [{"emptyDir": {}}]}}, "every volume needs a name"),
        (
            {
                "spec": {
                    "volumes": [{"name": "x", "emptyDir": {}}],
                    "volumeMounts": [{"name": "x", "mountPath": "/cache"}],
                }
            },
            "/cache is where ModelFleet mounts its own volume",
        ),
        (
            {"spec": {"volumeMounts": [{"name": "y", "mountPath": "/y"}]}},
            "y is not in podTemplate.spec.volumes",
        ),
        (
            {"metadata": {"labels": {"modelfleet.io/name": "x"}}},
            "labels under modelfleet.io/ are set by ModelFleet",
        ),
        (
            {"spec": {"affinity": {"nodeSelector": {}}}},
            "affinity holds nodeAffinity, podAffinity and podAntiAffinity",
        ),
    ],
)
def test_additions_that_would_break_the_rendered_pod_are_refused(
    additions: dict[str, Any], message: str
) -> None:
    with pytest.raises(SpecError, match=message):
        parse_spec({"model": {"id": "org/m"}, "podTemplate": additions})


def test_replicas_spread_over_nodes_then_zones_without_ever_staying_pending() -> None:
    workload, _, _ = rendered()
    [pod] = pod_specs(workload)
    spread = pod["topologySpreadConstraints"]
    assert [c["topologyKey"] for c in spread] == [HOSTNAME_KEY, ZONE_KEY]
    assert {c["whenUnsatisfiable"] for c in spread} == {"ScheduleAnyway"}
    assert spread[0]["labelSelector"]["matchLabels"]["modelfleet.io/revision"] == "0123456789"


def test_leaders_and_workers_of_a_multi_node_revision_spread_as_separate_sets() -> None:
    workload, _, _ = rendered(gpus=16, nodes=2, tp=8, pp=2)
    roles = [
        pod["topologySpreadConstraints"][0]["labelSelector"]["matchLabels"]["modelfleet.io/role"]
        for pod in pod_specs(workload)
    ]
    assert roles == ["server", "worker"]


@pytest.mark.parametrize("nodes", [1, 2])
def test_the_budget_lets_one_pod_of_the_revision_go_at_a_time(nodes: int) -> None:
    workload, _, budget = rendered(gpus=8 * nodes, nodes=nodes, tp=8, pp=nodes)
    assert (
        budget["kind"] == "PodDisruptionBudget" and budget["metadata"]["name"] == workload["metadata"]["name"]
    )
    assert budget["spec"]["maxUnavailable"] == 1
    assert budget["spec"]["unhealthyPodEvictionPolicy"] == "AlwaysAllow"
    assert budget["spec"]["selector"]["matchLabels"] == {
        "modelfleet.io/name": "m",
        "modelfleet.io/revision": "0123456789",
    }


def test_the_budget_does_not_change_with_the_replica_count() -> None:
    spec = make_spec("vllm")
    two, five = (
        render_revision(
            spec, make_plan("vllm"), name="m", namespace="ns", revision="r", replicas=n, gpu=H100
        )[2]
        for n in (2, 5)
    )
    assert two == five


@pytest.mark.parametrize("engine", ["vllm", "sglang", "tgi"])
def test_the_grace_period_covers_the_prestop_sleep_and_the_engines_exit(engine: str) -> None:
    workload, _, _ = rendered(engine=engine)
    [pod] = pod_specs(workload)
    sleep = pod["containers"][0]["lifecycle"]["preStop"]["sleep"]["seconds"]
    shutdown = PROFILES[Engine(engine)].shutdown
    assert sleep == shutdown.serve_after_stop_seconds
    assert pod["terminationGracePeriodSeconds"] == sleep + shutdown.exit_seconds > sleep


def test_engines_that_abort_on_sigterm_finish_requests_before_the_signal() -> None:
    # vLLM and SGLang drop in-flight requests on SIGTERM; TGI drains after it.
    assert (
        PROFILES[Engine.VLLM].shutdown.serve_after_stop_seconds
        > PROFILES[Engine.TGI].shutdown.serve_after_stop_seconds
    )
    assert PROFILES[Engine.TGI].shutdown.exit_seconds > PROFILES[Engine.VLLM].shutdown.exit_seconds
