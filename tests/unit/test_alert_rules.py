"""The alert rules in the chart (charts/modelfleet/rules/, the one source the PrometheusRule and
plain Prometheus both load): each group passes its `promtool test rules` file, every alert fires in
it at least once, and every alert has its runbook section in docs/alerts.md."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
RULES = REPO / "charts" / "modelfleet" / "rules"
RULE_TESTS = Path(__file__).parent / "rules"
RULE_FILES = sorted(RULES.glob("*.yaml"))


def promtool() -> str:
    found = shutil.which("promtool")
    assert found, (
        "promtool not found: apt-get install -y prometheus (Debian's package ships it; .ci/run does it)"
    )
    return found


def alerts_in(rule_file: Path) -> list[dict[str, str]]:
    groups = yaml.safe_load(rule_file.read_text())["groups"]
    return [rule for group in groups for rule in group["rules"] if "alert" in rule]


def test_every_rule_file_has_a_test_file_and_nothing_else_is_there() -> None:
    assert [p.name for p in RULE_FILES] == [
        p.name.replace(".test", "") for p in sorted(RULE_TESTS.glob("*.test.yaml"))
    ]


@pytest.mark.parametrize("rule_file", RULE_FILES, ids=lambda p: p.stem)
def test_rule_group_passes_its_promtool_unit_tests(rule_file: Path) -> None:
    tests = RULE_TESTS / f"{rule_file.stem}.test.yaml"
    result = subprocess.run(
        [promtool(), "test", "rules", str(tests)], capture_output=True, text=True, check=False, timeout=120
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


@pytest.mark.parametrize("rule_file", RULE_FILES, ids=lambda p: p.stem)
def test_every_alert_fires_in_its_unit_tests(rule_file: Path) -> None:
    cases = yaml.safe_load((RULE_TESTS / f"{rule_file.stem}.test.yaml").read_text())["tests"]
    fired = {
        check["alertname"] for case in cases for check in case["alert_rule_test"] if check.get("exp_alerts")
    }
    assert {rule["alert"] for rule in alerts_in(rule_file)} <= fired


def test_every_alert_has_a_runbook_section_its_annotation_points_to() -> None:
    headings = re.findall(r"^### (\w+)$", (REPO / "docs" / "alerts.md").read_text(), re.MULTILINE)
    alerts = [rule for path in RULE_FILES for rule in alerts_in(path)]
    assert sorted(rule["alert"] for rule in alerts) == sorted(headings)
    for rule in alerts:
        assert rule["annotations"]["runbook"] == f"docs/alerts.md#{rule['alert'].lower()}"
        assert rule["labels"]["severity"] in ("warning", "critical")


def test_rule_files_pass_promtool_check() -> None:
    result = subprocess.run(
        [promtool(), "check", "rules", *map(str, RULE_FILES)],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
