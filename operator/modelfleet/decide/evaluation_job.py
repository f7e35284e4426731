"""The evaluation Job of an analysis step: its name, its manifest, and what its status says (pure).

The rollout machine asks for "the Job of step N" (:class:`~modelfleet.rollout.types.JobRequest`);
this module turns that into a ``batch/v1`` Job owned by the ModelDeployment, named after the
ModelDeployment, the canary revision and the step, that runs the user's image with
``MODELFLEET_ENDPOINT`` pointing at the canary revision's Service (OpenAI-compatible ``/v1``).

The reconciler reads the Job by name (``get`` only: no watch, so clusters that do not use evaluation
Jobs need no RBAC for Jobs) and polls it while the step waits. The Job does not retry
(``backoffLimit: 0``: a failed evaluation is a verdict, not a flake to hide) and carries the step's
timeout as ``activeDeadlineSeconds``, so a run left behind by an abort, a promotion or a newer
revision stops by itself. Finished Jobs stay for ``kubectl logs`` until the ModelDeployment is
deleted (owner reference) or for a day (``ttlSecondsAfterFinished``), whichever comes first.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from modelfleet.api import EvaluationJob, ModelDeploymentSpec, parse_duration
from modelfleet.render.names import (
    NAME_LABEL,
    REVISION_LABEL,
    ROLE_LABEL,
    dns_label,
    name_label_value,
    object_labels,
    revision_name,
)
from modelfleet.rollout.types import JobState

ROLE_EVALUATION = "evaluation"
STEP_LABEL = "modelfleet.io/step"
ENDPOINT_ENV = "MODELFLEET_ENDPOINT"
FINISHED_TTL_SECONDS = 24 * 3600
JOB_NAME_MAX = 63  # the Job controller copies the name into a label value


def job_name(md_name: str, revision: str, step: int) -> str:
    """``<md>-<revision>-eval-<step>``, at most 63 characters.

    >>> job_name("qwen3-8b", "3f2a9c1d0e", 2)
    'qwen3-8b-3f2a9c1d0e-eval-2'
    >>> len(job_name("a" * 80, "3f2a9c1d0e", 12))
    63
    """
    suffix = f"-{revision}-eval-{step}"
    return f"{dns_label(md_name, JOB_NAME_MAX - len(suffix))}{suffix}"


def endpoint(md_name: str, namespace: str, revision: str, port: int) -> str:
    """The canary revision's OpenAI-compatible base URL inside the cluster.

    >>> endpoint("qwen3-8b", "llm", "3f2a9c1d0e", 80)
    'http://qwen3-8b-3f2a9c1d0e.llm.svc:80/v1'
    """
    return f"http://{revision_name(md_name, revision)}.{namespace}.svc:{port}/v1"


def render_evaluation_job(
    spec: ModelDeploymentSpec,
    job: EvaluationJob,
    *,
    md_name: str,
    namespace: str,
    revision: str,
    step: int,
    port: int,
    owner: Mapping[str, Any],
) -> dict[str, Any]:
    labels = {**object_labels(md_name, revision), ROLE_LABEL: ROLE_EVALUATION, STEP_LABEL: str(step)}
    # Pods of the Job carry no managed-by label: the engine-pod index and the Services must not see them.
    pod_labels = {
        NAME_LABEL: name_label_value(md_name),
        REVISION_LABEL: revision,
        ROLE_LABEL: ROLE_EVALUATION,
        STEP_LABEL: str(step),
    }
    container: dict[str, Any] = {
        "name": "evaluation",
        "image": job.image,
        "env": [
            {"name": ENDPOINT_ENV, "value": endpoint(md_name, namespace, revision, port)},
            {"name": "MODELFLEET_MODEL", "value": spec.model.id},
            {"name": "MODELFLEET_REVISION", "value": revision},
        ],
        "securityContext": {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}},
    }
    if job.command:
        container["command"] = list(job.command)
    if job.args:
        container["args"] = list(job.args)
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {
            "name": job_name(md_name, revision, step),
            "namespace": namespace,
            "labels": labels,
            "ownerReferences": [dict(owner)],
        },
        "spec": {
            "backoffLimit": 0,
            "activeDeadlineSeconds": max(1, int(parse_duration(job.timeout))),
            "ttlSecondsAfterFinished": FINISHED_TTL_SECONDS,
            "template": {
                "metadata": {"labels": pod_labels},
                "spec": {
                    "restartPolicy": "Never",
                    "automountServiceAccountToken": False,
                    "securityContext": {"seccompProfile": {"type": "RuntimeDefault"}},
                    "containers": [container],
                },
            },
        },
    }


def job_state(job: Mapping[str, Any]) -> JobState:
    """What a Job's status says: finished (Complete or Failed condition), with when and why.

    >>> job_state({"status": {"conditions": [{"type": "Failed", "status": "True", "reason": "BackoffLimitExceeded",
    ...     "message": "Job has reached the specified backoff limit", "lastTransitionTime": "2026-05-01T12:00:00Z"}]}})
    JobState(finished=True, succeeded=False, finished_at='2026-05-01T12:00:00Z', message='BackoffLimitExceeded: Job has reached the specified backoff limit', deleting=False)
    """
    meta = job.get("metadata") or {}
    conditions = {
        c.get("type"): c
        for c in (job.get("status") or {}).get("conditions") or []
        if c.get("status") == "True"
    }
    deleting = bool(meta.get("deletionTimestamp"))
    done = conditions.get("Complete")
    if done is not None:
        return JobState(
            finished=True, succeeded=True, finished_at=done.get("lastTransitionTime"), deleting=deleting
        )
    failed = conditions.get("Failed")
    if failed is not None:
        message = ": ".join(part for part in (failed.get("reason"), failed.get("message")) if part)
        return JobState(
            finished=True,
            succeeded=False,
            finished_at=failed.get("lastTransitionTime"),
            message=message,
            deleting=deleting,
        )
    return JobState(deleting=deleting)
