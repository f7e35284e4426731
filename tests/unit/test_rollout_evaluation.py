"""The evaluation Job of an analysis step, in the pure machine: requested, waited for, passed,
failed, timed out, and replaced when it belongs to an earlier attempt."""

from __future__ import annotations

from dataclasses import replace

from modelfleet.api import Phase, Reason, Verdict
from modelfleet.rollout import RolloutDecision, RolloutInput, step
from modelfleet.rollout.evaluation import EVALUATION_RESULT
from modelfleet.rollout.types import JobRequest, JobState
from tests.unit.test_rollout_world import canary_status, make_input, make_spec, result, rev, ts

STEPS = [
    {"setWeight": 10},
    {"analysis": {"templates": ["ttft-p95"], "job": {"image": "eval:1", "timeout": "10m"}}},
    {"setWeight": 50},
]
ANALYSIS_AT = 60  # step 1 started at t=60 s


def at_analysis(
    now: float,
    jobs: dict[int, JobState] | None = None,
    success_count: int = 0,
    measured: Verdict | None = None,
    started: float = ANALYSIS_AT,
) -> RolloutInput:
    status = canary_status(1, started=started, weight=10, success_count=success_count)
    return make_input(
        now,
        spec=make_spec(STEPS, progressDeadline="2m"),
        status=status,
        revisions=[rev("old", 2), rev("new", 2)],
        observed_weights={"old": 90, "new": 10},
        evaluation_jobs=jobs or {},
        measurements=None if measured is None else (result("ttft-p95", measured, 0.5),),
    )


def job_entry(decision: RolloutDecision) -> dict[str, object]:
    assert decision.status is not None
    [entry] = [r for r in decision.status.analysis if r.name == EVALUATION_RESULT]
    return entry.model_dump()


def test_an_analysis_step_with_a_job_asks_for_it_while_it_measures() -> None:
    decision = step(at_analysis(ANALYSIS_AT + 1))
    assert decision.evaluation_job is not None
    assert decision.evaluation_job.step == 1 and decision.evaluation_job.job.image == "eval:1"
    assert decision.evaluation_job.replace is False
    assert decision.measure == ("ttft-p95",)
    assert job_entry(decision)["verdict"] == Verdict.INCONCLUSIVE


def test_templates_that_pass_before_the_job_finishes_hold_the_step() -> None:
    running = {1: JobState()}
    decision = step(at_analysis(ANALYSIS_AT + 5, running, measured=Verdict.SUCCESS))
    assert decision.status is not None and decision.status.step == 1
    assert decision.status.success_count == 1
    assert decision.evaluation_job == JobRequest(step=1, job=decision.evaluation_job.job)  # type: ignore[union-attr]
    assert "evaluation Job is running" in (decision.status.message or "")
    assert decision.requeue_after_seconds is not None and decision.requeue_after_seconds <= 10


def test_a_job_that_succeeds_after_the_templates_passes_the_step_without_measuring_again() -> None:
    done = {1: JobState(finished=True, succeeded=True, finished_at=ts(ANALYSIS_AT + 30))}
    decision = step(at_analysis(ANALYSIS_AT + 31, done, success_count=1))
    assert decision.status is not None and decision.status.step == 2
    assert decision.measure == () and decision.evaluation_job is None


def test_a_job_that_succeeds_first_still_waits_for_the_templates() -> None:
    done = {1: JobState(finished=True, succeeded=True, finished_at=ts(ANALYSIS_AT + 3))}
    decision = step(at_analysis(ANALYSIS_AT + 4, done))
    assert decision.status is not None and decision.status.step == 1 and decision.measure == ("ttft-p95",)
    passed = step(replace(at_analysis(ANALYSIS_AT + 4, done, measured=Verdict.SUCCESS)))
    assert passed.status is not None and passed.status.step == 2


def test_a_failed_job_aborts_with_analysis_failed() -> None:
    failed = {
        1: JobState(
            finished=True,
            succeeded=False,
            finished_at=ts(ANALYSIS_AT + 9),
            message="BackoffLimitExceeded: Job has reached the specified backoff limit",
        )
    }
    decision = step(at_analysis(ANALYSIS_AT + 10, failed))
    assert decision.phase == Phase.DEGRADED and decision.aborted_reason == Reason.ANALYSIS_FAILED
    assert decision.weights == {"old": 100}
    assert decision.status is not None and "BackoffLimitExceeded" in (decision.status.abort_reason or "")
    assert job_entry(decision)["verdict"] == Verdict.FAILURE
    assert decision.evaluation_job is None


def test_a_job_still_running_at_its_timeout_aborts() -> None:
    decision = step(at_analysis(ANALYSIS_AT + 601, {1: JobState()}))
    assert decision.aborted_reason == Reason.ANALYSIS_FAILED
    assert decision.status is not None and "within its timeout of 10m" in (decision.status.abort_reason or "")


def test_the_progress_deadline_does_not_cut_a_job_short_of_its_timeout() -> None:
    # progressDeadline is 2m; the Job may run for 10m.
    decision = step(at_analysis(ANALYSIS_AT + 300, {1: JobState()}, success_count=1))
    assert decision.phase == Phase.PROGRESSING and decision.aborted_reason is None


def test_a_job_finished_before_the_step_started_is_replaced() -> None:
    earlier = {1: JobState(finished=True, succeeded=False, finished_at=ts(ANALYSIS_AT - 30))}
    decision = step(at_analysis(ANALYSIS_AT + 2, earlier))
    assert decision.aborted_reason is None, "an earlier attempt's verdict does not count"
    assert decision.evaluation_job is not None and decision.evaluation_job.replace is True
    going = {1: JobState(finished=True, succeeded=False, finished_at=ts(ANALYSIS_AT - 30), deleting=True)}
    assert step(at_analysis(ANALYSIS_AT + 3, going)).evaluation_job.replace is False  # type: ignore[union-attr]


def test_a_pass_at_a_job_step_asks_for_the_same_job_every_time() -> None:
    first = step(at_analysis(ANALYSIS_AT + 1, {1: JobState()}, measured=Verdict.INCONCLUSIVE))
    assert first.status is not None
    again = step(replace(at_analysis(ANALYSIS_AT + 4, {1: JobState()}), status=first.status))
    assert again.evaluation_job == first.evaluation_job
    assert job_entry(again) == job_entry(first), (
        "the Job's entry does not change while it runs (no status churn)"
    )
