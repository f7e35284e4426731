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
    STAGING = "Staging"  # the spec's revision waits for its weights to be downloaded into the cache
    PROGRESSING = "Progressing"  # a rollout (canary or rolling update) or a scale-up is under way
    HEALTHY = "Healthy"  # the stable revision serves with every replica ready
    PAUSED = "Paused"  # a rollout waits for a manual promote/resume
    DEGRADED = "Degraded"  # Degraded=True: replicas lost, a canary aborted, or past the progress deadline
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
    SIZING_ESTIMATED = "SizingEstimated"
    MODEL_DISCOVERED = "ModelDiscovered"
    SCALING_LIMITED = "ScalingLimited"  # only with spec.autoscaling


class Reason(StrEnum):
    """Machine-readable reasons (CamelCase, as Kubernetes conventions ask)."""

    # Schedulable
    PLAN_FEASIBLE = "PlanFeasible"
    PLAN_INFEASIBLE = "PlanInfeasible"
    INSUFFICIENT_CAPACITY = "InsufficientCapacity"
    PODS_PENDING = "PodsPending"
    UNKNOWN_MODEL = "UnknownModel"
    # SizingEstimated
    ARCHITECTURE_UNKNOWN = "ArchitectureUnknown"
    ARCHITECTURE_KNOWN = "ArchitectureKnown"
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
    SCALING = "Scaling"
    STAGING = "Staging"  # the weights of the spec's revision are being downloaded into the cache
    STAGING_FAILED = "StagingFailed"  # the download Job failed: the revision gets no pods
    # ModelDiscovered: what reading the model's own files (config.json, the safetensors index) gave
    FILES_READ = "FilesRead"
    HUB_UNREACHABLE = "HubUnreachable"
    GATED_REPO = "GatedRepo"
    NOT_FOUND = "NotFound"
    INVALID_MODEL_FILES = "InvalidModelFiles"
    TOKEN_SECRET_UNREADABLE = "TokenSecretUnreadable"
    SOURCE_NOT_READ = "SourceNotRead"
    # ScalingLimited
    WITHIN_CAPACITY = "WithinCapacity"
    MAX_REPLICAS_ABOVE_CAPACITY = "MaxReplicasAboveCapacity"
    # Degraded / any
    INVALID_SPEC = "InvalidSpec"
    AS_EXPECTED = "AsExpected"
    # Events only, never a condition's reason
    NEW_REVISION = "NewRevision"
    ACTION_REFUSED = "ActionRefused"


# The manual-control annotation; same values as spec.rollout.action.
ACTION_ANNOTATION = "modelfleet.io/action"


# Every reason each condition can carry, with the status it comes with. docs/api.md lists exactly
# these, and a unit test checks both the table and the code that sets conditions against it.
CONDITION_REASONS: dict[ConditionType, dict[Reason, ConditionStatus]] = {
    ConditionType.READY: {
        Reason.REPLICAS_READY: ConditionStatus.TRUE,
        Reason.SCALED_TO_ZERO: ConditionStatus.TRUE,
        Reason.REPLICAS_NOT_READY: ConditionStatus.FALSE,
        Reason.INVALID_SPEC: ConditionStatus.FALSE,
        Reason.UNKNOWN_MODEL: ConditionStatus.FALSE,
        Reason.PLAN_INFEASIBLE: ConditionStatus.FALSE,
        Reason.STAGING: ConditionStatus.FALSE,
        Reason.STAGING_FAILED: ConditionStatus.FALSE,
    },
    ConditionType.PROGRESSING: {
        Reason.STAGING: ConditionStatus.TRUE,
        Reason.STAGING_FAILED: ConditionStatus.FALSE,
        Reason.ROLLOUT_IN_PROGRESS: ConditionStatus.TRUE,
        Reason.SCALING: ConditionStatus.TRUE,
        Reason.ROLLOUT_COMPLETE: ConditionStatus.TRUE,
        Reason.ROLLOUT_PAUSED: ConditionStatus.UNKNOWN,
        Reason.ROLLOUT_ABORTED: ConditionStatus.FALSE,
        Reason.ANALYSIS_FAILED: ConditionStatus.FALSE,
        Reason.ANALYSIS_ERROR: ConditionStatus.FALSE,
        Reason.PROGRESS_DEADLINE_EXCEEDED: ConditionStatus.FALSE,
        Reason.INVALID_SPEC: ConditionStatus.FALSE,
        Reason.LICENSE_NEEDS_ACCEPTANCE: ConditionStatus.FALSE,
        Reason.LICENSE_REFUSED: ConditionStatus.FALSE,
        Reason.LICENSE_UNKNOWN: ConditionStatus.FALSE,
    },
    ConditionType.DEGRADED: {
        Reason.REPLICAS_NOT_READY: ConditionStatus.TRUE,
        Reason.ROLLOUT_ABORTED: ConditionStatus.TRUE,
        Reason.ANALYSIS_FAILED: ConditionStatus.TRUE,
        Reason.ANALYSIS_ERROR: ConditionStatus.TRUE,
        Reason.PROGRESS_DEADLINE_EXCEEDED: ConditionStatus.TRUE,
        Reason.INVALID_SPEC: ConditionStatus.TRUE,
        Reason.STAGING_FAILED: ConditionStatus.TRUE,
        Reason.AS_EXPECTED: ConditionStatus.FALSE,
    },
    ConditionType.SCHEDULABLE: {
        Reason.PLAN_FEASIBLE: ConditionStatus.TRUE,
        Reason.PLAN_INFEASIBLE: ConditionStatus.FALSE,
        Reason.UNKNOWN_MODEL: ConditionStatus.FALSE,
        Reason.INSUFFICIENT_CAPACITY: ConditionStatus.FALSE,
        Reason.PODS_PENDING: ConditionStatus.FALSE,
    },
    ConditionType.SIZING_ESTIMATED: {
        Reason.ARCHITECTURE_UNKNOWN: ConditionStatus.TRUE,
        Reason.ARCHITECTURE_KNOWN: ConditionStatus.FALSE,
    },
    ConditionType.SCALING_LIMITED: {
        Reason.INSUFFICIENT_CAPACITY: ConditionStatus.TRUE,
        Reason.MAX_REPLICAS_ABOVE_CAPACITY: ConditionStatus.TRUE,
        Reason.WITHIN_CAPACITY: ConditionStatus.FALSE,
    },
    ConditionType.LICENSE_ACCEPTED: {
        Reason.LICENSE_ALLOWED: ConditionStatus.TRUE,
        Reason.LICENSE_NEEDS_ACCEPTANCE: ConditionStatus.FALSE,
        Reason.LICENSE_REFUSED: ConditionStatus.FALSE,
        Reason.LICENSE_UNKNOWN: ConditionStatus.FALSE,
    },
    ConditionType.MODEL_DISCOVERED: {
        Reason.FILES_READ: ConditionStatus.TRUE,
        Reason.HUB_UNREACHABLE: ConditionStatus.FALSE,
        Reason.GATED_REPO: ConditionStatus.FALSE,
        Reason.NOT_FOUND: ConditionStatus.FALSE,
        Reason.INVALID_MODEL_FILES: ConditionStatus.FALSE,
        Reason.TOKEN_SECRET_UNREADABLE: ConditionStatus.FALSE,
        Reason.SOURCE_NOT_READ: ConditionStatus.FALSE,
    },
}
# Reasons only Events carry.
EVENT_REASONS = frozenset({Reason.NEW_REVISION, Reason.ACTION_REFUSED})
