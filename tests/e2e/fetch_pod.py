"""Plays the part of a weight download Job's pod, which kwok cannot run.

kwok keeps such a pod Running (``testbed/kwok-stages/pod-exit-code.yaml``) until it is annotated with an
exit code. The player reads the pod's own command (``modelfleet fetch SOURCE --revision REV --dest DIR``),
runs it as a local process against the loopback Hub into a temporary directory with the pod's
environment (``MODELFLEET_FETCH_JOB``: the process reports progress on its Job), and then ends the pod
with the process's exit code, so the real Job controller marks the Job Complete or Failed.

Where the image's ``modelfleet fetch`` is not installed, a small stand-in does the same with
``huggingface_hub.snapshot_download`` and writes the same reports (:class:`FetchProgress`): Complete
after every file is downloaded, Failed with the Hub's HTTP status otherwise (exit 2: a retry cannot help).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from huggingface_hub import snapshot_download
from huggingface_hub.errors import HfHubHTTPError

from modelfleet.api.fetch import FetchError, FetchPhase, FetchProgress
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
        probe = subprocess.run([self.modelfleet, "fetch", "--help"], capture_output=True, check=False)
        self.real_fetch = probe.returncode == 0

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
        dest = self.workdir / pod.namespace / pod.name / "model"
        code = self._fetch(pod, dest) if self.real_fetch else self._stand_in(pod, dest)
        self.end(pod, code)
        return code

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
        proc = subprocess.run(
            [self.modelfleet, *argv[1:]], env=env, capture_output=True, timeout=300, check=False
        )
        return proc.returncode

    def _stand_in(self, pod: FetchPod, dest: Path) -> int:
        repo = pod.source.removeprefix("hf://")
        revision = pod.option("--revision")
        files = self.hub.repos[repo].resolve(revision or "main") if repo in self.hub.repos else None
        total = sum(len(b) for b in files.files.values()) if files is not None else None
        base: dict[str, Any] = {"source": pod.source, "bytes_total": total, "updated_at": now()}
        self.report(pod, FetchProgress(phase=FetchPhase.DOWNLOADING, **base))
        try:
            snapshot_download(repo, revision=revision, local_dir=dest, endpoint=self.hub.url, token=False)
        except HfHubHTTPError as error:
            status = error.response.status_code if error.response is not None else None
            failure = FetchError(message=str(error).splitlines()[0], http_status=status, retryable=False)
            self.report(pod, FetchProgress(phase=FetchPhase.FAILED, error=failure, **base))
            return 2
        done = {**base, "bytes_done": total or 0, "revision": files.sha if files is not None else None}
        self.report(pod, FetchProgress(phase=FetchPhase.COMPLETE, **done))
        return 0
