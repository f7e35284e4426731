"""The `modelfleet` command line: the output and exit-code contract scripts rely on."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from modelfleet.api.crd import CRD_FILENAME, crd_yaml
from modelfleet.cli import build_parser, main
from modelfleet.cli.plan import spec_from_args

REPO = Path(__file__).resolve().parents[2]
MODELFLEET = REPO / ".venv" / "bin" / "modelfleet"
PLAN_KEYS = {
    "feasible", "gpuType", "gpusPerReplica", "nodesPerReplica", "tensorParallel", "pipelineParallel",
    "dataParallel", "expertParallel", "memory", "reasons", "rejected",
}  # fmt: skip


def modelfleet(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    executable = [str(MODELFLEET)] if MODELFLEET.exists() else [sys.executable, "-m", "modelfleet.cli"]
    return subprocess.run([*executable, *args], capture_output=True, text=True, input=stdin, timeout=60)


def write(tmp_path: Path, text: str, name: str = "md.yaml") -> str:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return str(path)


MANIFEST = """
apiVersion: modelfleet.io/v1alpha1
kind: ModelDeployment
metadata: {name: flash, namespace: llm}
spec:
  model: {id: deepseek-ai/DeepSeek-V4-Flash}
  serving: {maxModelLen: 131072, concurrency: 16}
  accelerator: {type: H200, gpusPerReplica: 8, tensorParallel: 8, pipelineParallel: 1}
"""


# --- the subprocess contract ----------------------------------------------------------------------


def test_feasible_plan_prints_json_with_the_contract_keys_and_exits_0() -> None:
    result = modelfleet("plan", "--model", "deepseek-ai/DeepSeek-V4-Flash", "--gpu", "H200", "-o", "json")
    assert result.returncode == 0, result.stderr
    plan = json.loads(result.stdout)
    assert plan.keys() >= PLAN_KEYS
    assert plan["feasible"] is True and plan["gpuType"] == "H200"
    assert {"weights", "kvCache", "overhead", "usable"} <= plan["memory"].keys()
    assert isinstance(plan["reasons"], list) and isinstance(plan["rejected"], list)


def test_infeasible_plan_exits_3_and_says_why() -> None:
    result = modelfleet(
        "plan",
        "--model",
        "meta-llama/Llama-3.1-405B-Instruct",
        "--gpu",
        "L4",
        "--gpus-per-replica",
        "1",
        "-o",
        "json",
    )
    assert result.returncode == 3, result.stderr
    plan = json.loads(result.stdout)
    assert plan["feasible"] is False and plan["reasons"]


def test_unknown_model_without_overrides_exits_3_with_what_to_do() -> None:
    result = modelfleet("plan", "--model", "acme/never-heard-of-it")
    assert result.returncode == 3
    assert "spec.model.overrides" in result.stderr and "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_malformed_model_id_exits_2_naming_the_field() -> None:
    result = modelfleet("plan", "--model", "not-an-org-slash-name")
    assert result.returncode == 2
    assert result.stderr.startswith("modelfleet plan: spec.model.id: ")


def test_unknown_flag_exits_2() -> None:
    assert modelfleet("plan", "--model", "a/b", "--gpus", "8").returncode == 2


def test_spec_error_in_a_file_is_one_line_naming_the_field(tmp_path: Path) -> None:
    path = write(tmp_path, MANIFEST.replace("concurrency: 16", "concurrency: 0"))
    result = modelfleet("plan", "-f", path)
    assert result.returncode == 2
    assert result.stderr.strip() == (
        "modelfleet plan: spec.serving.concurrency: Input should be greater than or equal to 1"
    )


def test_plan_reads_the_manifest_from_stdin() -> None:
    result = modelfleet("plan", "-f", "-", "-o", "yaml", stdin=MANIFEST)
    assert result.returncode == 0, result.stderr
    assert yaml.safe_load(result.stdout)["tensorParallel"] == 8


# --- in-process checks ----------------------------------------------------------------------------


def run_cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_missing_file_exits_2(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, _, err = run_cli(capsys, "plan", "-f", str(tmp_path / "absent.yaml"))
    assert code == 2 and "cannot read" in err


def test_invalid_yaml_exits_2(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, _, err = run_cli(capsys, "plan", "-f", write(tmp_path, "spec: [unclosed"))
    assert code == 2 and "not valid YAML" in err


def test_file_without_a_model_deployment_exits_2(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, _, err = run_cli(capsys, "plan", "-f", write(tmp_path, "kind: ConfigMap\napiVersion: v1\n"))
    assert code == 2 and "no ModelDeployment found" in err


def test_wrong_api_group_exits_2(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, _, err = run_cli(
        capsys, "plan", "-f", write(tmp_path, MANIFEST.replace("modelfleet.io/", "example.com/"))
    )
    assert code == 2 and "apiVersion" in err


def test_unknown_gpu_exits_2_listing_valid_names(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run_cli(capsys, "plan", "--model", "deepseek-ai/DeepSeek-V4-Flash", "--gpu", "GTX-1080")
    assert code == 2 and err.startswith("modelfleet plan: spec.accelerator.type: ") and "H200" in err


def test_flags_override_the_file(tmp_path: Path) -> None:
    path = write(tmp_path, MANIFEST)
    args = build_parser().parse_args(
        ["plan", "-f", path, "--concurrency", "2", "--gpu", "B200", "--engine", "sglang"]
    )
    spec = spec_from_args(args)
    assert (spec.serving.concurrency, spec.accelerator.type, spec.engine.name) == (2, "B200", "sglang")
    assert spec.serving.max_model_len == 131072  # untouched by flags


def test_a_layout_flag_replaces_the_files_whole_layout_pin(tmp_path: Path) -> None:
    args = build_parser().parse_args(["plan", "-f", write(tmp_path, MANIFEST), "--tensor-parallel", "4"])
    accelerator = spec_from_args(args).accelerator
    assert (accelerator.gpus_per_replica, accelerator.tensor_parallel, accelerator.pipeline_parallel) == (
        None,
        4,
        None,
    )


def test_bare_spec_file_is_accepted(tmp_path: Path) -> None:
    args = build_parser().parse_args(["plan", "-f", write(tmp_path, "model: {id: Qwen/Qwen3.5-9B}\n")])
    assert spec_from_args(args).model.id == "Qwen/Qwen3.5-9B"


def test_table_output_ends_with_the_licence_verdict(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_cli(capsys, "plan", "--model", "Qwen/Qwen3.5-9B", "--gpu", "L40S")
    assert code == 0 and out.strip().splitlines()[-1].startswith("licence: ")


def test_non_commercial_licence_is_reported_refused(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_cli(capsys, "plan", "--model", "MiniMaxAI/MiniMax-M2.7", "--gpu", "H200", "-o", "json")
    licence = json.loads(out)["license"]
    assert licence["allowed"] is False and licence["reason"] == "LicenseRefused"
    assert code in (0, 3)  # the licence never changes the exit code; sizing does


def test_crd_command_writes_the_generated_crd(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, out, _ = run_cli(capsys, "crd", "-o", str(tmp_path / "crds"))
    assert code == 0
    assert (tmp_path / "crds" / CRD_FILENAME).read_text(encoding="utf-8") == crd_yaml()


def test_crd_command_prints_to_stdout_without_a_directory(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_cli(capsys, "crd")
    assert code == 0 and out == crd_yaml()


@pytest.mark.parametrize(("kind", "key", "example"), [
    ("models", "id", "deepseek-ai/DeepSeek-V4-Flash"),
    ("gpus", "name", "H200"),
    ("licenses", "id", "apache-2.0"),
])  # fmt: skip
def test_catalog_lists_as_json(capsys: pytest.CaptureFixture[str], kind: str, key: str, example: str) -> None:
    code, out, _ = run_cli(capsys, "catalog", kind, "-o", "json")
    assert code == 0 and example in {row[key] for row in json.loads(out)}


def test_catalog_table_has_a_header_row(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_cli(capsys, "catalog", "gpus")
    assert code == 0 and out.splitlines()[0].split()[:2] == ["GPU", "VENDOR"]
