"""Plays the part of a weight download Job's pod, which kwok cannot run.

kwok keeps such a pod Running (``testbed/kwok-stages/pod-exit-code.yaml``) until it is annotated with an
exit code. The player reads the pod's own command (``modelfleet fetch SOURCE --revision REV --dest DIR``),
runs it as a local process against the loopback Hub into a temporary directory with the pod's
environment (``MODELFLEET_FETCH_JOB``: the process reports progress on its Job), and then ends the pod
with the process's exit code, so the real Job controller marks the Job Complete or Failed.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from modelfleet.api.fetch import FetchProgress
from modelfleet.render.names import CACHE_LABEL, FETCH_PROGRESS_ANNOTATION
from testbed.cluster import LocalCluster
from testbed.hub import HubServer
from testbed.wait import wait_for

EXIT_CODE_ANNOTATION = "testbed.modelfleet.io/exit-code"


def now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class FetchPod:
    namespace: str
    name: str
    job: str
    command: list[str]

    @property
    def source(self) -> str:
        return self.command[2]

    def option(self, flag: str) -> str | None:
        return self.command[self.command.index(flag) + 1] if flag in self.command else None


class FetchPodPlayer:
    def __init__(self, cluster: LocalCluster, hub: HubServer, workdir: Path) -> None:
        self.cluster = cluster
        self.hub = hub
        self.workdir = workdir
        self.modelfleet = str(Path(sys.executable).parent / "modelfleet")

    def wait_pod(self, namespace: str, cache: str, timeout: float = 90) -> FetchPod:
        """The Running pod of the cache's download Job (one that has not been ended yet)."""

        def running() -> FetchPod | None:
            out = self.cluster.kubectl(
                "get", "pods", "-n", namespace, "-l", f"{CACHE_LABEL}={cache}", "-o", "json"
            )
            for pod in json.loads(out.stdout)["items"]:
                annotations = pod["metadata"].get("annotations") or {}
                if (
                    pod.get("status", {}).get("phase") == "Running"
                    and EXIT_CODE_ANNOTATION not in annotations
                ):
                    job = next(r["name"] for r in pod["metadata"]["ownerReferences"] if r["kind"] == "Job")
                    command = pod["spec"]["containers"][0]["command"]
                    return FetchPod(namespace, pod["metadata"]["name"], job, command)
            return None

        return wait_for(running, f"a Running download pod of {namespace}/{cache}", timeout=timeout)

    def report(self, pod: FetchPod, progress: FetchProgress) -> None:
        """What `modelfleet fetch` patches on its Job as it goes."""
        body = {
            "metadata": {"annotations": {FETCH_PROGRESS_ANNOTATION: progress.model_dump_json(by_alias=True)}}
        }
        self.cluster.kubectl(
            "patch", "job", pod.job, "-n", pod.namespace, "--type=merge", "-p", json.dumps(body)
        )

    def run(self, pod: FetchPod) -> int:
        """Run the pod's command locally into a temporary directory; end the pod with its exit code."""
        code = self._fetch(pod, self.dest(pod))
        self.end(pod, code)
        return code

    def dest(self, pod: FetchPod) -> Path:
        """Where the pod's download lands on this machine (the volume, in a cluster)."""
        return self.workdir / pod.namespace / pod.name / "model"

    def end(self, pod: FetchPod, code: int) -> None:
        self.cluster.kubectl(
            "annotate", "pod", pod.name, "-n", pod.namespace, f"{EXIT_CODE_ANNOTATION}={code}", "--overwrite"
        )

    def _fetch(self, pod: FetchPod, dest: Path) -> int:
        argv = list(pod.command)
        argv[argv.index("--dest") + 1] = str(dest)
        env = dict(
            os.environ,
            KUBECONFIG=str(self.cluster.kubeconfig),
            HF_ENDPOINT=self.hub.url,
            HF_HOME=str(dest.parent / "hf-home"),
            MODELFLEET_FETCH_JOB=f"{pod.namespace}/{pod.job}",
            MODELFLEET_TERMINATION_LOG=str(dest.parent / "termination-log"),
        )
        env.pop("HF_TOKEN", None)
        dest.parent.mkdir(parents=True, exist_ok=True)
        proc = subprocess.run(
            [self.modelfleet, *argv[1:]], env=env, capture_output=True, timeout=300, check=False
        )
        (dest.parent / "fetch.log").write_bytes(proc.stdout + proc.stderr)
        return proc.returncode
