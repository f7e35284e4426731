"""`kubectl modelfleet` against the real cluster and operator: `get --watch` runs in a tmux pane through a
whole canary (stable, paused at 25%, resumed to 50%, promoted) while the test reads the pane; the actions
go through kubectl's plugin discovery and are refused where the operator would ignore them.

Set MODELFLEET_CLI_SCREENS to a directory to keep each captured screen (docs/cli.md shows them).
"""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from testbed.cluster import kubectl_binary
from testbed.wait import wait_for
from tests.e2e.api import Api
from tests.e2e.helpers import Rig, new_revision, promoted_from, start_stable, wait_status

pytestmark = pytest.mark.cluster
NAMESPACE = "e2e-cli"
# An untimed pause holds the canary at 25% until `kubectl modelfleet resume`; the timed one at 50% is
# long enough for the pane to be read there.
STEPS = [{"setWeight": 25}, {"pause": {}}, {"setWeight": 50}, {"pause": {"duration": "6s"}}]
SCREENS_ENV = "MODELFLEET_CLI_SCREENS"


def plugin_env(rig: Rig) -> dict[str, str]:
    """kubectl and kubectl-modelfleet on PATH, the test cluster in KUBECONFIG (kubectl passes it on)."""
    path = os.pathsep.join([str(Path(kubectl_binary()).parent), str(Path(sys.executable).parent)])
    return {
        **os.environ,
        "PATH": f"{path}{os.pathsep}{os.environ.get('PATH', '')}",
        "KUBECONFIG": str(rig.cluster.kubeconfig),
    }


def plugin(rig: Rig, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["kubectl", "modelfleet", *args, "-n", NAMESPACE],
        capture_output=True,
        text=True,
        env=plugin_env(rig),
        timeout=60,
        check=False,
    )


def squeeze(screen: str) -> str:
    return "\n".join(" ".join(line.split()) for line in screen.splitlines())


class Pane:
    """One tmux pane on a tmux server of its own (its own socket), so nothing else's sessions are touched."""

    def __init__(self, command: list[str], env: dict[str, str]) -> None:
        self.socket = f"modelfleet-test-{uuid.uuid4().hex[:8]}"
        self.screens: list[str] = []
        self.tmux("new-session", "-d", "-s", "watch", "-x", "140", "-y", "60", *command, env=env)
        self.socket_path = Path(self.tmux("display-message", "-p", "#{socket_path}").strip())

    def tmux(self, *args: str, env: dict[str, str] | None = None) -> str:
        proc = subprocess.run(
            ["tmux", "-L", self.socket, *args],
            capture_output=True,
            text=True,
            env=env,
            timeout=30,
            check=True,
        )
        return proc.stdout

    def screen(self) -> str:
        return self.tmux("capture-pane", "-p", "-t", "watch")

    def wait(self, check: Callable[[str], bool], what: str, timeout: float = 60) -> str:
        """The first screen that passes `check`, with each run of spaces made one (a column's width does
        not matter), polled until the deadline; the plugin redraws every 0.5 s."""
        screens: list[str] = []

        def matched() -> str | None:
            screens.append(self.screen())
            return screens[-1] if check(squeeze(screens[-1])) else None

        try:
            screen = str(wait_for(matched, what, timeout, 0.2))
        except AssertionError as error:
            raise AssertionError(f"{error}\nthe last screen:\n{screens[-1] if screens else ''}") from None
        self.screens.append(screen)  # as drawn, for docs/cli.md
        return squeeze(screen)

    def stop(self) -> None:
        self.tmux("kill-server")
        self.socket_path.unlink(missing_ok=True)  # tmux leaves its socket file behind


@pytest.fixture
def watched(rig: Rig, api: Api, cleanup: list[tuple[str, str]]) -> Iterator[tuple[str, str, Pane]]:
    """A stable ModelDeployment and a pane running `kubectl modelfleet get NAME --watch` on it."""
    name = "cli"
    cleanup.append((NAMESPACE, name))
    stable = start_stable(rig, api, NAMESPACE, name, steps=STEPS)
    command = ["kubectl", "modelfleet", "get", name, "--watch", "--interval", "0.5", "-n", NAMESPACE]
    command += ["--kubeconfig", str(rig.cluster.kubeconfig)]
    pane = Pane(command, plugin_env(rig))
    try:
        yield name, stable, pane
    finally:
        keep = os.environ.get(SCREENS_ENV)
        if keep:
            Path(keep).mkdir(parents=True, exist_ok=True)
            for index, screen in enumerate(pane.screens):
                (Path(keep) / f"{index}.txt").write_text(screen)
        pane.stop()


def test_get_watch_follows_a_canary_from_the_stable_to_its_promotion(
    rig: Rig, api: Api, watched: tuple[str, str, Pane]
) -> None:
    name, stable, pane = watched
    before = pane.wait(
        lambda s: "Phase: Healthy" in s and f"revision {stable} stable 100%" in s, "the stable"
    )
    assert "· 2. pause (until resumed)" in before, before

    refused = plugin(rig, "promote", name)
    assert refused.returncode == 3, refused
    assert refused.stderr == (
        f"kubectl modelfleet promote: promote does nothing now: {name} has no canary in progress: nothing to promote\n"
    )

    new_revision(rig.cluster, NAMESPACE, name)
    paused = pane.wait(
        lambda s: "Phase: Paused" in s and "‖ 2. pause (until resumed)" in s, "the canary paused at 25%"
    )
    canary = str(api.status(NAMESPACE, name)["revisions"]["canary"])
    for line in (
        "Step: 2/4 (since",
        "Weight: canary 25%, stable 75%",
        "✔ 1. setWeight 25",
        "○ 3. setWeight 50",
        f"├── revision {stable} stable 75%",
        f"└── revision {canary} canary 25%",
    ):
        assert line in paused, f"{line!r} not in:\n{paused}"
    assert plugin(rig, "pause", name).stderr.endswith(f"{name} is paused already: use resume\n")

    resumed = plugin(rig, "resume", name)
    assert (resumed.returncode, resumed.stdout) == (
        0,
        f"resume requested for {NAMESPACE}/{name}: the operator acts on it in its next pass\n",
    ), resumed.stderr
    at_50 = pane.wait(lambda s: "Weight: canary 50%, stable 50%" in s, "the canary at 50% after resume")
    assert "✔ 2. pause (until resumed)" in at_50 and "✔ 3. setWeight 50" in at_50, at_50
    assert f"revision {canary} canary 50%" in at_50, at_50

    promoted = pane.wait(
        lambda s: "Phase: Healthy" in s and f"revision {canary} stable 100%" in s,
        "the canary promoted to stable",
        timeout=90,
    )
    assert "Weight:" not in promoted and " canary" not in promoted, promoted
    status = wait_status(api, NAMESPACE, name, promoted_from(stable), "promoted")
    assert status["revisions"]["stable"] == canary


def test_list_and_explain_read_the_cluster(rig: Rig, api: Api, cleanup: list[tuple[str, str]]) -> None:
    name = "cli-explain"
    cleanup.append((NAMESPACE, name))
    start_stable(rig, api, NAMESPACE, name, steps=STEPS)
    listed = plugin(rig, "get")
    assert listed.returncode == 0, listed.stderr
    header, *rows = listed.stdout.splitlines()
    assert header.split() == ["NAME", "PHASE", "READY", "STEP", "WEIGHT", "PLAN"]
    assert any(row.split()[:3] == [name, "Healthy", "1/1"] for row in rows), listed.stdout
    explained = plugin(rig, "explain", name)
    assert explained.returncode == 0, explained.stderr
    plan = api.status(NAMESPACE, name)["plan"]
    assert explained.stdout.startswith(f"Plan of {name}: {plan['summary']}\n"), explained.stdout
    bars = [line for line in explained.stdout.splitlines() if line.startswith("  GPU ")]
    assert len(bars) == plan["gpusPerReplica"], explained.stdout
    missing = plugin(rig, "get", "no-such-model")
    assert missing.returncode == 3 and "not found" in missing.stderr, missing
