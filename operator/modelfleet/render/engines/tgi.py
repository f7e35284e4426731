"""TGI's command line: ``text-generation-launcher --model-id <model> ...``.

TGI shards a model over the GPUs of one machine only (``--num-shard``); the planner refuses
multi-node plans for it, and :func:`argv` refuses them again rather than render a broken group.
"""

from __future__ import annotations

from modelfleet.render.engines.base import Shutdown, engine_quantization, flag, optional, with_user_args
from modelfleet.render.errors import RenderError
from modelfleet.render.inputs import EngineInputs, Role

COMMAND = ("text-generation-launcher",)
HEALTH_PATH = "/health"

# TGI's router drains itself on SIGTERM: it stops accepting, lets running generations finish, then
# the launcher stops the shards. The preStop sleep only covers endpoint removal (kube-proxy and
# gateways see the pod leave within seconds); the drain happens after the signal.
SHUTDOWN = Shutdown(serve_after_stop_seconds=10, exit_seconds=80)

# Quantization TGI applies on load -> its --quantize (docs/source/reference/launcher.md). int8 uses
# EETQ, which TGI recommends over bitsandbytes and which needs no pre-quantized checkpoint. AWQ and
# GPTQ "need a pre-quantized model" (same page); TGI reads their format from the checkpoint's config.
QUANTIZATION = {"fp8": "fp8", "int8": "eetq"}
KV_CACHE_FP8 = "fp8_e4m3fn"


def argv(inputs: EngineInputs, role: Role) -> tuple[str, ...]:
    """The TGI argv (single node, so every pod is a leader)."""
    parallel = inputs.parallel
    if parallel.multi_node or role is Role.WORKER or parallel.pipeline > 1 or parallel.data > 1:
        raise RenderError(
            "engine tgi shards over one node only (tensor parallel); "
            "use engine.name: vllm or sglang for this plan, or a GPU type with more memory"
        )
    ours = [
        *COMMAND,
        flag("--model-id", inputs.model.model_arg),
        *optional("--revision", inputs.model.revision),
        flag("--hostname", "0.0.0.0"),
        flag("--port", inputs.port),
        flag("--num-shard", parallel.tensor),
        *_token_limits(inputs.max_model_len),
        flag("--cuda-memory-fraction", inputs.gpu_memory_utilization),
        *optional("--quantize", engine_quantization("TGI", inputs.quantization, QUANTIZATION)),
        *(["--kv-cache-dtype=" + KV_CACHE_FP8] if inputs.kv_cache_fp8 else []),
        flag("--usage-stats", "off"),  # no telemetry leaves the cluster
        *(["--trust-remote-code"] if inputs.trust_remote_code else []),
    ]
    return with_user_args(ours, inputs.user_args)


def _token_limits(max_model_len: int | None) -> list[str]:
    """TGI wants ``max_input_tokens < max_total_tokens`` (launcher/src/main.rs); leave one token to generate.

    >>> _token_limits(4096)
    ['--max-input-tokens=4095', '--max-total-tokens=4096']
    """
    if max_model_len is None or max_model_len < 2:
        return []
    return [flag("--max-input-tokens", max_model_len - 1), flag("--max-total-tokens", max_model_len)]
