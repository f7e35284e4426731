"""The reliability rig: one operator process for the package, watching only this package's namespaces
(so no other test module's operator acts on them), and a seeded random source per test.

``MODELFLEET_SOAK=1`` (set by ``make soak``) runs the heavier variants: more rollouts killed, more
faults, more generated inputs. ``MODELFLEET_SEED`` replays a run.
"""

from __future__ import annotations

import os
import random
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from testbed.cluster import LocalCluster
from testbed.faults import Faults
from testbed.operator_process import OperatorProcess, install_crds
from tests.integration.kube import make_namespace
from tests.reliability.reader import Reader

SOAK = os.environ.get("MODELFLEET_SOAK") == "1"
SEED = int(os.environ.get("MODELFLEET_SEED", "20260"))
NAMESPACES = ("rel-kill", "rel-apiserver", "rel-etcd", "rel-edits", "rel-input", "rel-secrets")


def soak_or_ci(soak: int, ci: int) -> int:
    return soak if SOAK else ci


@dataclass
class Rig:
    cluster: LocalCluster
    operator: OperatorProcess
    reader: Reader
    faults: Faults


@pytest.fixture(scope="package")
def rig(cluster: LocalCluster, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Rig]:
    install_crds(cluster)  # polls until the CRD is Established
    for namespace in NAMESPACES:
        make_namespace(cluster, namespace)
    operator = OperatorProcess(
        cluster,
        tmp_path_factory.mktemp("reliability"),
        config={
            "namespaces": list(NAMESPACES),
            "resyncSeconds": 10,
            "gatewayApi": True,
        },
    )
    faults = Faults(cluster)
    try:
        operator.start()
        yield Rig(cluster, operator, Reader(cluster), faults)
    finally:
        print(f"\n[reliability] faults injected in this run:\n{faults.summary()}")
        operator.stop()
        for namespace in NAMESPACES:  # free the GPUs for whatever runs next in this session
            cluster.kubectl("delete", "md", "--all", "-n", namespace, "--wait=false", check=False)


@pytest.fixture
def rng(request: pytest.FixtureRequest) -> random.Random:
    """A random source seeded from MODELFLEET_SEED and the test's name: a failure replays exactly."""
    seed = f"{SEED}:{request.node.name}"
    print(f"\n[reliability] {request.node.name}: seed {seed!r}{' (soak)' if SOAK else ''}")
    return random.Random(seed)
