"""The kopf wiring registers only indexes and event triggers: the operator's NoDiffBase storage (no
diff-base copies, nothing stored on objects) is only right while no changing handler or daemon exists."""

from __future__ import annotations

import kopf

from modelfleet.reconcile.handlers import register, without_managed_fields
from modelfleet.reconcile.operator import NoDiffBase
from modelfleet.reconcile.worker import Outcome, Workers


def test_no_changing_handlers_or_daemons_are_registered() -> None:
    registry = kopf.OperatorRegistry()
    register(
        registry, Workers(lambda obj, snap: Outcome("ok"), workers=1, resync_seconds=60, lws_enabled=True)
    )
    # kopf keeps one sub-registry per kind of handler; only watching (events) and indexing may be used.
    assert registry._changing.get_all_handlers() == []
    assert registry._spawning.get_all_handlers() == []
    # ModelDeployments and the weight caches; pods, nodes and children go through the informers.
    assert len(registry._watching.get_all_handlers()) == 3
    assert len(registry._indexing.get_all_handlers()) == 2


def test_the_diff_base_is_empty_and_never_stored() -> None:
    storage = NoDiffBase()
    body = kopf.Body({"metadata": {"name": "x", "annotations": {"a": "b"}}, "spec": {"replicas": 1}})
    assert storage.build(body=body) == {} and storage.fetch(body=body) is None
    patch = kopf.Patch()
    storage.store(body=body, patch=patch, essence=storage.build(body=body))
    assert not patch


def test_the_copy_a_worker_keeps_has_no_managed_fields_and_leaves_the_event_alone() -> None:
    event = {
        "metadata": {"name": "m", "uid": "u", "generation": 2, "managedFields": [{"manager": "kubectl"}]},
        "spec": {"replicas": 1},
        "status": {"phase": "Healthy"},
    }
    kept = without_managed_fields(event)
    assert kept == {
        "metadata": {"name": "m", "uid": "u", "generation": 2},
        "spec": {"replicas": 1},
        "status": {"phase": "Healthy"},
    }
    assert event["metadata"]["managedFields"] == [{"manager": "kubectl"}]  # kopf's body is not changed
    plain = {"metadata": {"name": "m"}, "spec": {}}
    assert without_managed_fields(plain) == plain and without_managed_fields(plain) is not plain
