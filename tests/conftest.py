"""Shared fixtures. The local control plane starts once per test session, only if a test asks for it."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from testbed.cluster import LocalCluster


@pytest.fixture(autouse=True)
def no_hub(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    """`modelfleet plan` reads config.json from the Hub unless offline; the tests reach no Hub but the
    loopback one a test starts, so every test is offline (as users say it) unless it is marked
    ``loopback_hub``: then it and the processes it starts talk to the testbed's Hub server."""
    if request.node.get_closest_marker("loopback_hub") is None:
        monkeypatch.setenv("HF_HUB_OFFLINE", "1")


@pytest.fixture(scope="session")
def cluster() -> Iterator[LocalCluster]:
    """A real kube-apiserver + etcd + controller-manager + scheduler + kwok with the simulated GPU fleet."""
    with LocalCluster(quiet=os.environ.get("MODELFLEET_TESTBED_QUIET") == "1") as c:
        yield c
