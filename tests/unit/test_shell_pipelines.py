"""No shell pipeline in the repository ends in a reader that stops early while pipefail is on.

`cmd | grep -q x` under `set -o pipefail` fails at random: grep exits at its first match, the writer
is killed by SIGPIPE (exit 141) if it still has output to write, and pipefail makes that the
pipeline's status. Whether it happens depends on pipe-buffer timing, so it passes most runs and fails
some (a cold testbed build failed 10 of 20 runs this way). Capture the output, then match it.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SKIP_DIRS = {".git", ".venv", ".venv-engines", "node_modules", ".mypy_cache", ".ruff_cache", ".pytest_cache"}

PIPEFAIL = re.compile(r"^\s*set\b[^\n#]*\bpipefail\b|\.SHELLFLAGS\b[^\n]*\bpipefail\b", re.MULTILINE)
# Readers that may exit before their input ends: grep -q/-m/-l, head, sed ...q, awk ...exit, read.
EARLY_EXIT = re.compile(
    r"^\s*(?:"
    r"grep\b[^|;&]*\s-[a-zA-Z]*[qml]"
    r"|grep\b[^|;&]*--(?:quiet|silent|max-count|files-with-matches)\b"
    r"|head\b"
    r"|sed\b[^|;&]*q\b"
    r"|awk\b[^|&]*\bexit\b"
    r"|read\b"
    r")"
)
PIPE = re.compile(r"(?<![|>])\|(?![|&])")
DOUBLE_QUOTED = re.compile(r'"(?:\\.|[^"\\])*"', re.DOTALL)
SINGLE_QUOTED = re.compile(r"'[^']*'", re.DOTALL)


def strip_comments(text: str) -> str:
    """Drop `# ...` comments (a # at the start of a word; `${#x}` and `$#` are not comments)."""
    return "\n".join(re.sub(r"(^|\s)#.*$", r"\1", line) for line in text.splitlines())


def early_exit_pipelines(text: str) -> list[str]:
    """The logical lines of `text` that pipe into an early-exit reader, when pipefail is on."""
    if not PIPEFAIL.search(text):
        return []
    code = strip_comments(text)
    # Quoted text may hold `|` (a regex, a Python snippet) that is no pipe; the rest of it stays, since
    # `awk '... exit'` and `sed '1q'` are read by what their quoted program says.
    for quoted in (DOUBLE_QUOTED, SINGLE_QUOTED):
        code = quoted.sub(lambda m: m.group().replace("|", " "), code)
    found = []
    for line in code.replace("\\\n", " ").splitlines():
        stages = PIPE.split(line)
        if any(EARLY_EXIT.match(stage) for stage in stages[1:]):
            found.append(line.strip())
    return found


def shell_sources() -> list[Path]:
    """Shell scripts (by suffix or shebang) and Makefiles outside virtualenvs and caches."""
    found = []
    for path in sorted(REPO.rglob("*")):
        if not path.is_file() or SKIP_DIRS & set(path.relative_to(REPO).parts):
            continue
        if path.suffix in (".sh", ".bash", ".mk") or path.name == "Makefile":
            found.append(path)
        elif path.suffix == "" and path.stat().st_size < 1_000_000:
            with path.open("rb") as handle:
                first = handle.readline()
            if re.match(rb"#!.*\b(ba|z|da)?sh\b", first):
                found.append(path)
    return found


def test_the_scan_finds_the_known_shell_sources() -> None:
    names = {str(p.relative_to(REPO)) for p in shell_sources()}
    assert {"testbed/build.sh", "Makefile", ".ci/run"} <= names


@pytest.mark.parametrize("path", shell_sources(), ids=lambda p: str(p.relative_to(REPO)))
def test_no_pipeline_ends_in_an_early_exit_reader_under_pipefail(path: Path) -> None:
    assert early_exit_pipelines(path.read_text(errors="replace")) == []


@pytest.mark.parametrize(
    ("script", "flagged"),
    [
        ('set -euo pipefail\n"$bin/lws" --version | grep -q "Version: v0.9.0"\n', True),
        ("set -o pipefail\nhelm version | head -1\n", True),
        ("set -eo pipefail\netcd --version | grep -m1 Version\n", True),
        ("set -o pipefail\nkubectl get pods \\\n  | grep --quiet Running\n", True),
        ("set -o pipefail\nversion=$(x --version | sed -n 1q)\n", True),
        ("set -o pipefail\nx | awk '/v/ {print; exit}'\n", True),
        ("SHELL := /bin/bash\n.SHELLFLAGS := -eu -o pipefail -c\nall:\n\tx --version | grep -q v1\n", True),
        # the same pipeline without pipefail: the status is grep's, SIGPIPE in the writer is harmless
        ('"$bin/lws" --version | grep -q "Version: v0.9.0"\n', False),
        # captured first, then matched: the fix
        ('set -euo pipefail\nout=$("$bin/lws" --version 2>&1)\n[[ "$out" == *v0.9.0* ]]\n', False),
        # readers that consume everything, `||`, and pipes inside quotes or comments
        ("set -o pipefail\ncat a b | sha256sum | cut -c1-16\n", False),
        ("set -o pipefail\ncommand -v go >/dev/null || exit 1\n", False),
        ("set -o pipefail\necho 'a | head' \"b | grep -q c\"\n", False),
        ("set -o pipefail\n# never `x | grep -q y`\n", False),
        ("set -o pipefail\nif ((${#a[@]})); then x |& tee log; fi\n", False),
    ],
)
def test_the_scanner_flags_early_exit_readers_only_under_pipefail(script: str, flagged: bool) -> None:
    assert bool(early_exit_pipelines(script)) is flagged
