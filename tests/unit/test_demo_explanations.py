"""`make demo` says why each model that is not Healthy is not, under the `kubectl get md` table."""

from __future__ import annotations

import doctest
from typing import Any

import pytest

import testbed.demo
from testbed.demo import explanations, why_not_healthy


def condition(kind: str, status: str, reason: str, message: str) -> dict[str, str]:
    return {"type": kind, "status": status, "reason": reason, "message": message}


READY = condition("Ready", "True", "ReplicasReady", "1/1 replicas ready")
NOT_READY = condition("Ready", "False", "ReplicasNotReady", "0/1 replicas ready")
LICENCE_OK = condition("LicenseAccepted", "True", "LicenseAllowed", "MIT: allowed")


@pytest.mark.parametrize(
    ("status", "why"),
    [
        (
            {
                "phase": "Failed",
                "conditions": [
                    NOT_READY,
                    condition("LicenseAccepted", "False", "LicenseRefused", "MiniMax M2.7 is non-commercial"),
                ],
            },
            "LicenseRefused: MiniMax M2.7 is non-commercial",
        ),
        (
            {
                "phase": "Failed",
                "conditions": [
                    NOT_READY,
                    LICENCE_OK,
                    condition("Schedulable", "False", "PlanInfeasible", "cannot size meta-llama/Llama-5"),
                ],
            },
            "PlanInfeasible: cannot size meta-llama/Llama-5",
        ),
        (
            {
                "phase": "Pending",
                "conditions": [
                    NOT_READY,
                    condition("Schedulable", "False", "InsufficientCapacity", "needs 1 x L40S, none free"),
                ],
            },
            "InsufficientCapacity: needs 1 x L40S, none free",
        ),
        (
            {
                "phase": "Degraded",
                "conditions": [NOT_READY, condition("Degraded", "True", "ReplicasNotReady", "1/2 ready")],
            },
            "ReplicasNotReady: 1/2 ready",
        ),
        (
            {
                "phase": "Progressing",
                "conditions": [
                    READY,
                    condition("Progressing", "False", "ProgressDeadlineExceeded", "waited longer than 30m"),
                ],
            },
            "ProgressDeadlineExceeded: waited longer than 30m",
        ),
        (
            {"phase": "Pending", "conditions": [condition("Ready", "False", "ReplicasNotReady", "")]},
            "phase Pending",
        ),
        ({"phase": "Pending", "message": "waiting for GPUs"}, "waiting for GPUs"),
        ({}, "phase not set yet"),
    ],
)
def test_the_first_condition_that_explains_the_phase_is_shown(status: dict[str, Any], why: str) -> None:
    assert why_not_healthy(status) == why


def test_healthy_models_are_left_out_and_the_rest_keep_their_order() -> None:
    lines = explanations(
        {
            "qwen3.5-9b": {"phase": "Pending", "message": "waiting for GPUs"},
            "gemma-4-31b": {"phase": "Healthy", "conditions": [READY]},
            "llama-5": {"phase": "Failed", "message": "no plan"},
        }
    )
    assert lines == [
        "  qwen3.5-9b  Pending     waiting for GPUs",
        "  llama-5     Failed      no plan",
    ]
    assert explanations({"gemma-4-31b": {"phase": "Healthy"}}) == []


def test_the_docstring_examples_hold() -> None:
    assert doctest.testmod(testbed.demo).failed == 0
