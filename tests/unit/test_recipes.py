"""Acceptance against published recipes: the planner's verdict on configurations engines really run.

Every row of ``tests/unit/data/recipes.yaml`` is a deployment published by the vLLM recipes, the SGLang
cookbook, KAITO's examples or Hugging Face, with its source. Three facts are checked per row:

- pinned to the row's layout, a configuration its source runs comes back feasible;
- pinned to the row's layout, a configuration its source says fails comes back infeasible, with an
  out-of-memory reason (``short by``) or the engine refusal the row names;
- unpinned, the planner never asks for more GPUs than a working configuration uses.

A row the planner still gets wrong carries a ``disagrees:`` note saying why; the test requires the set of
disagreeing rows to be exactly the noted ones, so a fix fails loudly until its note is removed, and a
regression fails until it is explained. The score is printed (``pytest -s``) and reported in
docs/sizing.md.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml

from modelfleet.catalog import get_model, gpu_catalog, merge_facts
from modelfleet.catalog.types import ModelFacts
from modelfleet.planner import Engine, GpuPool, Plan, PlanRequest, Quantization, plan

RECIPES = Path(__file__).parent / "data" / "recipes.yaml"
EXPECTATIONS = ("works", "oom", "refused")
# The planner's words for "the weights and one sequence do not fit": see planner/fit.py.
OOM_WORDS = "short by"
MINIMUM_ROWS = 40


@dataclass(frozen=True)
class Row:
    id: str
    model: str
    engine: str
    gpu: str
    gpus: int
    tp: int
    expect: str
    source: str
    max_model_len: int | str
    pp: int = 1
    dp: int = 1
    ep: bool | None = None
    base: str | None = None
    overrides: dict[str, Any] = dataclasses.field(default_factory=dict)
    quantization: str | None = None
    kv_cache_dtype: str = "auto"
    gpu_memory_utilization: float = 0.90
    says: str | None = None
    gpus_per_node: int | None = None  # the VM shape the source runs on, when not the catalog's default
    disagrees: str | None = None


@cache
def rows() -> tuple[Row, ...]:
    document = yaml.safe_load(RECIPES.read_text(encoding="utf-8"))
    return tuple(Row(**entry) for entry in document["rows"])


def facts_of(row: Row) -> ModelFacts:
    """The row's model: a catalog entry, or a catalog base with the row's overrides under the row's id."""
    base = get_model(row.base or row.model)
    assert base is not None, f"{row.id}: {row.base or row.model} is not in the catalog"
    if not row.base:
        return base
    return dataclasses.replace(merge_facts(base, row.overrides), id=row.model)


def request_of(row: Row, *, pinned: bool) -> PlanRequest:
    """One sequence of the row's max_model_len (the engines' start-up condition), pinned or not."""
    pins: dict[str, Any] = {}
    if pinned:
        pins = {
            "gpus_per_replica": row.gpus,
            "tensor_parallel": row.tp,
            "pipeline_parallel": row.pp,
            "expert_parallel": row.ep,
        }
        pins["data_parallel"] = row.dp
    if row.gpus_per_node:
        pins["pool"] = GpuPool(node_shapes={row.gpu: (row.gpus_per_node,)})
    return PlanRequest(
        model_id=row.model,
        engine=Engine(row.engine),
        gpu=row.gpu,
        quantization=Quantization(row.quantization) if row.quantization else None,
        kv_cache_dtype=row.kv_cache_dtype,
        max_model_len=None if row.max_model_len == "auto" else int(row.max_model_len),
        concurrency=1,
        gpu_memory_utilization=row.gpu_memory_utilization,
        **pins,
    )


def verdict(row: Row) -> str | None:
    """None when the planner agrees with the row's source, else what it got wrong."""
    facts = facts_of(row)
    pinned = plan(request_of(row, pinned=True), facts, gpu_catalog())
    reasons = " | ".join(pinned.reasons)
    if row.expect == "works":
        if not pinned.feasible:
            return f"pinned layout refused: {reasons}"
        return _unpinned_verdict(row, plan(request_of(row, pinned=False), facts, gpu_catalog()))
    if pinned.feasible:
        return f"expected {row.expect}, but the pinned layout is feasible"
    wanted = OOM_WORDS if row.expect == "oom" else (row.says or "")
    everything = reasons + " | " + " | ".join(r.reason for r in pinned.rejected)
    return None if wanted in everything else f"expected {row.expect} ({wanted!r}), got: {reasons}"


def _unpinned_verdict(row: Row, unpinned: Plan) -> str | None:
    if not unpinned.feasible or unpinned.chosen is None:
        return f"unpinned plan finds nothing: {' | '.join(unpinned.reasons)}"
    if unpinned.chosen.gpus_per_replica > row.gpus:
        return f"unpinned plan uses {unpinned.chosen.gpus_per_replica} GPUs, the source runs {row.gpus}"
    return None


@cache
def verdicts() -> dict[str, str | None]:
    return {row.id: verdict(row) for row in rows()}


def test_there_are_at_least_forty_published_configurations_with_sources() -> None:
    assert len(rows()) >= MINIMUM_ROWS
    assert len({row.id for row in rows()}) == len(rows()), "row ids must be unique"
    for row in rows():
        assert row.source.startswith("https://"), row.id
        assert row.expect in EXPECTATIONS, row.id
        assert row.expect != "refused" or row.says, f"{row.id}: a refusal names the engine's words"


def test_rows_include_known_failures_of_both_kinds() -> None:
    kinds = {row.expect for row in rows()}
    assert kinds == set(EXPECTATIONS)


@pytest.mark.parametrize("row", rows(), ids=lambda row: row.id)
def test_every_model_and_gpu_of_a_row_is_known(row: Row) -> None:
    assert facts_of(row).id == row.model
    assert row.gpu in gpu_catalog()
    assert row.tp * row.pp * row.dp == row.gpus, f"{row.id}: tp x pp x dp must be the GPU count"


def test_exactly_the_noted_rows_disagree_and_the_score_is_reported(
    capsys: pytest.CaptureFixture[str],
) -> None:
    found = verdicts()
    disagreeing = {row_id for row_id, wrong in found.items() if wrong}
    noted = {row.id for row in rows() if row.disagrees}
    agree = len(rows()) - len(disagreeing)
    with capsys.disabled():
        print(f"\nrecipe acceptance: {agree} of {len(rows())} published configurations agree")
        for row_id in sorted(disagreeing):
            print(f"  disagrees: {row_id}: {found[row_id]}")
    fixed = sorted(noted - disagreeing)
    unexplained = {row_id: found[row_id] for row_id in sorted(disagreeing - noted)}
    assert not fixed, f"these rows now agree: remove their disagrees notes: {fixed}"
    assert not unexplained, f"these rows disagree without a note: {unexplained}"
