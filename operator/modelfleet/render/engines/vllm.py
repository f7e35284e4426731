"""vLLM's command line: ``vllm serve <model> ...`` (OpenAI-compatible server on one port).

Multi-node replicas use vLLM's own multiprocessing executor, not Ray: every pod runs the same
command with ``--nnodes/--node-rank/--master-addr/--master-port``; pods other than rank 0 add
``--headless`` (no API server, workers only). These flags are in ``ParallelConfig`` since vLLM 0.11
and checked against 0.33.0 (``vllm/config/parallel.py``, ``vllm/entrypoints/cli/serve.py``).
"""

from __future__ import annotations

from modelfleet.render.engines.base import Shutdown, engine_quantization, flag, optional, with_user_args
from modelfleet.render.errors import RenderError
from modelfleet.render.inputs import LWS_LEADER_ADDRESS, LWS_WORKER_INDEX, EngineInputs, Role

COMMAND = ("vllm", "serve")
HEALTH_PATH = "/health"

# vLLM's API server aborts every in-flight request on SIGTERM unless --shutdown-timeout is given
# (vllm-project/vllm#36666: "default, no timeout - abort all in-flight requests immediately"). So
# requests finish before the signal: the preStop sleep keeps the server up, out of the endpoints,
# for a minute (about 4,000 tokens at a typical 70 tokens/s decode); the engine core processes and
# NCCL communicators then get 30 s to exit.
SHUTDOWN = Shutdown(serve_after_stop_seconds=60, exit_seconds=30)
MASTER_PORT = 29501  # vLLM's default, written out so a NetworkPolicy can name it

# Quantization vLLM applies on load to a bf16 checkpoint: our name -> its --quantization.
# fp8 is the online shorthand "fp8_per_tensor" (vllm/config/quantization.py _ONLINE_SHORTHANDS): vLLM
# 0.30+ logs "--quantization fp8 is deprecated for online quantization; use --quantization
# fp8_per_tensor instead" for the old spelling. A pre-quantized checkpoint needs no flag at all.
QUANTIZATION = {"fp8": "fp8_per_tensor"}
WHY_NOT = {
    # "int8_per_channel_weight_only" defines only a MoE spec: "INT8 weight-only on MoE; linear stays
    # unquantized" (vllm/config/quantization.py). A dense model would be sized as int8 and served in bf16.
    "int8": "vLLM's only int8 on-load method (int8_per_channel_weight_only) quantizes MoE experts "
    "alone and leaves attention and dense layers in bf16, so the memory sized for int8 would not hold",
}
KV_CACHE_FP8 = "fp8"


def argv(inputs: EngineInputs, role: Role) -> tuple[str, ...]:
    """The full vLLM argv for one pod of a replica.

    >>> from modelfleet.render.inputs import ModelLocation, Parallelism
    >>> inputs = EngineInputs(engine="vllm", model=ModelLocation("org/m", "org/m"),
    ...     parallel=Parallelism(2, 1, 1, False, 1, 2), quantization=None, kv_cache_fp8=False,
    ...     max_model_len=4096, gpu_memory_utilization=0.9)
    >>> argv(inputs, Role.LEADER)[:4]
    ('vllm', 'serve', 'org/m', '--served-model-name=org/m')
    """
    parallel = inputs.parallel
    ours = [
        *COMMAND,
        inputs.model.model_arg,
        flag("--served-model-name", inputs.model.served_name),
        *optional("--revision", inputs.model.revision),
        *(["--load-format=runai_streamer"] if inputs.model.object_store else []),
        flag("--host", "0.0.0.0"),
        flag("--port", inputs.port),
        flag("--tensor-parallel-size", parallel.tensor),
        flag("--pipeline-parallel-size", parallel.pipeline),
        *_data_parallel(inputs),
        *(["--enable-expert-parallel"] if parallel.expert else []),
        *optional("--max-model-len", inputs.max_model_len),
        flag("--gpu-memory-utilization", inputs.gpu_memory_utilization),
        *optional("--quantization", engine_quantization("vLLM", inputs.quantization, QUANTIZATION, WHY_NOT)),
        *(["--kv-cache-dtype=" + KV_CACHE_FP8] if inputs.kv_cache_fp8 else []),
        *(["--trust-remote-code"] if inputs.trust_remote_code else []),
        *_multi_node(inputs, role),
    ]
    return with_user_args(ours, inputs.user_args)


def _data_parallel(inputs: EngineInputs) -> list[str]:
    if inputs.parallel.data <= 1:
        return []
    if inputs.parallel.multi_node:
        raise RenderError(
            "plan: data parallelism across nodes is not rendered for vLLM; "
            "pin accelerator.gpusPerReplica to one node's GPUs and raise replicas instead"
        )
    return [flag("--data-parallel-size", inputs.parallel.data)]


def _multi_node(inputs: EngineInputs, role: Role) -> list[str]:
    if not inputs.parallel.multi_node:
        return []
    rank = "0" if role is Role.LEADER else LWS_WORKER_INDEX
    args = [
        flag("--nnodes", inputs.parallel.nodes),
        flag("--node-rank", rank),
        flag("--master-addr", LWS_LEADER_ADDRESS),
        flag("--master-port", MASTER_PORT),
    ]
    return args if role is Role.LEADER else [*args, "--headless"]
