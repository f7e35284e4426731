"""A ModelDeployment's name fits every place it goes: the CRD caps it at the label-value limit, and at
that limit the children's labels give back the very name the reconciler looks them up by."""

from __future__ import annotations

import celpy
import pytest

from modelfleet import NAME_MAX_LENGTH
from modelfleet.api import parse_spec
from modelfleet.api.crd import NAME_TOO_LONG, openapi_schema
from modelfleet.api.to_request import plan_request_from_spec
from modelfleet.catalog import gpu_catalog
from modelfleet.decide.observed import owner_key
from modelfleet.planner import plan as make_plan
from modelfleet.render import render_revision, render_umbrella_service, revision_hash
from modelfleet.render.config import OperatorConfig
from modelfleet.render.names import DNS_LABEL_MAX, NAME_LABEL

CEL = celpy.Environment()
SPEC = {"model": {"id": "Qwen/Qwen3.5-9B"}, "accelerator": {"type": "L4"}, "serving": {"maxModelLen": 8192}}


def root_rules_accept(name: str) -> bool:
    for rule in openapi_schema()["x-kubernetes-validations"]:
        program = CEL.program(CEL.compile(rule["rule"]))
        if not bool(program.evaluate({"self": celpy.json_to_cel({"metadata": {"name": name}, "spec": {}})})):
            return False
    return True


@pytest.mark.parametrize(("length", "accepted"), [(1, True), (63, True), (64, False), (253, False)])
def test_the_crd_accepts_names_up_to_the_label_value_limit(length: int, accepted: bool) -> None:
    assert root_rules_accept("m" * length) is accepted


def test_the_cap_is_the_label_value_limit_and_its_message_says_what_to_do() -> None:
    assert NAME_MAX_LENGTH == DNS_LABEL_MAX
    assert str(NAME_MAX_LENGTH) in NAME_TOO_LONG and "shorter name" in NAME_TOO_LONG


@pytest.mark.parametrize("name", ["m" * 63, "qwen.3-5." + "n" * 54])
def test_children_at_the_longest_name_map_back_to_it(name: str) -> None:
    assert len(name) == NAME_MAX_LENGTH
    spec = parse_spec(SPEC)
    request, facts = plan_request_from_spec(spec)
    plan = make_plan(request, facts, gpu_catalog())
    config = OperatorConfig()
    objects = render_revision(
        spec, plan, name=name, namespace="llm", revision=revision_hash(spec, plan), replicas=1, config=config
    )
    objects.append(render_umbrella_service(spec, name=name, namespace="llm", config=config))
    for obj in objects:
        assert owner_key(obj) == ("llm", name), obj["kind"]
        assert len(obj["metadata"]["name"]) <= DNS_LABEL_MAX
    [workload] = [o for o in objects if o["kind"] == "Deployment"]
    assert workload["spec"]["template"]["metadata"]["labels"][NAME_LABEL] == name
