"""What the figures were measured on: machine, versions, date, and waiting for a quiet machine."""

from __future__ import annotations

import os
import platform
import subprocess
import sys
import time
from datetime import UTC, datetime
from importlib.metadata import version
from pathlib import Path
from typing import Any

from testbed.cluster import REPO, testbed_root


def loadavg() -> tuple[float, float, float]:
    one, five, fifteen = Path("/proc/loadavg").read_text().split()[:3]
    return float(one), float(five), float(fifteen)


def wait_for_load(max_load: float, max_wait_seconds: float, say: Any = print) -> tuple[float, float, float]:
    """Sleep until the 1-minute load average is at most ``max_load`` or ``max_wait_seconds`` passed.

    Other work on a shared machine distorts timings; the load when a run starts is recorded next to
    its figures either way.
    """
    deadline = time.monotonic() + max_wait_seconds
    load = loadavg()
    while load[0] > max_load and time.monotonic() < deadline:
        say(
            f"load average {load[0]:.2f} > {max_load}: waiting ({(deadline - time.monotonic()) / 60:.0f} min left)"
        )
        time.sleep(min(60.0, max(1.0, deadline - time.monotonic())))
        load = loadavg()
    return load


def _first_line(command: list[str]) -> str:
    try:
        out = subprocess.run(command, capture_output=True, text=True, timeout=30)
    except OSError:
        return "unknown"
    text = (out.stdout or out.stderr).strip()
    return text.splitlines()[0] if text else "unknown"


def _cpu_model() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def _memory_gib() -> float:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            return int(line.split()[1]) / 1024 / 1024
    return 0.0


def describe(commit: str | None = None) -> dict[str, Any]:
    bins = testbed_root(build=False) / "bin"
    commit = commit or _first_line(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"])
    return {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": {
            "cpu": _cpu_model(),
            "cores": os.cpu_count(),
            "memory_gib": round(_memory_gib(), 1),
            "kernel": platform.release(),
        },
        "versions": {
            "modelfleet": f"{version('modelfleet')} ({commit})",
            "python": sys.version.split()[0],
            "kopf": version("kopf"),
            "kube-apiserver": _first_line([str(bins / "kube-apiserver"), "--version"]),
            "etcd": _first_line([str(bins / "etcd"), "--version"]),
            "kwok": _first_line([str(bins / "kwok"), "--version"]),
        },
    }
