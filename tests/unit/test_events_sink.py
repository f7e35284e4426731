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


class FakeEventsApi:
    """Our own port for the Events the API server holds: POST names one, PATCH merges into it."""

    def __init__(self, expired: set[str] | None = None) -> None:
        self.events: dict[str, dict[str, Any]] = {}
        self.expired = expired or set()

    def post(self, body: dict[str, Any]) -> dict[str, Any]:
        name = f"m.{len(self.events)}"
        self.events[name] = {**body, "metadata": {**body["metadata"], "name": name}}
        return self.events[name]

    def update(self, namespace: str, name: str, patch: dict[str, Any]) -> None:
        if name in self.expired:
            raise RuntimeError(f"404 NotFound: events {name} not found")
        self.events[name].update(patch)


def event(reason: str, message: str, at: str, uid: str = "uid-1") -> dict[str, Any]:
    return {
        "metadata": {"generateName": "m.", "namespace": "llm"},
        "involvedObject": {"uid": uid, "name": "m"},
        "type": "Warning",
        "reason": reason,
        "message": message,
        "firstTimestamp": at,
        "lastTimestamp": at,
        "count": 1,
    }


def test_a_repeated_event_is_counted_on_the_first_one_instead_of_posted_again() -> None:
    api, fake = FakeEventsApi(), FakeTime()
    sink = EventSink(api.post, api.update, qps=0, sleep=fake.sleep, clock=fake.clock)
    for second in range(3):
        fake.now = float(second)
        sink(event("ReplicasNotReady", "0/1 ready", at=f"T{second}"))
        assert sink.flush(5)
    [(name, only)] = api.events.items()
    assert (only["count"], only["firstTimestamp"], only["lastTimestamp"]) == (3, "T0", "T2")
    assert sink.aggregated == 2


def test_a_different_message_reason_or_object_is_a_new_event() -> None:
    api = FakeEventsApi()
    sink = EventSink(api.post, api.update, qps=0)
    for body in (
        event("ReplicasNotReady", "0/1 ready", "T0"),
        event("ReplicasNotReady", "0/2 ready", "T1"),
        event("PodsPending", "0/1 ready", "T2"),
        event("ReplicasNotReady", "0/1 ready", "T3", uid="uid-2"),
    ):
        sink(body)
    assert sink.flush(5)
    assert [e["count"] for e in api.events.values()] == [1, 1, 1, 1] and sink.aggregated == 0


def test_a_repeat_after_the_series_window_or_of_an_expired_event_is_posted_anew() -> None:
    api, fake = FakeEventsApi(), FakeTime()
    sink = EventSink(api.post, api.update, qps=0, sleep=fake.sleep, clock=fake.clock)
    sink(event("ReplicasNotReady", "0/1 ready", "T0"))
    assert sink.flush(5)
    fake.now = 601.0  # past client-go's 10 minutes
    sink(event("ReplicasNotReady", "0/1 ready", "T1"))
    assert sink.flush(5)
    api.expired.add("m.1")  # the API server's event TTL removed it
    sink(event("ReplicasNotReady", "0/1 ready", "T2"))
    assert sink.flush(5)
    assert [e["lastTimestamp"] for e in api.events.values()] == ["T0", "T1", "T2"]
    assert sink.aggregated == 0
