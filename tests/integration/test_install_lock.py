"""The image's build steps without Docker: requirements.lock installs into a clean virtualenv exactly
as the Dockerfile's builder stage does it, and the operator runs from there with the templates found
through MODELFLEET_TEMPLATES_DIR, as in the image.

Slow (about a minute with a warm pip cache: it installs every locked wheel); needs PyPI or a pip
cache. Deselect with ``-m "not slow"``.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

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
def venv(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A clean virtualenv with only the lock's packages and the project, built like the image."""
    root = tmp_path_factory.mktemp("image-venv") / "venv"
    sh(sys.executable, "-m", "venv", root)
    pip = root / "bin" / "pip"
    sh(pip, "install", "--quiet", "--no-deps", "--require-hashes", "-r", REPO / "requirements.lock")
    sh(pip, "install", "--quiet", "--no-deps", "--no-build-isolation", REPO)
    yield root


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


def test_installed_package_renders_only_with_the_templates_dir_the_image_sets(
    venv: Path, tmp_path: Path
) -> None:
    example = REPO / "manifests" / "examples" / "qwen3.5-9b.yaml"
    without = sh(
        venv / "bin" / "modelfleet", "render", "-f", example, env=clean_env(), cwd=tmp_path, check=False
    )
    assert without.returncode != 0 and TEMPLATES_ENV in without.stderr
    rendered = sh(
        venv / "bin" / "modelfleet",
        "render",
        "-f",
        example,
        env=clean_env(**{TEMPLATES_ENV: str(REPO / "templates")}),
        cwd=tmp_path,
    ).stdout
    assert "kind: Deployment" in rendered
