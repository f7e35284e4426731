"""testbed/build.sh's version checks, run on its warm path against fake binaries.

A cache directory that is complete (its `.complete` marker) still has every binary's version checked.
The fakes print their version among 100,000 other lines: a check that pipes into `grep -q` under
pipefail fails at random on such output (the writer dies of SIGPIPE once grep has matched), so 20 runs
out of 20 must pass. A fake that reports the wrong version must fail with a message naming it.
"""

from __future__ import annotations

import os
import re
import stat
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
BUILD = REPO / "testbed" / "build.sh"
FILLER_LINES = 100_000


def build_sh_value(name: str) -> str:
    """A `NAME=value` assignment at the top of build.sh."""
    match = re.search(rf"^{name}=(\S+)$", BUILD.read_text(), flags=re.MULTILINE)
    assert match, f"build.sh sets no {name}"
    return match.group(1)


def cache_stamp() -> str:
    """The stamp build.sh names its cache directory by, computed by build.sh's own `stamp=$(...)`."""
    assignment = re.search(r"^stamp=\$\(.*?\)$", BUILD.read_text(), flags=re.MULTILINE | re.DOTALL)
    assert assignment, "build.sh has no stamp=$(...) assignment"
    script = f'here={BUILD.parent}\n{assignment.group(0)}\necho "$stamp"\n'
    return subprocess.run(["bash", "-c", script], capture_output=True, text=True, check=True).stdout.strip()


def fake(path: Path, version_line: str, version_first: bool) -> None:
    """A binary that prints 100,000 lines and its version line, before or after them."""
    filler = f"seq {FILLER_LINES}"
    body = f"echo '{version_line}'; {filler}" if version_first else f"{filler}; echo '{version_line}'"
    path.write_text(f"#!/usr/bin/env bash\n{body}\n")
    path.chmod(path.stat().st_mode | stat.S_IXUSR)


def warm_cache(
    cache: Path, version_first: bool, lws_version: str | None = None, keda_version: str | None = None
) -> Path:
    root = cache / cache_stamp()
    bin_dir = root / "bin"
    bin_dir.mkdir(parents=True, exist_ok=True)
    lws = lws_version or build_sh_value("LWS_VERSION")
    fake(bin_dir / "kube-apiserver", f"Kubernetes {build_sh_value('K8S_VERSION')}", version_first)
    fake(bin_dir / "etcd", "etcd Version: 3.6.8", version_first)
    fake(bin_dir / "helm", f"{build_sh_value('HELM_VERSION')}+g0000000", version_first)
    fake(bin_dir / "lws-controller", f"Version: {lws}", version_first)
    # KEDA's version is read from the build info in the binary's bytes, as `go version -m` shows it.
    keda = keda_version or build_sh_value("KEDA_VERSION")
    for name in ("keda-operator", "keda-adapter"):
        fake(bin_dir / name, f"mod\tgithub.com/kedacore/keda/v2\t{keda}\th1:0000", version_first)
    (root / ".complete").touch()
    return root


def run_build(cache: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "MODELFLEET_TESTBED_CACHE": str(cache)}
    return subprocess.run([str(BUILD)], capture_output=True, text=True, env=env, timeout=120)


@pytest.mark.parametrize("version_first", [True, False], ids=["version-then-filler", "filler-then-version"])
def test_warm_cache_passes_its_version_checks_20_of_20_times(tmp_path: Path, version_first: bool) -> None:
    root = warm_cache(tmp_path, version_first)
    results = [run_build(tmp_path) for _ in range(20)]
    failures = [r.stderr for r in results if r.returncode != 0]
    assert failures == [], f"{len(failures)} of 20 runs failed: {failures[0]}"
    assert {r.stdout.strip() for r in results} == {str(root)}


def test_a_wrong_version_fails_the_warm_path_naming_the_binary(tmp_path: Path) -> None:
    warm_cache(tmp_path, version_first=True, lws_version="v0.1.0")
    result = run_build(tmp_path)
    assert result.returncode == 1
    assert "the LeaderWorkerSet controller" in result.stderr
    assert f"want 'Version: {build_sh_value('LWS_VERSION')}'" in result.stderr
    assert result.stdout == ""


def test_a_wrong_keda_version_fails_the_warm_path_naming_the_binary(tmp_path: Path) -> None:
    warm_cache(tmp_path, version_first=True, keda_version="v2.20.0")
    result = run_build(tmp_path)
    assert result.returncode == 1
    assert "the KEDA operator reports 'github.com/kedacore/keda/v2\tv2.20.0'" in result.stderr
    assert result.stdout == ""
