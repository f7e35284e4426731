"""What makes a new revision, and what makes a rendered object change."""

from __future__ import annotations

import copy
import hashlib
import json
from pathlib import Path

import pytest
import yaml

from modelfleet.render import render_revision, revision_hash, spec_hash
from modelfleet.render.names import SPEC_HASH_LABEL
from tests.unit.golden.cases import H100, HF_SOURCE, make_plan, make_spec

BASE_SPEC = make_spec("vllm")
BASE_PLAN = make_plan("vllm", gpus=4)


def test_revision_hash_is_ten_hex_characters() -> None:
    value = revision_hash(BASE_SPEC, BASE_PLAN)
    assert len(value) == 10 and int(value, 16) >= 0


@pytest.mark.parametrize(
    "changed",
    [
        make_spec("vllm", replicas=7),
        make_spec("vllm", rollout={"strategy": "RollingUpdate"}),
        make_spec("vllm", accelerator={"type": "H100-80GB"}),  # a pin only matters through the plan
        make_spec("vllm", engine={"name": "vllm"}),  # written default == omitted
    ],
    ids=["replicas", "rollout", "accelerator-pin", "explicit-default"],
)
def test_scaling_and_rollout_edits_keep_the_revision(changed) -> None:
    assert revision_hash(changed, BASE_PLAN) == revision_hash(BASE_SPEC, BASE_PLAN)


@pytest.mark.parametrize(
    "changed",
    [
        make_spec("vllm", model={"id": "org/model", "revision": "def5678", "source": HF_SOURCE}),
        make_spec("vllm", model={"id": "org/other", "revision": "abc1234", "source": HF_SOURCE}),
        make_spec(
            "vllm",
            model={"id": "org/model", "revision": "abc1234", "quantization": "fp8", "source": HF_SOURCE},
        ),
        make_spec(
            "vllm", model={"id": "org/model", "revision": "abc1234", "source": {"pvc": {"claimName": "m"}}}
        ),
        make_spec("vllm", engine={"name": "vllm", "version": "0.33.1"}),
        make_spec("vllm", engine={"name": "vllm", "image": "registry.local/vllm:patched"}),
        make_spec("vllm", engine={"name": "vllm", "args": ["--enable-prefix-caching"]}),
        make_spec("vllm", engine={"name": "vllm", "env": [{"name": "NCCL_DEBUG", "value": "INFO"}]}),
        make_spec("vllm", engine={"name": "sglang"}),
        make_spec("vllm", serving={"maxModelLen": 8192}),
    ],
    ids=[
        "model-revision",
        "model-id",
        "quantization",
        "source",
        "engine-version",
        "image",
        "args",
        "env",
        "engine",
        "serving",
    ],
)
def test_anything_that_changes_the_pods_changes_the_revision(changed) -> None:
    assert revision_hash(changed, BASE_PLAN) != revision_hash(BASE_SPEC, BASE_PLAN)


@pytest.mark.parametrize(
    "plan",
    [
        make_plan("vllm", gpus=8),
        make_plan("vllm", gpus=4, tp=2, pp=2),
        make_plan("vllm", gpus=4, ep=True),
        make_plan("vllm", gpus=4, gpu="H200"),
        make_plan("vllm", gpus=16, nodes=2, tp=8, pp=2),
    ],
    ids=["gpus", "pp", "ep", "gpu-type", "nodes"],
)
def test_a_different_plan_layout_is_a_different_revision(plan) -> None:
    assert revision_hash(BASE_SPEC, plan) != revision_hash(BASE_SPEC, BASE_PLAN)


def test_a_replicas_change_leaves_the_workload_spec_hash_unchanged() -> None:
    two = render_revision(BASE_SPEC, BASE_PLAN, name="m", namespace="ns", revision="r", replicas=2, gpu=H100)
    five = render_revision(BASE_SPEC, BASE_PLAN, name="m", namespace="ns", revision="r", replicas=5, gpu=H100)
    assert two[0]["spec"]["replicas"] == 2 and five[0]["spec"]["replicas"] == 5
    assert two[0]["metadata"]["labels"][SPEC_HASH_LABEL] == five[0]["metadata"]["labels"][SPEC_HASH_LABEL]


def test_the_spec_hash_label_is_on_the_workload_and_its_pods_and_matches_spec_hash() -> None:
    workload, service, budget = render_revision(
        BASE_SPEC, BASE_PLAN, name="m", namespace="ns", revision="r", replicas=1, gpu=H100
    )
    value = workload["metadata"]["labels"][SPEC_HASH_LABEL]
    assert workload["spec"]["template"]["metadata"]["labels"][SPEC_HASH_LABEL] == value
    assert spec_hash(workload) == value  # recomputing ignores the label already stamped
    assert service["metadata"]["labels"][SPEC_HASH_LABEL] == spec_hash(service)
    assert budget["metadata"]["labels"][SPEC_HASH_LABEL] == spec_hash(budget)


def test_a_pod_change_changes_the_spec_hash() -> None:
    one = render_revision(BASE_SPEC, BASE_PLAN, name="m", namespace="ns", revision="r", replicas=1, gpu=H100)
    spec = make_spec("vllm", engine={"name": "vllm", "args": ["--enable-prefix-caching"]})
    two = render_revision(spec, BASE_PLAN, name="m", namespace="ns", revision="r", replicas=1, gpu=H100)
    assert one[0]["metadata"]["labels"][SPEC_HASH_LABEL] != two[0]["metadata"]["labels"][SPEC_HASH_LABEL]


def _reference_spec_hash(obj: dict) -> str:
    """The spec-hash's definition: a deep copy without spec.replicas and with the spec-hash labels
    dropped (label maps added where missing), digested as sorted compact JSON."""
    stripped = copy.deepcopy(obj)
    if isinstance(stripped.get("spec"), dict):
        stripped["spec"].pop("replicas", None)
    maps = [stripped.setdefault("metadata", {}).setdefault("labels", {})]
    spec = stripped.get("spec") or {}
    lwt = spec.get("leaderWorkerTemplate") or {}
    for template in (spec.get("template"), lwt.get("leaderTemplate"), lwt.get("workerTemplate")):
        if isinstance(template, dict):
            maps.append(template.setdefault("metadata", {}).setdefault("labels", {}))
    for labels in maps:
        labels.pop(SPEC_HASH_LABEL, None)
    text = json.dumps(stripped, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:10]


GOLDEN = Path(__file__).parent / "golden"


@pytest.mark.parametrize("path", sorted(GOLDEN.glob("*.yaml")), ids=lambda p: p.stem)
def test_the_spec_hash_copies_only_what_it_strips_and_keeps_its_definition(path: Path) -> None:
    objects = [o for o in yaml.safe_load_all(path.read_text()) if isinstance(o, dict)]
    objects.append({"apiVersion": "v1", "kind": "Service", "spec": {"ports": []}})  # no metadata at all
    objects.append({"apiVersion": "x/v1", "kind": "X", "metadata": {"name": "x"}, "spec": {"replicas": 3}})
    for obj in objects:
        before = copy.deepcopy(obj)
        assert spec_hash(obj) == _reference_spec_hash(obj)
        assert obj == before  # the object hashed is not changed
