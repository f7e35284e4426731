"""Render cases shared by the renderer tests: a spec, a plan and a GPU per case.

GPU facts are written out here (not read from the catalog) so the golden files change only when
the renderer does.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from modelfleet.api import ModelDeploymentSpec, parse_spec
from modelfleet.catalog.types import GIB, GpuType, Vendor
from modelfleet.planner.types import Candidate, Engine, MemoryPerGpu, Plan

H100 = GpuType(
    name="H100-80GB",
    vendor=Vendor.NVIDIA,
    memory_bytes=80 * GIB,
    gpus_per_node=8,
    compute_capability="9.0",
    arch="hopper",
    fp8=True,
    fp4=False,
    resource_name="nvidia.com/gpu",
    product_names=("NVIDIA-H100-80GB-HBM3",),
    relative_cost=2.0,
)
L4 = GpuType(
    name="L4",
    vendor=Vendor.NVIDIA,
    memory_bytes=24 * GIB,
    gpus_per_node=8,
    compute_capability="8.9",
    arch="ada",
    fp8=True,
    fp4=False,
    resource_name="nvidia.com/gpu",
    product_names=("NVIDIA-L4",),
    relative_cost=0.25,
)
MI300X = GpuType(
    name="MI300X",
    vendor=Vendor.AMD,
    memory_bytes=192 * GIB,
    gpus_per_node=8,
    compute_capability=None,
    arch="cdna3",
    fp8=True,
    fp4=False,
    resource_name="amd.com/gpu",
    product_names=("AMD_Instinct_MI300X_OAM", "AMD-Instinct-MI300X"),
    relative_cost=1.8,
)
GPUS = {gpu.name: gpu for gpu in (H100, L4, MI300X)}

HF_SOURCE = {"huggingface": {"tokenSecretRef": {"name": "hf-token", "key": "token"}}}
GATEWAY = {
    "canary": {
        "trafficRouting": {"provider": "gatewayAPI", "gatewayAPI": {"parentRefs": [{"name": "inference-gw"}]}}
    }
}


def make_spec(engine_name: str = "vllm", **overrides: Any) -> ModelDeploymentSpec:
    """A spec for ``org/model`` at revision ``abc1234`` from the Hub with a token; ``overrides``
    replace top-level spec keys (``model=...`` replaces the model block, ``engine=...`` the engine)."""
    data: dict[str, Any] = {
        "model": {"id": "org/model", "revision": "abc1234", "source": HF_SOURCE},
        "engine": {"name": engine_name},
        "serving": {"maxModelLen": 32768},
        "replicas": 2,
    }
    data.update(overrides)
    return parse_spec(data)


def make_plan(
    engine: str = "vllm",
    *,
    gpu: str = "H100-80GB",
    gpus: int = 1,
    nodes: int = 1,
    tp: int | None = None,
    pp: int = 1,
    dp: int = 1,
    ep: bool = False,
    weight_bytes: int = 16 * GIB,
    quantization: str = "bf16",
    max_model_len: int | None = 32768,
) -> Plan:
    """A feasible plan; ``weight_bytes`` is the whole checkpoint, spread over the GPUs."""
    tensor = tp if tp is not None else gpus // pp // dp
    return Plan(
        feasible=True,
        model_id="org/model",
        engine=Engine(engine),
        quantization=quantization,
        max_model_len=max_model_len,
        chosen=Candidate(gpu, gpus, nodes, tensor, pp, dp, ep),
        memory=MemoryPerGpu(
            weights=weight_bytes // gpus, kv_cache=8 * GIB, overhead=4 * GIB, usable=72 * GIB
        ),
        kv_bytes_per_token=131072,
        reasons=("test plan",),
    )


@dataclass(frozen=True)
class Case:
    name: str
    spec: ModelDeploymentSpec
    plan: Plan
    gpu: GpuType
    extra: dict[str, Any] = field(default_factory=dict)


# Every podTemplate addition, so the golden file shows how each merges with what ModelFleet renders.
POD_TEMPLATE = {
    "metadata": {"labels": {"team": "search"}, "annotations": {"example.com/owner": "search"}},
    "spec": {
        "nodeSelector": {"pool": "inference"},
        "tolerations": [{"key": "dedicated", "operator": "Equal", "value": "llm", "effect": "NoSchedule"}],
        "affinity": {
            "nodeAffinity": {
                "requiredDuringSchedulingIgnoredDuringExecution": {
                    "nodeSelectorTerms": [
                        {"matchExpressions": [{"key": "rack", "operator": "In", "values": ["r1", "r2"]}]}
                    ]
                }
            }
        },
        "priorityClassName": "llm-serving",
        "runtimeClassName": "nvidia",
        "serviceAccountName": "llm",
        "imagePullSecrets": [{"name": "registry"}],
        "volumes": [{"name": "templates", "configMap": {"name": "chat-templates"}}],
        "volumeMounts": [{"name": "templates", "mountPath": "/templates", "readOnly": True}],
    },
}

GOLDEN_CASES = (
    Case(
        "vllm-single-node",
        make_spec("vllm", rollout=GATEWAY),
        make_plan("vllm", gpus=4, weight_bytes=131 * GIB),
        H100,
    ),
    Case(
        "vllm-multi-node",
        make_spec(
            "vllm",
            model={"id": "org/model", "quantization": "fp8", "source": HF_SOURCE},
            serving={"maxModelLen": 131072, "kvCacheDtype": "fp8"},
        ),
        make_plan(
            "vllm",
            gpus=16,
            nodes=2,
            tp=8,
            pp=2,
            ep=True,
            weight_bytes=642 * GIB,
            quantization="fp8",
            max_model_len=131072,
        ),
        H100,
    ),
    Case(
        "sglang-single-node",
        make_spec(
            "sglang",
            engine={
                "name": "sglang",
                "args": ["--chunked-prefill-size", "8192"],
                "env": [{"name": "SGLANG_LOG_LEVEL", "value": "info"}],
            },
        ),
        make_plan("sglang", gpus=8, ep=True, weight_bytes=560 * GIB),
        H100,
    ),
    Case(
        "sglang-multi-node",
        make_spec("sglang", engine={"name": "sglang"}),
        make_plan("sglang", gpus=16, nodes=2, tp=16, weight_bytes=1200 * GIB),
        H100,
    ),
    Case(
        "tgi-single-node",
        make_spec(
            "tgi",
            model={"id": "org/model", "source": {"pvc": {"claimName": "models", "subPath": "org/model"}}},
            engine={"name": "tgi"},
        ),
        make_plan("tgi", gpu="L4", gpus=2, weight_bytes=30 * GIB),
        L4,
    ),
    Case(
        "vllm-pod-template",
        make_spec("vllm", model={"id": "org/model"}, replicas=2, podTemplate=POD_TEMPLATE),
        make_plan("vllm", gpus=4, weight_bytes=131 * GIB),
        H100,
    ),
    Case(
        "vllm-amd-mi300x",
        make_spec("vllm", model={"id": "org/model"}, replicas=1),
        make_plan("vllm", gpu="MI300X", gpus=8, weight_bytes=800 * GIB),
        MI300X,
    ),
)
