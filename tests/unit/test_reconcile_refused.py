"""A child the API server refuses (422) ends the pass with a status that says so, not an exception.

The schema lets through values a child's own validation refuses (a Secret name with capitals);
before this, the reconcile raised on every pass, logged a traceback each time and never wrote a
status. The reconciler runs here against a fake of our own Kube port.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from modelfleet.catalog.license import LicensePolicy
from modelfleet.decide import Context, Decision
from modelfleet.decide.inventory import Inventory, NodeGpus
from modelfleet.decide.refused import refused_decision
from modelfleet.reconcile.kube import ApiError
from modelfleet.reconcile.metrics import OperatorMetrics
from modelfleet.reconcile.reconciler import Reconciler, gather
from modelfleet.reconcile.worker import Snapshot
from modelfleet.render.config import OperatorConfig

NOW = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)
CTX = Context(license_policy=LicensePolicy(), render=OperatorConfig(), gateway_api=True)
H200_INVENTORY = Inventory((NodeGpus("h200-0", "H200", "NVIDIA-H200", "nvidia.com/gpu", 8, True),))
REFUSAL = (
    'Deployment.apps "m-1234" is invalid: spec.template.spec.containers[0].env[1].valueFrom.secretKeyRef.name: '
    'Invalid value: "Bad Name": a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters'
)


class FakeKube:
    """Our Kube port: records writes; refuses Deployments with `refuse_status`."""

    def __init__(self, refuse_status: int = 422) -> None:
        self.refuse_status = refuse_status
        self.applied: list[str] = []
        self.status_patches: list[dict[str, Any]] = []
        self.events: list[dict[str, Any]] = []

    def apply(self, obj: dict[str, Any]) -> dict[str, Any]:
        if obj["kind"] == "Deployment":
            raise ApiError(self.refuse_status, "Invalid", REFUSAL)
        self.applied.append(f"{obj['kind']}/{obj['metadata']['name']}")
        return obj

    def patch_status(
        self, api_version: str, kind: str, namespace: str, name: str, status: dict[str, Any]
    ) -> dict[str, Any]:
        self.status_patches.append(status)
        return {}

    def create(self, obj: dict[str, Any]) -> dict[str, Any]:
        self.events.append(obj)
        return obj

    def patch(self, *args: Any) -> dict[str, Any]:
        raise AssertionError(f"unexpected patch {args}")

    def delete(self, *args: Any, **kwargs: Any) -> bool:
        raise AssertionError(f"unexpected delete {args}")


def model_deployment(status: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        "metadata": {"name": "m", "namespace": "llm", "uid": "uid-1", "generation": 1},
        "spec": {
            "model": {
                "id": "mistralai/Mistral-7B-Instruct-v0.3",
                "source": {"huggingface": {"tokenSecretRef": {"name": "Bad Name"}}},
            },
            "accelerator": {"type": "H200"},
            "serving": {"maxModelLen": 8192},
        },
        "status": status or {},
    }


def reconciler(kube: FakeKube) -> Reconciler:
    return Reconciler(kube, CTX, OperatorMetrics(), clock=lambda: NOW)  # type: ignore[arg-type]


def conditions(status: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {c["type"]: c for c in status["conditions"]}


def test_a_refused_child_ends_the_pass_with_an_invalid_spec_status() -> None:
    kube = FakeKube()
    outcome = reconciler(kube)(model_deployment(), Snapshot((), (), H200_INVENTORY))
    assert outcome.result == "invalid"
    [status] = kube.status_patches
    assert status["phase"] == "Failed" and status["observedGeneration"] == 1
    degraded = conditions(status)["Degraded"]
    assert degraded["status"] == "True" and degraded["reason"] == "InvalidSpec"
    assert "secretKeyRef.name" in degraded["message"] and "Bad Name" in degraded["message"]
    assert conditions(status)["Ready"]["reason"] == "InvalidSpec"
    assert conditions(status)["Schedulable"]["status"] == "True", "what the pass learnt still stands"
    assert "revisions" not in status and "rollout" not in status, "the rollout did not start"
    assert [e["reason"] for e in kube.events if e["type"] == "Warning"] == ["InvalidSpec"], (
        "one cause, one warning"
    )
    assert not any(e["reason"] == "NewRevision" for e in kube.events)


def test_the_same_refusal_on_the_next_pass_writes_nothing_and_posts_no_event() -> None:
    kube = FakeKube()
    reconciler(kube)(model_deployment(), Snapshot((), (), H200_INVENTORY))
    stored = kube.status_patches[-1]
    again = FakeKube()
    outcome = reconciler(again)(model_deployment(status=stored), Snapshot((), (), H200_INVENTORY))
    assert outcome.result == "invalid"
    assert again.status_patches == [] and again.events == []


@pytest.mark.parametrize("status", [403, 409, 500, 503])
def test_errors_that_are_not_the_specs_fault_still_raise_for_a_retry(status: int) -> None:
    with pytest.raises(ApiError):
        reconciler(FakeKube(refuse_status=status))(model_deployment(), Snapshot((), (), H200_INVENTORY))


def test_a_refusal_keeps_the_stored_rollout_state() -> None:
    stored = {
        "observedGeneration": 1,
        "phase": "Healthy",
        "revisions": {"stable": "aaa"},
        "conditions": [
            {
                "type": "Ready",
                "status": "True",
                "reason": "ReplicasReady",
                "message": "",
                "lastTransitionTime": "2026-11-01T11:00:00Z",
            }
        ],
    }
    wanted = Decision(
        status={
            "observedGeneration": 2,
            "phase": "Progressing",
            "revisions": {"stable": "aaa", "canary": "bbb"},
            "rollout": {"canaryRevision": "bbb"},
            "conditions": [],
        }
    )
    obs = gather(
        model_deployment(status=stored)
        | {"metadata": {"name": "m", "namespace": "llm", "uid": "u", "generation": 2}},
        Snapshot((), (), H200_INVENTORY),
        NOW,
    )
    decision = refused_decision(obs, wanted, REFUSAL)
    assert decision.status["revisions"] == {"stable": "aaa"} and "rollout" not in decision.status
    assert decision.status["observedGeneration"] == 2
    assert not decision.apply and not decision.scale and not decision.delete
    ready = conditions(decision.status)["Ready"]
    assert ready["status"] == "False" and ready["lastTransitionTime"] == "2026-11-01T12:00:00Z"


class RecordingKube(FakeKube):
    """The fake that also records metadata patches (the action annotation's removal)."""

    def __init__(self) -> None:
        super().__init__()
        self.patches: list[dict[str, Any]] = []

    def patch(
        self, api_version: str, kind: str, namespace: str, name: str, body: dict[str, Any]
    ) -> dict[str, Any]:
        self.patches.append(body)
        return {}


def test_an_action_in_a_pass_the_api_server_refused_is_removed_with_a_warning() -> None:
    kube = RecordingKube()
    body = model_deployment()
    body["metadata"]["annotations"] = {"modelfleet.io/action": "promote"}
    outcome = reconciler(kube)(body, Snapshot((), (), H200_INVENTORY))
    assert outcome.result == "invalid"
    assert kube.patches == [{"metadata": {"annotations": {"modelfleet.io/action": None}}}]
    [refusal] = [e for e in kube.events if e["reason"] == "ActionRefused"]
    assert (
        refusal["type"] == "Warning" and "promote" in refusal["message"] and "Bad Name" in refusal["message"]
    )
