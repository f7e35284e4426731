"""Cold starts of the seed models, computed (not measured): time to the first Ready replica and to one more
replica, with the weights downloaded by every pod, staged once on a shared volume, or staged on each node.

The arithmetic is ``modelfleet.render.coldstart`` (the same the startup probe is derived from); this module
only picks the inputs (each example's weight bytes and GPUs per replica) and lays out the tables.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from bench.report import Table
from modelfleet.api import parse_spec
from modelfleet.catalog.types import GIB
from modelfleet.cli.plan import make_plan
from modelfleet.render.coldstart import (
    DEFAULT_RATES,
    GB,
    STARTUP_SAFETY_FACTOR,
    ColdStartRates,
    WeightPath,
    cold_start,
    startup_timing,
)
from modelfleet.render.sizing import weight_bytes as planned_weight_bytes

EXAMPLES = Path(__file__).resolve().parents[1] / "manifests" / "examples"
# A plan that needs overrides chooses no layout: assume a full 8-GPU node (the load is bounded by the
# disk's read rate from 2 GPUs on, so the figure barely depends on it).
FALLBACK_GPUS = 8


def example_inputs(examples: Path = EXAMPLES) -> list[dict[str, Any]]:
    """Per example: the model, its weight bytes (catalog, else the plan's) and GPUs per replica."""
    rows = []
    for path in sorted(examples.glob("*.yaml")):
        spec = parse_spec(yaml.safe_load(path.read_text(encoding="utf-8"))["spec"])
        plan, facts = make_plan(spec)
        weights, origin = facts.weight_bytes, "catalog"
        if weights is None:
            weights, origin = planned_weight_bytes(plan), "plan"
        gpus = plan.chosen.gpus_per_replica if plan.chosen is not None else None
        rows.append({"model": spec.model.id, "weight_bytes": weights, "weights_from": origin, "gpus": gpus})
    return rows


def records(rates: ColdStartRates = DEFAULT_RATES, examples: Path = EXAMPLES) -> list[dict[str, Any]]:
    """The figures for every example; one whose weight bytes are unknown (its plan needs overrides
    first) has only its model and ``weight_bytes: None``."""
    out = []
    for row in example_inputs(examples):
        if row["weight_bytes"] is None:
            out.append({"model": row["model"], "weight_bytes": None})  # listed as needing overrides
            continue
        gpus = row["gpus"] or FALLBACK_GPUS
        record = {**row, "gpus_assumed": row["gpus"] is None, "gpus": gpus}
        for path in WeightPath:
            start = cold_start(row["weight_bytes"], path, gpus, rates)
            record[f"first_ready_seconds_{path}"] = round(start.first_ready_seconds)
            record[f"add_replica_seconds_{path}"] = round(start.add_replica_seconds)
            record[f"startup_budget_seconds_{path}"] = startup_timing(
                row["weight_bytes"], path, gpus, rates
            ).budget_seconds
        out.append(record)
    return out


def minutes(seconds: float) -> str:
    """
    >>> minutes(59), minutes(61), minutes(4397)
    ('1.0 min', '1.0 min', '73.3 min')
    """
    return f"{max(seconds, 60) / 60:.1f} min"


def figures_table(results: dict[str, Any]) -> Table:
    rows = []
    known = [r for r in results.get("coldstart", []) if r["weight_bytes"] is not None]
    for r in known:
        gpus = f"{r['gpus']}{'*' if r['gpus_assumed'] else ''}"
        rows.append(
            (
                r["model"],
                f"{r['weight_bytes'] / GB:,.0f}{'' if r['weights_from'] == 'catalog' else '†'}",
                gpus,
                *(minutes(r[f"first_ready_seconds_{p}"]) for p in WeightPath),
                *(minutes(r[f"add_replica_seconds_{p}"]) for p in WeightPath),
            )
        )
    return Table(
        "Cold start per seed model (computed from the stated rates, not measured)",
        (
            "model",
            "weights GB",
            "GPUs/replica",
            "first Ready: no cache",
            "first Ready: shared cache",
            "first Ready: node cache",
            "+1 replica: no cache",
            "+1 replica: shared cache",
            "+1 replica: node cache",
        ),
        rows,
        " ".join(_notes(results.get("coldstart", []))),
    )


def _notes(records: list[dict[str, Any]]) -> list[str]:
    known = [r for r in records if r["weight_bytes"] is not None]
    unknown = [r["model"] for r in records if r["weight_bytes"] is None]
    notes = []
    if any(r["gpus_assumed"] for r in known):
        notes.append("\\* the plan chose no layout: a full 8-GPU node is assumed.")
    if any(r["weights_from"] != "catalog" for r in known):
        notes.append("† weight bytes from the plan (parameters x dtype), the catalog lists none.")
    if unknown:
        notes.append(f"Left out, their weights unknown until overrides are set: {', '.join(unknown)}.")
    notes.append(
        "'First Ready' with a cache includes the staging Job (download, then every checksum); "
        "'+1 replica' with a node cache assumes the node already holds the weights (on a fresh node it "
        "is the first-Ready figure)."
    )
    return notes


def probe_table(results: dict[str, Any]) -> Table:
    rows = [
        (r["model"], *(minutes(r[f"startup_budget_seconds_{p}"]) for p in WeightPath))
        for r in results.get("coldstart", [])
        if r["weight_bytes"] is not None
    ]
    return Table(
        "Engine startup probe budget (failureThreshold x periodSeconds), derived from the same figures",
        ("model", "no cache", "shared cache", "node cache"),
        rows,
        f"{STARTUP_SAFETY_FACTOR:g} x the expected container start, within [10 min, 6 h] "
        "(`modelfleet.render.coldstart.startup_timing`).",
    )


def assumptions_table(rates: ColdStartRates = DEFAULT_RATES) -> Table:
    def rate(value: float) -> str:
        return f"{value / GB:g} GB/s ({value / GIB:.2f} GiB/s)"

    rows = [
        (
            "Hub download, per pod",
            rate(rates.hub_download_bytes_per_second),
            "many files in parallel over a datacentre link",
        ),
        (
            "shared volume read, per pod",
            rate(rates.shared_read_bytes_per_second),
            "ReadWriteMany NFS/CephFS/Filestore",
        ),
        (
            "shared volume write (staging Job)",
            rate(rates.shared_write_bytes_per_second),
            "the Job writes no faster",
        ),
        ("node-local NVMe read", rate(rates.node_nvme_read_bytes_per_second), "also under an emptyDir"),
        (
            "engine load, per GPU",
            rate(rates.engine_load_bytes_per_second_per_gpu),
            "safetensors to GPU memory; ranks load in parallel",
        ),
        ("pod start", f"{rates.pod_start_seconds:g} s", "scheduling, engine image already on the node"),
        (
            "engine warm-up",
            f"{rates.engine_warmup_seconds:g} s",
            "CUDA graph capture, compilation, KV cache allocation",
        ),
        ("staging Job start", f"{rates.job_start_seconds:g} s", "the small operator image"),
        (
            "checksum (staging Job)",
            rate(rates.checksum_bytes_per_second),
            "sha256 of every staged file, one core, read back from the cache",
        ),
    ]
    return Table(
        "Cold-start assumptions (modelfleet.render.coldstart.ColdStartRates)",
        ("quantity", "value", "why"),
        rows,
        "Load time = weight bytes / min(disk read rate, GPUs x engine load rate). Without a cache a pod "
        "downloads, then loads from its emptyDir; with one, the staging Job downloads once and pods only load.",
    )


def tables(results: dict[str, Any]) -> list[Table]:
    if not results.get("coldstart"):
        return []
    return [assumptions_table(), figures_table(results), probe_table(results)]
