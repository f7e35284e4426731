"""The operator as the benchmarks run it: a real ``modelfleet run`` process with production logging.

:class:`testbed.operator_process.OperatorProcess` always passes ``--verbose`` (debug logs help tests
explain a failure); at fleet scale debug logging is a cost the product would not pay, so the
benchmarks start the same command without it.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from bench import procstat, whatif
from bench.snapshot import CodeSnapshot
from testbed.cluster import LocalCluster
from testbed.operator_process import OperatorProcess
from testbed.wait import wait_for

# The product's defaults (operator/modelfleet/reconcile/config.py), not the integration tests' faster resync.
DEFAULT_CONFIG: dict[str, Any] = {"resyncSeconds": 300, "workers": 8}


class BenchOperator(OperatorProcess):
    # How long without a reconcile counts as idle; --smoke shortens it.
    quiet_seconds = 3.0
    # The session's copy of one commit of the operator (bench/snapshot.py); None: the working tree.
    code: CodeSnapshot | None = None

    def __init__(
        self,
        cluster: LocalCluster,
        workdir: Path,
        config: dict[str, Any] | None = None,
        verbose: bool = False,
        what_if: str = "",
    ) -> None:
        code_env = self.code.environment() if self.code else {}
        env = whatif.environment(what_if.split(","), workdir, [code_env["PYTHONPATH"]] if code_env else [])
        if code_env:
            env["MODELFLEET_TEMPLATES_DIR"] = code_env["MODELFLEET_TEMPLATES_DIR"]
        super().__init__(cluster, workdir, {**DEFAULT_CONFIG, **(config or {})}, extra_env=env)
        self.verbose = verbose

    def start(self) -> BenchOperator:
        env = dict(os.environ, KUBECONFIG=str(self.kubeconfig), PYTHONUNBUFFERED="1", **self.extra_env)
        command = [str(Path(sys.executable).parent / "modelfleet"), "run", "--config", str(self.config_path)]
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(
                command + (["--verbose"] if self.verbose else []),
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=env,
                start_new_session=True,
            )
        wait_for(self._metrics_up, "the operator's metrics endpoint", timeout=60)
        return self

    def reconciles(self) -> int:
        return reconciles_total(self.metrics())

    def usage(self) -> procstat.Usage:
        return procstat.usage(self.pid)

    def wait_quiet(self, quiet_seconds: float | None = None, timeout_seconds: float = 600) -> int:
        """Wait until no reconcile ran for ``quiet_seconds``; the reconcile count then."""
        quiet_seconds = self.quiet_seconds if quiet_seconds is None else quiet_seconds
        deadline = time.monotonic() + timeout_seconds
        last, since = self.reconciles(), time.monotonic()
        while time.monotonic() < deadline:
            time.sleep(min(0.5, quiet_seconds / 2))
            now = self.reconciles()
            if now != last:
                last, since = now, time.monotonic()
            elif time.monotonic() - since >= quiet_seconds:
                return now
        raise TimeoutError(f"the operator still reconciles after {timeout_seconds:.0f} s")


def reconciles_total(metrics_text: str) -> int:
    """Sum of ``modelfleet_reconciles_total`` over every result.

    >>> reconciles_total('modelfleet_reconciles_total{result="ok"} 7.0\\nmodelfleet_reconciles_total{result="waiting"} 2.0\\n')
    9
    """
    pattern = re.compile(r"^modelfleet_reconciles_total\{[^}]*\} ([0-9.e+]+)$", re.MULTILINE)
    return int(sum(float(v) for v in pattern.findall(metrics_text)))
