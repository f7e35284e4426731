"""`modelfleet render`: the child objects of a ModelDeployment, as multi-document YAML."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from modelfleet.cli import main

EXAMPLES = Path(__file__).resolve().parents[2] / "manifests" / "examples"


def render(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, list[dict], str]:
    code = main(["render", *args])
    captured = capsys.readouterr()
    documents = list(yaml.safe_load_all(captured.out)) if code == 0 else []
    return code, documents, captured.err


def test_render_prints_the_workload_and_services(capsys: pytest.CaptureFixture[str]) -> None:
    code, objects, _ = render(capsys, "-f", str(EXAMPLES / "qwen3.5-9b.yaml"))
    assert code == 0
    kinds = sorted(obj["kind"] for obj in objects)
    assert kinds == ["Deployment", "PodDisruptionBudget", "Service", "Service"]
    assert all(obj["metadata"]["namespace"] == "llm" for obj in objects)


def test_multi_node_plan_renders_a_leader_worker_set(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    text = (
        (EXAMPLES / "kimi-k2.6.yaml")
        .read_text(encoding="utf-8")
        .replace("maxModelLen: 65536", "maxModelLen: 131072")
    )
    path = tmp_path / "kimi.yaml"
    path.write_text(text, encoding="utf-8")
    code, objects, err = render(capsys, "-f", str(path))
    assert code == 0, err
    assert "LeaderWorkerSet" in {obj["kind"] for obj in objects}


def test_revision_name_names_the_revision_objects(capsys: pytest.CaptureFixture[str]) -> None:
    code, objects, _ = render(capsys, "-f", str(EXAMPLES / "gemma-4-31b.yaml"), "--revision-name", "v1")
    assert code == 0
    assert {obj["metadata"]["name"] for obj in objects} == {"gemma-4-31b", "gemma-4-31b-v1"}


def test_gpu_flag_replans_for_another_gpu(capsys: pytest.CaptureFixture[str]) -> None:
    code, objects, _ = render(capsys, "-f", str(EXAMPLES / "qwen3.5-9b.yaml"), "--gpu", "H100-80GB")
    assert code == 0
    assert "NVIDIA-L40S" not in yaml.safe_dump_all(objects)


def test_render_of_an_unsizable_model_exits_3(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = render(capsys, "-f", str(EXAMPLES / "llama-5.yaml"))
    assert code == 3 and "spec.model.overrides" in err


def test_render_needs_a_name(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    path = tmp_path / "bare.yaml"
    path.write_text("model: {id: Qwen/Qwen3.5-9B}\n", encoding="utf-8")
    code, _, err = render(capsys, "-f", str(path))
    assert code == 2 and "metadata.name" in err


def test_render_output_is_deterministic(capsys: pytest.CaptureFixture[str]) -> None:
    first = render(capsys, "-f", str(EXAMPLES / "deepseek-v4-flash.yaml"))
    second = render(capsys, "-f", str(EXAMPLES / "deepseek-v4-flash.yaml"))
    assert first == second
