"""The image's build steps without Docker: requirements.lock installs into a clean virtualenv exactly
as the Dockerfile's builder stage does it, then the project as a wheel; the operator and the CLI run
from there, away from the source tree, with the templates the wheel carries.

Slow (about a minute with a warm pip cache: it installs every locked wheel); needs PyPI or a pip
cache. Deselect with ``-m "not slow"``.
"""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from modelfleet.render.templating import TEMPLATES_ENV

pytestmark = pytest.mark.slow
REPO = Path(__file__).resolve().parents[2]


def sh(
    *args: str | Path, env: dict[str, str] | None = None, cwd: Path | None = None, check: bool = True
) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(
        [str(a) for a in args], capture_output=True, text=True, env=env, cwd=cwd, timeout=600
    )
    if check and proc.returncode != 0:
        raise AssertionError(f"{' '.join(map(str, args))} failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    return proc


@pytest.fixture(scope="module")
def wheel_and_venv(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, Path]]:
    """The project's wheel, and a clean virtualenv with only the lock's packages and that wheel, built
    like the image (the locked setuptools builds the wheel)."""
    base = tmp_path_factory.mktemp("image-venv")
    root, dist = base / "venv", base / "dist"
    sh(sys.executable, "-m", "venv", root)
    pip = root / "bin" / "pip"
    sh(pip, "install", "--quiet", "--no-deps", "--require-hashes", "-r", REPO / "requirements.lock")
    sh(pip, "wheel", "--quiet", "--no-deps", "--no-build-isolation", "--wheel-dir", dist, REPO)
    (wheel,) = dist.glob("modelfleet-*.whl")
    sh(pip, "install", "--quiet", "--no-deps", wheel)
    yield wheel, root


@pytest.fixture(scope="module")
def venv(wheel_and_venv: tuple[Path, Path]) -> Path:
    return wheel_and_venv[1]


def clean_env(**extra: str) -> dict[str, str]:
    """No PYTHONPATH or virtualenv of the test run leaking into the installed package."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV", TEMPLATES_ENV)}
    return {**env, **extra}


def test_lock_is_complete_and_consistent(venv: Path) -> None:
    assert sh(venv / "bin" / "pip", "check").returncode == 0


def test_operator_starts_from_the_lock_installed_venv(venv: Path, tmp_path: Path) -> None:
    help_text = sh(venv / "bin" / "modelfleet", "run", "--help", env=clean_env(), cwd=tmp_path).stdout
    assert "--liveness" in help_text and "--config" in help_text
    # `run --help` imports no kopf; the operator's own modules must import from the locked set too.
    sh(
        venv / "bin" / "python",
        "-c",
        "import modelfleet.reconcile.operator, modelfleet.cli.run",
        env=clean_env(),
        cwd=tmp_path,
    )


def test_the_weight_downloader_loads_its_clients_from_the_lock_installed_venv(
    venv: Path, tmp_path: Path
) -> None:
    """`modelfleet fetch` (the download Job's command): huggingface_hub for the Hub, obstore for buckets."""
    assert (
        "--dest" in sh(venv / "bin" / "modelfleet", "fetch", "--help", env=clean_env(), cwd=tmp_path).stdout
    )
    sh(
        venv / "bin" / "python",
        "-c",
        "import modelfleet.cli.fetch_hub, modelfleet.cli.fetch_objects",
        env=clean_env(),
        cwd=tmp_path,
    )


def test_the_wheel_carries_every_template_of_the_source_tree(wheel_and_venv: tuple[Path, Path]) -> None:
    wheel, _ = wheel_and_venv
    with zipfile.ZipFile(wheel) as archive:
        shipped = {Path(n).name for n in archive.namelist() if n.startswith("modelfleet/render/templates/")}
    source = REPO / "operator" / "modelfleet" / "render" / "templates"
    assert shipped == {p.name for p in source.glob("*.j2")} and shipped


def test_the_installed_cli_plans_renders_and_prints_the_crd_away_from_the_source_tree(
    venv: Path, tmp_path: Path
) -> None:
    """Run where the repository is not importable and no templates folder is configured."""
    example = REPO / "manifests" / "examples" / "qwen3.5-9b.yaml"
    cli = venv / "bin" / "modelfleet"
    where = sh(
        venv / "bin" / "python",
        "-c",
        "import modelfleet.render.templating as t; print(t.templates_dir())",
        env=clean_env(),
        cwd=tmp_path,
    ).stdout.strip()
    assert Path(where).is_relative_to(venv.resolve()) and not Path(where).is_relative_to(REPO)

    plan = sh(cli, "plan", "-f", example, env=clean_env(), cwd=tmp_path).stdout
    assert "Feasible:      yes" in plan
    rendered = list(
        yaml.safe_load_all(sh(cli, "render", "-f", example, env=clean_env(), cwd=tmp_path).stdout)
    )
    assert {"Deployment", "Service"} <= {doc["kind"] for doc in rendered if doc}
    crd = yaml.safe_load(sh(cli, "crd", env=clean_env(), cwd=tmp_path).stdout)
    assert crd == yaml.safe_load((REPO / "crds" / "modelfleet.io_modeldeployments.yaml").read_text())


def test_the_kubectl_plugin_runs_from_the_lock_installed_venv(venv: Path, tmp_path: Path) -> None:
    """rich (the plugin's screens) comes from the lock too: explain's renderer imports it."""
    plugin = venv / "bin" / "kubectl-modelfleet"
    assert sh(plugin, "--help", env=clean_env(), cwd=tmp_path).stdout.startswith("usage: kubectl modelfleet")
    sh(venv / "bin" / "python", "-c", "import modelfleet.cli.kubectl.explain", env=clean_env(), cwd=tmp_path)
