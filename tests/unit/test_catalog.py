"""The shipped catalog: GPUs, models and licences load, are complete and agree with each other."""

from __future__ import annotations

import pytest

from modelfleet.catalog import (
    CatalogError,
    get_gpu,
    get_model,
    gpu_catalog,
    gpu_for_product,
    license_catalog,
    missing_facts,
    model_catalog,
)
from modelfleet.catalog.types import GIB, AttentionKind, Vendor

REQUIRED_GPUS = (
    "A10G", "L4", "L40S", "A100-40GB", "A100-80GB", "H100-80GB", "H100-NVL", "H800", "H20", "H200",
    "B200", "B300", "GB200", "MI300X", "MI325X", "MI355X",
)  # fmt: skip

SEED_MODELS = (
    "deepseek-ai/DeepSeek-V4-Flash",
    "deepseek-ai/DeepSeek-V4-Pro",
    "meta-llama/Llama-5",
    "mistralai/Mistral-Large-3-675B-Instruct-2512",
    "google/gemma-4-31B-it",
    "google/gemma-4-26B-A4B-it",
    "Qwen/Qwen3.5-397B-A17B",
    "Qwen/Qwen3.5-9B",
    "Qwen/Qwen3.5-4B",
    "Qwen/Qwen3.5-2B",
    "moonshotai/Kimi-K2.6",
    "zai-org/GLM-5.1",
    "XiaomiMiMo/MiMo-V2.5-Pro",
    "MiniMaxAI/MiniMax-M2.7",
    "MiniMaxAI/MiniMax-M2.5",
)

PUBLISHED_MEMORY_GIB = {
    "A10G": 24, "L4": 24, "L40S": 48, "A100-40GB": 40, "A100-80GB": 80, "H100-80GB": 80, "H100-NVL": 94,
    "H800": 80, "H20": 96, "H200": 141, "B200": 180, "B300": 288, "GB200": 186, "MI300X": 192,
    "MI325X": 256, "MI355X": 288,
}  # fmt: skip


# ---- GPUs -------------------------------------------------------------------------------------------


def test_every_required_gpu_is_in_the_catalog() -> None:
    assert set(REQUIRED_GPUS) <= set(gpu_catalog())


@pytest.mark.parametrize("name", REQUIRED_GPUS)
def test_gpu_memory_is_the_published_capacity(name: str) -> None:
    assert gpu_catalog()[name].memory_bytes == PUBLISHED_MEMORY_GIB[name] * GIB


@pytest.mark.parametrize("name", sorted(gpu_catalog()))
def test_every_gpu_has_the_facts_the_planner_needs(name: str) -> None:
    gpu = gpu_catalog()[name]
    assert gpu.name == name
    assert gpu.gpus_per_node in (1, 2, 4, 8)
    assert gpu.relative_cost > 0
    assert gpu.product_names, "a GPU nobody can discover on a node cannot be matched to inventory"
    assert gpu.source
    assert gpu.arch


@pytest.mark.parametrize("name", sorted(gpu_catalog()))
def test_vendor_decides_resource_name_and_compute_capability(name: str) -> None:
    gpu = gpu_catalog()[name]
    if gpu.vendor is Vendor.NVIDIA:
        assert gpu.resource_name == "nvidia.com/gpu"
        assert gpu.compute_capability is not None
    else:
        assert gpu.resource_name == "amd.com/gpu"
        assert gpu.compute_capability is None


@pytest.mark.parametrize("name", sorted(gpu_catalog()))
def test_fp8_and_fp4_follow_the_architecture(name: str) -> None:
    gpu = gpu_catalog()[name]
    if gpu.compute_capability is not None:
        major, minor = (int(part) for part in gpu.compute_capability.split("."))
        assert gpu.fp8 == ((major, minor) >= (8, 9))
        assert gpu.fp4 == (major >= 10)
    else:
        assert gpu.fp8 == (gpu.arch in ("cdna3", "cdna4"))
        assert gpu.fp4 == (gpu.arch == "cdna4")


def test_gb200_nodes_are_four_gpu_trays() -> None:
    assert get_gpu("GB200").gpus_per_node == 4


def test_h100_costs_more_than_a100_and_less_than_b200() -> None:
    assert (
        get_gpu("A100-80GB").relative_cost
        < get_gpu("H100-80GB").relative_cost
        < get_gpu("B200").relative_cost
    )


@pytest.mark.parametrize(
    ("label", "expected"),
    [
        ("NVIDIA-H100-80GB-HBM3", "H100-80GB"),
        ("NVIDIA-A100-SXM4-80GB", "A100-80GB"),
        ("NVIDIA-A100-SXM4-40GB", "A100-40GB"),
        ("NVIDIA-H200", "H200"),
        ("NVIDIA-L4", "L4"),
        ("NVIDIA-A10G", "A10G"),
        ("NVIDIA-L40S", "L40S"),
        ("NVIDIA-B200", "B200"),
        ("NVIDIA-H100-NVL", "H100-NVL"),
        ("NVIDIA-GB200", "GB200"),
        ("nvidia-h100-80gb-hbm3", "H100-80GB"),
        ("NVIDIA-H100-80GB-HBM3-SHARED", "H100-80GB"),
        ("AMD_Instinct_MI300X_OAM", "MI300X"),
        ("AMD-Instinct-MI300X", "MI300X"),
        ("AMD_Instinct_MI355X", "MI355X"),
    ],
)
def test_node_product_label_maps_to_the_catalog_gpu(label: str, expected: str) -> None:
    gpu = gpu_for_product(label)
    assert gpu is not None and gpu.name == expected


@pytest.mark.parametrize("label", ["NVIDIA-A100-SXM4-40GB-MIG-1g.5gb", "NVIDIA-GeForce-RTX-4090", "", "H100"])
def test_unknown_or_partial_product_labels_match_nothing(label: str) -> None:
    assert gpu_for_product(label) is None


def test_every_product_label_belongs_to_exactly_one_gpu() -> None:
    owners: dict[str, str] = {}
    for gpu in gpu_catalog().values():
        for label in gpu.product_names:
            assert owners.setdefault(label.lower().replace("_", "-"), gpu.name) == gpu.name


@pytest.mark.parametrize(
    ("name", "expected"),
    [("h200", "H200"), ("H100-80GB", "H100-80GB"), ("h100 80gb", "H100-80GB"), ("mi300x", "MI300X"),
     ("gb200", "GB200"), ("b200", "B200"), ("l40s", "L40S"), ("NVIDIA-A100-SXM4-80GB", "A100-80GB")],
)  # fmt: skip
def test_get_gpu_accepts_names_aliases_and_product_labels(name: str, expected: str) -> None:
    assert get_gpu(name).name == expected


@pytest.mark.parametrize(
    ("alias", "candidates"), [("h100", "H100-80GB, H100-NVL"), ("a100", "A100-40GB, A100-80GB")]
)
def test_ambiguous_gpu_alias_is_refused_naming_the_candidates(alias: str, candidates: str) -> None:
    with pytest.raises(CatalogError, match=candidates):
        get_gpu(alias)


def test_unknown_gpu_error_lists_valid_names_and_what_to_set() -> None:
    with pytest.raises(CatalogError) as error:
        get_gpu("V100")
    assert "accelerator.type" in str(error.value)
    assert all(name in str(error.value) for name in REQUIRED_GPUS)


def test_catalog_error_is_a_value_error() -> None:
    assert issubclass(CatalogError, ValueError)


# ---- models -----------------------------------------------------------------------------------------


def test_every_seed_model_is_in_the_catalog() -> None:
    assert set(SEED_MODELS) <= set(model_catalog())


def test_seed_models_come_first_in_the_catalog() -> None:
    first = list(model_catalog())[: len(SEED_MODELS)]
    assert set(first) >= {"deepseek-ai/DeepSeek-V4-Flash", "meta-llama/Llama-5", "moonshotai/Kimi-K2.6"}


@pytest.mark.parametrize("model_id", sorted(model_catalog()))
def test_unknown_list_names_exactly_the_missing_facts(model_id: str) -> None:
    facts = model_catalog()[model_id]
    assert set(facts.unknown) == set(missing_facts(facts))
    for name in facts.unknown:
        if "." not in name and name not in ("attention", "moe"):
            assert getattr(facts, name) is None


@pytest.mark.parametrize("model_id", sorted(model_catalog()))
def test_every_model_cites_a_source_and_a_known_licence(model_id: str) -> None:
    facts = model_catalog()[model_id]
    assert facts.id == model_id
    assert facts.source
    assert facts.license is None or facts.license in license_catalog()


@pytest.mark.parametrize("model_id", sorted(model_catalog()))
def test_active_params_never_exceed_total(model_id: str) -> None:
    facts = model_catalog()[model_id]
    if facts.total_params and facts.active_params:
        assert facts.active_params <= facts.total_params
        assert facts.is_moe or facts.moe is not None or facts.active_params == facts.total_params


def test_llama5_is_listed_with_its_architecture_unknown() -> None:
    facts = get_model("meta-llama/Llama-5")
    assert facts is not None
    assert facts.attention is AttentionKind.UNKNOWN
    assert {"num_layers", "total_params", "weight_bytes", "attention", "moe"} <= set(facts.unknown)


@pytest.mark.parametrize(
    ("model_id", "kv_bytes_per_token"),
    [
        ("deepseek-ai/DeepSeek-V4-Flash", 7_455),  # vLLM issue #51041: 7.01 GiB pool / 1,009,661 tokens
        ("deepseek-ai/DeepSeek-V4-Pro", 9_851),  # vLLM blog: ~9.62 GiB per 1M-token sequence in bf16
    ],
)
def test_deepseek_v4_uses_a_published_kv_figure_with_its_source(
    model_id: str, kv_bytes_per_token: int
) -> None:
    facts = get_model(model_id)
    assert facts is not None and facts.attention is AttentionKind.COMPRESSED
    assert facts.kv_bytes_per_token_override == kv_bytes_per_token
    assert any(source.startswith("kv_bytes_per_token_override: ") for source in facts.source)


@pytest.mark.parametrize(
    ("model_id", "facts_from_sources"),
    [
        (
            "deepseek-ai/DeepSeek-V4-Pro",
            {"num_layers": 61, "hidden_size": 7168, "num_attention_heads": 128, "head_dim": 512},
        ),
        (
            "google/gemma-4-26B-A4B-it",
            {"sliding_window": 1024, "full_attention_layers": 5, "full_attention_head_dim": 512},
        ),
        (
            "XiaomiMiMo/MiMo-V2.5-Pro",
            {"hidden_size": 6144, "num_kv_heads": 8, "head_dim": 192, "full_attention_layers": 10},
        ),
    ],
)
def test_seed_models_carry_the_architecture_facts_their_sources_give(
    model_id: str, facts_from_sources: dict[str, int]
) -> None:
    facts = get_model(model_id)
    assert facts is not None
    assert {name: getattr(facts, name) for name in facts_from_sources} == facts_from_sources
    assert not set(facts_from_sources) & set(facts.unknown)


@pytest.mark.parametrize(
    ("model_id", "kv_bytes_per_token"),
    [
        ("meta-llama/Llama-3.1-8B-Instruct", 131_072),  # HF blog: 0.125 GB per 1k tokens
        ("meta-llama/Llama-3.1-70B-Instruct", 327_680),  # HF blog: ~0.31 GB per 1k tokens
        ("Qwen/Qwen3-32B", 262_144),  # explicit head_dim 128, not 5120 / 64 = 80
        ("Qwen/Qwen3-235B-A22B", 192_512),
        ("MiniMaxAI/MiniMax-M2.7", 253_952),
    ],
)
def test_gqa_kv_bytes_per_token_match_the_published_figures(model_id: str, kv_bytes_per_token: int) -> None:
    facts = get_model(model_id)
    assert facts is not None and facts.num_layers and facts.num_kv_heads and facts.head_dim
    assert 2 * facts.num_layers * facts.num_kv_heads * facts.head_dim * 2 == kv_bytes_per_token


@pytest.mark.parametrize(
    ("model_id", "kv_bytes_per_token"), [("moonshotai/Kimi-K2.6", 70_272), ("zai-org/GLM-5.1", 89_856)]
)
def test_mla_latent_bytes_per_token(model_id: str, kv_bytes_per_token: int) -> None:
    facts = get_model(model_id)
    assert facts is not None and facts.attention is AttentionKind.MLA and facts.head_dim is None
    assert facts.num_layers and facts.kv_lora_rank and facts.qk_rope_head_dim
    assert facts.num_layers * (facts.kv_lora_rank + facts.qk_rope_head_dim) * 2 == kv_bytes_per_token


def test_gemma4_global_layers_have_their_own_kv_shape() -> None:
    facts = get_model("google/gemma-4-31B-it")
    assert facts is not None and facts.attention is AttentionKind.SLIDING_HYBRID
    assert (facts.full_attention_layers, facts.full_attention_kv_heads, facts.full_attention_head_dim) == (
        10,
        4,
        512,
    )
    assert (facts.num_kv_heads, facts.head_dim, facts.sliding_window) == (16, 256, 1024)


def test_qwen35_full_attention_layers_are_known_only_where_a_source_states_them() -> None:
    assert get_model("Qwen/Qwen3.5-397B-A17B").full_attention_layers == 15  # type: ignore[union-attr]
    assert get_model("Qwen/Qwen3.5-9B").full_attention_layers == 8  # type: ignore[union-attr]
    assert "full_attention_layers" in get_model("Qwen/Qwen3.5-4B").unknown  # type: ignore[union-attr]


def test_gpt_oss_double_counted_disk_size_is_not_used_as_weight_bytes() -> None:
    facts = get_model("openai/gpt-oss-120b")
    assert facts is not None and facts.weight_bytes is None and facts.native_dtype == "mxfp4"


def test_weight_bytes_come_from_the_published_gib() -> None:
    facts = get_model("deepseek-ai/DeepSeek-V4-Flash")
    assert facts is not None and facts.weight_bytes == round(155.43 * GIB)


def test_models_without_a_licence_in_the_sources_stay_unknown() -> None:
    for model_id in ("MiniMaxAI/MiniMax-M2.5", "Qwen/Qwen2.5-VL-72B-Instruct", "XiaomiMiMo/MiMo-V2-Flash"):
        facts = get_model(model_id)
        assert facts is not None and facts.license is None and "license" in facts.unknown


def test_get_model_ignores_case_and_returns_none_for_strangers() -> None:
    assert get_model("MOONSHOTAI/kimi-k2.6") is get_model("moonshotai/Kimi-K2.6")
    assert get_model("acme/never-heard-of") is None


def test_catalog_mappings_are_read_only_and_cached() -> None:
    assert model_catalog() is model_catalog()
    with pytest.raises(TypeError):
        gpu_catalog()["X"] = gpu_catalog()["H200"]  # type: ignore[index]


# ---- licences ---------------------------------------------------------------------------------------


def test_licence_catalog_has_the_ids_the_policy_talks_about() -> None:
    licences = license_catalog()
    assert licences["mit"].category.value == "permissive"
    assert licences["apache-2.0"].category.value == "permissive"
    assert licences["modified-mit"].category.value == "restricted"
    assert "100M" in licences["modified-mit"].summary
    assert licences["minimax-m2.7"].category.value == "non-commercial"
    assert "written authorisation" in licences["minimax-m2.7"].summary
    assert {"llama3.1", "llama3.3", "llama4", "llama5", "gemma", "mistral-research"} <= set(licences)


# ---- worked examples in docstrings ------------------------------------------------------------------


@pytest.mark.parametrize(
    "module_name",
    ["facts", "values", "loader", "license", "hf", "hf_attention", "hf_dtype", "merge"],
)
def test_docstring_examples_hold(module_name: str) -> None:
    import doctest
    import importlib

    module = importlib.import_module(f"modelfleet.catalog.{module_name}")
    result = doctest.testmod(module)
    assert result.attempted > 0 and result.failed == 0
