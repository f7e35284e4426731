"""SGLang's command line: ``python3 -m sglang.launch_server --model-path <model> ...``.

Multi-node replicas shard one tensor-parallel group across nodes: every pod runs the same command
with ``--nnodes``, its ``--node-rank`` and ``--dist-init-addr`` pointing at the leader. Ranks
other than 0 serve only ``/health`` (SGLang's dummy health server), so they can be probed but
must never receive traffic.
"""

from __future__ import annotations

from modelfleet.render.engines.base import Shutdown, engine_quantization, flag, optional, with_user_args
from modelfleet.render.inputs import LWS_LEADER_ADDRESS, LWS_WORKER_INDEX, EngineInputs, Role

COMMAND = ("python3", "-m", "sglang.launch_server")
HEALTH_PATH = "/health"

# SGLang's tokenizer manager answers SIGTERM from a watchdog that kills its whole process tree
# (scheduler, detokenizer, TP ranks) without draining running requests (sgl-project/sglang#16484
# describes it), so requests finish during the preStop sleep, before the signal; the ranks then get
# 30 s to release the GPUs.
SHUTDOWN = Shutdown(serve_after_stop_seconds=60, exit_seconds=30)
DIST_INIT_PORT = 20000  # the port the LWS examples use for SGLang's torch.distributed rendezvous

# Quantization SGLang applies on load to a bf16 checkpoint -> its --quantization
# (python/sglang/srt/arg_groups/choices.py); awq / gptq checkpoints are read from their config.json.
QUANTIZATION = {"fp8": "fp8"}
KV_CACHE_FP8 = "fp8_e4m3"


def argv(inputs: EngineInputs, role: Role) -> tuple[str, ...]:
    """The full SGLang argv for one pod of a replica (``--enable-metrics`` feeds canary analysis)."""
    ours = [
        *COMMAND,
        flag("--model-path", inputs.model.model_arg),
        flag("--served-model-name", inputs.model.served_name),
        *optional("--revision", inputs.model.revision),
        flag("--host", "0.0.0.0"),  # SGLang binds 127.0.0.1 by default: probes and Services need more
        flag("--port", inputs.port),
        *_parallel_flags(inputs),
        *optional("--context-length", inputs.max_model_len),
        flag("--mem-fraction-static", _static_fraction(inputs)),
        *optional("--quantization", engine_quantization("SGLang", inputs.quantization, QUANTIZATION)),
        *(["--kv-cache-dtype=" + KV_CACHE_FP8] if inputs.kv_cache_fp8 else []),
        "--enable-metrics",
        *(["--trust-remote-code"] if inputs.trust_remote_code else []),
        *_multi_node(inputs, role),
    ]
    return with_user_args(ours, inputs.user_args)


def _parallel_flags(inputs: EngineInputs) -> list[str]:
    """TP / PP / DP / EP flags.

    DP x EP (the DeepSeek and Kimi recipes: ``--tp 8 --dp 8 --enable-dp-attention``): SGLang's
    ``--tp-size`` is then every GPU of the replica and ``--dp-size`` divides it into attention ranks
    ("tp_size % dp_size == 0", ``server_args.py``); experts span all of them (``--ep-size``).

    >>> from modelfleet.render.inputs import ModelLocation, Parallelism
    >>> dp_ep = EngineInputs(engine="sglang", model=ModelLocation("org/m", "org/m"),
    ...     parallel=Parallelism(1, 1, 8, True, 1, 8), quantization=None, kv_cache_fp8=False,
    ...     max_model_len=8192, gpu_memory_utilization=0.9)
    >>> _parallel_flags(dp_ep)
    ['--tp-size=8', '--dp-size=8', '--enable-dp-attention', '--ep-size=8']
    """
    parallel = inputs.parallel
    if parallel.data > 1 and parallel.expert:
        world = parallel.tensor * parallel.data
        return [
            flag("--tp-size", world),
            flag("--dp-size", parallel.data),
            "--enable-dp-attention",
            flag("--ep-size", world),
        ]
    return [
        flag("--tp-size", parallel.tensor),
        *([flag("--pp-size", parallel.pipeline)] if parallel.pipeline > 1 else []),
        *([flag("--dp-size", parallel.data)] if parallel.data > 1 else []),
        # Expert parallel over the whole tensor-parallel group, SGLang's usual layout for MoE.
        *([flag("--ep-size", parallel.tensor)] if parallel.expert else []),
    ]


def _static_fraction(inputs: EngineInputs) -> float:
    """Weights + KV share of GPU memory: SGLang keeps activations and CUDA graphs outside it."""
    fraction = inputs.static_memory_fraction
    return fraction if fraction is not None and fraction > 0 else inputs.gpu_memory_utilization


def _multi_node(inputs: EngineInputs, role: Role) -> list[str]:
    if not inputs.parallel.multi_node:
        return []
    rank = "0" if role is Role.LEADER else LWS_WORKER_INDEX
    return [
        flag("--nnodes", inputs.parallel.nodes),
        flag("--node-rank", rank),
        flag("--dist-init-addr", f"{LWS_LEADER_ADDRESS}:{DIST_INIT_PORT}"),
    ]
