"""Golden files: the full rendered output per engine and shape.

Regenerate after an intended change with ``UPDATE_GOLDEN=1 .venv/bin/pytest tests/unit/test_render_golden.py``
and review the diff like code.
"""

from __future__ import annotations

import difflib
import os
from pathlib import Path

import pytest
import yaml

from modelfleet.render import render_all
from tests.unit.golden.cases import GOLDEN_CASES, Case

GOLDEN_DIR = Path(__file__).parent / "golden"


def rendered_text(case: Case) -> str:
    objects = render_all(case.spec, case.plan, name="model", namespace="llm", gpu=case.gpu)
    return yaml.safe_dump_all(objects, sort_keys=True, default_flow_style=False)


@pytest.mark.parametrize("case", GOLDEN_CASES, ids=lambda c: c.name)
def test_rendered_objects_match_the_golden_file(case: Case) -> None:
    path = GOLDEN_DIR / f"{case.name}.yaml"
    actual = rendered_text(case)
    if os.environ.get("UPDATE_GOLDEN") == "1":
        path.write_text(actual)
    assert path.exists(), f"{path.name} missing; run with UPDATE_GOLDEN=1 to create it"
    expected = path.read_text()
    if actual != expected:
        diff = "".join(
            difflib.unified_diff(
                expected.splitlines(keepends=True),
                actual.splitlines(keepends=True),
                fromfile=f"golden/{path.name}",
                tofile="rendered",
            )
        )
        pytest.fail(f"rendered output differs from golden/{path.name} (UPDATE_GOLDEN=1 to accept):\n{diff}")


@pytest.mark.parametrize("case", GOLDEN_CASES, ids=lambda c: c.name)
def test_rendering_twice_gives_identical_output(case: Case) -> None:
    assert rendered_text(case) == rendered_text(case)
