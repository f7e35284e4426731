"""The Argo CD health check and resource actions, run the way Argo CD runs them.

Argo CD (util/lua/lua.go) runs each script in a fresh gopher-lua VM (Lua 5.1 semantics, every number
a float64) with the resource as the global ``obj``, then JSON-encodes the returned table. Scripts
from argocd-cm get only the base, table and a safe os library, so every script here runs in that
restricted VM. The test layout is Argo's own: ``health_test.yaml`` next to ``health.lua`` and
``actions/action_test.yaml``, each naming its inputs under ``testdata/``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import lupa.lua51 as lua
import pytest
import yaml
from hack import gen_install_manifest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from modelfleet.api import ModelDeploymentStatus, parse_spec
from modelfleet.api.conditions import ACTION_ANNOTATION, Phase
from modelfleet.api.spec_rollout import RolloutAction

REPO = Path(__file__).resolve().parents[2]
KIND_DIR = REPO / "argocd" / "resource_customizations" / "modelfleet.io" / "ModelDeployment"
ACTIONS_DIR = KIND_DIR / "actions"
VALID_HEALTH = {"Healthy", "Progressing", "Degraded", "Suspended", "Missing", "Unknown"}


class _NoTimestamps(yaml.SafeLoader):
    """Keeps timestamps as strings, as sigs.k8s.io/yaml does."""


_NoTimestamps.yaml_implicit_resolvers = {
    key: [r for r in resolvers if r[0] != "tag:yaml.org,2002:timestamp"]
    for key, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def load(path: Path) -> Any:
    return yaml.load(path.read_text(), Loader=_NoTimestamps)  # noqa: S506 - a SafeLoader subclass


# ---- the harness: Argo CD's runLua / decodeValue / gopher-json, in lupa's Lua 5.1 ----------------------


def restricted_runtime() -> Any:
    """A Lua 5.1 VM with what Argo CD gives argocd-cm scripts: base, table, package and os.time/date."""
    runtime = lua.LuaRuntime(unpack_returned_tuples=True, register_eval=False, register_builtins=False)
    runtime.execute(
        "debug.setmetatable('', nil); string = nil; io = nil; math = nil; coroutine = nil;"
        "local t, d = os.time, os.date; os = {time = t, date = d}; debug = nil"
    )
    return runtime


def to_lua(runtime: Any, value: Any) -> Any:
    """decodeValue: maps to tables, lists to 1-based arrays, every number a float, nulls dropped."""
    if isinstance(value, dict):
        table = runtime.table()
        for key, item in value.items():
            if item is not None:
                table[key] = to_lua(runtime, item)
        return table
    if isinstance(value, list):
        table = runtime.table()
        for index, item in enumerate(value, 1):
            table[index] = to_lua(runtime, item)
        return table
    if isinstance(value, bool | str):
        return value
    if isinstance(value, int | float):
        return float(value)
    return value


def from_lua(value: Any) -> Any:
    """gopher-json's encoding: a table with keys 1..n is an array, an empty table is ``[]``."""
    if lua.lua_type(value) != "table":
        return int(value) if isinstance(value, float) and value.is_integer() else value
    items = dict(value.items())
    if not items:
        return []
    if all(isinstance(k, int | float) for k in items) and sorted(items) == list(range(1, len(items) + 1)):
        return [from_lua(items[i]) for i in range(1, len(items) + 1)]
    return {str(k): from_lua(v) for k, v in items.items()}


def clean_returned(new: Any, old: Any) -> Any:
    """cleanReturnedObj: an empty array where the input had a map goes back to the map."""
    if isinstance(new, dict) and isinstance(old, dict):
        return {k: clean_returned(v, old[k]) if k in old else v for k, v in new.items()}
    if isinstance(new, list) and isinstance(old, dict) and not new:
        return old
    if isinstance(new, list) and isinstance(old, list):
        return [clean_returned(item, old[i]) if i < len(old) else item for i, item in enumerate(new)]
    return new


def run(script: Path, obj: dict[str, Any]) -> Any:
    runtime = restricted_runtime()
    runtime.globals().obj = to_lua(runtime, obj)
    return runtime.execute(script.read_text())


def health(obj: dict[str, Any], script: Path = KIND_DIR / "health.lua") -> dict[str, str]:
    """ExecuteHealthLua: the returned table's status and message; an invalid status becomes Unknown."""
    result = run(script, obj)
    if result is None:
        return {"status": "", "message": ""}
    assert lua.lua_type(result) == "table", "health.lua must return a table"
    table = from_lua(result)
    status, message = table.get("status", ""), table.get("message", "")
    if status and status not in VALID_HEALTH:
        return {"status": "Unknown", "message": "Lua returned an invalid health status"}
    return {"status": status, "message": message}


def discover(obj: dict[str, Any]) -> list[dict[str, Any]]:
    """ExecuteResourceActionDiscovery: one ResourceAction per key of the returned table."""
    table = from_lua(run(ACTIONS_DIR / "discovery.lua", obj))
    if table == []:
        return []
    return [
        {"name": name, "disabled": bool(isinstance(value, dict) and value.get("disabled") is True)}
        for name, value in table.items()
    ]


def act(action: str, obj: dict[str, Any]) -> dict[str, Any]:
    """ExecuteResourceAction for an old-style action: the returned object, cleaned against the input."""
    result = from_lua(run(ACTIONS_DIR / action / "action.lua", obj))
    assert isinstance(result, dict), "an action must return the object"
    return dict(clean_returned(result, obj))


# ---- Argo CD's test files -------------------------------------------------------------------------

HEALTH_TESTS = load(KIND_DIR / "health_test.yaml")["tests"]
ACTION_TESTS = load(ACTIONS_DIR / "action_test.yaml")


@pytest.mark.parametrize("case", HEALTH_TESTS, ids=[t["inputPath"] for t in HEALTH_TESTS])
def test_health_matches_health_test_yaml(case: dict[str, Any]) -> None:
    assert health(load(KIND_DIR / case["inputPath"])) == case["healthStatus"]


@pytest.mark.parametrize(
    "case", ACTION_TESTS["discoveryTests"], ids=[t["inputPath"] for t in ACTION_TESTS["discoveryTests"]]
)
def test_discovery_matches_action_test_yaml(case: dict[str, Any]) -> None:
    found = discover(load(ACTIONS_DIR / case["inputPath"]))
    assert sorted(found, key=lambda a: a["name"]) == sorted(case["result"], key=lambda a: a["name"])


@pytest.mark.parametrize(
    "case",
    ACTION_TESTS["actionTests"],
    ids=[f"{t['action']}/{t['inputPath']}" for t in ACTION_TESTS["actionTests"]],
)
def test_action_output_matches_action_test_yaml(case: dict[str, Any]) -> None:
    got = act(case["action"], load(ACTIONS_DIR / case["inputPath"]))
    assert got == load(ACTIONS_DIR / case["expectedOutputPath"])


# ---- coverage and agreement with the API ----------------------------------------------------------


def test_every_phase_the_operator_writes_has_a_health_case() -> None:
    phases = {load(KIND_DIR / t["inputPath"]).get("status", {}).get("phase") for t in HEALTH_TESTS}
    assert {p.value for p in Phase} <= phases


def test_every_health_status_argo_knows_is_covered_except_missing() -> None:
    """Missing is Argo CD's own verdict for a resource that does not exist; the script never says it."""
    statuses = {t["healthStatus"]["status"] for t in HEALTH_TESTS}
    assert statuses == VALID_HEALTH - {"Missing"}


def test_every_rollout_action_has_a_script_a_discovery_entry_and_an_action_test() -> None:
    actions = {a.value for a in RolloutAction if a.value}
    assert {d.name for d in ACTIONS_DIR.iterdir() if (d / "action.lua").exists()} == actions
    assert {a["name"] for a in discover(load(ACTIONS_DIR / "testdata" / "healthy.yaml"))} == actions
    assert {t["action"] for t in ACTION_TESTS["actionTests"]} == actions


def test_actions_set_only_the_action_annotation() -> None:
    before = load(ACTIONS_DIR / "testdata" / "canary_running.yaml")
    for action in (a.value for a in RolloutAction if a.value):
        after = act(action, before)
        assert after["metadata"]["annotations"].pop(ACTION_ANNOTATION) == action
        assert after == before


@pytest.mark.parametrize(
    "path",
    sorted((KIND_DIR / "testdata").glob("*.yaml")) + sorted((ACTIONS_DIR / "testdata").glob("*.yaml")),
    ids=lambda p: f"{p.parent.parent.name}/{p.name}",
)
def test_testdata_is_a_valid_model_deployment(path: Path) -> None:
    """Inputs written by hand must still be what the operator can read and write."""
    obj = load(path)
    assert (obj["apiVersion"], obj["kind"]) == ("modelfleet.io/v1alpha1", "ModelDeployment")
    parse_spec(obj["spec"])
    status = obj.get("status")
    if status is not None and path.name != "unknown_phase.yaml":
        numeric = (
            {**status, "observedGeneration": int(status["observedGeneration"])}
            if "observedGeneration" in status
            else status
        )
        ModelDeploymentStatus.model_validate(numeric)


# ---- a malformed status gets a verdict, never a Lua error ------------------------------------------

# Any JSON value: what a status edited by hand, or written by another version, may hold.
JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=8,
)
CONDITION = st.fixed_dictionaries(
    {},
    optional={
        "type": st.sampled_from(["Ready", "Progressing", "Degraded", "Schedulable", "LicenseAccepted"])
        | JSON,
        "status": st.sampled_from(["True", "False", "Unknown"]) | JSON,
        "reason": st.sampled_from(["ProgressDeadlineExceeded", "LicenseRefused", ""]) | JSON,
        "message": st.text(max_size=20) | JSON,
    },
)
ROLLOUT = st.fixed_dictionaries(
    {},
    optional={
        "step": st.integers(0, 6) | st.text(max_size=3) | JSON,
        "message": JSON,
        "pausedAt": JSON,
        "abortReason": JSON,
    },
)
STATUS = st.fixed_dictionaries(
    {},
    optional={
        "phase": st.sampled_from([p.value for p in Phase]) | JSON,
        "observedGeneration": st.integers(0, 4) | st.text(max_size=3) | JSON,
        "conditions": st.lists(CONDITION | JSON, max_size=4) | JSON,
        "rollout": ROLLOUT | JSON,
        "revisions": st.fixed_dictionaries({}, optional={"canary": JSON, "stable": JSON}) | JSON,
        "message": JSON,
    },
)
MALFORMED = st.fixed_dictionaries(
    {
        "metadata": st.fixed_dictionaries({}, optional={"generation": st.integers(0, 4) | JSON}) | JSON,
        "spec": st.fixed_dictionaries(
            {},
            optional={
                "rollout": st.fixed_dictionaries(
                    {},
                    optional={
                        "strategy": st.sampled_from(["Canary", "RollingUpdate"]) | JSON,
                        "canary": st.fixed_dictionaries(
                            {}, optional={"steps": st.lists(JSON, max_size=6) | JSON}
                        ),
                    },
                )
                | JSON
            },
        )
        | JSON,
    },
    optional={"status": STATUS | JSON},
)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(MALFORMED)
def test_health_answers_a_verdict_for_any_status(obj: dict[str, Any]) -> None:
    verdict = health(obj)
    assert verdict["status"] in VALID_HEALTH - {"Missing"}
    assert isinstance(verdict["message"], str) and verdict["message"]


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(MALFORMED)
def test_discovery_answers_every_action_for_any_status(obj: dict[str, Any]) -> None:
    found = discover(obj)
    assert {a["name"] for a in found} == {a.value for a in RolloutAction if a.value}


@pytest.mark.parametrize(
    "status",
    [
        "Healthy",
        {"phase": 3},
        {"phase": "Degraded", "conditions": "Ready"},
        {
            "phase": "Failed",
            "conditions": [1, "x", {"type": "LicenseAccepted", "status": "False", "message": {}}],
        },
        {"phase": "Pending", "conditions": {"type": "Schedulable"}},
        {"phase": "Progressing", "rollout": "step 2", "observedGeneration": {"n": 1}},
        {"phase": "Paused", "rollout": {"message": 5}, "message": ["m"]},
    ],
    ids=repr,
)
def test_health_of_a_wrong_typed_status_is_a_verdict(status: Any) -> None:
    """Shapes a hand-edited status can take; most raised a Lua error before fields were type-checked."""
    verdict = health({"metadata": {"name": "m"}, "status": status})
    assert verdict["status"] in {"Unknown", "Degraded", "Progressing", "Suspended", "Healthy"}
    assert verdict["message"]


# ---- the harness itself can fail --------------------------------------------------------------------


def test_restricted_vm_has_no_string_library() -> None:
    runtime = restricted_runtime()
    with pytest.raises(lua.LuaError):
        runtime.execute("return string.format('%d', 1)")
    with pytest.raises(lua.LuaError):
        runtime.execute("return ('x'):upper()")


def test_an_invalid_status_becomes_unknown_and_nil_an_empty_status(tmp_path: Path) -> None:
    script = tmp_path / "health.lua"
    script.write_text('return {status = "Fine", message = "m"}')
    assert health({}, script) == {"status": "Unknown", "message": "Lua returned an invalid health status"}
    script.write_text("return nil")
    assert health({}, script) == {"status": "", "message": ""}


def test_numbers_reach_lua_as_floats_and_come_back_as_integers() -> None:
    runtime = restricted_runtime()
    runtime.globals().obj = to_lua(runtime, {"a": 3, "b": [1, 2]})
    assert from_lua(runtime.execute("return {x = obj.a + 1, y = obj.b, s = 'g' .. obj.a}")) == {
        "x": 4,
        "y": [1, 2],
        "s": "g3",
    }


# ---- the argocd-cm form of the same scripts -----------------------------------------------------------


def test_argocd_cm_patch_carries_exactly_these_scripts() -> None:
    assert gen_install_manifest.drifted(gen_install_manifest.argocd_cm_patch()) == [], (
        "run `make install-manifests` (hack/gen_install_manifest.py)"
    )
    data = yaml.safe_load((REPO / "argocd" / "argocd-cm-patch.yaml").read_text())["data"]
    assert (
        data["resource.customizations.health.modelfleet.io_ModelDeployment"]
        == (KIND_DIR / "health.lua").read_text()
    )
    actions = yaml.safe_load(data["resource.customizations.actions.modelfleet.io_ModelDeployment"])
    assert actions["discovery.lua"] == (ACTIONS_DIR / "discovery.lua").read_text()
    assert {d["name"]: d["action.lua"] for d in actions["definitions"]} == {
        d.name: (d / "action.lua").read_text() for d in ACTIONS_DIR.iterdir() if (d / "action.lua").exists()
    }
