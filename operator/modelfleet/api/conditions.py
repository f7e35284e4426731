"""Condition types, reasons and phases as named constants.

Every reconcile writes the same small set of conditions; the reason says *which* check decided it, so
``kubectl get md -o jsonpath='{.status.conditions[?(@.type=="Ready")].reason}'`` is scriptable.
See docs/api.md for what each one means.
"""

from __future__ import annotations

from enum import StrEnum

from modelfleet.catalog import license as licence_policy


class Phase(StrEnum):
    """One-word summary of the whole object, for the PHASE printer column."""

    PENDING = "Pending"  # no plan yet, or pods not scheduled
    PROGRESSING = "Progressing"  # a rollout (canary or rolling update) is under way
    HEALTHY = "Healthy"  # the stable revision serves with every replica ready
    PAUSED = "Paused"  # a rollout waits for a manual promote/resume
    DEGRADED = "Degraded"  # serving, but fewer ready replicas than asked, or a canary was aborted
    FAILED = "Failed"  # cannot serve at all: invalid spec, infeasible plan, licence refused


class ConditionStatus(StrEnum):
    TRUE = "True"
    FALSE = "False"
    UNKNOWN = "Unknown"


class ConditionType(StrEnum):
    READY = "Ready"
    PROGRESSING = "Progressing"
    DEGRADED = "Degraded"
    SCHEDULABLE = "Schedulable"
    LICENSE_ACCEPTED = "LicenseAccepted"


class Reason(StrEnum):
    """Machine-readable reasons (CamelCase, as Kubernetes conventions ask)."""

    # Schedulable
    PLAN_FEASIBLE = "PlanFeasible"
    PLAN_INFEASIBLE = "PlanInfeasible"
    INSUFFICIENT_CAPACITY = "InsufficientCapacity"
    PODS_PENDING = "PodsPending"
    UNKNOWN_MODEL = "UnknownModel"
    # Ready
    REPLICAS_READY = "ReplicasReady"
    REPLICAS_NOT_READY = "ReplicasNotReady"
    SCALED_TO_ZERO = "ScaledToZero"
    # LicenseAccepted: the licence policy's own verdicts, written as it gives them
    LICENSE_ALLOWED = licence_policy.LICENSE_ALLOWED
    LICENSE_NEEDS_ACCEPTANCE = licence_policy.LICENSE_NEEDS_ACCEPTANCE
    LICENSE_REFUSED = licence_policy.LICENSE_REFUSED
    LICENSE_UNKNOWN = licence_policy.LICENSE_UNKNOWN
    # Progressing
    ROLLOUT_IN_PROGRESS = "RolloutInProgress"
    ROLLOUT_PAUSED = "RolloutPaused"
    ROLLOUT_ABORTED = "RolloutAborted"
    ROLLOUT_COMPLETE = "RolloutComplete"
    ANALYSIS_FAILED = "AnalysisFailed"
    ANALYSIS_ERROR = "AnalysisError"
    PROGRESS_DEADLINE_EXCEEDED = "ProgressDeadlineExceeded"
    NEW_REVISION = "NewRevision"
    # Degraded / any
    INVALID_SPEC = "InvalidSpec"
    RECONCILE_ERROR = "ReconcileError"
    AS_EXPECTED = "AsExpected"


# The manual-control annotation; same values as spec.rollout.action.
ACTION_ANNOTATION = "modelfleet.io/action"
