"""One commit of the operator for a whole benchmark session.

Several people change ``operator/`` while a long session runs; an operator started from the working
tree would mix versions between runs. The session exports ``operator/`` of one commit (``git
archive``; with the top-level ``templates/`` of commits from before the templates moved into the
package) and every operator process it starts imports that copy (first on
``PYTHONPATH``, ahead of the editable install) and renders its templates; each result records the commit.
"""

from __future__ import annotations

import io
import shutil
import subprocess
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path

from testbed.cluster import REPO


@dataclass(frozen=True)
class CodeSnapshot:
    commit: str  # short hash of the last commit that changed operator/ or templates/
    root: Path  # holds operator/ (and templates/ for older commits)

    def environment(self) -> dict[str, str]:
        older = self.root / "templates"
        packaged = self.root / "operator" / "modelfleet" / "render" / "templates"
        return {
            "PYTHONPATH": str(self.root / "operator"),
            "MODELFLEET_TEMPLATES_DIR": str(older if older.is_dir() else packaged),
        }

    def remove(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)


def take(commit: str = "HEAD") -> CodeSnapshot:
    """``operator/`` and ``templates/`` as of ``commit``, named by the last commit that changed them (so
    sessions on commits that only differ elsewhere carry the same name)."""
    short = subprocess.run(
        ["git", "-C", str(REPO), "log", "-1", "--format=%h", commit, "--", "operator", "templates"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    top_level = subprocess.run(
        ["git", "-C", str(REPO), "ls-tree", "--name-only", short, "templates"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    archive = subprocess.run(
        ["git", "-C", str(REPO), "archive", "--format=tar", short, "operator", *top_level],
        capture_output=True,
        check=True,
    ).stdout
    root = Path(tempfile.mkdtemp(prefix=f"modelfleet-bench-{short}-"))
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(root, filter="data")
    return CodeSnapshot(short, root)
