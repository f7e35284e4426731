"""Progress lines of `make demo` and `make bench`: steps done, elapsed time and the estimate, on a fake clock."""

from __future__ import annotations

import argparse

import pytest

from bench.__main__ import SECTIONS, planned_steps
from testbed.progress import Progress, progress_text


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


@pytest.mark.parametrize(
    ("done", "total", "elapsed", "text"),
    [
        (0, 3, 0.0, "0/3 done, 0:00 elapsed"),
        (1, 3, 20.0, "1/3 done, 0:20 elapsed, about 0:40 left"),
        (2, 3, 50.0, "2/3 done, 0:50 elapsed, about 0:25 left"),
        (3, 3, 61.0, "3/3 done, 1:01 elapsed"),
        (1, 40, 90.0, "1/40 done, 1:30 elapsed, about 58:30 left"),
        (1, 100, 90.0, "1/100 done, 1:30 elapsed, about 2:28:30 left"),
    ],
)
def test_the_estimate_is_the_mean_pace_times_the_steps_left(
    done: int, total: int, elapsed: float, text: str
) -> None:
    assert progress_text(done, total, elapsed) == text


def test_each_step_done_says_what_and_how_far() -> None:
    clock, lines = FakeClock(), []
    progress = Progress(3, lines.append, clock)
    for seconds, what in ((10, "planner"), (30, "latency"), (20, "rollouts")):
        clock.now += seconds
        progress.step_done(what)
    assert lines == [
        "planner [1/3 done, 0:10 elapsed, about 0:20 left]",
        "latency [2/3 done, 0:40 elapsed, about 0:20 left]",
        "rollouts [3/3 done, 1:00 elapsed]",
    ]


def test_sections_count_the_one_before_as_done_and_finish_gives_the_total_time() -> None:
    clock, lines = FakeClock(), []
    progress = Progress(2, lines.append, clock)
    progress.begin("cluster up")
    clock.now += 30
    progress.begin("canary")
    clock.now += 15
    progress.finish("demo done")
    assert lines == [
        "[1/2] cluster up (0/2 done, 0:00 elapsed)",
        "[2/2] canary (1/2 done, 0:30 elapsed, about 0:30 left)",
        "demo done in 0:45",
    ]


def bench_args(*argv: str) -> argparse.Namespace:
    from bench.__main__ import parse_args

    return parse_args(list(argv))


@pytest.mark.parametrize(
    ("argv", "sections", "steps"),
    [
        (
            ["--smoke"],
            SECTIONS,
            3 + 1 + 1 + 1 + 1,
        ),  # planner 1 and 2 processes + decide, latency, converge N=3, rollouts, coldstart (arithmetic, once)
        ([], SECTIONS, 3 * 2 + 1 + 3 + 2 * 3 + 1 + 1),  # three repeats of each, converge at N=100 and N=1000
        (["--sizes", "1000", "--repeat", "2"], ("converge",), 2),
        ([], ("planner",), 7),
    ],
)
def test_bench_counts_the_runs_it_reports(argv: list[str], sections: tuple[str, ...], steps: int) -> None:
    assert planned_steps(bench_args(*argv), list(sections)) == steps
