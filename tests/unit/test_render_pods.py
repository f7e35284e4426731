"""The rendered workloads and pods: shape, scheduling, probes, security, model source and env."""

from __future__ import annotations

from typing import Any

import pytest

from modelfleet.catalog.types import GIB
from modelfleet.render import OperatorConfig, RenderError, render_all, render_revision
from modelfleet.render.sizing import load_seconds
from tests.unit.golden.cases import GOLDEN_CASES, H100, HF_SOURCE, L4, MI300X, make_plan, make_spec


def render(spec=None, plan=None, gpu=H100, config=None, name="m") -> list[dict[str, Any]]:
    spec = spec or make_spec("vllm")
    plan = plan or make_plan(spec.engine.name.value, gpu=gpu.name)
    return render_revision(
        spec, plan, name=name, namespace="ns", revision="0123456789", replicas=2, config=config, gpu=gpu
    )


def pod_templates(workload: dict[str, Any]) -> list[dict[str, Any]]:
    if workload["kind"] == "Deployment":
        return [workload["spec"]["template"]]
    lwt = workload["spec"]["leaderWorkerTemplate"]
    return [lwt["leaderTemplate"], lwt["workerTemplate"]]


def engine_container(template: dict[str, Any]) -> dict[str, Any]:
    (container,) = template["spec"]["containers"]
    return container


def env_of(template: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {entry["name"]: entry for entry in engine_container(template)["env"]}


def all_objects() -> list[dict[str, Any]]:
    return [
        obj
        for case in GOLDEN_CASES
        for obj in render_all(case.spec, case.plan, name="model", namespace="llm", gpu=case.gpu)
    ]


# --- workload shape -------------------------------------------------------------------------------


def test_single_node_replicas_are_a_deployment_that_never_surges_gpus() -> None:
    workload, _, _ = render(plan=make_plan("vllm", gpus=4))
    assert workload["apiVersion"] == "apps/v1" and workload["kind"] == "Deployment"
    assert workload["metadata"]["name"] == "m-0123456789"
    assert workload["spec"]["replicas"] == 2
    assert workload["spec"]["strategy"]["rollingUpdate"] == {"maxSurge": 0, "maxUnavailable": 1}


def test_multi_node_replicas_are_a_leaderworkerset_with_one_pod_per_node() -> None:
    workload, _, _ = render(plan=make_plan("vllm", gpus=16, nodes=2, tp=8, pp=2))
    assert workload["apiVersion"] == "leaderworkerset.x-k8s.io/v1" and workload["kind"] == "LeaderWorkerSet"
    assert workload["spec"]["leaderWorkerTemplate"]["size"] == 2
    assert workload["spec"]["replicas"] == 2
    for template in pod_templates(workload):
        assert engine_container(template)["resources"]["limits"] == {"nvidia.com/gpu": 8}


def test_vllm_multi_node_uses_native_flags_with_the_lws_leader_address_and_headless_workers() -> None:
    leader, worker = (
        engine_container(t)["command"]
        for t in pod_templates(render(plan=make_plan("vllm", gpus=16, nodes=2, tp=8, pp=2))[0])
    )
    assert "--nnodes=2" in leader and "--node-rank=0" in leader and "--headless" not in leader
    assert "--master-addr=$(LWS_LEADER_ADDRESS)" in worker
    assert "--node-rank=$(LWS_WORKER_INDEX)" in worker and worker[-1] == "--headless"


def test_sglang_multi_node_points_every_rank_at_the_leader() -> None:
    spec = make_spec("sglang", engine={"name": "sglang"})
    workload, _, _ = render(spec, make_plan("sglang", gpus=16, nodes=2, tp=16))
    leader, worker = (engine_container(t)["command"] for t in pod_templates(workload))
    assert "--dist-init-addr=$(LWS_LEADER_ADDRESS):20000" in leader and "--node-rank=0" in leader
    assert "--node-rank=$(LWS_WORKER_INDEX)" in worker and "--tp-size=16" in worker


def test_tgi_refuses_a_multi_node_plan_and_says_which_engines_can() -> None:
    spec = make_spec("tgi", engine={"name": "tgi"})
    with pytest.raises(RenderError, match="vllm or sglang"):
        render(spec, make_plan("tgi", gpus=16, nodes=2, tp=8, pp=2))


def test_an_infeasible_plan_is_refused_with_its_reasons() -> None:
    plan = make_plan("vllm")
    infeasible = type(plan)(
        False, plan.model_id, plan.engine, "bf16", None, None, None, None, ("needs 16 GPUs",)
    )
    with pytest.raises(RenderError, match="needs 16 GPUs"):
        render(plan=infeasible)


# --- Services -------------------------------------------------------------------------------------


def test_services_select_only_serving_pods_and_the_revision_service_only_its_revision() -> None:
    workload, revision_service, _ = render(plan=make_plan("vllm", gpus=16, nodes=2, tp=8, pp=2))
    leader, worker = pod_templates(workload)
    selector = revision_service["spec"]["selector"]
    assert selector == {
        "modelfleet.io/name": "m",
        "modelfleet.io/revision": "0123456789",
        "modelfleet.io/role": "server",
    }
    assert all(leader["metadata"]["labels"][k] == v for k, v in selector.items())
    assert worker["metadata"]["labels"]["modelfleet.io/role"] == "worker"


def test_the_umbrella_service_selects_every_revision_of_the_model_deployment() -> None:
    objects = render_all(make_spec("vllm"), make_plan("vllm"), name="m", namespace="ns", gpu=H100)
    umbrella = next(o for o in objects if o["kind"] == "Service" and o["metadata"]["name"] == "m")
    assert umbrella["spec"]["selector"] == {"modelfleet.io/name": "m", "modelfleet.io/role": "server"}
    assert umbrella["spec"]["ports"] == [
        {"name": "http", "port": 80, "protocol": "TCP", "targetPort": "http"}
    ]


# --- scheduling and resources ---------------------------------------------------------------------


def test_amd_pods_request_amd_gpus_and_land_on_the_planned_product() -> None:
    workload, _, _ = render(plan=make_plan("vllm", gpu="MI300X", gpus=8), gpu=MI300X)
    (template,) = pod_templates(workload)
    assert engine_container(template)["resources"]["limits"] == {"amd.com/gpu": 8}
    term = template["spec"]["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]
    (expression,) = term["nodeSelectorTerms"][0]["matchExpressions"]
    assert expression == {
        "key": "amd.com/gpu.product-name",
        "operator": "In",
        "values": ["AMD-Instinct-MI300X", "AMD_Instinct_MI300X_OAM"],
    }
    assert engine_container(template)["image"] == "vllm/vllm-openai-rocm:v0.33.0"
    assert template["spec"]["tolerations"] == [
        {"key": "amd.com/gpu", "operator": "Exists", "effect": "NoSchedule"}
    ]


def test_without_an_explicit_gpu_the_catalog_entry_of_the_planned_type_is_used() -> None:
    objects = render_revision(
        make_spec("vllm"), make_plan("vllm"), name="m", namespace="ns", revision="r", replicas=1
    )
    term = objects[0]["spec"]["template"]["spec"]["affinity"]["nodeAffinity"]
    values = term["requiredDuringSchedulingIgnoredDuringExecution"]["nodeSelectorTerms"][0][
        "matchExpressions"
    ][0]
    assert "NVIDIA-H100-80GB-HBM3" in values["values"]


@pytest.mark.parametrize(("gpus", "shm"), [(1, "2Gi"), (4, "8Gi"), (8, "16Gi")])
def test_dev_shm_is_a_memory_empty_dir_sized_by_gpus_per_pod(gpus: int, shm: str) -> None:
    (template,) = pod_templates(render(plan=make_plan("vllm", gpus=gpus))[0])
    dshm = next(v for v in template["spec"]["volumes"] if v["name"] == "dshm")
    assert dshm["emptyDir"] == {"medium": "Memory", "sizeLimit": shm}


# --- probes ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("weight_gib", [8, 131, 642, 3000, 100_000])
def test_the_startup_probe_allows_at_least_the_estimated_load_time(weight_gib: int) -> None:
    (template,) = pod_templates(render(plan=make_plan("vllm", gpus=8, weight_bytes=weight_gib * GIB))[0])
    startup = engine_container(template)["startupProbe"]
    budget = startup["failureThreshold"] * startup["periodSeconds"]
    assert budget >= load_seconds(weight_gib * GIB) >= 300
    assert budget <= 3 * 3600 + startup["periodSeconds"]


@pytest.mark.parametrize(("engine", "worker_probed"), [("vllm", False), ("sglang", True)])
def test_workers_are_probed_only_when_the_engine_runs_a_health_server_on_them(engine, worker_probed) -> None:
    spec = make_spec(engine, engine={"name": engine})
    leader, worker = pod_templates(render(spec, make_plan(engine, gpus=16, nodes=2, tp=8, pp=2))[0])
    assert engine_container(leader)["readinessProbe"]["httpGet"] == {"path": "/health", "port": "http"}
    assert ("startupProbe" in engine_container(worker)) is worker_probed


# --- security -------------------------------------------------------------------------------------


def test_pods_are_hardened_even_though_engine_images_run_as_root() -> None:
    for obj in all_objects():
        if obj["kind"] not in ("Deployment", "LeaderWorkerSet"):
            continue
        for template in pod_templates(obj):
            pod = template["spec"]
            assert pod["automountServiceAccountToken"] is False and pod["enableServiceLinks"] is False
            assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
            context = engine_container(template)["securityContext"]
            assert context["allowPrivilegeEscalation"] is False and context["capabilities"] == {
                "drop": ["ALL"]
            }


def test_a_configured_user_makes_pods_run_as_non_root() -> None:
    (template,) = pod_templates(render(config=OperatorConfig(run_as_user=1000))[0])
    assert template["spec"]["securityContext"]["runAsNonRoot"] is True
    assert template["spec"]["securityContext"]["runAsUser"] == 1000
    assert engine_container(template)["securityContext"]["runAsNonRoot"] is True


def test_objects_carry_no_owner_references_the_reconciler_adds_them() -> None:
    assert all("ownerReferences" not in obj["metadata"] for obj in all_objects())


# --- model source and the Hugging Face token -------------------------------------------------------


def test_the_hf_token_is_only_ever_a_secret_key_ref() -> None:
    for obj in all_objects():
        if obj["kind"] not in ("Deployment", "LeaderWorkerSet"):
            continue
        for template in pod_templates(obj):
            for entry in engine_container(template)["env"]:
                if "TOKEN" in entry["name"]:
                    assert "value" not in entry
                    assert entry["valueFrom"]["secretKeyRef"] == {"name": "hf-token", "key": "token"}


def test_a_literal_token_in_engine_env_is_refused_with_what_to_do_instead() -> None:
    spec = make_spec("vllm", engine={"name": "vllm", "env": [{"name": "HF_TOKEN", "value": "hf_secret"}]})
    with pytest.raises(RenderError, match="tokenSecretRef"):
        render(spec)


def test_a_pvc_source_is_mounted_read_only_offline_and_never_created() -> None:
    spec = make_spec(
        "vllm",
        model={
            "id": "org/model",
            "revision": "abc1234",
            "source": {"pvc": {"claimName": "weights", "subPath": "llama"}},
        },
    )
    objects = render(spec)
    assert all(obj["kind"] != "PersistentVolumeClaim" for obj in objects)
    (template,) = pod_templates(objects[0])
    volume = next(v for v in template["spec"]["volumes"] if v["name"] == "model")
    assert volume["persistentVolumeClaim"] == {"claimName": "weights", "readOnly": True}
    mount = next(m for m in engine_container(template)["volumeMounts"] if m["name"] == "model")
    assert mount == {"name": "model", "mountPath": "/model", "readOnly": True, "subPath": "llama"}
    command = engine_container(template)["command"]
    assert command[2] == "/model" and not any(arg.startswith("--revision") for arg in command)
    assert env_of(template)["HF_HUB_OFFLINE"]["value"] == "1"


def test_a_hub_source_passes_the_model_revision_to_every_engine() -> None:
    for engine in ("vllm", "sglang", "tgi"):
        (template,) = pod_templates(render(make_spec(engine, engine={"name": engine}))[0])
        assert "--revision=abc1234" in engine_container(template)["command"]


def test_vllm_streams_object_store_models_and_other_engines_refuse_them() -> None:
    model = {"id": "org/model", "source": {"uri": "s3://bucket/llama"}}
    (template,) = pod_templates(render(make_spec("vllm", model=model))[0])
    command = engine_container(template)["command"]
    assert command[2] == "s3://bucket/llama" and "--load-format=runai_streamer" in command
    with pytest.raises(RenderError, match="only vLLM"):
        render(make_spec("sglang", model=model, engine={"name": "sglang"}))


# --- quantization ---------------------------------------------------------------------------------


def test_a_quantization_equal_to_the_checkpoint_dtype_needs_no_flag() -> None:
    model = {"id": "org/model", "quantization": "fp8", "overrides": {"nativeDtype": "fp8"}}
    (template,) = pod_templates(render(make_spec("vllm", model=model))[0])
    assert not any(arg.startswith("--quantization") for arg in engine_container(template)["command"])


@pytest.mark.parametrize(
    ("engine", "flag"),
    [("vllm", "--quantization=fp8_per_tensor"), ("sglang", "--quantization=fp8"), ("tgi", "--quantize=fp8")],
)
def test_fp8_on_a_bf16_checkpoint_asks_the_engine_to_quantize(engine: str, flag: str) -> None:
    model = {"id": "org/model", "quantization": "fp8", "overrides": {"nativeDtype": "bf16"}}
    (template,) = pod_templates(render(make_spec(engine, model=model, engine={"name": engine}))[0])
    assert flag in engine_container(template)["command"]


@pytest.mark.parametrize("engine", ["vllm", "sglang", "tgi"])
@pytest.mark.parametrize("dtype", ["awq", "gptq"])
def test_awq_and_gptq_on_a_checkpoint_not_stored_so_are_refused(engine: str, dtype: str) -> None:
    model = {"id": "org/model", "quantization": dtype, "overrides": {"nativeDtype": "bf16"}}
    with pytest.raises(RenderError, match=f"calibration pass.*nativeDtype: {dtype}"):
        render(make_spec(engine, model=model, engine={"name": engine}))


@pytest.mark.parametrize("engine", ["vllm", "sglang", "tgi"])
def test_an_awq_checkpoint_is_served_with_no_quantization_flag(engine: str) -> None:
    model = {"id": "org/model", "quantization": "awq", "overrides": {"nativeDtype": "awq"}}
    (template,) = pod_templates(render(make_spec(engine, model=model, engine={"name": engine}))[0])
    assert not any(arg.startswith("--quantiz") for arg in engine_container(template)["command"])


def test_int8_on_vllm_is_refused_because_it_would_quantize_only_moe_experts() -> None:
    model = {"id": "org/model", "quantization": "int8", "overrides": {"nativeDtype": "bf16"}}
    with pytest.raises(RenderError, match="MoE experts alone"):
        render(make_spec("vllm", model=model))


def test_int8_on_tgi_quantizes_every_linear_layer_with_eetq() -> None:
    model = {"id": "org/model", "quantization": "int8", "overrides": {"nativeDtype": "bf16"}}
    (template,) = pod_templates(render(make_spec("tgi", model=model, engine={"name": "tgi"}))[0])
    assert "--quantize=eetq" in engine_container(template)["command"]


def test_sglang_static_fraction_leaves_the_planned_overhead_outside() -> None:
    (template,) = pod_templates(render(make_spec("sglang", engine={"name": "sglang"}))[0])
    fractions = [a for a in engine_container(template)["command"] if a.startswith("--mem-fraction-static=")]
    (fraction,) = [float(a.split("=", 1)[1]) for a in fractions]
    assert 0 < fraction < 0.90  # gpuMemoryUtilization 0.90 minus the activation / graph overhead


def test_a_quantization_the_engine_cannot_apply_on_load_is_refused_with_what_to_do() -> None:
    model = {"id": "org/model", "quantization": "int4"}
    with pytest.raises(RenderError, match="nativeDtype: int4"):
        render(make_spec("vllm", model=model))


# --- env and user args ----------------------------------------------------------------------------


def test_env_is_sorted_and_the_users_value_wins_on_a_name_clash() -> None:
    spec = make_spec(
        "vllm",
        engine={
            "name": "vllm",
            "env": [{"name": "HF_HOME", "value": "/data"}, {"name": "A_FIRST", "value": "1"}],
        },
    )
    (template,) = pod_templates(render(spec)[0])
    names = [entry["name"] for entry in engine_container(template)["env"]]
    assert names == sorted(names) and names[0] == "A_FIRST"
    assert env_of(template)["HF_HOME"]["value"] == "/data"


def test_user_args_come_last_and_replace_the_same_flag_of_ours() -> None:
    spec = make_spec(
        "tgi", engine={"name": "tgi", "args": ["--max-total-tokens", "8192", "--trust-remote-code"]}
    )
    (template,) = pod_templates(render(spec, make_plan("tgi", gpu="L4", gpus=1), gpu=L4)[0])
    command = engine_container(template)["command"]
    assert command[-3:] == ["--max-total-tokens", "8192", "--trust-remote-code"]
    assert not any(arg.startswith("--max-total-tokens=") for arg in command)


# --- names ----------------------------------------------------------------------------------------


def test_long_model_deployment_names_still_give_valid_names_and_label_values() -> None:
    name = "a-very-long-model-deployment-name-that-goes-on-and-on-past-sixty-three-characters"
    objects = render_all(make_spec("vllm"), make_plan("vllm"), name=name, namespace="ns", gpu=H100)
    for obj in objects:
        assert len(obj["metadata"]["name"]) <= 63
        assert all(len(value) <= 63 for value in obj["metadata"]["labels"].values())
    assert len({obj["metadata"]["name"] for obj in objects if obj["kind"] == "Service"}) == 2


def test_hub_models_are_served_under_their_model_id() -> None:
    (template,) = pod_templates(render(make_spec("vllm", model={"id": "org/model", "source": HF_SOURCE}))[0])
    assert "--served-model-name=org/model" in engine_container(template)["command"]


# --- remote code ----------------------------------------------------------------------------------


def _launch_with_facts(engine: str, model: dict[str, Any], facts_id: str) -> Any:
    from modelfleet.catalog import get_model
    from modelfleet.render import launch_spec

    spec = make_spec(engine, model=model, engine={"name": engine})
    return launch_spec(
        spec,
        make_plan(engine),
        name="m",
        namespace="ns",
        revision="0123456789",
        gpu=H100,
        facts=get_model(facts_id),
    )


@pytest.mark.parametrize("engine", ["vllm", "sglang", "tgi"])
def test_trust_remote_code_is_passed_only_when_the_spec_allows_it(engine: str) -> None:
    model = {"id": "moonshotai/Kimi-K2.6", "trustRemoteCode": True}
    launch = _launch_with_facts(engine, model, "moonshotai/Kimi-K2.6")
    assert "--trust-remote-code" in launch.leader.argv
    plain = _launch_with_facts(
        engine, {"id": "meta-llama/Llama-3.1-8B-Instruct"}, "meta-llama/Llama-3.1-8B-Instruct"
    )
    assert "--trust-remote-code" not in plain.leader.argv


@pytest.mark.parametrize(
    "model_id", ["moonshotai/Kimi-K2.6", "deepseek-ai/DeepSeek-V4-Pro", "MiniMaxAI/MiniMax-M2.7"]
)
def test_a_model_whose_recipes_need_remote_code_is_refused_until_the_spec_allows_it(model_id: str) -> None:
    with pytest.raises(RenderError, match="trustRemoteCode: true") as refused:
        _launch_with_facts("vllm", {"id": model_id}, model_id)
    assert "runs inside the engine pods" in str(refused.value)


def test_trust_remote_code_defaults_to_off() -> None:
    assert make_spec("vllm").model.trust_remote_code is False
