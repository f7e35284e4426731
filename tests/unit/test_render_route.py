"""The HTTPRoute: weighted backends per revision, attached to the user's Gateway."""

from __future__ import annotations

import pytest

from modelfleet.api import ParentRef
from modelfleet.render import RenderError, render_all, render_route
from modelfleet.render.config import OperatorConfig
from modelfleet.render.objects import Backend, http_route
from tests.unit.golden.cases import H100, make_plan, make_spec

GATEWAY_SPEC = make_spec(
    "vllm",
    rollout={
        "canary": {
            "trafficRouting": {
                "provider": "gatewayAPI",
                "gatewayAPI": {
                    "parentRefs": [{"name": "gw", "namespace": "infra", "sectionName": "https"}],
                    "hostnames": ["llm.example.com"],
                },
            }
        }
    },
)


def test_the_route_splits_traffic_between_revision_services_by_weight() -> None:
    route = render_route(GATEWAY_SPEC, name="m", namespace="ns", weights={"canary0001": 10, "stable0001": 90})
    assert route["apiVersion"] == "gateway.networking.k8s.io/v1" and route["kind"] == "HTTPRoute"
    (rule,) = route["spec"]["rules"]
    assert rule["backendRefs"] == [
        {"name": "m-canary0001", "port": 80, "weight": 10},
        {"name": "m-stable0001", "port": 80, "weight": 90},
    ]
    assert route["spec"]["parentRefs"] == [{"name": "gw", "namespace": "infra", "sectionName": "https"}]
    assert route["spec"]["hostnames"] == ["llm.example.com"]


def test_backend_order_does_not_depend_on_the_order_weights_were_given() -> None:
    one = render_route(GATEWAY_SPEC, name="m", namespace="ns", weights=[("b", 50), ("a", 50)])
    two = render_route(GATEWAY_SPEC, name="m", namespace="ns", weights={"a": 50, "b": 50})
    assert one == two


def test_a_route_takes_explicit_parent_refs_hostnames_and_backends() -> None:
    route = http_route(
        name="m",
        namespace="ns",
        parent_refs=[ParentRef(name="gw")],
        hostnames=[],
        backends=[Backend("m-abc", 100)],
        config=OperatorConfig(service_port=8080),
    )
    assert "hostnames" not in route["spec"]
    assert route["spec"]["rules"][0]["backendRefs"] == [{"name": "m-abc", "port": 8080, "weight": 100}]


def test_a_route_without_a_gateway_is_refused_with_the_field_to_set() -> None:
    with pytest.raises(RenderError, match="parentRefs"):
        render_route(make_spec("vllm"), name="m", namespace="ns", weights={"abc": 100})


def test_render_all_adds_a_route_only_when_gateway_api_routing_is_configured() -> None:
    with_gateway = render_all(GATEWAY_SPEC, make_plan("vllm"), name="m", namespace="ns", gpu=H100)
    without = render_all(make_spec("vllm"), make_plan("vllm"), name="m", namespace="ns", gpu=H100)
    assert [o["kind"] for o in with_gateway] == [
        "Deployment",
        "Service",
        "PodDisruptionBudget",
        "Service",
        "HTTPRoute",
    ]
    assert [o["kind"] for o in without] == ["Deployment", "Service", "PodDisruptionBudget", "Service"]
    route_backend = with_gateway[-1]["spec"]["rules"][0]["backendRefs"][0]["name"]
    assert route_backend == with_gateway[1]["metadata"]["name"]  # the revision Service
