"""A sampling profile of the operator process while it converges: ``python -m bench --profile DIR``.

py-spy (``pip install py-spy``) samples every thread of the running ``modelfleet run`` process (the
reconcile threads too, which cProfile in the main thread would miss) without pausing it
(``--nonblocking``), only while a thread holds the interpreter lock (``--gil``: CPU, not waits), and writes collapsed stacks, one line per stack with its sample count. The
summary is the share of samples whose stack passes through each of our functions (inclusive), which
is how "what grows with N" was found: compare the summaries of two sizes.
"""

from __future__ import annotations

import contextlib
import shutil
import signal
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

RATE = 50  # samples per second: enough for a converge of minutes, light on two cores


def py_spy() -> str:
    beside = Path(sys.executable).parent / "py-spy"
    found = str(beside) if beside.exists() else shutil.which("py-spy")
    if found is None:
        raise SystemExit("--profile needs py-spy: .venv/bin/pip install py-spy")
    return found


@contextlib.contextmanager
def profiled(pid: int, output: Path | None) -> Iterator[None]:
    """Sample process `pid` into `output` (collapsed stacks) while the block runs; nothing if None."""
    if output is None:
        yield
        return
    output.parent.mkdir(parents=True, exist_ok=True)
    # --gil: only the thread holding the interpreter lock is sampled, so the profile is where the
    # Python CPU goes, not where threads wait (select, socket reads, idle pool threads).
    command = [py_spy(), "record", "--pid", str(pid), "--rate", str(RATE), "--nonblocking", "--gil"]
    recorder = subprocess.Popen(
        [*command, "--format", "raw", "--output", str(output)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        yield
    finally:
        recorder.send_signal(signal.SIGINT)  # py-spy writes the file when interrupted
        try:
            recorder.wait(timeout=60)
        except subprocess.TimeoutExpired:
            recorder.kill()
            recorder.wait()


def summary(collapsed: str, prefix: str = "modelfleet", top: int = 25) -> list[tuple[str, float]]:
    """The `top` functions under `prefix` by inclusive share of samples, largest first.

    >>> text = "main (modelfleet/a.py:1);f (modelfleet/b.py:2) 3\\nmain (modelfleet/a.py:1) 1\\n"
    >>> summary(text)
    [('main (modelfleet/a.py)', 1.0), ('f (modelfleet/b.py)', 0.75)]
    """
    inclusive: Counter[str] = Counter()
    total = 0
    for line in collapsed.splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        total += int(count)
        frames = {_frame(f) for f in stack.split(";") if prefix in f}
        for frame in frames:
            inclusive[frame] += int(count)
    return [(frame, n / total) for frame, n in inclusive.most_common(top)] if total else []


def by_module(collapsed: str, top: int = 25) -> list[tuple[str, float]]:
    """Where the samples end (the innermost frame, by file), largest share first: the library or
    module that spends the CPU, whoever called it.

    >>> text = "main (a/x.py:1);f (b/y.py:2) 3\\nmain (a/x.py:1) 1\\n"
    >>> by_module(text)
    [('b/y.py', 0.75), ('a/x.py', 0.25)]
    """
    leaves: Counter[str] = Counter()
    for line in collapsed.splitlines():
        stack, _, count = line.rpartition(" ")
        if stack and count.isdigit():
            leaf = stack.split(";")[-1]
            leaves[_frame(leaf).partition(" (")[2].rstrip(")") or leaf] += int(count)
    total = sum(leaves.values())
    return [(where, n / total) for where, n in leaves.most_common(top)] if total else []


def _frame(frame: str) -> str:
    """``f (path/to/x.py:12)`` -> ``f (path/to/x.py)``: lines of one function count together."""
    name, _, where = frame.partition(" (")
    return f"{name} ({where.rsplit(':', 1)[0].rstrip(')')})"
