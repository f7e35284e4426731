"""A bounded memo of the renderer for the reconcile loop (still pure: same inputs, same objects).

A ModelDeployment is looked at again on every change of its children and pods, and each pass renders
its revision to compare the result with what the API server holds. Rendering (templates, then YAML)
is most of a pass's CPU, and its inputs rarely change between passes, so the loop renders through a
:class:`RenderMemo` the operator builds once and hands to every decision in its context. Entries are
kept as compact JSON (a third of the memory of the objects themselves at fleet scale) and every call
returns freshly parsed objects, so callers may change what they get (the decision adds
ownerReferences).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Any

import orjson

from modelfleet.api import ModelDeploymentSpec
from modelfleet.catalog.types import ModelFacts
from modelfleet.planner.types import Plan
from modelfleet.render import render_revision, render_umbrella_service
from modelfleet.render.config import OperatorConfig

# Room for the revisions and umbrella Services of a thousand ModelDeployments (~6 KB of JSON each).
MAX_ENTRIES = 2048


class RenderMemo:
    """The renderer behind a bounded memo, owned by the operator (one per process) and handed to
    each decision through its context. Safe to share between the reconcile threads."""

    def __init__(self, max_entries: int = MAX_ENTRIES) -> None:
        self._entries: OrderedDict[Any, bytes] = OrderedDict()
        self._lock = threading.Lock()
        self._max = max_entries
        self.hits = self.misses = 0
        # The operator's settings, one object for the process: its repr is taken once, not per pass.
        self._configs: dict[int, tuple[OperatorConfig, str]] = {}

    def _config_key(self, config: OperatorConfig) -> str:
        known = self._configs.get(id(config))
        if known is None or known[0] is not config:
            if len(self._configs) >= 16:  # one in the operator; tests hand many
                self._configs.clear()
            known = self._configs[id(config)] = (config, repr(config))  # holding it keeps its id unique
        return known[1]

    def revision(
        self,
        spec: ModelDeploymentSpec,
        plan: Plan,
        *,
        name: str,
        namespace: str,
        revision: str,
        replicas: int,
        config: OperatorConfig,
        facts: ModelFacts | None = None,
        cache_claim: str | None = None,
    ) -> list[dict[str, Any]]:
        """:func:`modelfleet.render.render_revision`, memoised on every input (the model facts too:
        they decide the quantization flag and whether the model needs remote code)."""
        key = (
            "revision",
            spec.model_dump_json(),  # pydantic's own serializer: fields in declaration order, stable
            plan,
            name,
            namespace,
            revision,
            replicas,
            self._config_key(config),
            facts,
            cache_claim,
        )
        return list(
            self._get(
                key,
                lambda: render_revision(
                    spec,
                    plan,
                    name=name,
                    namespace=namespace,
                    revision=revision,
                    replicas=replicas,
                    config=config,
                    facts=facts,
                    cache_claim=cache_claim,
                ),
            )
        )

    def umbrella_service(
        self, spec: ModelDeploymentSpec, *, name: str, namespace: str, config: OperatorConfig
    ) -> dict[str, Any]:
        """:func:`modelfleet.render.render_umbrella_service`, memoised."""
        key = ("umbrella", name, namespace, self._config_key(config))
        return dict(
            self._get(
                key, lambda: render_umbrella_service(spec, name=name, namespace=namespace, config=config)
            )
        )

    def stats(self) -> tuple[int, int]:
        """(hits, misses) since it was made or last cleared."""
        return self.hits, self.misses

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self.hits = self.misses = 0

    def _get(self, key: Any, make: Any) -> Any:
        with self._lock:
            found = self._entries.get(key)
            if found is not None:
                self._entries.move_to_end(key)
                self.hits += 1
        if found is None:
            made = make()
            try:
                found = orjson.dumps(made)
            except orjson.JSONEncodeError:  # a lone surrogate in a value: rendered again next time
                return made
            with self._lock:
                self.misses += 1
                self._entries[key] = found
                while len(self._entries) > self._max:
                    self._entries.popitem(last=False)
            return made
        return orjson.loads(found)
