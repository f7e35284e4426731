"""Reading a model's config.json and safetensors index from a Hub-compatible server through the real
huggingface_hub client (testbed/hub.py on 127.0.0.1), and the cache that keeps a restart from reading again."""

from __future__ import annotations

import json
import struct
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from modelfleet.api import ModelFilesStatus, Reason, parse_spec
from modelfleet.api.to_request import facts_from_files, model_facts_for
from modelfleet.catalog import get_model
from modelfleet.catalog.types import AttentionKind
from modelfleet.hub import MAX_CONFIG_BYTES, HubError, HubReader
from modelfleet.reconcile.config import ModelDiscoveryConfig
from modelfleet.reconcile.discovery import ModelDiscovery
from testbed.hub import HubServer
from tests.unit import hub_models

WEIGHTS = b"\0" * 4096  # stands for a shard: discovery must never GET it


def index(total_size: int) -> bytes:
    return json.dumps({"metadata": {"total_size": total_size}, "weight_map": {}}).encode()


def repo_files(config: dict[str, Any], total_size: int | None = None) -> dict[str, bytes]:
    files = {"config.json": json.dumps(config).encode(), "model-00001-of-00002.safetensors": WEIGHTS}
    if total_size is not None:
        files["model.safetensors.index.json"] = index(total_size)
    return files


@pytest.fixture
def hub() -> Iterator[HubServer]:
    with HubServer() as server:
        yield server


def read(hub: HubServer, repo: str, revision: str | None = None, **kwargs: Any) -> ModelFilesStatus:
    return HubReader(endpoint=hub.url, timeout_seconds=kwargs.pop("timeout", 10.0), **kwargs).read(
        repo, revision
    )


def failure(hub: HubServer, repo: str, **kwargs: Any) -> HubError:
    with pytest.raises(HubError) as raised:
        read(hub, repo, **kwargs)
    return raised.value


# ---- facts from real configs, against the catalog ------------------------------------------------------

# (repo served, its config, the catalog entry of the same architecture, facts to compare)
ARCHITECTURES = [
    (
        "meta-llama/Llama-3.1-8B-Instruct",
        hub_models.LLAMA_31_8B_INSTRUCT,
        "meta-llama/Llama-3.1-8B-Instruct",
        ("attention", "num_layers", "num_kv_heads", "head_dim", "max_context", "native_dtype"),
    ),
    (
        "deepseek-ai/DeepSeek-V3",
        hub_models.DEEPSEEK_V3,
        "deepseek-ai/DeepSeek-V3",
        ("attention", "num_layers", "kv_lora_rank", "qk_rope_head_dim", "moe", "native_dtype", "max_context"),
    ),
    (
        "deepseek-ai/DeepSeek-V3.2-Exp",
        hub_models.DEEPSEEK_V32,
        "deepseek-ai/DeepSeek-V3.2",
        ("attention", "kv_lora_rank", "indexer_head_dim", "moe", "native_dtype", "architecture"),
    ),
    (
        "google/gemma-3-27b-it",
        hub_models.GEMMA3_27B_IT,
        "google/gemma-3-27b-it",
        (
            "attention",
            "sliding_window",
            "full_attention_layers",
            "full_attention_kv_heads",
            "full_attention_head_dim",
            "vision",
            "architecture",
        ),
    ),
    (
        "openai/gpt-oss-20b",
        hub_models.GPT_OSS_20B,
        "openai/gpt-oss-20b",
        ("attention", "sliding_window", "full_attention_layers", "full_attention_kv_heads", "native_dtype"),
    ),
    (
        "Qwen/Qwen3-Next-80B-A3B-Instruct",
        hub_models.QWEN3_NEXT_80B,
        "Qwen/Qwen3-Next-80B-A3B-Instruct",
        ("attention", "full_attention_layers", "num_kv_heads", "head_dim", "max_context"),
    ),
    (
        "deepseek-ai/DeepSeek-V4-Flash-Base",
        hub_models.DEEPSEEK_V4_FLASH_BASE,
        "deepseek-ai/DeepSeek-V4-Flash",
        ("attention", "num_layers", "num_kv_heads", "head_dim", "sliding_window", "moe", "max_context"),
    ),
    (
        "Qwen/Qwen3-235B-A22B-FP8",
        hub_models.QWEN3_235B_FP8,
        "Qwen/Qwen3-235B-A22B",
        ("attention", "num_layers", "num_kv_heads", "head_dim", "moe", "max_context"),
    ),
]


@pytest.mark.parametrize(
    ("repo", "config", "catalog_id", "compared"), ARCHITECTURES, ids=[a[0] for a in ARCHITECTURES]
)
def test_facts_read_from_a_real_config_match_the_catalog(
    hub: HubServer, repo: str, config: dict[str, Any], catalog_id: str, compared: tuple[str, ...]
) -> None:
    hub.add_repo(repo, repo_files(config, total_size=123_456_789))
    files = read(hub, repo)
    facts, catalog = facts_from_files(files, repo), get_model(catalog_id)
    assert {name: getattr(facts, name) for name in compared} == {
        name: getattr(catalog, name) for name in compared
    }
    assert facts.weight_bytes == 123_456_789
    assert files.commit == hub.repos[repo].branches["main"]
    assert hub.fetched(".safetensors") == [], "weights are never fetched"


def test_the_fp8_block_quantized_moe_reads_as_fp8_with_its_expert_size(hub: HubServer) -> None:
    hub.add_repo("Qwen/Qwen3-235B-A22B-FP8", repo_files(hub_models.QWEN3_235B_FP8))
    facts = facts_from_files(read(hub, "Qwen/Qwen3-235B-A22B-FP8"), "Qwen/Qwen3-235B-A22B-FP8")
    assert (facts.native_dtype, facts.moe and facts.moe.expert_intermediate_size) == ("fp8", 1536)
    assert facts.intermediate_size == 12288


def test_compressed_attention_keeps_the_catalogs_measured_kv_figure_which_no_config_states(
    hub: HubServer,
) -> None:
    hub.add_repo("deepseek-ai/DeepSeek-V4-Flash", repo_files(hub_models.DEEPSEEK_V4_FLASH_BASE))
    files = read(hub, "deepseek-ai/DeepSeek-V4-Flash")
    assert "kv_bytes_per_token_override" in facts_from_files(files, "x/y").unknown
    merged = model_facts_for(spec({"id": "deepseek-ai/DeepSeek-V4-Flash"}), files)
    catalog = get_model("deepseek-ai/DeepSeek-V4-Flash").kv_bytes_per_token_override
    assert catalog is not None
    assert (merged.attention, merged.kv_bytes_per_token_override) == (AttentionKind.COMPRESSED, catalog)
    assert merged.native_dtype == "bf16"  # this config is the bf16 base: the file wins over the catalog


def test_without_an_index_the_weight_bytes_are_the_listed_shard_sizes(hub: HubServer) -> None:
    hub.add_repo("acme/llama", repo_files(hub_models.LLAMA_31_8B_INSTRUCT))
    assert read(hub, "acme/llama").facts.weight_bytes == len(WEIGHTS)  # type: ignore[union-attr]


def test_a_single_file_checkpoint_gives_its_parameter_count_from_the_header_alone(hub: HubServer) -> None:
    header = json.dumps({"w": {"dtype": "BF16", "shape": [1024, 1024], "data_offsets": [0, 2 * 1024 * 1024]}})
    weights = struct.pack("<Q", len(header)) + header.encode() + b"\0" * (2 * 1024 * 1024)
    hub.add_repo(
        "acme/one",
        {"config.json": json.dumps(hub_models.LLAMA_31_8B_INSTRUCT).encode(), "model.safetensors": weights},
    )
    files = read(hub, "acme/one")
    assert files.facts is not None and files.facts.total_params == 1024 * 1024
    assert files.facts.weight_bytes == len(weights)
    ranges = [r.range for r in hub.requests if r.path.endswith("model.safetensors") and r.method == "GET"]
    assert ranges and all(r and r.startswith("bytes=0-") for r in ranges), "only the header, by Range"


def test_a_model_card_licence_the_catalog_knows_is_read(hub: HubServer) -> None:
    hub.add_repo(
        "acme/llama", repo_files(hub_models.LLAMA_31_8B_INSTRUCT), card_data={"license": "apache-2.0"}
    )
    hub.add_repo("acme/other", repo_files(hub_models.LLAMA_31_8B_INSTRUCT), card_data={"license": "my-own"})
    assert read(hub, "acme/llama").facts.license == "apache-2.0"  # type: ignore[union-attr]
    assert read(hub, "acme/other").facts.license is None  # type: ignore[union-attr]


def test_a_modelopt_checkpoint_reads_its_quantization_from_hf_quant_config(hub: HubServer) -> None:
    config = {k: v for k, v in hub_models.LLAMA_31_8B_INSTRUCT.items()}
    quant = {
        "producer": {"name": "modelopt"},
        "quantization": {"quant_algo": "FP8", "kv_cache_quant_algo": None},
    }
    hub.add_repo(
        "nvidia/llama-fp8", {**repo_files(config), "hf_quant_config.json": json.dumps(quant).encode()}
    )
    files = read(hub, "nvidia/llama-fp8")
    assert (files.native_dtype, "hf_quant_config.json" in files.files) == ("fp8", True)


# ---- the Hub's failures --------------------------------------------------------------------------------


def test_a_gated_repo_is_401_without_a_token_and_403_with_one_that_has_no_access(hub: HubServer) -> None:
    hub.add_repo(
        "meta-llama/gated", repo_files(hub_models.LLAMA_31_8B_INSTRUCT), gated=True, tokens=("hf_good",)
    )
    anonymous, wrong = failure(hub, "meta-llama/gated"), failure(hub, "meta-llama/gated", token="hf_wrong")
    assert (anonymous.reason, anonymous.http_status) == (Reason.GATED_REPO, 401)
    assert (wrong.reason, wrong.http_status) == (Reason.GATED_REPO, 403)
    assert "tokenSecretRef" in str(anonymous) and hub.url in str(anonymous)
    assert read(hub, "meta-llama/gated", token="hf_good").facts.num_layers == 32  # type: ignore[union-attr]


def test_a_repo_that_does_not_exist_is_not_found_with_its_url(hub: HubServer) -> None:
    error = failure(hub, "acme/absent")
    assert (error.reason, error.http_status) == (Reason.NOT_FOUND, 404)
    assert error.url and "/api/models/acme/absent" in error.url


def test_a_repo_without_config_json_is_a_clear_error(hub: HubServer) -> None:
    hub.add_repo("acme/weights-only", {"model.safetensors.index.json": index(10), "x.safetensors": WEIGHTS})
    error = failure(hub, "acme/weights-only")
    assert error.reason is Reason.NOT_FOUND and "no config.json" in error.message
    assert hub.fetched() == []


def test_no_generation_config_and_no_index_are_fine(hub: HubServer) -> None:
    hub.add_repo("acme/bare", {"config.json": json.dumps(hub_models.GPT_OSS_20B).encode()})
    files = read(hub, "acme/bare")
    assert files.files == ["config.json"] and files.facts.weight_bytes is None  # type: ignore[union-attr]


def test_a_revision_pinned_by_commit_reads_that_commit_not_the_branch(hub: HubServer) -> None:
    first = hub.add_repo("acme/model", repo_files(hub_models.LLAMA_31_8B_INSTRUCT))
    hub.add_commit("acme/model", repo_files({**hub_models.LLAMA_31_8B_INSTRUCT, "num_hidden_layers": 40}))
    pinned, latest = read(hub, "acme/model", first), read(hub, "acme/model")
    assert (pinned.commit, pinned.facts.num_layers) == (first, 32)  # type: ignore[union-attr]
    assert latest.commit != first and latest.facts.num_layers == 40  # type: ignore[union-attr]
    error = failure(hub, "acme/model", revision="0" * 40)
    assert (error.reason, error.http_status) == (Reason.NOT_FOUND, 404)


def test_a_huge_config_is_refused_before_it_is_fetched(hub: HubServer) -> None:
    huge = b'{"pad": "' + b"x" * (MAX_CONFIG_BYTES + 1) + b'"}'
    hub.add_repo("acme/huge", {"config.json": huge})
    error = failure(hub, "acme/huge")
    assert error.reason is Reason.INVALID_MODEL_FILES and "more than" in error.message
    assert hub.fetched() == []


@pytest.mark.parametrize(
    ("content", "words"),
    [
        (b"[" * 200 + b"]" * 200, "nests deeper"),
        (b"[" * 100_000 + b"]" * 100_000, "not a usable JSON"),
        (b'{"num_hidden_layers": 32', "not valid JSON"),
        (b"\xff\xfe{}", "not UTF-8"),
        (b"[1, 2]", "not a JSON object"),
        (
            json.dumps({**hub_models.LLAMA_31_8B_INSTRUCT, "num_hidden_layers": "many"}).encode(),
            "num_hidden_layers",
        ),
    ],
)
def test_a_hostile_config_is_invalid_model_files(hub: HubServer, content: bytes, words: str) -> None:
    hub.add_repo("acme/hostile", {"config.json": content})
    error = failure(hub, "acme/hostile")
    assert error.reason is Reason.INVALID_MODEL_FILES and words in str(error)


def test_a_slow_server_times_out_as_hub_unreachable_rather_than_hanging(hub: HubServer) -> None:
    hub.add_repo("acme/slow", repo_files(hub_models.LLAMA_31_8B_INSTRUCT))
    hub.faults.delay_seconds = 3.0
    error = failure(hub, "acme/slow", timeout=0.5)
    assert error.reason is Reason.HUB_UNREACHABLE and "acme/slow" in (error.url or "")


def test_nothing_listening_is_hub_unreachable() -> None:
    with HubServer() as hub:
        url = hub.url
    with pytest.raises(HubError) as raised:
        HubReader(endpoint=url, timeout_seconds=2).read("acme/any", None)
    assert raised.value.reason is Reason.HUB_UNREACHABLE


# ---- the cache, the backoff, the sources ------------------------------------------------------------------


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def discovery(
    hub: HubServer, clock: Clock, secrets: dict[tuple[str, str, str], str] | None = None
) -> ModelDiscovery:
    config = ModelDiscoveryConfig(
        endpoint=hub.url, timeout_seconds=5, retry_min_seconds=10, retry_max_seconds=40
    )
    return ModelDiscovery(config, lambda ns, name, key: (secrets or {}).get((ns, name, key)), clock=clock)


def spec(model: dict[str, Any]) -> Any:
    return parse_spec({"model": model})


def test_files_are_read_once_and_a_restart_takes_them_from_the_status(hub: HubServer) -> None:
    hub.add_repo("acme/new-model", repo_files(hub_models.QWEN3_NEXT_80B, total_size=160_000_000_000))
    found = discovery(hub, Clock()).discover("llm", spec({"id": "acme/new-model"}), None)
    assert found is not None and found.reason is Reason.FILES_READ and found.files is not None
    before = len(hub.requests)
    restarted = discovery(hub, Clock())
    again = restarted.discover("llm", spec({"id": "acme/new-model"}), found.files)
    assert again is not None and again.files == found.files
    assert (restarted.reads, len(hub.requests)) == (0, before)
    facts = model_facts_for(spec({"id": "acme/new-model"}), again.files)
    assert (facts.attention, facts.full_attention_layers, facts.weight_bytes) == (
        AttentionKind.LINEAR_HYBRID,
        12,
        160_000_000_000,
    )


def test_a_failed_read_is_tried_again_only_after_a_doubling_backoff(hub: HubServer) -> None:
    clock = Clock()
    finder = discovery(hub, clock)
    wanted = spec({"id": "acme/later"})
    first = finder.discover("llm", wanted, None)
    assert first is not None and first.reason is Reason.NOT_FOUND and first.retry_after_seconds == 10
    clock.now += 5
    assert finder.discover("llm", wanted, None).retry_after_seconds == 5  # type: ignore[union-attr]
    assert finder.reads == 1
    clock.now += 5
    second = finder.discover("llm", wanted, None)
    assert (finder.reads, second and second.retry_after_seconds) == (2, 20)
    hub.add_repo("acme/later", repo_files(hub_models.LLAMA_31_8B_INSTRUCT))
    clock.now += 20
    assert finder.discover("llm", wanted, None).reason is Reason.FILES_READ  # type: ignore[union-attr]


def test_the_token_comes_from_the_secret_the_spec_names(hub: HubServer) -> None:
    hub.add_repo(
        "meta-llama/gated", repo_files(hub_models.LLAMA_31_8B_INSTRUCT), gated=True, tokens=("hf_good",)
    )
    source = {"huggingface": {"tokenSecretRef": {"name": "hf", "key": "token"}}}
    wanted = spec({"id": "meta-llama/gated", "source": source})
    missing = discovery(hub, Clock()).discover("llm", wanted, None)
    assert missing is not None and missing.reason is Reason.TOKEN_SECRET_UNREADABLE
    found = discovery(hub, Clock(), {("llm", "hf", "token"): "hf_good"}).discover("llm", wanted, None)
    assert found is not None and found.reason is Reason.FILES_READ
    assert [r.authorization for r in hub.requests][-1] == "Bearer hf_good"


@pytest.mark.parametrize(
    ("source", "words"),
    [({"pvc": {"claimName": "models"}}, "mounts no volume"), ({"uri": "s3://bucket/llama"}, "object-store")],
)
def test_pvc_and_object_store_sources_are_not_read_and_say_so(
    hub: HubServer, source: dict[str, Any], words: str
) -> None:
    found = discovery(hub, Clock()).discover("llm", spec({"id": "acme/m", "source": source}), None)
    assert found is not None and found.reason is Reason.SOURCE_NOT_READ and words in found.message
    assert hub.requests == []


def test_an_hf_uri_reads_that_repository(hub: HubServer) -> None:
    hub.add_repo("acme/other", repo_files(hub_models.LLAMA_31_8B_INSTRUCT))
    found = discovery(hub, Clock()).discover(
        "llm", spec({"id": "acme/m", "source": {"uri": "hf://acme/other"}}), None
    )
    assert found is not None and found.files is not None and found.files.id == "acme/other"


def test_overrides_win_over_the_files_which_win_over_the_catalog(hub: HubServer) -> None:
    config = {**hub_models.LLAMA_31_8B_INSTRUCT, "max_position_embeddings": 65536}
    hub.add_repo("meta-llama/Llama-3.1-8B-Instruct", repo_files(config, total_size=16_060_522_496))
    files = read(hub, "meta-llama/Llama-3.1-8B-Instruct")
    model = {"id": "meta-llama/Llama-3.1-8B-Instruct", "overrides": {"numLayers": 30}}
    facts = model_facts_for(spec(model), files)
    assert (facts.num_layers, facts.max_context, facts.weight_bytes, facts.license) == (
        30,  # the override
        65536,  # the file, over the catalog's 131072
        16_060_522_496,  # the file's index, over the catalog's on-disk figure
        "llama3.1",  # the catalog, which the files do not state
    )


# ---- modelfleet plan ------------------------------------------------------------------------------------


def test_plan_sizes_a_model_in_no_catalog_from_its_config_on_the_hub(
    hub: HubServer, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from modelfleet.cli import main

    monkeypatch.delenv("HF_HUB_OFFLINE")
    config = {**hub_models.LLAMA_31_8B_INSTRUCT, "num_hidden_layers": 40}
    hub.add_repo(
        "acme/llama-40", repo_files(config, total_size=20_000_000_000), card_data={"license": "apache-2.0"}
    )
    args = ["plan", "--model", "acme/llama-40", "--gpu", "H100-80GB", "-o", "json", "--hub-endpoint", hub.url]
    assert main(args) == 0
    out, err = capsys.readouterr()
    assert json.loads(out)["feasible"] is True and "read config.json" in err
    assert main([*args, "--offline"]) == 3
    assert "not in the catalog" in capsys.readouterr().err


def test_plan_warns_and_falls_back_to_the_catalog_when_the_hub_fails(
    hub: HubServer, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from modelfleet.cli import main

    monkeypatch.delenv("HF_HUB_OFFLINE")
    monkeypatch.setenv("HF_ENDPOINT", hub.url)
    assert (
        main(["plan", "--model", "meta-llama/Llama-3.1-8B-Instruct", "--gpu", "H100-80GB", "-o", "json"]) == 0
    )
    err = capsys.readouterr().err
    assert "could not read the model's files" in err and "404" in err and hub.url in err


@pytest.mark.parametrize(
    "metadata", [["total_size", 10], {"total_size": "10"}, {"total_size": 10**30}, {"total_size": True}]
)
def test_a_malformed_index_total_is_left_out_and_the_listed_sizes_stand_in(
    hub: HubServer, metadata: Any
) -> None:
    files = repo_files(hub_models.LLAMA_31_8B_INSTRUCT)
    files["model.safetensors.index.json"] = json.dumps({"metadata": metadata, "weight_map": {}}).encode()
    files["consolidated.safetensors"] = WEIGHTS * 2  # another copy of the weights, not counted
    hub.add_repo("acme/odd-index", files)
    assert read(hub, "acme/odd-index").facts.weight_bytes == len(WEIGHTS)  # type: ignore[union-attr]


# ---- fuzzed files -------------------------------------------------------------------------------------

FUZZ_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=10), children, max_size=5)
    ),
    max_leaves=30,
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    config=st.dictionaries(st.sampled_from(sorted(hub_models.DEEPSEEK_V3)), FUZZ_VALUES, max_size=6),
    index_body=st.binary(max_size=64) | FUZZ_VALUES.map(lambda value: json.dumps(value).encode()),
)
def test_fuzzed_files_give_facts_or_a_hub_error_never_a_crash(
    hub: HubServer, config: dict[str, Any], index_body: bytes
) -> None:
    body = {**hub_models.DEEPSEEK_V3, **config}
    hub.add_repo(
        "fuzz/model", {"config.json": json.dumps(body).encode(), "model.safetensors.index.json": index_body}
    )
    try:
        files = read(hub, "fuzz/model")
    except HubError as error:
        assert error.reason is Reason.INVALID_MODEL_FILES and error.url
    else:
        assert files.commit == hub.repos["fuzz/model"].branches["main"]


def test_a_config_that_trickles_in_past_the_deadline_is_hub_unreachable(hub: HubServer) -> None:
    hub.add_repo("acme/trickle", repo_files(hub_models.LLAMA_31_8B_INSTRUCT))
    size = len(json.dumps(hub_models.LLAMA_31_8B_INSTRUCT))
    hub.faults.bytes_per_second["config.json"] = size // 4  # about 4 s, in pieces 0.1 s apart
    error = failure(hub, "acme/trickle", timeout=1.0)
    assert error.reason is Reason.HUB_UNREACHABLE and "too slowly" in error.message


def test_the_token_secret_is_read_by_name_from_the_models_namespace() -> None:
    from modelfleet.reconcile.kube import resource_for

    assert resource_for("v1", "Secret").path("llm", "hf-token") == "/api/v1/namespaces/llm/secrets/hf-token"
