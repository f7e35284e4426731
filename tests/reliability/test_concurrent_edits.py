"""Several people (threads running kubectl) edit the same ModelDeployment at once: replicas through a
merge patch and through the scale subresource, the model revision through a merge patch and through
server-side apply with their own field managers. Whatever write lands last is what the cluster must
end up running, and no invariant may break on the way."""

from __future__ import annotations

import json
import random
import threading
from collections import Counter
from typing import Any

import pytest

from testbed.cluster import LocalCluster
from tests.reliability.conftest import Rig, soak_or_ci
from tests.reliability.helpers import (
    GATEWAY,
    apply,
    canary_md,
    create_user_objects,
    delete_md,
    wait_children_collected,
    wait_rolled_out,
)
from tests.reliability.invariants import InvariantChecker

pytestmark = pytest.mark.cluster
REVISIONS = ("ra", "rb", "rc")


def one_edit(cluster: LocalCluster, ns: str, name: str, rng: random.Random, editor: int) -> str:
    """One random edit; returns its kind. Raises when kubectl fails."""
    kind = rng.choice(("patch-replicas", "scale", "patch-revision", "apply-revision"))
    if kind == "patch-replicas":
        cluster.kubectl(
            "patch",
            "md",
            name,
            "-n",
            ns,
            "--type=merge",
            "-p",
            json.dumps({"spec": {"replicas": rng.randint(1, 3)}}),
        )
    elif kind == "scale":
        cluster.kubectl("scale", f"md/{name}", "-n", ns, f"--replicas={rng.randint(1, 3)}")
    elif kind == "patch-revision":
        cluster.kubectl(
            "patch",
            "md",
            name,
            "-n",
            ns,
            "--type=merge",
            "-p",
            json.dumps({"spec": {"model": {"revision": rng.choice(REVISIONS)}}}),
        )
    else:
        # Each editor is its own field manager; --force-conflicts takes the field over, as a person would.
        body = {
            "apiVersion": "modelfleet.io/v1alpha1",
            "kind": "ModelDeployment",
            "metadata": {"name": name, "namespace": ns},
            "spec": {
                "model": {"id": canary_md(name, ns)["spec"]["model"]["id"], "revision": rng.choice(REVISIONS)}
            },
        }
        cluster.kubectl(
            "apply",
            "--server-side",
            "--force-conflicts",
            f"--field-manager=editor-{editor}",
            "-f",
            "-",
            input=json.dumps(body),
        )
    return kind


def test_concurrent_edits_of_one_model_deployment_end_in_the_last_written_spec(
    rig: Rig, rng: random.Random
) -> None:
    ns, name = "rel-edits", "contested"
    editors, edits_each = soak_or_ci(6, 4), soak_or_ci(25, 6)
    done: Counter[str] = Counter()
    errors: list[str] = []

    def editor(index: int, seed: int) -> None:
        local = random.Random(seed)
        for _ in range(edits_each):
            try:
                done[one_edit(rig.cluster, ns, name, local, index)] += 1
            except Exception as error:  # a kubectl failure is a finding, not a crash of the test thread
                errors.append(f"editor {index}: {error}")

    with InvariantChecker(rig.reader, (ns,), stable_may_return=True) as checker:
        create_user_objects(rig.cluster, checker, ns, name)
        try:
            apply(rig.cluster, canary_md(name, ns, revision=REVISIONS[0], replicas=1, routing=GATEWAY))
            wait_rolled_out(rig.reader, ns, name, REVISIONS[0], 1, timeout=90)
            threads = [threading.Thread(target=editor, args=(i, rng.getrandbits(32))) for i in range(editors)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join(timeout=300)
            assert not errors, errors
            final: dict[str, Any] = rig.reader.md(ns, name)["spec"]
            seconds = wait_rolled_out(
                rig.reader, ns, name, final["model"]["revision"], final["replicas"], timeout=120
            )
            print(
                f"[reliability] {editors} editors x {edits_each} edits ({dict(done)}); settled on "
                f"{final['model']['revision']} x {final['replicas']} {seconds:.1f}s after the last edit"
            )
            checker.wait_quiet()
        finally:
            checker.stop()
            print(f"[reliability] concurrent edits: {checker.summary()}")
            delete_md(rig.cluster, ns, name)
    wait_children_collected(rig.reader, ns)
    checker.sample()
    checker.assert_held()
    assert sum(done.values()) == editors * edits_each
