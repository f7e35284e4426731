"""`kubectl modelfleet`: the screens as functions of the fetched objects, the action rules against Argo
CD's, the watch loop on fake time, and kubectl finding the plugin on PATH."""

from __future__ import annotations

import io
import os
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from rich.console import Console

from modelfleet.api.spec_rollout import RolloutAction
from modelfleet.catalog.types import GIB
from modelfleet.cli.kubectl import build_parser, watch
from modelfleet.cli.kubectl.actions import ACTIONS, refusal
from modelfleet.cli.kubectl.explain import explain
from modelfleet.cli.kubectl.snapshot import snapshot_from
from modelfleet.cli.kubectl.tree import as_text, view
from modelfleet.cli.plan import make_plan
from tests.unit.test_argocd_lua import ACTIONS_DIR, KIND_DIR, discover, load

REPO = Path(__file__).resolve().parents[2]
VENV_BIN = REPO / ".venv" / "bin"
STEPS = [
    {"setWeight": 25},
    {"pause": {"duration": "3s"}},
    {"analysis": {"templates": ["ttft-p95", "error-rate"]}},
    {"setWeight": 50},
    {"pause": {}},
]
PLAN = {
    "feasible": True,
    "summary": "2 x H200 (1 node), TP=2, bf16",
    "gpuType": "H200",
    "gpusPerReplica": 2,
    "nodesPerReplica": 1,
    "memory": {
        "weightsBytes": 14 * GIB,
        "kvCacheBytes": 36 * GIB,
        "overheadBytes": 4 * GIB,
        "usableBytes": 108 * GIB,
    },
    "reasons": ["the smallest layout that fits"],
}


def md(status: dict[str, Any], **spec: Any) -> dict[str, Any]:
    return {
        "metadata": {"name": "chat", "namespace": "llm"},
        "spec": {
            "model": {"id": "mistralai/Mistral-7B-Instruct-v0.3"},
            "accelerator": {"type": "H200"},
            "rollout": {"canary": {"steps": STEPS}},
            **spec,
        },
        "status": {"plan": PLAN, "ready": "2/2", **status},
    }


def deployment(revision: str, ready: int, kind: str = "Deployment") -> dict[str, Any]:
    return {
        "kind": kind,
        "metadata": {"name": f"chat-{revision}", "labels": {"modelfleet.io/revision": revision}},
        "spec": {"replicas": 1},
        "status": {"readyReplicas": ready},
    }


def pod(revision: str, ready: bool) -> dict[str, Any]:
    return {
        "kind": "Pod",
        "metadata": {"name": f"chat-{revision}-0", "labels": {"modelfleet.io/revision": revision}},
        "spec": {"nodeName": "gpu-h200-0"},
        "status": {
            "phase": "Running",
            "conditions": [{"type": "Ready", "status": "True" if ready else "False"}],
        },
    }


def canary_status(step: int, weight: int, **rollout: Any) -> dict[str, Any]:
    return {
        "phase": "Progressing",
        "revisions": {"stable": "a1", "canary": "b2"},
        "rollout": {"step": step, "weight": weight, "stepStartedAt": "2026-05-01T12:00:00Z", **rollout},
        "conditions": [
            {"type": "Ready", "status": "True", "reason": "ReplicasReady", "message": "2/2 ready"},
            {"type": "Progressing", "status": "True", "reason": "RolloutInProgress", "message": "canary"},
        ],
    }


CANARY_CHILDREN = ([deployment("a1", 1), deployment("b2", 0)], [pod("a1", True), pod("b2", False)])


def screen(obj: dict[str, Any], children: tuple[list[Any], list[Any]] = ([], [])) -> str:
    return as_text(view(snapshot_from(obj, *children)))


def test_a_canary_mid_analysis_shows_steps_weights_measurements_and_the_tree() -> None:
    status = canary_status(
        2,
        25,
        observedWeight=20,
        successCount=3,
        failureCount=1,
        analysis=[
            {"name": "ttft-p95", "verdict": "success", "value": 0.41, "threshold": "<= 2", "at": "2026-05-01T12:00:02Z"},
            {"name": "error-rate", "verdict": "failure", "value": 0.07, "threshold": "<= 0.01", "message": "too many"},
        ],
    )  # fmt: skip
    assert screen(md(status), CANARY_CHILDREN) == (
        "Name:       chat\n"
        "Namespace:  llm\n"
        "Phase:      Progressing\n"
        "Plan:       2 x H200 (1 node), TP=2, bf16\n"
        "Ready:      2/2\n"
        "Strategy:   Canary (5 steps, traffic by auto)\n"
        "Step:       3/5 (since 2026-05-01T12:00:00Z)\n"
        "Weight:     canary 25% (observed 20%), stable 75%\n"
        "\n"
        "Steps:\n"
        "✔ 1. setWeight 25\n"
        "✔ 2. pause 3s\n"
        "► 3. analysis ttft-p95, error-rate\n"
        "○ 4. setWeight 50\n"
        "○ 5. pause (until resumed)\n"
        "\n"
        "Analysis: 3 passed, 1 failed, 0 errors in a row\n"
        "✔ ttft-p95    0.41  (want <= 2)               2026-05-01T12:00:02Z\n"
        "✖ error-rate  0.07  (want <= 0.01)  too many\n"
        "\n"
        "Conditions:\n"
        "Ready        True  ReplicasReady      2/2 ready\n"
        "Progressing  True  RolloutInProgress  canary\n"
        "\n"
        "ModelDeployment chat\n"
        "├── revision a1  stable  75%\n"
        "│   └── Deployment chat-a1  1/1 ready\n"
        "│       └── Pod chat-a1-0  Running, ready  on gpu-h200-0\n"
        "└── revision b2  canary  25%\n"
        "    └── Deployment chat-b2  0/1 ready\n"
        "        └── Pod chat-b2-0  Running, not ready  on gpu-h200-0\n"
    )


SCREEN_CASES = [
    # (why, the object, children, lines the screen shows, lines it must not show)
    (
        "a healthy object has no step line, an unmarked checklist and all traffic on the stable",
        md({"phase": "Healthy", "revisions": {"stable": "a1"}}),
        ([deployment("a1", 1)], [pod("a1", True)]),
        ["· 1. setWeight 25", "└── revision a1  stable  100%", "    └── Deployment chat-a1  1/1 ready"],
        ["Step:", "Weight:", "canary"],
    ),
    (
        "a paused step is marked paused and says since when",
        md(canary_status(4, 50, pausedAt="2026-05-01T12:01:00Z") | {"phase": "Paused"}),
        CANARY_CHILDREN,
        ["‖ 5. pause (until resumed)", "Step:       5/5 (paused since 2026-05-01T12:01:00Z)", "✔ 4. setWeight 50"],
        [],
    ),
    (
        "a pause step with no duration holds with the phase Paused: its step is marked paused",
        md(canary_status(4, 50) | {"phase": "Paused"}),
        CANARY_CHILDREN,
        ["‖ 5. pause (until resumed)", "Step:       5/5 (since 2026-05-01T12:00:00Z)"],
        ["►"],
    ),
    (
        "past the last step the canary is being promoted",
        md(canary_status(5, 100)),
        CANARY_CHILDREN,
        ["Step:       5/5, all done (since 2026-05-01T12:00:00Z)", "✔ 5. pause (until resumed)"],
        ["►"],
    ),
    (
        "an aborted canary says why, with the stable back at full weight",
        md(canary_status(2, 0, abortReason="error-rate 0.07 > 0.01") | {"phase": "Degraded"}),
        CANARY_CHILDREN,
        ["Aborted:    error-rate 0.07 > 0.01", "✖ 3. analysis ttft-p95, error-rate", "├── revision a1  stable  100%",
         "└── revision b2  canary  0%"],
        [],
    ),
    (
        "an infeasible plan shows the planner's reasons",
        md({"phase": "Failed", "plan": {"feasible": False, "reasons": ["needs 16 x H200, the largest node has 8"]}}),
        ([], []),
        ["Plan:       no layout fits: needs 16 x H200, the largest node has 8"],
        ["Step:"],
    ),
    (
        "a rolling update has no checklist",
        md({"phase": "Healthy"}, rollout={"strategy": "RollingUpdate"}),
        ([], []),
        ["Strategy:   RollingUpdate"],
        ["Steps:"],
    ),
    (
        "a multi-node revision is a LeaderWorkerSet with its pods under it",
        md({"phase": "Healthy", "revisions": {"stable": "a1"}}),
        ([deployment("a1", 1, kind="LeaderWorkerSet")], [pod("a1", True)]),
        ["    └── LeaderWorkerSet chat-a1  1/1 ready", "        └── Pod chat-a1-0  Running, ready  on gpu-h200-0"],
        [],
    ),
    (
        "an old revision still scaling down is listed after the stable and the canary",
        md(canary_status(0, 25)),
        ([deployment("0ld", 0), deployment("a1", 1), deployment("b2", 1)], []),
        ["├── revision a1  stable  75%", "├── revision b2  canary  25%", "└── revision 0ld  old"],
        [],
    ),
    (
        "a phase from a newer operator is named, and the rest of the status still shows",
        md(canary_status(1, 25) | {"phase": "Hibernating"}),
        CANARY_CHILDREN,
        ["Unreadable:  status.phase: Input should be 'Pending', 'Progressing', 'Healthy', 'Paused', 'Degraded' or 'Failed'",
         "Weight:      canary 25%, stable 75%"],
        ["Phase:       Hibernating"],
    ),
    (
        "a spec the plugin cannot parse is named, and the status still shows",
        {"metadata": {"name": "chat", "namespace": "llm"}, "spec": {"replicas": 1}, "status": {"phase": "Failed"}},
        ([], []),
        ["Unreadable:  spec.model: Field required", "Phase:       Failed"],
        [],
    ),
    (
        "an object the operator has not reconciled says so",
        {"metadata": {"name": "chat", "namespace": "llm"}, "spec": md({})["spec"]},
        ([], []),
        ["none yet (the operator has not reconciled this object)", "Plan:       -"],
        [],
    ),
]  # fmt: skip


@pytest.mark.parametrize(
    ("why", "obj", "children", "shown", "hidden"), SCREEN_CASES, ids=[c[0] for c in SCREEN_CASES]
)
def test_the_screen_shows_each_state(
    why: str, obj: dict[str, Any], children: tuple[list[Any], list[Any]], shown: list[str], hidden: list[str]
) -> None:
    text = screen(obj, children)
    lines = text.splitlines()
    missing = [line for line in shown if line not in lines]
    assert missing == [], f"{why}:\n{text}"
    assert [h for h in hidden if h in text] == [], f"{why}:\n{text}"


# ---- actions: the same rules as the Argo CD actions ----------------------------------------------------


def argocd_objects() -> list[Path]:
    return sorted((ACTIONS_DIR / "testdata").glob("*.yaml")) + sorted((KIND_DIR / "testdata").glob("*.yaml"))


@pytest.mark.parametrize("path", argocd_objects(), ids=lambda p: p.stem)
def test_an_action_is_refused_exactly_where_argocd_disables_it(path: Path) -> None:
    obj = load(path)
    enabled = {a["name"] for a in discover(obj) if not a["disabled"]}
    snapshot = snapshot_from(obj)
    allowed = {action.value for action in ACTIONS if refusal(snapshot, action) is None}
    assert allowed == enabled


REFUSALS = [
    # (status, spec.rollout, action, the reason given)
    ({"phase": "Healthy"}, {}, RolloutAction.PROMOTE, "chat has no canary in progress: nothing to promote"),
    ({"phase": "Healthy"}, {}, RolloutAction.RESUME, "chat is not paused: nothing to resume"),
    ({"phase": "Healthy"}, {}, RolloutAction.RETRY, "chat has no aborted canary: nothing to retry"),
    (canary_status(1, 25, pausedAt="2026-05-01T12:01:00Z"), {}, RolloutAction.PAUSE, "chat is paused already: use resume"),
    (canary_status(5, 100), {}, RolloutAction.PROMOTE, "chat has done every step: the canary is being promoted already"),
    (canary_status(1, 0, abortReason="abort requested"), {}, RolloutAction.ABORT, "chat's canary was aborted (abort requested): use retry"),
    (canary_status(1, 25, pausedAt="2026-05-01T12:01:00Z"), {"action": "pause"}, RolloutAction.RESUME,
     "chat is held paused by spec.rollout.action: pause; remove it from the spec to resume"),
    ({"phase": "Failed", "message": "licence refused"}, {}, RolloutAction.RETRY,
     "chat is Failed (licence refused): the operator acts on no action until the spec is fixed, and an action set now would fire then"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("status", "rollout", "action", "reason"), REFUSALS, ids=[r[3][:50] for r in REFUSALS]
)
def test_a_refused_action_says_why(
    status: dict[str, Any], rollout: dict[str, Any], action: RolloutAction, reason: str
) -> None:
    obj = md(status)
    obj["spec"]["rollout"].update(rollout)
    assert refusal(snapshot_from(obj), action) == reason


def test_every_action_applies_to_a_running_canary_except_resume_and_retry() -> None:
    snapshot = snapshot_from(md(canary_status(1, 25)))
    allowed = [action for action in ACTIONS if refusal(snapshot, action) is None]
    assert allowed == [RolloutAction.PROMOTE, RolloutAction.ABORT, RolloutAction.PAUSE]


# ---- explain ---------------------------------------------------------------------------------------


def test_explain_draws_a_memory_bar_per_gpu_and_the_rejected_layouts() -> None:
    obj = md({"phase": "Healthy"})
    obj["spec"]["model"]["id"] = "google/gemma-3-27b-it"  # on L4, the planner rejects 2 GPUs per replica
    obj["spec"]["accelerator"]["type"] = "L4"
    snapshot = snapshot_from(obj)
    assert snapshot.spec is not None
    rejected = make_plan(snapshot.spec)[0].rejected
    text = as_text(explain(snapshot, rejected))
    lines = text.splitlines()
    bars = [line for line in lines if line.startswith("  GPU ")]
    assert [b.split()[1] for b in bars] == ["0", "1"], text
    bar = bars[0].split()[2]
    # 50 cells for 108 GiB usable: 14 GiB of weights, 36 of KV cache, 4 of overhead, 54 free
    assert (bar.count("█"), bar.count("▓"), bar.count("▒"), bar.count("░")) == (6, 17, 2, 25)
    assert "  █ weights 14.0 GiB   ▓ KV cache 36.0 GiB   ▒ overhead 4.0 GiB   ░ free 54.0 GiB" in lines
    assert lines[0] == "Plan of chat: 2 x H200 (1 node), TP=2, bf16"
    rejected_at = lines.index("Rejected alternatives (1 of 1):")
    rejection = " ".join(lines[rejected_at + 1 :])
    # Checked at the auto-fit floor of 4096 tokens (maxModelLen is not set), in vLLM's own words.
    assert rejection.startswith(
        "  - 2 x L4 on 1 node: TP=2 PP=1 DP=1: vLLM refuses to start: No available memory for the cache blocks"
    ), text
    assert "needs 29.2 GiB per GPU" in rejection, text


def test_explain_before_the_first_reconcile_says_there_is_no_plan() -> None:
    obj = md({})
    del obj["status"]
    text = as_text(explain(snapshot_from(obj), ()))
    assert text == "chat has no plan yet: the operator has not reconciled it\n"


# ---- watch -----------------------------------------------------------------------------------------


def test_watch_without_a_terminal_prints_a_screen_only_when_it_changes(
    capsys: pytest.CaptureFixture[str],
) -> None:
    states = iter([canary_status(0, 25), canary_status(0, 25), canary_status(1, 25), canary_status(1, 25)])
    slept: list[float] = []
    console = Console(file=io.StringIO(), force_terminal=False)
    watch(console, lambda: view(snapshot_from(md(next(states)))), 2.0, slept.append, rounds=4)
    out = capsys.readouterr().out
    assert out.count("Name:       chat") == 2
    assert out.index("Step:       1/5") < out.index("Step:       2/5")
    assert slept == [2.0] * 4


def test_watch_on_a_terminal_redraws_in_place() -> None:
    states = iter([canary_status(0, 25), canary_status(3, 50)])
    output = io.StringIO()
    console = Console(file=output, force_terminal=True, width=100, height=60)
    watch(console, lambda: view(snapshot_from(md(next(states)))), 1.0, lambda _: None, rounds=2)
    drawn = output.getvalue()
    assert "\x1b[2K" in drawn and "\x1b[1A" in drawn  # cursor up, erase line: the previous screen is replaced
    assert drawn.index("canary 25%") < drawn.index("canary 50%")


# ---- the command line and kubectl's plugin discovery ------------------------------------------------


def test_connection_flags_are_kubectls_and_plan_stays_offline() -> None:
    args = build_parser().parse_args(
        ["get", "chat", "-n", "llm", "--context", "dev", "--kubeconfig", "k", "-w"]
    )
    assert (args.name, args.namespace, args.context, args.kubeconfig, args.watch) == (
        "chat",
        "llm",
        "dev",
        "k",
        True,
    )
    before = build_parser().parse_args(["-n", "llm", "--context", "dev", "promote", "chat"])
    assert (before.name, before.namespace, before.context, before.kubeconfig) == ("chat", "llm", "dev", None)
    plan = build_parser().parse_args(["plan", "--model", "mistralai/Mistral-7B-Instruct-v0.3"])
    assert plan.namespace is None and plan.kubeconfig is None  # offline: the flags are only the top level's


def test_kubectl_finds_the_plugin_on_path() -> None:
    env = {**os.environ, "PATH": f"{VENV_BIN}{os.pathsep}{os.environ.get('PATH', '')}"}
    kubectl = str(VENV_BIN / "kubectl")
    listed = subprocess.run([kubectl, "plugin", "list"], capture_output=True, text=True, env=env, timeout=60)
    assert str(VENV_BIN / "kubectl-modelfleet") in listed.stdout, listed.stdout + listed.stderr
    helped = subprocess.run(
        [kubectl, "modelfleet", "--help"], capture_output=True, text=True, env=env, timeout=60
    )
    assert helped.returncode == 0, helped.stderr
    assert helped.stdout.startswith("usage: kubectl modelfleet")
    for command in ("get", "promote", "abort", "pause", "resume", "retry", "plan", "explain"):
        assert f"    {command} " in helped.stdout


def test_plan_through_the_plugin_is_modelfleet_plan() -> None:
    env = {**os.environ, "PATH": f"{VENV_BIN}{os.pathsep}{os.environ.get('PATH', '')}"}
    args = ["plan", "--model", "mistralai/Mistral-7B-Instruct-v0.3", "-o", "json"]
    plugin = subprocess.run(
        [str(VENV_BIN / "kubectl"), "modelfleet", *args], capture_output=True, text=True, env=env, timeout=60
    )
    direct = subprocess.run([str(VENV_BIN / "modelfleet"), *args], capture_output=True, text=True, timeout=60)
    assert (plugin.returncode, plugin.stdout) == (direct.returncode, direct.stdout)
    assert plugin.returncode == 0


def render_krew_template(text: str, tag: str) -> str:
    """What krew-release-bot does on a release: the tag, and each archive's uri with its sha256."""
    text = text.replace("{{ .TagName }}", tag)
    return re.sub(r'\{\{addURIAndSha "([^"]+)" \.TagName \}\}', r"uri: \1\n    sha256: " + "0" * 64, text)


def test_the_krew_manifest_installs_the_entry_point_on_each_platform() -> None:
    text = (REPO / "hack" / "krew" / "modelfleet.yaml").read_text()
    manifest = yaml.safe_load(render_krew_template(text, "v0.1.0"))
    assert manifest["kind"] == "Plugin" and manifest["metadata"]["name"] == "modelfleet"
    assert manifest["spec"]["version"] == "v0.1.0"
    platforms = manifest["spec"]["platforms"]
    assert {p["bin"] for p in platforms} == {"kubectl-modelfleet"}
    assert all(p["uri"].endswith(".tar.gz") and "/v0.1.0/" in p["uri"] for p in platforms)
    selectors = {
        (p["selector"]["matchLabels"]["os"], p["selector"]["matchLabels"]["arch"]) for p in platforms
    }
    assert ("linux", "amd64") in selectors and len(selectors) == len(platforms)
