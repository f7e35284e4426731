"""`modelfleet fetch` reports to its Job on the real control plane: the progress annotation is patched while
the download runs and holds the final report at the end, where the operator reads it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from modelfleet.render.names import FETCH_PROGRESS_ANNOTATION
from testbed.cluster import LocalCluster
from testbed.hub import HubServer
from tests.integration.kube import apply, get_json, make_namespace, wait_for
from tests.unit.test_hub_server import safetensors_bytes

pytestmark = [pytest.mark.cluster, pytest.mark.loopback_hub]
NS = "fetch-progress"


@pytest.fixture
def hub() -> Iterator[HubServer]:
    with HubServer() as server:
        yield server


def job(name: str) -> dict[str, Any]:
    """A suspended Job: the object the fetch reports to, with no pod of its own in this test."""
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": name, "namespace": NS},
        "spec": {
            "suspend": True,
            "template": {
                "spec": {
                    "restartPolicy": "Never",
                    "containers": [{"name": "fetch", "image": "ghcr.io/modelfleet/modelfleet:0.1.0"}],
                }
            },
        },
    }


def progress_of(cluster: LocalCluster, name: str) -> dict[str, Any] | None:
    annotations = get_json(cluster, "job", "-n", NS, name)["metadata"].get("annotations") or {}
    raw = annotations.get(FETCH_PROGRESS_ANNOTATION)
    return json.loads(raw) if raw else None


def test_the_fetch_patches_its_jobs_progress_annotation_while_running_and_at_the_end(
    cluster: LocalCluster, hub: HubServer, tmp_path: Path
) -> None:
    # 40 MiB at 4 MiB/s: about 10 s of Downloading reports, one every half second at most
    big = safetensors_bytes({"w": [5 * 1024, 4 * 1024]})
    sha = hub.add_repo("acme/big", {"config.json": b"{}", "model.safetensors": big})
    hub.faults.bytes_per_second["model.safetensors"] = 4 * 1024 * 1024
    make_namespace(cluster, NS)
    apply(cluster, job("stage-acme-big"))
    env = {
        **os.environ,
        **cluster.env(),
        "MODELFLEET_FETCH_JOB": f"{NS}/stage-acme-big",
        "MODELFLEET_TERMINATION_LOG": str(tmp_path / "termination-log"),
    }
    command = [str(Path(sys.executable).parent / "modelfleet"), "fetch", "hf://acme/big"]
    command += ["--dest", str(tmp_path / "cache"), "--endpoint", hub.url, "--progress-seconds", "0.5"]
    process = subprocess.Popen(command, env=env, stderr=subprocess.PIPE, text=True)
    try:
        seen = wait_for(
            lambda: (p := progress_of(cluster, "stage-acme-big")) and p["phase"] == "Downloading" and p,
            "a Downloading report on the Job",
            timeout=120,
        )
        assert seen["bytesTotal"] == len(big) + 2 and seen["revision"] == sha
        _, stderr = process.communicate(timeout=300)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == 0, stderr
    final = progress_of(cluster, "stage-acme-big")
    assert final is not None
    assert final["phase"] == "Complete" and final["revision"] == sha
    assert final["bytesDone"] == final["bytesTotal"] == len(big) + 2 and final["filesDone"] == 2
    assert "files" not in final, "the file list stays in the marker, out of the annotation"
    assert json.loads((tmp_path / "termination-log").read_text())["phase"] == "Complete"
