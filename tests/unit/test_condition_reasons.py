"""docs/api.md lists exactly the condition reasons the code can set, with their status.

`CONDITION_REASONS` (api/conditions.py) is the one list; the docs table is compared with it, and so is
every place that sets a condition with a literal reason (the checks and policies of decide/, the rollout
machine's Progressing verdicts and aborts, the licence policy).
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

from modelfleet.api import CONDITION_REASONS, EVENT_REASONS, ConditionStatus, ConditionType, Reason
from modelfleet.catalog import license as licence

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "operator" / "modelfleet"
POLICIES = {
    "ready_policy": ConditionType.READY,
    "progressing_policy": ConditionType.PROGRESSING,
    "degraded_policy": ConditionType.DEGRADED,
    "schedulable_policy": ConditionType.SCHEDULABLE,
}
Triple = tuple[ConditionType, ConditionStatus | None, Reason]


def declared() -> set[tuple[ConditionType, ConditionStatus, Reason]]:
    return {
        (type_, status, reason)
        for type_, reasons in CONDITION_REASONS.items()
        for reason, status in reasons.items()
    }


def documented() -> set[tuple[ConditionType, ConditionStatus, Reason]]:
    text = (ROOT / "docs" / "api.md").read_text()
    section = text[text.index("## Conditions") : text.index("## Validation")]
    rows = re.findall(r"^\| `(\w+)` \| (True|False|Unknown) \| `(\w+)` \|", section, re.MULTILINE)
    return {(ConditionType(t), ConditionStatus(s), Reason(r)) for t, s, r in rows}


def _attr(node: ast.expr, owner: str) -> str | None:
    if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == owner:
        return node.attr
    return None


def set_in_code() -> set[Triple]:
    """(type, status, reason) of every condition the code sets with literal constants."""
    found: set[Triple] = set()
    for path in sorted((PACKAGE / "decide").glob("*.py")) + sorted((PACKAGE / "rollout").glob("*.py")):
        tree = ast.parse(path.read_text())
        for function in [n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef)]:
            for node in ast.walk(function):
                found |= _literal_settings(node, POLICIES.get(function.name), path.parent.name)
    return found


def _literal_settings(node: ast.AST, policy: ConditionType | None, package: str) -> set[Triple]:
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "set":
        args = node.args
        if len(args) >= 3 and _attr(args[0], "ConditionType") and _attr(args[2], "Reason"):
            status = _attr(args[1], "ConditionStatus")
            return {(ConditionType[_attr(args[0], "ConditionType") or ""], _status(status), _reason(args[2]))}
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.args:
        name = node.func.id
        if name == "Verdict" and policy is not None and _attr(node.args[1], "Reason"):
            return {(policy, _status(_attr(node.args[0], "ConditionStatus")), _reason(node.args[1]))}
        if name == "Abort" and _attr(node.args[0], "Reason"):
            reason = _reason(node.args[0])
            return {
                (ConditionType.PROGRESSING, ConditionStatus.FALSE, reason),
                (ConditionType.DEGRADED, ConditionStatus.TRUE, reason),
            }
    if package == "rollout" and isinstance(node, ast.Tuple) and len(node.elts) == 3:
        status, reason = _attr(node.elts[0], "ConditionStatus"), _attr(node.elts[1], "Reason")
        if status and reason:
            return {(ConditionType.PROGRESSING, _status(status), _reason(node.elts[1]))}
    return set()


def _status(name: str | None) -> ConditionStatus | None:
    return ConditionStatus[name] if name else None


def _reason(node: ast.expr) -> Reason:
    return Reason[_attr(node, "Reason") or ""]


def test_the_docs_table_lists_exactly_the_declared_reasons() -> None:
    assert documented() == declared()


def test_every_reason_is_a_condition_reason_or_an_event_reason() -> None:
    in_conditions = {reason for reasons in CONDITION_REASONS.values() for reason in reasons}
    assert set(Reason) == in_conditions | EVENT_REASONS
    assert not (EVENT_REASONS & in_conditions), "an event-only reason is never a condition's"


def test_every_condition_the_code_sets_is_declared_with_its_status() -> None:
    found = set_in_code()
    assert len(found) >= 20, "the scan must see the checks, the policies and the rollout machine"
    for type_, status, reason in found:
        assert reason in CONDITION_REASONS[type_], (type_, reason)
        if status is not None:
            assert CONDITION_REASONS[type_][reason] == status, (type_, reason)


def test_the_licence_policy_reasons_are_declared_for_the_licence_condition() -> None:
    reasons = {
        licence.LICENSE_ALLOWED,
        licence.LICENSE_NEEDS_ACCEPTANCE,
        licence.LICENSE_REFUSED,
        licence.LICENSE_UNKNOWN,
    }
    assert {Reason(r) for r in reasons} == set(CONDITION_REASONS[ConditionType.LICENSE_ACCEPTED])
