"""The reconciler's pure decision: from an observed snapshot to children, status and events."""

from __future__ import annotations

import copy
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

from modelfleet.catalog.license import LicensePolicy
from modelfleet.decide import Context, Decision, Observed, decide
from modelfleet.decide.inventory import Inventory, NodeGpus, PodGpus, pod_gpus
from modelfleet.decide.observed import PodSummary, child_summary
from modelfleet.decide.statusdiff import merge_patch
from modelfleet.render.config import OperatorConfig
from modelfleet.render.names import NAME_LABEL, object_labels

NOW = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)
CTX = Context(license_policy=LicensePolicy(), render=OperatorConfig(), gateway_api=True)
L4_NODES = (
    NodeGpus("l4-0", "L4", "NVIDIA-L4", "nvidia.com/gpu", 4, True),
    NodeGpus("l4-1", "L4", "NVIDIA-L4", "nvidia.com/gpu", 4, True),
)
H100_NODE = (NodeGpus("h100-0", "H100-80GB", "NVIDIA-H100-80GB-HBM3", "nvidia.com/gpu", 8, True),)


def spec(**changes: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "model": {"id": "Qwen/Qwen3.5-9B"},
        "accelerator": {"type": "L4"},
        "serving": {"maxModelLen": 8192},
        "rollout": {"strategy": "RollingUpdate"},
    }
    base.update(changes)
    return base


def observed(
    spec_: dict[str, Any],
    status: dict[str, Any] | None = None,
    children: tuple = (),
    pods: tuple = (),
    nodes: tuple = L4_NODES,
    gpu_pods: tuple = (),
    now: datetime = NOW,
    generation: int = 1,
    annotations: dict[str, str] | None = None,
) -> Observed:
    return Observed(
        name="m",
        namespace="llm",
        uid="uid-1",
        generation=generation,
        annotations=annotations or {},
        spec=spec_,
        status=status or {},
        children=children,
        pods=pods,
        inventory=Inventory(nodes, gpu_pods),
        now=now,
    )


def created(decision: Decision, ready: bool = True) -> tuple:
    """The children the API server would hold after applying `decision` (kwok makes pods Ready)."""
    children = []
    for obj in decision.apply:
        obj = copy.deepcopy(obj)
        obj["metadata"]["uid"] = f"uid-{obj['metadata']['name']}"
        obj["metadata"]["generation"] = 1
        if obj["kind"] == "Deployment" and ready:
            n = obj["spec"]["replicas"]
            obj["status"] = {"observedGeneration": 1, "readyReplicas": n, "updatedReplicas": n}
        children.append(child_summary(obj))
    return tuple(children)


def condition(decision: Decision, type_: str) -> dict[str, Any]:
    return next(c for c in decision.status["conditions"] if c["type"] == type_)


def settle(spec_: dict[str, Any], passes: int = 4) -> tuple[Observed, Decision]:
    """Run passes like the operator would, feeding back status and children, until nothing changes."""
    obs = observed(spec_)
    decision = decide(obs, CTX)
    children = created(decision)
    for i in range(passes):
        obs = observed(spec_, status=decision.status, children=children, now=NOW + timedelta(seconds=i + 1))
        decision = decide(obs, CTX)
        by_name = {(c.kind, c.name): c for c in children}
        for c in created(decision):
            by_name[(c.kind, c.name)] = c
        for c in decision.delete:
            by_name.pop((c.kind, c.name), None)
        children = tuple(by_name.values())
    return obs, decision


def test_a_first_reconcile_creates_the_workload_and_services_owned_by_the_model_deployment() -> None:
    decision = decide(observed(spec()), CTX)
    kinds = sorted(o["kind"] for o in decision.apply)
    assert kinds == ["Deployment", "PodDisruptionBudget", "Service", "Service"]
    for obj in decision.apply:
        [owner] = obj["metadata"]["ownerReferences"]
        assert owner["uid"] == "uid-1" and owner["controller"] is True and owner["kind"] == "ModelDeployment"
    assert decision.status["plan"]["gpuType"] == "L4"
    assert decision.status["observedGeneration"] == 1
    assert condition(decision, "Schedulable")["status"] == "True"


def test_a_settled_model_deployment_is_healthy_and_nothing_is_rewritten() -> None:
    obs, decision = settle(spec())
    assert decision.status["phase"] == "Healthy"
    assert condition(decision, "Ready")["status"] == "True"
    assert decision.apply == [] and decision.scale == [] and decision.delete == []
    assert merge_patch(dict(obs.status), decision.status) == {}, "an unchanged world writes no status"
    assert decision.events == []


def test_an_invalid_spec_becomes_a_condition_not_an_exception() -> None:
    decision = decide(observed({"model": {"id": "x/y"}, "replicas": -3}), CTX)
    assert decision.apply == [] and decision.result == "invalid"
    ready = condition(decision, "Ready")
    assert ready["reason"] == "InvalidSpec" and "spec.replicas" in ready["message"]
    assert decision.status["phase"] == "Failed"
    assert any(e.reason == "InvalidSpec" and e.type == "Warning" for e in decision.events)


def test_an_unknown_model_without_overrides_says_what_to_provide() -> None:
    decision = decide(observed(spec(model={"id": "acme/never-heard-of-it"})), CTX)
    cond = condition(decision, "Schedulable")
    assert cond["reason"] == "UnknownModel" and "overrides" in cond["message"]
    assert decision.apply == []


def test_a_refused_licence_creates_nothing_and_says_why() -> None:
    decision = decide(
        observed(spec(model={"id": "MiniMaxAI/MiniMax-M2.7"}, accelerator={"type": "H200"})), CTX
    )
    cond = condition(decision, "LicenseAccepted")
    assert cond["status"] == "False" and cond["reason"] == "LicenseRefused"
    assert decision.apply == [] and decision.status["phase"] == "Failed"


def test_a_licence_that_needs_acceptance_names_the_field_to_set() -> None:
    decision = decide(observed(spec(model={"id": "moonshotai/Kimi-K2.6"}, accelerator={"type": "H200"})), CTX)
    cond = condition(decision, "LicenseAccepted")
    assert cond["reason"] == "LicenseNeedsAcceptance" and "licenseAccepted" in cond["message"]


def test_a_model_that_fits_no_free_capacity_creates_no_pods_and_names_numbers() -> None:
    big = spec(
        model={"id": "meta-llama/Llama-3.1-405B-Instruct", "licenseAccepted": True, "quantization": "bf16"},
        accelerator={"type": "H100-80GB"},
    )
    decision = decide(observed(big, nodes=H100_NODE), CTX)
    cond = condition(decision, "Schedulable")
    assert cond["status"] == "False" and cond["reason"] == "InsufficientCapacity"
    assert "H100-80GB" in cond["message"] and "8" in cond["message"]
    assert decision.apply == [] and decision.waiting_for_capacity


def test_an_infeasible_pin_is_explained_not_changed() -> None:
    pinned = spec(accelerator={"type": "L4", "tensorParallel": 3})
    decision = decide(observed(pinned), CTX)
    cond = condition(decision, "Schedulable")
    assert cond["reason"] == "PlanInfeasible" and "3" in cond["message"]
    assert decision.apply == []


def test_pending_pods_are_reported_with_the_schedulers_message() -> None:
    obs, decision = settle(spec())
    pending = (
        PodSummary("m-x", "r", "Pending", False, "0/12 nodes are available: 2 Insufficient nvidia.com/gpu."),
    )
    decision = decide(observed(spec(), status=decision.status, children=obs.children, pods=pending), CTX)
    cond = condition(decision, "Schedulable")
    assert cond["reason"] == "PodsPending" and "Insufficient nvidia.com/gpu" in cond["message"]


def test_scaling_changes_replicas_without_a_new_revision() -> None:
    obs, decision = settle(spec())
    revision = decision.status["revisions"]["stable"]
    scaled = decide(
        observed(spec(replicas=3), status=decision.status, children=obs.children, generation=2), CTX
    )
    assert scaled.status["revisions"]["stable"] == revision
    [deployment] = [o for o in scaled.apply if o["kind"] == "Deployment"]
    assert deployment["spec"]["replicas"] == 3
    assert scaled.status["observedGeneration"] == 2


def test_a_pod_changing_edit_creates_a_new_revision_and_keeps_the_old_one_serving() -> None:
    obs, decision = settle(spec())
    old = decision.status["revisions"]["stable"]
    new_spec = spec(model={"id": "Qwen/Qwen3.5-9B", "revision": "abc"})
    changed = decide(observed(new_spec, status=decision.status, children=obs.children, generation=2), CTX)
    revisions = {
        o["metadata"]["labels"].get("modelfleet.io/revision")
        for o in changed.apply
        if o["kind"] == "Deployment"
    }
    assert revisions and old not in revisions
    assert not any(c.kind == "Deployment" for c in changed.delete), (
        "the old revision stays until the new is Ready"
    )


def test_gpus_held_by_the_model_deployments_own_pods_count_as_free_when_it_replans() -> None:
    own = tuple(PodGpus(node, "nvidia.com/gpu", 4, "llm/m") for node in ("l4-0", "l4-1"))
    decision = decide(observed(spec(), gpu_pods=own), CTX)
    assert decision.status["plan"]["gpuType"] == "L4"
    others = tuple(PodGpus(node, "nvidia.com/gpu", 4, None) for node in ("l4-0", "l4-1"))
    blocked = decide(observed(spec(), gpu_pods=others), CTX)
    assert condition(blocked, "Schedulable")["reason"] == "InsufficientCapacity"


def own_gpu_pods(md_name: str) -> tuple[PodGpus | None, ...]:
    """The GPU pods a ModelDeployment's rendered workload holds: 4 L4s on each node, labelled as rendered."""
    return tuple(
        pod_gpus(
            {
                "metadata": {"namespace": "llm", "labels": object_labels(md_name)},
                "spec": {
                    "nodeName": node,
                    "containers": [{"resources": {"limits": {"nvidia.com/gpu": "4"}}}],
                },
                "status": {"phase": "Running"},
            }
        )
        for node in ("l4-0", "l4-1")
    )


def test_a_long_name_knows_its_own_pods_by_the_shortened_name_label() -> None:
    long_name = "qwen3-5-9b-" + "x" * 70  # a valid object name, too long for a label value
    label_value = object_labels(long_name)[NAME_LABEL]
    short = decide(observed(spec(), gpu_pods=own_gpu_pods("m")), CTX)
    long = decide(replace(observed(spec(), gpu_pods=own_gpu_pods(long_name)), name=long_name), CTX)
    assert condition(long, "Schedulable") == condition(short, "Schedulable"), "its own pods count as its own"
    assert long.status["selector"] == f"{NAME_LABEL}={label_value}" and len(label_value) <= 63


def test_a_spec_the_renderer_refuses_becomes_a_condition_not_an_exception() -> None:
    bad = spec(engine={"name": "vllm", "version": "0.1.0"})
    decision = decide(observed(bad), CTX)
    ready = condition(decision, "Ready")
    assert ready["reason"] == "InvalidSpec" and "engine.version" in ready["message"]
    assert decision.apply == [] and decision.status["phase"] == "Failed"


def test_a_token_written_in_the_spec_is_refused_and_never_copied_into_the_status() -> None:
    bad = spec(engine={"name": "vllm", "env": [{"name": "HF_TOKEN", "value": "hf_secret_value"}]})
    decision = decide(observed(bad), CTX)
    assert condition(decision, "Ready")["reason"] == "InvalidSpec"
    assert "hf_secret_value" not in str(decision.status)
    assert decision.apply == []


def test_a_first_deploy_says_its_plan_once_and_its_readiness_once() -> None:
    """Creation gets one event (the plan); the expected starting states (not Ready yet, progressing,
    licence fine, not degraded) are quiet; becoming Ready is said once, in the rollout's words (Ready
    turning True in the same pass restates it)."""
    first = decide(observed(spec()), CTX)
    assert [(e.type, e.reason) for e in first.events] == [("Normal", "PlanFeasible")]
    said = list(first.events)
    children = created(first)
    status = first.status
    for i in range(3):
        decision = decide(
            observed(spec(), status=status, children=children, now=NOW + timedelta(seconds=i + 1)), CTX
        )
        said.extend(decision.events)
        status = decision.status
    assert [e.reason for e in said] == ["PlanFeasible", "RolloutComplete"]
    assert condition(decision, "Ready")["status"] == "True"


def test_a_problem_on_creation_is_a_warning_at_once() -> None:
    decision = decide(observed(spec(model={"id": "example/not-in-the-catalog"})), CTX)
    assert [(e.type, e.reason) for e in decision.events] == [("Warning", "UnknownModel")]


def test_the_plan_spans_whole_nodes_of_the_shapes_the_cluster_has() -> None:
    """Six 2-GPU H100 NVL machines hold one 12-GPU replica: the node shape comes from the Nodes."""
    nvl_nodes = tuple(
        NodeGpus(f"nvl-{i}", "H100-NVL", "NVIDIA-H100-NVL", "nvidia.com/gpu", 2, True) for i in range(6)
    )
    llama = spec(
        model={"id": "meta-llama/Llama-3.1-70B-Instruct", "licenseAccepted": True},
        accelerator={"type": "H100-NVL", "gpusPerReplica": 12},
    )
    decision = decide(observed(llama, nodes=nvl_nodes), CTX)
    plan = decision.status["plan"]
    assert (plan["nodesPerReplica"], plan["tensorParallel"], plan["pipelineParallel"]) == (6, 2, 6)
    assert any(obj["kind"] == "LeaderWorkerSet" for obj in decision.apply)


def test_a_model_that_needs_remote_code_waits_for_trust_remote_code_and_says_so() -> None:
    h200 = (NodeGpus("h200-0", "H200", "NVIDIA-H200", "nvidia.com/gpu", 8, True),)
    v4 = spec(model={"id": "deepseek-ai/DeepSeek-V4-Flash"}, accelerator={"type": "H200"})
    refused = decide(observed(v4, nodes=h200), CTX)
    ready = condition(refused, "Ready")
    assert ready["status"] == "False" and ready["reason"] == "InvalidSpec"
    assert "spec.model.trustRemoteCode: true" in ready["message"]
    assert refused.apply == []
    allowed = spec(
        model={"id": "deepseek-ai/DeepSeek-V4-Flash", "trustRemoteCode": True}, accelerator={"type": "H200"}
    )
    decision = decide(observed(allowed, nodes=h200), CTX)
    (workload,) = [obj for obj in decision.apply if obj["kind"] == "Deployment"]
    assert "--trust-remote-code" in workload["spec"]["template"]["spec"]["containers"][0]["command"]
