"""What the decision does with the model's files the shell read (pure): the ModelDiscovered condition,
status.model, the facts' precedence, and the retry of a failed read."""

from __future__ import annotations

from dataclasses import replace

from modelfleet.api import ModelFilesStatus, ModelOverrides, Reason
from modelfleet.decide import decide
from modelfleet.decide.inputs import Discovery
from tests.unit.test_decide import CTX, H100_NODE, condition, observed, spec

COMMIT = "c0ffee" + "0" * 34
# A Llama-3.1-8B-shaped model with 40 layers and 150 GB of bf16 weights: in no catalog.
NEW_MODEL = ModelFilesStatus(
    id="acme/Llama-Next-40L",
    commit=COMMIT,
    url=f"http://127.0.0.1:1/acme/Llama-Next-40L/resolve/{COMMIT}/config.json",
    files=["config.json", "model.safetensors.index.json"],
    architecture="LlamaForCausalLM",
    native_dtype="bf16",
    vision=False,
    facts=ModelOverrides(
        num_layers=40,
        hidden_size=4096,
        num_attention_heads=32,
        num_key_value_heads=8,
        head_dim=128,
        intermediate_size=14336,
        attention="gqa",
        weight_bytes=150_000_000_000,
        max_context=131072,
        license="apache-2.0",
    ),
)
NEW_SPEC = spec(model={"id": "acme/Llama-Next-40L"}, accelerator={"type": "H100-80GB"})


def with_discovery(discovery: Discovery | None, spec_: dict = NEW_SPEC, status: dict | None = None):  # type: ignore[no-untyped-def]
    return replace(observed(spec_, status=status, nodes=H100_NODE), discovery=discovery)


def test_a_model_in_no_catalog_is_planned_from_its_files_and_they_are_kept_in_status() -> None:
    decision = decide(with_discovery(Discovery(Reason.FILES_READ, "read config.json", NEW_MODEL)), CTX)
    assert condition(decision, "ModelDiscovered")["status"] == "True"
    assert condition(decision, "Schedulable")["reason"] == "PlanFeasible"
    assert decision.status["plan"]["gpusPerReplica"] > 1  # 150 GB of weights need more than one H100
    assert decision.status["model"]["commit"] == COMMIT
    assert decision.status["model"]["facts"]["numLayers"] == 40


def test_a_failed_read_of_a_model_in_no_catalog_is_unknown_model_naming_why_and_retried() -> None:
    failed = Discovery(
        Reason.GATED_REPO, "the repository is gated (HTTP 401 http://hub/x)", retry_after_seconds=20
    )
    decision = decide(with_discovery(failed), CTX)
    found = condition(decision, "ModelDiscovered")
    assert (found["status"], found["reason"]) == ("False", "GatedRepo")
    schedulable = condition(decision, "Schedulable")
    assert schedulable["reason"] == "UnknownModel" and "HTTP 401" in schedulable["message"]
    assert decision.requeue_after_seconds == 20
    assert "model" not in decision.status


def test_a_failed_read_of_a_catalog_model_falls_back_to_the_catalog_and_is_retried() -> None:
    failed = Discovery(Reason.HUB_UNREACHABLE, "cannot reach the Hub", retry_after_seconds=10)
    decision = decide(with_discovery(failed, spec(accelerator={"type": "H100-80GB"})), CTX)
    assert condition(decision, "ModelDiscovered")["reason"] == "HubUnreachable"
    assert condition(decision, "Schedulable")["reason"] == "PlanFeasible"
    assert decision.requeue_after_seconds is not None and decision.requeue_after_seconds <= 10


def test_overrides_win_over_the_files() -> None:
    model = {"id": "acme/Llama-Next-40L", "overrides": {"weightBytes": 10_000_000_000}}
    decision = decide(
        with_discovery(
            Discovery(Reason.FILES_READ, "read", NEW_MODEL),
            spec(model=model, accelerator={"type": "H100-80GB"}),
        ),
        CTX,
    )
    assert decision.status["plan"]["gpusPerReplica"] == 1  # 10 GB, as the override says


def test_without_discovery_there_is_no_condition_and_no_status_model() -> None:
    decision = decide(with_discovery(None, spec(accelerator={"type": "H100-80GB"})), CTX)
    assert all(c["type"] != "ModelDiscovered" for c in decision.status["conditions"])
    assert "model" not in decision.status


def test_facts_from_a_new_commit_plan_again_rather_than_keep_the_stored_plan() -> None:
    first = decide(with_discovery(Discovery(Reason.FILES_READ, "read", NEW_MODEL)), CTX)
    smaller = NEW_MODEL.model_copy(
        update={
            "commit": "b" * 40,
            "facts": NEW_MODEL.facts.model_copy(update={"weight_bytes": 10_000_000_000}),
        }  # type: ignore[union-attr]
    )
    again = decide(with_discovery(Discovery(Reason.FILES_READ, "read", smaller), status=first.status), CTX)
    assert again.status["plan"]["inputsHash"] != first.status["plan"]["inputsHash"]
    assert again.status["plan"]["gpusPerReplica"] == 1
