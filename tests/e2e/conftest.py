"""The e2e rig, started once for the package: a real Prometheus on loopback scraping a loopback
engine exporter (one target per engine pod, found by a discovery loop), and the operator as a real
process whose analysis queries go to that Prometheus."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from testbed.cluster import LocalCluster
from tests.e2e.api import Api
from tests.e2e.helpers import Rig, running_rig

# Every namespace an e2e test uses: the operator watches only these, so the integration tests'
# operator (cluster-wide, started by another module) and this one never act on the same objects.
NAMESPACES = (
    "e2e-healthy",
    "e2e-regress",
    "e2e-promdown",
    "e2e-idle",
    "e2e-unready",
    "e2e-hold",
    "e2e-user",
    "e2e-sglang",
    "e2e-tgi",
    "e2e-restart",
    "e2e-pause",
    "e2e-level",
    "e2e-swap",
    "e2e-newer",
    "e2e-manual",
    "e2e-ratio",
    "e2e-job",
    "e2e-dash",
    "e2e-dash-abort",
    "e2e-refuse",
    "e2e-cli",
)


@pytest.fixture(scope="package")
def rig(cluster: LocalCluster, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Rig]:
    with running_rig(cluster, NAMESPACES, tmp_path_factory.mktemp("e2e"), {"gatewayApi": True}) as started:
        yield started


@pytest.fixture
def api(rig: Rig) -> Api:
    return Api(rig.cluster)


@pytest.fixture
def cleanup(rig: Rig) -> Iterator[list[tuple[str, str]]]:
    """ModelDeployments to delete after the test (frees their GPUs for the next tests)."""
    created: list[tuple[str, str]] = []
    yield created
    for namespace, name in created:
        rig.cluster.kubectl(
            "delete", "md", name, "-n", namespace, "--wait=true", "--timeout=60s", check=False
        )
