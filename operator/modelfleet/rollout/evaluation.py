"""The optional evaluation Job of an analysis step: the user's own prompt set run against the canary.

An analysis step with ``job`` passes only when its templates pass *and* the Job succeeds; a failed
Job, or one not finished ``timeout`` after the step started, aborts the canary (``AnalysisFailed``).
The machine only says which Job the step needs (:class:`JobRequest`); the reconciler names, creates
and reads it, and passes what it saw back as ``RolloutInput.evaluation_jobs``.

A Job that finished *before* the step started belongs to an earlier attempt (a retried canary
reaching the same step again): it is replaced, so a retry evaluates again instead of reusing the
old verdict.
"""

from __future__ import annotations

from dataclasses import dataclass

from modelfleet.api import AnalysisResult, EvaluationJob, Reason, Verdict, parse_duration
from modelfleet.rollout.clock import elapsed_seconds, parse_time
from modelfleet.rollout.context import POLL_SECONDS, Abort, Pass
from modelfleet.rollout.types import JobRequest, JobState

# The name of the evaluation Job's entry in status.rollout.analysis.
EVALUATION_RESULT = "evaluation-job"


@dataclass(frozen=True)
class JobProgress:
    request: JobRequest
    passed: bool
    abort: Abort | None
    result: AnalysisResult  # what status.rollout.analysis shows for the Job
    requeue_after_seconds: float | None


def job_progress(p: Pass, job: EvaluationJob) -> JobProgress:
    """Where the current step's evaluation Job stands."""
    step = p.step_index
    state = p.inp.evaluation_jobs.get(step)
    stale = state is not None and state.finished and _finished_before_step(p, state)
    request = JobRequest(step=step, job=job, replace=stale and not (state and state.deleting))
    timeout_seconds = parse_duration(job.timeout)
    left_seconds = timeout_seconds - elapsed_seconds(p.status.step_started_at, p.inp.now)

    def progress(verdict: Verdict, message: str, abort: Abort | None = None) -> JobProgress:
        at = (
            state.finished_at
            if state is not None and state.finished and not stale
            else p.status.step_started_at
        )
        result = AnalysisResult(
            name=EVALUATION_RESULT,
            verdict=verdict,
            threshold=f"exit 0 within {job.timeout}",
            message=message,
            at=at,
        )
        waiting = verdict == Verdict.INCONCLUSIVE
        requeue = min(POLL_SECONDS, max(1.0, left_seconds + 1)) if waiting else None
        return JobProgress(request, verdict == Verdict.SUCCESS, abort, result, requeue)

    if state is not None and state.finished and not stale:
        if state.succeeded:
            return progress(Verdict.SUCCESS, "the evaluation Job succeeded")
        why = state.message or "it exited with a non-zero code"
        return progress(
            Verdict.FAILURE,
            f"the evaluation Job failed: {why}",
            Abort(Reason.ANALYSIS_FAILED, f"the evaluation Job failed: {why}"),
        )
    if left_seconds < 0:
        text = f"the evaluation Job did not finish within its timeout of {job.timeout}"
        return progress(Verdict.FAILURE, text, Abort(Reason.ANALYSIS_FAILED, text))
    if state is None or stale:
        waiting_for = "replacing the run of an earlier attempt" if stale else "starting"
    else:
        waiting_for = "being replaced" if state.deleting else "running"
    return progress(Verdict.INCONCLUSIVE, f"the evaluation Job is {waiting_for} (timeout {job.timeout})")


def show_job_result(p: Pass, result: AnalysisResult) -> None:
    """Put the Job's entry in status.rollout.analysis next to the templates' latest round."""
    others = [r for r in p.status.analysis if r.name != EVALUATION_RESULT]
    p.update(analysis=[*others, result])


def _finished_before_step(p: Pass, state: JobState) -> bool:
    finished, started = parse_time(state.finished_at), parse_time(p.status.step_started_at)
    return finished is not None and started is not None and finished < started
