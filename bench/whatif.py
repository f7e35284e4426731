"""What-if measurements: the operator process with a proposed change patched in at start-up.

The shipped code is not changed. ``python -m bench --what-if no-events`` starts the operator
with a ``sitecustomize`` (on ``PYTHONPATH``) that applies the named patches before ``modelfleet run``
imports anything, so a proposal's effect on the same workload is measured before anyone writes it.
Results are stored and reported apart from the shipped operator's figures.

- ``no-events``: the reconciler posts no Events (the upper bound of taking them off the critical path).
- ``gil-switch``: the interpreter's thread switch interval at 0.5 ms instead of 5 ms, so a reconcile
  thread whose response has arrived waits less for the GIL while the event loop thread digests watch
  events.

Proposals measured this way and then shipped: the renderer's libyaml parser, no pass for the watch
echo of the operator's own status write (:mod:`modelfleet.reconcile.worker`), and the render memo
(:mod:`modelfleet.render.memo`).
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

ENV = "MODELFLEET_BENCH_WHATIF"
PATCHES = ("no-events", "gil-switch")
SITECUSTOMIZE = f"""\
import os
if os.environ.get({ENV!r}):
    from bench import whatif
    whatif.apply(os.environ[{ENV!r}].split(","))
"""


def _no_events() -> None:
    from modelfleet.reconcile.reconciler import Reconciler

    Reconciler.post_event = lambda self, obs, event: None  # type: ignore[method-assign]


def _gil_switch() -> None:
    import sys

    sys.setswitchinterval(0.0005)


def apply(names: Iterable[str]) -> None:
    patches = {"no-events": _no_events, "gil-switch": _gil_switch}
    for name in names:
        if name:
            patches[name]()


def environment(names: Iterable[str], workdir: Path, first_paths: Iterable[str] = ()) -> dict[str, str]:
    """The environment that makes a ``modelfleet run`` child process apply ``names``; ``first_paths``
    (the session's operator snapshot) stay ahead of the repository on ``PYTHONPATH``."""
    names = [n for n in names if n]
    unknown = set(names) - set(PATCHES)
    if unknown:
        raise ValueError(f"unknown what-if patches {sorted(unknown)}; choose from {PATCHES}")
    paths = list(first_paths)
    env: dict[str, str] = {}
    if names:
        shim = workdir / "whatif-site"
        shim.mkdir(parents=True, exist_ok=True)
        (shim / "sitecustomize.py").write_text(SITECUSTOMIZE)
        paths = [str(shim), *paths, str(Path(__file__).resolve().parents[1])]
        env[ENV] = ",".join(names)
    if paths:
        env["PYTHONPATH"] = os.pathsep.join([*paths, os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    return env
