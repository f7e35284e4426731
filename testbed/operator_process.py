"""Run `modelfleet run` as a real process against the local control plane (stopped by its own PID)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import urllib.request
from pathlib import Path
from typing import Any

import yaml

from testbed.cluster import REPO, LocalCluster, die_with_parent, free_port
from testbed.wait import wait_for

CRD_DIR = REPO / "crds"


def install_crds(cluster: LocalCluster) -> None:
    cluster.kubectl("apply", "--server-side", "--force-conflicts", "-f", str(CRD_DIR))

    # Poll rather than `kubectl wait`: a CRD that has no conditions yet makes `wait` fail at once.
    def established() -> bool:
        out = cluster.kubectl(
            "get",
            "crd/modeldeployments.modelfleet.io",
            "-o",
            'jsonpath={.status.conditions[?(@.type=="Established")].status}',
            check=False,
        )
        return out.returncode == 0 and out.stdout.strip() == "True"

    wait_for(established, "the ModelDeployment CRD to be Established", timeout=60)


class OperatorProcess:
    def __init__(
        self,
        cluster: LocalCluster,
        workdir: Path,
        config: dict[str, Any] | None = None,
        extra_env: dict[str, str] | None = None,
        kubeconfig: Path | None = None,
    ) -> None:
        self.cluster = cluster
        self.workdir = workdir
        self.metrics_port = free_port()
        self.config_path = workdir / "operator.yaml"
        base = {
            "metrics": {"address": "127.0.0.1", "port": self.metrics_port},
            "resyncSeconds": 20,
            "workers": 4,
            # The test bed reaches no Hub: tests that read model files start a loopback Hub and
            # pass modelDiscovery with its endpoint.
            "modelDiscovery": {"enabled": False},
        }
        base.update(config or {})
        self.config_path.write_text(yaml.safe_dump(base))
        self.log_path = workdir / "operator.log"
        self.kubeconfig = kubeconfig or cluster.kubeconfig
        self.extra_env = extra_env or {}
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> OperatorProcess:
        env = dict(os.environ, KUBECONFIG=str(self.kubeconfig), PYTHONUNBUFFERED="1", **self.extra_env)
        if "HF_HUB_OFFLINE" not in self.extra_env:
            # The tests keep `modelfleet plan` offline with it; the operator's modelDiscovery decides.
            env.pop("HF_HUB_OFFLINE", None)
        modelfleet = str(Path(sys.executable).parent / "modelfleet")
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(
                [modelfleet, "run", "--config", str(self.config_path), "--verbose"],
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=env,
                start_new_session=True,
                preexec_fn=die_with_parent,
            )
        wait_for(self._metrics_up, "the operator's metrics endpoint", timeout=60)
        return self

    def _metrics_up(self) -> bool:
        if self.proc is not None and self.proc.poll() is not None:
            raise AssertionError(f"operator exited with {self.proc.returncode}:\n{self.log()[-4000:]}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.metrics_port}/metrics", timeout=2) as r:
                return bool(r.status == 200)
        except OSError:
            return False

    def metrics(self) -> str:
        with urllib.request.urlopen(f"http://127.0.0.1:{self.metrics_port}/metrics", timeout=5) as r:
            return str(r.read().decode())

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def kill(self) -> None:
        """SIGKILL, as a crashed or evicted operator would die."""
        if self.proc and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=10)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid
