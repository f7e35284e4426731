"""Which model architectures each pinned engine release serves with its own (sharded, paged) kernels.

TGI 3.3 dispatches on config.json ``model_type`` to the optimized implementations listed in
``docs/source/supported_models.md`` (generated from the ``ModelType`` enum of
``server/text_generation_server/models/__init__.py``, huggingface.co/docs/text-generation-inference/
supported_models); its router parses exactly these types (the enum quoted in
huggingface/text-generation-inference#3199: "unknown variant `qwen3`, expected one of `qwen2_5_vl`,
... `deepseek_v3`"). Anything else falls back to the plain transformers implementation, which the
planner's TGI memory model (paged KV cache, tensor-parallel shards) does not describe, so such
plans are refused with the list's source and the engines that do serve the model.

vLLM and SGLang register hundreds of architectures and gain new ones every release; they are not
checked here (an unknown architecture fails at their start-up with the architecture's name).
"""

from __future__ import annotations

from types import MappingProxyType

from modelfleet.planner.types import Engine

TGI_SOURCE = (
    "TGI 3.3 supported models (huggingface.co/docs/text-generation-inference/supported_models, "
    "server/text_generation_server/models/__init__.py ModelType)"
)

# config.json "architectures"[0] -> TGI model_type, for every model_type TGI 3.3 serves optimized.
TGI_3_ARCHITECTURES = MappingProxyType(
    {
        "BaichuanForCausalLM": "baichuan",
        "BloomForCausalLM": "bloom",
        "CohereForCausalLM": "cohere",
        "DbrxForCausalLM": "dbrx",
        "DeepseekV2ForCausalLM": "deepseek_v2",
        "DeepseekV3ForCausalLM": "deepseek_v3",
        "FalconForCausalLM": "falcon",
        "Gemma2ForCausalLM": "gemma2",
        "Gemma3ForCausalLM": "gemma3_text",
        "Gemma3ForConditionalGeneration": "gemma3",
        "GemmaForCausalLM": "gemma",
        "GPT2LMHeadModel": "gpt2",
        "GPTBigCodeForCausalLM": "gpt_bigcode",
        "GPTJForCausalLM": "gptj",
        "GPTNeoXForCausalLM": "gpt_neox",
        "GraniteForCausalLM": "granite",
        "Idefics2ForConditionalGeneration": "idefics2",
        "Idefics3ForConditionalGeneration": "idefics3",
        "IdeficsForVisionText2Text": "idefics",
        "Llama4ForCausalLM": "llama4",
        "Llama4ForConditionalGeneration": "llama4",
        "LlamaForCausalLM": "llama",
        "LlavaNextForConditionalGeneration": "llava_next",
        "MambaForCausalLM": "mamba",
        "MistralForCausalLM": "mistral",
        "MixtralForCausalLM": "mixtral",
        "MllamaForConditionalGeneration": "mllama",
        "MptForCausalLM": "mpt",
        "OPTForCausalLM": "opt",
        "PaliGemmaForConditionalGeneration": "paligemma",
        "Phi3ForCausalLM": "phi3",
        "PhiForCausalLM": "phi",
        "PhiMoEForCausalLM": "phimoe",
        "Qwen2ForCausalLM": "qwen2",
        "Qwen2VLForConditionalGeneration": "qwen2_vl",
        "Qwen2_5_VLForConditionalGeneration": "qwen2_5_vl",
        "Starcoder2ForCausalLM": "starcoder2",
        "T5ForConditionalGeneration": "t5",
    }
)


def architecture_problem(engine: Engine, architecture: str | None) -> str | None:
    """Why ``engine`` does not serve ``architecture`` with its own kernels, or None.

    >>> architecture_problem(Engine.TGI, "LlamaForCausalLM") is None
    True
    >>> print(architecture_problem(Engine.TGI, "Qwen3MoeForCausalLM")[:60])
    tgi 3.3 has no implementation of Qwen3MoeForCausalLM (its op
    """
    if engine is not Engine.TGI or architecture is None or architecture in TGI_3_ARCHITECTURES:
        return None
    return (
        f"tgi 3.3 has no implementation of {architecture} (its optimized architectures: "
        f"{', '.join(sorted(set(TGI_3_ARCHITECTURES.values())))}; source: {TGI_SOURCE}); it would fall back "
        "to unsharded transformers code the plan cannot size: use engine vllm or sglang"
    )
