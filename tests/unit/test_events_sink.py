"""Events leave the reconcile pass: posted in order by one thread, failures and overflow never raise."""

from __future__ import annotations

import threading
from typing import Any

from modelfleet.reconcile.events import EventSink, TokenBucket


def test_events_are_posted_in_order_off_the_caller_thread() -> None:
    posted: list[tuple[str, str]] = []
    sink = EventSink(lambda body: posted.append((body["reason"], threading.current_thread().name)))
    for i in range(50):
        sink({"reason": f"r{i}"})
    assert sink.flush(5)
    assert [reason for reason, _ in posted] == [f"r{i}" for i in range(50)]
    assert {thread for _, thread in posted} == {"events"}
    assert sink.pending() == 0


def test_a_failing_post_is_logged_and_the_next_one_still_goes(caplog: Any) -> None:
    posted: list[str] = []

    def post(body: dict[str, Any]) -> None:
        if body["reason"] == "bad":
            raise RuntimeError("503 the API server is unavailable")
        posted.append(body["reason"])

    sink = EventSink(post)
    sink({"reason": "bad", "involvedObject": {"name": "m"}})
    sink({"reason": "good"})
    assert sink.flush(5)
    assert posted == ["good"]
    assert "could not post event bad on m" in caplog.text


def test_a_full_queue_drops_new_events_instead_of_blocking_the_pass() -> None:
    gate, posting = threading.Event(), threading.Event()
    posted: list[str] = []

    def post(body: dict[str, Any]) -> None:
        posting.set()
        gate.wait(5)
        posted.append(body["reason"])

    sink = EventSink(post, max_queued=2)
    sink({"reason": "r0"})
    assert posting.wait(5)  # r0 is being posted (the API server is slow)
    for i in range(1, 5):  # two wait in the queue, two are dropped
        sink({"reason": f"r{i}"})
    assert sink.dropped == 2
    gate.set()
    assert sink.flush(5)
    assert posted == ["r0", "r1", "r2"]


class FakeTime:
    """A clock that moves only when the sink sleeps."""

    def __init__(self) -> None:
        self.now = 0.0
        self.slept: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def test_a_burst_goes_out_at_once_then_the_rest_at_the_configured_rate() -> None:
    fake = FakeTime()
    posted: list[tuple[str, float]] = []
    sink = EventSink(
        lambda body: posted.append((body["reason"], fake.now)),
        qps=4,
        burst=3,
        sleep=fake.sleep,
        clock=fake.clock,
    )
    for i in range(7):
        sink({"reason": f"r{i}"})
    assert sink.flush(5)
    assert [reason for reason, _ in posted] == [f"r{i}" for i in range(7)], "order is kept"
    assert [at for _, at in posted] == [0.0, 0.0, 0.0, 0.25, 0.5, 0.75, 1.0]
    assert sink.delayed == 4


def test_the_bucket_refills_while_idle_up_to_the_burst() -> None:
    fake = FakeTime()
    bucket = TokenBucket(qps=2, burst=2, clock=fake.clock)
    assert [bucket.reserve() for _ in range(3)] == [0.0, 0.0, 0.5]
    fake.now = 10.0  # long idle: full again, but never more than the burst
    assert [bucket.reserve() for _ in range(3)] == [0.0, 0.0, 0.5]


def test_qps_zero_means_no_limit() -> None:
    fake = FakeTime()
    sink = EventSink(lambda body: None, qps=0, burst=1, sleep=fake.sleep, clock=fake.clock)
    for i in range(20):
        sink({"reason": f"r{i}"})
    assert sink.flush(5)
    assert fake.slept == [] and sink.delayed == 0
