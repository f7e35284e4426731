"""What the engine command line is built from: one engine-neutral value per decision.

:func:`engine_inputs` reads the typed spec and the plan once; the per-engine builders in
:mod:`modelfleet.render.engines` only translate these values into their engine's flags.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import StrEnum

from modelfleet.api import ModelDeploymentSpec

# Re-exported: the renderer mounts its volumes where the API reserves them.
from modelfleet.api.spec_pod import CACHE_MOUNT_PATH as CACHE_MOUNT_PATH
from modelfleet.api.spec_pod import MODEL_MOUNT_PATH as MODEL_MOUNT_PATH
from modelfleet.catalog.types import ModelFacts
from modelfleet.planner.types import Candidate, Engine, Plan
from modelfleet.render.errors import RenderError

CONTAINER_PORT = 8000  # every engine is told to listen here, so Services and probes never differ
HF_HOME = CACHE_MOUNT_PATH + "/huggingface"

# Set in every container of a LeaderWorkerSet by its webhook; Kubernetes expands $(VAR) in command.
# https://github.com/kubernetes-sigs/lws/blob/main/api/leaderworkerset/v1/leaderworkerset_types.go
LWS_LEADER_ADDRESS = "$(LWS_LEADER_ADDRESS)"
LWS_WORKER_INDEX = "$(LWS_WORKER_INDEX)"

_DTYPE_ALIASES = {"bfloat16": "bf16", "float16": "fp16", "half": "fp16", "float8": "fp8"}


class Role(StrEnum):
    """A pod's part in a replica: the leader serves HTTP; workers only join the process group."""

    LEADER = "leader"
    WORKER = "worker"


@dataclass(frozen=True)
class SecretRef:
    name: str
    key: str


@dataclass(frozen=True)
class ModelLocation:
    """Where the engine reads the weights and under which name clients address the model.

    ``model_arg`` is a Hub repo id, the PVC mount path, or an object-store URI; ``revision`` is
    passed only for Hub downloads (a local path or URI has no revision).
    """

    model_arg: str
    served_name: str
    revision: str | None = None
    pvc_claim: str | None = None
    pvc_sub_path: str | None = None
    object_store: bool = False
    hf_token: SecretRef | None = None

    @property
    def offline(self) -> bool:
        """True when nothing is downloaded from the Hub (PVC or object store)."""
        return self.pvc_claim is not None or self.object_store


@dataclass(frozen=True)
class Parallelism:
    tensor: int
    pipeline: int
    data: int
    expert: bool
    nodes: int
    gpus_per_node: int  # GPUs of one pod

    @property
    def multi_node(self) -> bool:
        return self.nodes > 1


@dataclass(frozen=True)
class EngineInputs:
    """Engine-neutral launch values; ``quantization`` is set only when the engine must quantize
    on load (the checkpoint's own format is read from its config.json otherwise)."""

    engine: Engine
    model: ModelLocation
    parallel: Parallelism
    quantization: str | None
    kv_cache_fp8: bool
    max_model_len: int | None
    gpu_memory_utilization: float
    # Share of GPU memory for weights + KV cache alone (SGLang's --mem-fraction-static); None = unknown.
    static_memory_fraction: float | None = None
    port: int = CONTAINER_PORT
    user_args: tuple[str, ...] = ()
    trust_remote_code: bool = False  # --trust-remote-code: spec.model.trustRemoteCode


def engine_inputs(spec: ModelDeploymentSpec, plan: Plan, facts: ModelFacts | None = None) -> EngineInputs:
    """Read the spec and the plan into :class:`EngineInputs` (pure; raises :class:`RenderError`)."""
    chosen = chosen_candidate(plan)
    check_remote_code(spec, facts)
    return EngineInputs(
        engine=spec.engine.name,
        model=model_location(spec),
        parallel=parallelism(chosen),
        quantization=quantization_to_apply(spec, facts),
        kv_cache_fp8=spec.serving.kv_cache_dtype.value == "fp8",
        max_model_len=plan.max_model_len if plan.max_model_len is not None else spec.serving.max_model_len,
        gpu_memory_utilization=spec.serving.gpu_memory_utilization,
        static_memory_fraction=static_memory_fraction(plan, spec.serving.gpu_memory_utilization),
        user_args=tuple(spec.engine.args),
        trust_remote_code=spec.model.trust_remote_code,
    )


def check_remote_code(spec: ModelDeploymentSpec, facts: ModelFacts | None) -> None:
    """Refuse a model whose recipes need ``--trust-remote-code`` when the spec has not allowed it.

    Without the flag the engine stops at start-up (transformers refuses to load the repository's
    configuration or tokenizer code), after the GPUs were scheduled and the weights downloaded; saying
    so before any pod exists is cheaper. The flag is never turned on silently: the code runs in the pod.
    """
    if facts is None or not facts.trust_remote_code or spec.model.trust_remote_code:
        return
    raise RenderError(
        f"model {spec.model.id} ships its own Python code (configuration, modelling or tokenizer) and its "
        "published recipes start the engine with --trust-remote-code; that code runs inside the engine pods. "
        "Review the repository, pin model.revision, then set spec.model.trustRemoteCode: true"
    )


def static_memory_fraction(plan: Plan, utilization: float) -> float | None:
    """The fraction of each GPU's memory for weights and KV cache: the plan's budget minus its overhead.

    SGLang's ``--mem-fraction-static`` covers "static memory like model weights and KV cache pools";
    activations, CUDA graphs and NCCL buffers live in the remainder (``server_args.py``). Copying
    ``gpuMemoryUtilization`` there would hand SGLang the planner's overhead as extra KV cache and leave
    the activations nothing. Rounded down to 0.001.

    Llama-3.1-8B on one H100 (80 GiB) at 0.90: usable 72.0 GiB, overhead 2.3 GiB:
    (72.0 - 2.3) / 80 = 0.871.

    >>> from modelfleet.planner.types import MemoryPerGpu
    >>> gib = 2**30
    >>> memory = MemoryPerGpu(weights=15 * gib, kv_cache=4 * gib, overhead=int(2.3 * gib), usable=72 * gib)
    >>> static_memory_fraction(Plan(True, "m", Engine.SGLANG, "bf16", 8192, None, memory, None, ()), 0.9)
    0.871
    """
    memory = plan.memory
    if memory is None or utilization <= 0:
        return None
    total = memory.usable / utilization
    static = (memory.usable - memory.overhead) / total
    return max(0.0, math.floor(static * 1000) / 1000)


def chosen_candidate(plan: Plan) -> Candidate:
    if not plan.feasible or plan.chosen is None:
        reasons = "; ".join(plan.reasons) or "no reason given"
        raise RenderError(f"the plan for {plan.model_id} is not feasible ({reasons}); fix the spec first")
    return plan.chosen


def parallelism(chosen: Candidate) -> Parallelism:
    """The per-pod layout of a candidate.

    >>> parallelism(Candidate("H100-80GB", 16, 2, 8, 2)).gpus_per_node
    8
    """
    if chosen.nodes_per_replica < 1 or chosen.gpus_per_replica % chosen.nodes_per_replica:
        raise RenderError(
            f"plan: {chosen.gpus_per_replica} GPUs cannot be split evenly over "
            f"{chosen.nodes_per_replica} nodes; pin accelerator.gpusPerReplica to a multiple of the node count"
        )
    return Parallelism(
        tensor=chosen.tensor_parallel,
        pipeline=chosen.pipeline_parallel,
        data=chosen.data_parallel,
        expert=chosen.expert_parallel,
        nodes=chosen.nodes_per_replica,
        gpus_per_node=chosen.gpus_per_replica // chosen.nodes_per_replica,
    )


def model_location(spec: ModelDeploymentSpec) -> ModelLocation:
    model = spec.model
    source = model.source
    if source is not None and source.pvc is not None:
        return ModelLocation(
            model_arg=MODEL_MOUNT_PATH,
            served_name=model.id,
            pvc_claim=source.pvc.claim_name,
            pvc_sub_path=source.pvc.sub_path,
        )
    if source is not None and source.uri is not None:
        return _uri_location(spec, source.uri)
    token = None
    if source is not None and source.huggingface is not None and source.huggingface.token_secret_ref:
        ref = source.huggingface.token_secret_ref
        token = SecretRef(name=ref.name, key=ref.key)
    return ModelLocation(model_arg=model.id, served_name=model.id, revision=model.revision, hf_token=token)


def _uri_location(spec: ModelDeploymentSpec, uri: str) -> ModelLocation:
    model = spec.model
    if uri.startswith("hf://"):
        return ModelLocation(
            model_arg=uri.removeprefix("hf://"), served_name=model.id, revision=model.revision
        )
    if spec.engine.name is not Engine.VLLM:
        raise RenderError(
            f"model.source.uri {uri!r}: only vLLM streams weights from object storage; "
            "use engine.name: vllm, or copy the model to a PVC and set model.source.pvc"
        )
    # vLLM streams s3:// and gs:// checkpoints with the Run:ai model streamer (--load-format).
    return ModelLocation(model_arg=uri, served_name=model.id, object_store=True)


def quantization_to_apply(spec: ModelDeploymentSpec, facts: ModelFacts | None) -> str | None:
    """The quantization the engine must apply on load, or None when it serves the checkpoint as is.

    ``model.quantization`` names the served weight dtype. When it equals the checkpoint's own dtype
    (from the catalog or ``model.overrides.nativeDtype``) the engine needs no flag: it reads the
    format from config.json. bf16 needs no flag either. When the native dtype is unknown the
    user's request is passed on.

    >>> from modelfleet.api import parse_spec
    >>> spec = parse_spec({"model": {"id": "org/m", "quantization": "fp8", "overrides": {"nativeDtype": "fp8"}}})
    >>> quantization_to_apply(spec, None) is None
    True
    """
    requested = spec.model.quantization
    if requested is None or requested.value == "bf16":
        return None
    native = (
        spec.model.overrides.native_dtype.value
        if spec.model.overrides and spec.model.overrides.native_dtype
        else None
    )
    if native is None and facts is not None and facts.native_dtype:
        native = facts.native_dtype
    if native is not None and _normalise_dtype(native) == requested.value:
        return None
    return requested.value


def _normalise_dtype(name: str) -> str:
    key = name.strip().lower()
    return _DTYPE_ALIASES.get(key, key)
