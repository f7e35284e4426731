"""Progress of long runs (`make demo`, `make bench`): steps done, time elapsed and an estimate of the rest.

One line per step, not a redrawn bar: both runs print tables and logs between steps, and their output
is read in CI logs and pipes as often as on a terminal. The estimate is the mean time of the steps done
so far times the steps left: rough when steps differ, honest about being an estimate ("about").
"""

from __future__ import annotations

import time
from collections.abc import Callable


def clock_text(seconds: float) -> str:
    """``m:ss`` (``h:mm:ss`` past an hour).

    >>> clock_text(5.4), clock_text(75), clock_text(3725)
    ('0:05', '1:15', '1:02:05')
    """
    whole = int(round(seconds))
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def eta_seconds(done: int, total: int, elapsed_seconds: float) -> float | None:
    """Seconds left at the mean pace so far; None before the first step is done.

    >>> eta_seconds(0, 4, 10.0) is None, eta_seconds(1, 4, 10.0), eta_seconds(4, 4, 40.0)
    (True, 30.0, 0.0)
    """
    if done <= 0:
        return None
    return elapsed_seconds / done * max(total - done, 0)


def progress_text(done: int, total: int, elapsed_seconds: float) -> str:
    """``2/6 done, 0:40 elapsed, about 1:20 left``.

    >>> progress_text(0, 6, 3.0)
    '0/6 done, 0:03 elapsed'
    >>> progress_text(2, 6, 40.0)
    '2/6 done, 0:40 elapsed, about 1:20 left'
    """
    text = f"{done}/{total} done, {clock_text(elapsed_seconds)} elapsed"
    left = eta_seconds(done, total, elapsed_seconds)
    return text if left is None or done >= total else f"{text}, about {clock_text(left)} left"


class Progress:
    """Counts steps of a run of known length and tells ``say`` how far it is; time comes from ``clock``."""

    def __init__(self, total: int, say: Callable[[str], None], clock: Callable[[], float] = time.monotonic):
        self.total = total
        self.done = 0
        self.say = say
        self.clock = clock
        self.started = clock()
        self.begun = False

    def text(self) -> str:
        return progress_text(self.done, self.total, self.clock() - self.started)

    def step_done(self, what: str) -> None:
        """A step finished: say what it was and how far the run is."""
        self.done = min(self.done + 1, self.total)
        self.say(f"{what} [{self.text()}]")

    def begin(self, what: str) -> None:
        """The next step starts (so the one before it is done, if any): ``[3/6] what (2/6 done, ...)``."""
        if self.begun:
            self.done = min(self.done + 1, self.total)
        self.begun = True
        self.say(f"[{min(self.done + 1, self.total)}/{self.total}] {what} ({self.text()})")

    def finish(self, what: str) -> None:
        self.done = self.total
        self.say(f"{what} in {clock_text(self.clock() - self.started)}")
