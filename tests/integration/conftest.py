"""Fixtures the cluster tests share: one operator process per test module, on the session's cluster."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from testbed.cluster import LocalCluster
from testbed.operator_process import OperatorProcess, install_crds


@pytest.fixture(scope="module")
def operator(cluster: LocalCluster, tmp_path_factory: pytest.TempPathFactory) -> Iterator[OperatorProcess]:
    """The operator with its default configuration, started once the CRDs are in, stopped after the module."""
    install_crds(cluster)
    proc = OperatorProcess(cluster, tmp_path_factory.mktemp("operator")).start()
    yield proc
    proc.stop()
