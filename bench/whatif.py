"""What-if measurements: the operator process with a proposed change patched in at start-up.

The shipped code is not changed. ``python -m bench --what-if libyaml,no-events`` starts the operator
with a ``sitecustomize`` (on ``PYTHONPATH``) that applies the named patches before ``modelfleet run``
imports anything, so a proposal's effect on the same workload is measured before anyone writes it.
Results are stored and reported apart from the shipped operator's figures.

- ``libyaml``: the renderer parses its YAML with PyYAML's C loader instead of ``yaml.safe_load``.
- ``no-events``: the reconciler posts no Events (the upper bound of taking them off the critical path).
- ``no-status-wake``: a watch event that changes neither ``metadata.generation`` nor the annotations
  (the operator's own status write, typically) updates the stored copy but wakes no reconcile.
- ``render-cache``: the decision's renders are memoised on their inputs (spec, plan, names, revision,
  replicas), so a pass over an unchanged ModelDeployment renders nothing.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

ENV = "MODELFLEET_BENCH_WHATIF"
PATCHES = ("libyaml", "no-events", "no-status-wake", "render-cache")
SITECUSTOMIZE = f"""\
import os
if os.environ.get({ENV!r}):
    from bench import whatif
    whatif.apply(os.environ[{ENV!r}].split(","))
"""


def _libyaml() -> None:
    import yaml

    def safe_load(text: Any) -> Any:
        return yaml.load(text, Loader=yaml.CSafeLoader)  # noqa: S506 - the C *safe* loader

    yaml.safe_load = safe_load


def _no_events() -> None:
    from modelfleet.reconcile.reconciler import Reconciler

    Reconciler.post_event = lambda self, obs, event: None  # type: ignore[method-assign]


def _same_intent(before: dict[str, Any], after: dict[str, Any]) -> bool:
    old, new = before.get("metadata") or {}, after.get("metadata") or {}
    return all(old.get(k) == new.get(k) for k in ("generation", "annotations", "deletionTimestamp", "uid"))


def _no_status_wake() -> None:
    from modelfleet.reconcile.worker import Workers

    observe = Workers.observe

    def quiet_observe(self: Workers, key: tuple[str, str], obj: dict[str, Any]) -> None:
        before = self._latest.get(key)
        if before is not None and key in self._tasks and _same_intent(before, obj):
            self._latest[key] = obj  # the next pass starts from the newest status, without an extra pass
            return
        observe(self, key, obj)

    Workers.observe = quiet_observe  # type: ignore[method-assign]


def _render_cache() -> None:
    import copy
    import json
    from collections import OrderedDict

    from modelfleet.reconcile import decide

    def memoised(render: Any, size: int = 4096) -> Any:
        cache: OrderedDict[str, Any] = OrderedDict()

        def wrapper(spec: Any, *args: Any, **kwargs: Any) -> Any:
            key = json.dumps([spec.model_dump(mode="json") if spec is not None else None, repr(args),
                              {k: repr(v) for k, v in sorted(kwargs.items())}], sort_keys=True)
            if key not in cache:
                cache[key] = render(spec, *args, **kwargs)
                if len(cache) > size:
                    cache.popitem(last=False)
            cache.move_to_end(key)
            return copy.deepcopy(cache[key])  # the decision adds ownerReferences to what it gets

        return wrapper

    decide.render_revision = memoised(decide.render_revision)  # type: ignore[attr-defined]
    decide.render_umbrella_service = memoised(decide.render_umbrella_service)  # type: ignore[attr-defined]


def apply(names: Iterable[str]) -> None:
    patches = {"libyaml": _libyaml, "no-events": _no_events, "no-status-wake": _no_status_wake,
               "render-cache": _render_cache}
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
