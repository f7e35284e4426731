"""The invariant checker catches what it claims to catch (no cluster: a fake of our own Reader port),
so a fault test that reports zero violations means something."""

from __future__ import annotations

import doctest
import time
from typing import Any

import pytest

import tests.reliability.invariants as invariants
import tests.reliability.specs as specs
import tests.reliability.test_bad_input as bad_input
from tests.reliability.invariants import InvariantChecker

NS = "ns"


def md(
    name: str = "m", uid: str = "md-uid", generation: int = 1, rv: str = "1", **status: Any
) -> dict[str, Any]:
    return {
        "metadata": {"name": name, "uid": uid, "generation": generation, "resourceVersion": rv},
        "spec": {"replicas": 2, "rollout": {"canary": {"trafficRouting": {"provider": "replicas"}}}},
        "status": {"observedGeneration": generation, **status},
    }


def deployment(
    revision: str, replicas: int, ready: int, owner: str = "md-uid", name: str = "m"
) -> dict[str, Any]:
    return {
        "metadata": {
            "name": f"{name}-{revision}",
            "uid": f"d-{revision}",
            "labels": {"modelfleet.io/name": name, "modelfleet.io/revision": revision},
            "ownerReferences": [{"kind": "ModelDeployment", "controller": True, "uid": owner}],
        },
        "spec": {"replicas": replicas},
        "status": {"readyReplicas": ready},
    }


def route(weights: dict[str, int], rv: str = "1") -> dict[str, Any]:
    return {
        "metadata": {
            "name": "m",
            "uid": "r",
            "resourceVersion": rv,
            "ownerReferences": [{"kind": "ModelDeployment", "controller": True, "uid": "md-uid"}],
        },
        "spec": {"rules": [{"backendRefs": [{"name": n, "weight": w} for n, w in weights.items()]}]},
    }


class FakeReader:
    """Answers the checker's reads from lists; `mds_after` is what the second read of a sample sees."""

    def __init__(
        self,
        mds: list[dict[str, Any]],
        deployments: list[dict[str, Any]] = (),  # type: ignore[assignment]
        routes: list[dict[str, Any]] = (),
        objects: dict[str, Any] | None = None,  # type: ignore[assignment]
        mds_after: list[dict[str, Any]] | None = None,
    ) -> None:
        self._mds, self._after = list(mds), mds_after
        self._deployments, self._routes = list(deployments), list(routes)
        self.objects = objects or {}
        self._reads = 0

    def mds(self, namespace: str) -> list[dict[str, Any]]:
        self._reads += 1
        return self._after if self._after is not None and self._reads % 2 == 0 else self._mds

    def routes(self, namespace: str) -> list[dict[str, Any]]:
        return self._routes

    def deployments(self, namespace: str) -> list[dict[str, Any]]:
        return self._deployments

    def services(self, namespace: str) -> list[dict[str, Any]]:
        return []

    def get(self, path: str) -> dict[str, Any] | None:
        return self.objects.get(path)


def check(reader: FakeReader, **options: Any) -> list[str]:
    checker = InvariantChecker(reader, (NS,), **options)  # type: ignore[arg-type]
    checker.sample()
    return checker.violations


CANARY: dict[str, Any] = {"revisions": {"stable": "a", "canary": "b"}, "rollout": {"weight": 50, "step": 1}}


def test_a_canary_with_weight_and_no_ready_pod_is_a_violation() -> None:
    found = check(FakeReader([md(**CANARY)], [deployment("a", 2, 2), deployment("b", 1, 0)]))
    assert len(found) == 1 and "canary b has weight 50 with 0 Ready of 1" in found[0]


def test_a_canary_with_weight_and_its_ready_pod_is_fine() -> None:
    assert check(FakeReader([md(**CANARY)], [deployment("a", 2, 2), deployment("b", 1, 1)])) == []


def test_a_canary_scaled_down_for_an_abort_is_not_judged_against_its_old_weight() -> None:
    assert check(FakeReader([md(**CANARY)], [deployment("a", 2, 2), deployment("b", 0, 0)])) == []


def test_a_status_that_changed_while_it_was_read_is_skipped_not_judged() -> None:
    reader = FakeReader(
        [md(**CANARY)], [deployment("a", 2, 2), deployment("b", 1, 0)], mds_after=[md(rv="2", **CANARY)]
    )
    checker = InvariantChecker(reader, (NS,))  # type: ignore[arg-type]
    checker.sample()
    assert checker.violations == [] and checker.skipped == 1


def test_route_weights_must_sum_to_100_and_go_only_to_ready_revisions() -> None:
    found = check(
        FakeReader(
            [md(revisions={"stable": "a"})],
            [deployment("a", 2, 2), deployment("b", 1, 0)],
            routes=[route({"m-a": 80, "m-b": 10})],
        )
    )
    assert any("sum to 90" in v for v in found) and any("10% to m-b" in v for v in found)


def test_one_revision_both_stable_and_canary_is_a_violation() -> None:
    assert any(
        "both stable and canary" in v
        for v in check(FakeReader([md(revisions={"stable": "a", "canary": "a"})]))
    )


def test_a_replaced_stable_that_comes_back_is_a_violation_unless_allowed() -> None:
    reader = FakeReader([md(revisions={"stable": "a"})])
    checker = InvariantChecker(reader, (NS,))  # type: ignore[arg-type]
    for stable in ("a", "b", "a"):
        reader._mds = [md(revisions={"stable": stable})]
        checker.sample()
    assert any("revision a is stable again" in v for v in checker.violations)


def test_an_orphan_past_the_grace_period_is_a_violation() -> None:
    reader = FakeReader([], [deployment("a", 1, 1, owner="gone")])
    checker = InvariantChecker(reader, (NS,), gc_grace_seconds=0.0)  # type: ignore[arg-type]
    checker.sample()
    checker.sample()
    assert any("orphaned" in v for v in checker.violations)


def test_a_deleted_or_replaced_user_object_is_a_violation() -> None:
    reader = FakeReader(
        [], objects={"/pvc": {"metadata": {"uid": "1"}}, "/secret": {"metadata": {"uid": "2"}}}
    )
    checker = InvariantChecker(reader, (NS,))  # type: ignore[arg-type]
    checker.protect("/pvc")
    checker.protect("/secret")
    del reader.objects["/pvc"]
    reader.objects["/secret"] = {"metadata": {"uid": "3"}}
    checker.sample()
    assert any("/pvc was deleted" in v for v in checker.violations)
    assert any("/secret was replaced" in v for v in checker.violations)


def test_observed_generation_must_not_go_back() -> None:
    reader = FakeReader([md(generation=3)])
    checker = InvariantChecker(reader, (NS,))  # type: ignore[arg-type]
    checker.sample()
    reader._mds = [{**md(generation=3), "status": {"observedGeneration": 2}}]
    checker.sample()
    assert any("went back from 3 to 2" in v for v in checker.violations)


@pytest.mark.parametrize(
    "module", [invariants, specs, bad_input], ids=lambda m: m.__name__.rsplit(".", 1)[-1]
)
def test_worked_examples_in_docstrings_hold(module: Any) -> None:
    result = doctest.testmod(module)
    assert result.attempted > 0 and result.failed == 0


def test_a_checker_that_fails_reports_it_and_one_that_saw_too_little_cannot_pass() -> None:
    class Broken(FakeReader):
        def mds(self, namespace: str) -> list[dict[str, Any]]:
            raise KeyError("metadata")

    with InvariantChecker(Broken([]), (NS,), interval_seconds=0.01) as checker:  # type: ignore[arg-type]
        deadline = time.monotonic() + 5
        while not checker.violations and time.monotonic() < deadline:
            time.sleep(0.01)
    assert any("checker failed: KeyError" in v for v in checker.violations)
    idle = InvariantChecker(FakeReader([]), (NS,))  # type: ignore[arg-type]
    with pytest.raises(AssertionError, match="too few samples"):
        idle.assert_held()
