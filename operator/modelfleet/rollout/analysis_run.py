"""The bookkeeping of an analysis step: when to measure, how results count, when it is decided.

Each round measures every template of the step at once (the reconciler runs the queries between
the two phases of a pass). A round passes when every template succeeds; the step passes after
``max(count)`` passing rounds (``count`` of a user template, 1 for a built-in). Every failed
measurement counts towards ``failureLimit``; a round with a provider error counts towards
``errorLimit`` and a round without one resets it (errors must be *consecutive*). Anything else
(no data, NaN, too few requests, a missing result) is inconclusive and the step holds, bounded by
the progress deadline.
"""

from __future__ import annotations

from modelfleet.api import (
    AnalysisResult,
    AnalysisStep,
    Reason,
    RolloutSpec,
    Verdict,
    format_duration,
    parse_duration,
)
from modelfleet.rollout.clock import elapsed_seconds, format_time, parse_time
from modelfleet.rollout.context import DONE, Abort, Hold, Outcome, Pass
from modelfleet.rollout.evaluation import EVALUATION_RESULT, job_progress, show_job_result


def required_rounds(spec: RolloutSpec, names: tuple[str, ...]) -> int:
    """Passing rounds an analysis step needs: the largest ``count`` of its templates."""
    counts = {t.name: t.count for t in spec.analysis_templates}
    return max((counts.get(name, 1) for name in names), default=1)


def seconds_until_due(p: Pass) -> float:
    """0 when a measurement is due now: none yet in this step, or analysisInterval since the last."""
    stamps = [parse_time(r.at) for r in p.status.analysis if r.name != EVALUATION_RESULT]
    latest = max((s for s in stamps if s is not None), default=None)
    if latest is None:
        return 0.0
    return max(0.0, p.interval_seconds - elapsed_seconds(format_time(latest), p.inp.now))


def analysis_step(p: Pass, step: AnalysisStep) -> Outcome:
    names = tuple(step.templates)
    required = required_rounds(p.inp.spec, names)
    label = f"step {p.step_index}: analysis {', '.join(names)}" + (" + evaluation Job" if step.job else "")
    # A long analysis (count x interval) must not trip the deadline meant for a stuck one, nor may
    # the deadline cut an evaluation Job short of its own timeout.
    deadline = p.deadline_seconds + required * p.interval_seconds
    job = job_progress(p, step.job) if step.job is not None else None
    if job is not None:
        deadline = max(deadline, parse_duration(job.request.job.timeout) + p.interval_seconds)
        show_job_result(p, job.result)
        if job.abort is not None:
            return job.abort

    def hold(message: str, requeue: float | None, measure: tuple[str, ...] = ()) -> Hold:
        if job is not None and job.requeue_after_seconds is not None:
            requeue = min(requeue or job.requeue_after_seconds, job.requeue_after_seconds)
        return p.hold_at_step_weight(
            f"{label}: {message}",
            requeue_after_seconds=requeue,
            deadline_seconds=deadline,
            measure=measure,
            evaluation_job=job.request if job is not None else None,
        )

    if p.status.success_count >= required:  # the templates passed in an earlier pass; the Job has not
        return (
            DONE
            if job is None or job.passed
            else hold(f"{required}/{required} rounds passed; {job.result.message}", None)
        )
    wait_seconds = seconds_until_due(p)
    progress = f"{p.status.success_count}/{required} rounds passed"
    if p.status.analysis:
        progress += "; latest: " + "; ".join(describe_result(r) for r in p.status.analysis)
    if wait_seconds > 0:
        return hold(f"{progress}; next measurement in {format_duration(wait_seconds)}", wait_seconds)
    results = p.take_measurements()
    if results is None:
        return hold(f"{progress}; measuring", None, measure=names)
    outcome = record_round(p, names, results)
    if job is not None:
        show_job_result(p, job.result)
    if outcome is not None:
        return outcome
    if p.status.success_count >= required and (job is None or job.passed):
        return DONE
    latest = "; ".join(describe_result(r) for r in p.status.analysis)
    return hold(f"{p.status.success_count}/{required} rounds passed; latest: {latest}", p.interval_seconds)


def record_round(p: Pass, names: tuple[str, ...], results: tuple[AnalysisResult, ...]) -> Abort | None:
    """Fold one round of results into the status; an Abort when a limit is reached."""
    by_name = {r.name: r for r in results}
    at = format_time(p.inp.now)
    recorded = [_stamped(by_name.get(name), name, at) for name in names]
    failed = [r for r in recorded if r.verdict == Verdict.FAILURE]
    errored = [r for r in recorded if r.verdict == Verdict.ERROR]
    passed = all(r.verdict == Verdict.SUCCESS for r in recorded)
    p.update(
        analysis=recorded,
        failure_count=p.status.failure_count + len(failed),
        error_count=p.status.error_count + 1 if errored else 0,
        success_count=p.status.success_count + (1 if passed else 0),
    )
    spec = p.inp.spec
    if failed and p.status.failure_count >= spec.failure_limit:
        details = "; ".join(describe_result(r) for r in failed)
        return Abort(
            Reason.ANALYSIS_FAILED,
            f"{p.status.failure_count} failed measurement(s), failureLimit {spec.failure_limit}: {details}",
        )
    if errored and p.status.error_count >= spec.error_limit:
        details = "; ".join(describe_result(r) for r in errored)
        return Abort(
            Reason.ANALYSIS_ERROR,
            f"{p.status.error_count} rounds in a row with metric-provider errors, errorLimit "
            f"{spec.error_limit}: {details}. Check that Prometheus is reachable",
        )
    return None


def describe_result(result: AnalysisResult) -> str:
    """``ttft-p95 failure: 2.7 (<= 2.0)`` / ``error-rate inconclusive: no data``."""
    parts = [f"{result.name} {result.verdict.value}"]
    if result.value is not None:
        parts.append(f": {result.value:g}" + (f" ({result.threshold})" if result.threshold else ""))
    if result.message:
        parts.append(f"{':' if result.value is None else ','} {result.message}")
    return "".join(parts)


def _stamped(result: AnalysisResult | None, name: str, at: str) -> AnalysisResult:
    if result is None:
        return AnalysisResult(name=name, verdict=Verdict.INCONCLUSIVE, message="no result", at=at)
    # The machine's clock decides the interval, whatever clock the measurement carried.
    return result.model_copy(update={"at": at})
