"""Each import contract in pyproject.toml fails the lint when crossed.

A copy of the package gets one forbidden import planted at a time and lint-imports runs against the
copy (first on PYTHONPATH, config from the copy's pyproject.toml), never against the installed package:
the unplanted copy passes and every planted one breaks the contract named.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
LINT_IMPORTS = Path(sys.executable).parent / "lint-imports"

LAYERS = "Layers import downwards, and every top-level package is in a layer"
PURE_CORE = "The pure core never talks to Kubernetes or the network"
OFFLINE_CLI = "The offline CLI commands never load the operator"
API_CLIENTS = "kopf and the Kubernetes client only where the API is called"
PLUGIN_SCREENS = "The plugin's screens and rules do no I/O"
CONTRACTS = (LAYERS, PURE_CORE, OFFLINE_CLI, API_CLIENTS, PLUGIN_SCREENS)


def lint_copy(tmp_path: Path, plant: tuple[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """lint-imports over a copy of operator/ and pyproject.toml, with ``plant`` = (module file, line)
    appended to one module of the copy."""
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    shutil.copytree(
        ROOT / "operator", tmp_path / "operator", ignore=shutil.ignore_patterns("__pycache__", "*.egg-info")
    )
    if plant is not None:
        module_file, line = plant
        target = tmp_path / "operator" / "modelfleet" / module_file
        target.parent.mkdir(parents=True, exist_ok=True)
        with target.open("a") as handle:
            handle.write(f"\n{line}\n")
    env = {**os.environ, "PYTHONPATH": str(tmp_path / "operator")}
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_the_unplanted_copy_keeps_every_contract(tmp_path: Path) -> None:
    result = lint_copy(tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert all(f"{contract} KEPT" in result.stdout for contract in CONTRACTS)


PLANTED = [
    # (module of the copy, the line appended to it, the contracts it must break)
    ("render/objects.py", "import modelfleet.cli", {LAYERS}),
    ("planner/fit.py", "from modelfleet.rollout import step", {LAYERS}),
    ("autoscale/__init__.py", "", {LAYERS}),  # a new top-level package that is in no layer
    ("decide/conditions.py", "import kopf", {PURE_CORE, API_CLIENTS}),
    ("analysis/evaluate.py", "from kubernetes import client", {PURE_CORE, API_CLIENTS}),
    ("analysis/templates.py", "import urllib.request", {PURE_CORE}),
    ("rollout/machine.py", "import asyncio", {PURE_CORE}),
    ("render/objects.py", "import socket", {PURE_CORE}),
    ("reconcile/reconciler.py", "import kopf", {API_CLIENTS}),
    ("reconcile/events.py", "from kubernetes.client import CoreV1Api", {API_CLIENTS}),
    ("cli/run.py", "import kopf", {API_CLIENTS}),
    ("cli/plan.py", "from modelfleet.reconcile.kube import Kube", {OFFLINE_CLI}),
    ("cli/kubectl/client.py", "import modelfleet.reconcile.worker", {OFFLINE_CLI}),
    ("cli/kubectl/tree.py", "import subprocess", {PLUGIN_SCREENS}),
    ("cli/kubectl/actions.py", "from modelfleet.cli.kubectl.client import fetch", {PLUGIN_SCREENS}),
]


@pytest.mark.parametrize(
    ("module_file", "line", "broken"),
    PLANTED,
    ids=[f"{module_file}:{line or 'new package'}" for module_file, line, _ in PLANTED],
)
def test_a_planted_import_breaks_its_contract(
    tmp_path: Path, module_file: str, line: str, broken: set[str]
) -> None:
    result = lint_copy(tmp_path, (module_file, line))
    assert result.returncode != 0, result.stdout
    assert {name for name in CONTRACTS if f"{name} BROKEN" in result.stdout} == broken
