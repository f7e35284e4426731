"""Peak memory and CPU time of a process, from /proc (Linux).

- peak RSS: ``VmHWM`` in /proc/<pid>/status (kB; the high-water mark of the resident set since start);
- CPU seconds: fields 14 and 15 of /proc/<pid>/stat (utime + stime, in clock ticks).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

CLOCK_TICKS_PER_SECOND = os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class Usage:
    peak_rss_bytes: int
    rss_bytes: int
    cpu_seconds: float


def parse_status_kib(status_text: str, field_name: str) -> int:
    """A ``kB`` field of /proc/<pid>/status, in KiB.

    >>> parse_status_kib("Name:\\tpython\\nVmHWM:\\t  102400 kB\\n", "VmHWM")
    102400
    """
    for line in status_text.splitlines():
        if line.startswith(field_name + ":"):
            return int(line.split()[1])
    raise ValueError(f"no {field_name} in /proc status")


def parse_cpu_seconds(stat_text: str, ticks_per_second: int = CLOCK_TICKS_PER_SECOND) -> float:
    """utime + stime of a /proc/<pid>/stat line. The command name (field 2) may hold spaces and
    parentheses, so fields are counted after its closing parenthesis.

    >>> parse_cpu_seconds("42 (modelfleet run) S 1 42 42 0 -1 0 0 0 0 0 250 50 0 0", 100)
    3.0
    """
    after_name = stat_text[stat_text.rindex(")") + 2 :].split()
    utime, stime = int(after_name[11]), int(after_name[12])  # fields 14 and 15 of the whole line
    return (utime + stime) / ticks_per_second


def usage(pid: int) -> Usage:
    proc = Path("/proc") / str(pid)
    status = (proc / "status").read_text()
    return Usage(
        peak_rss_bytes=parse_status_kib(status, "VmHWM") * 1024,
        rss_bytes=parse_status_kib(status, "VmRSS") * 1024,
        cpu_seconds=parse_cpu_seconds((proc / "stat").read_text()),
    )
