"""Tables from the stored results: printed by ``python -m bench`` and written into docs/BENCHMARKS.md.

Every figure is a median over the runs stored for it, with the spread (min-max) and the 1-minute load
average of the machine when each run started, because this 2-core machine is shared.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from bench.stats import median_spread, percentile

MIB = 1024 * 1024
WRITE_VERBS = ("POST", "PUT", "PATCH", "DELETE", "APPLY", "DELETECOLLECTION")
SAME_WORK = "baseline-same-work"
# What converging one ModelDeployment strictly needs: its children (a Deployment and two Services),
# one status write, one Event.
FLOOR = {"events": 1, "status": 1}  # applies: the children, as many as the baseline applies


@dataclass(frozen=True)
class Table:
    title: str
    header: tuple[str, ...]
    rows: list[tuple[str, ...]]
    note: str = ""


@dataclass(frozen=True)
class Target:
    name: str
    goal: str
    measured: str
    met: bool | None  # None: not measured


def loads(runs: Sequence[dict[str, Any]]) -> str:
    return ", ".join(f"{r['loadavg_at_start'][0]:.1f}" for r in runs) or "-"


def _runs(results: dict[str, Any], mode: str, count: int, what_if: str = "") -> list[dict[str, Any]]:
    return [
        r
        for r in results.get("converge", [])
        if r["mode"] == mode and r["count"] == count and r.get("what_if", "") == what_if
    ]


def _ratios(
    results: dict[str, Any], count: int, what_if: str = "", baseline: str = "baseline"
) -> list[float]:
    """operator / baseline per repetition (the i-th operator run against the i-th baseline run)."""
    pairs = zip(
        _runs(results, "operator", count, what_if), _runs(results, baseline, count, what_if), strict=False
    )
    return [op["seconds"] / base["seconds"] for op, base in pairs if base["seconds"] > 0]


def sizes(results: dict[str, Any]) -> list[int]:
    return sorted({r["count"] for r in results.get("converge", []) if not r.get("what_if")})


def what_if_table(results: dict[str, Any]) -> Table:
    """Converge of the operator with proposed changes patched in, next to the shipped operator."""
    rows = []
    tags = sorted({r.get("what_if", "") for r in results.get("converge", []) if r.get("what_if")})
    counts = sorted({r["count"] for r in results.get("converge", []) if r.get("what_if")})
    for n in counts:
        for tag in ["", *tags]:
            op = _runs(results, "operator", n, tag)
            if not op:
                continue
            rows.append(
                (
                    f"{n:,}",
                    tag or "as shipped",
                    median_spread([r["seconds"] for r in op], unit=" s"),
                    median_spread(_ratios(results, n, tag), digits=2),
                    median_spread([r["ready_seconds"] for r in op], unit=" s"),
                    median_spread([r["reconciles"] / n for r in op], 1),
                    median_spread([r["cpu_seconds"] for r in op], 1, " s"),
                    median_spread(
                        [
                            sum(v for k, v in r["requests"].items() if k.startswith("POST events")) / n
                            for r in op
                        ],
                        1,
                    ),
                    loads(op),
                )
            )
    return Table(
        "What-if: the operator with proposed changes patched in at start-up (bench/whatif.py)",
        (
            "N",
            "patches",
            "converge",
            "ratio op/base",
            "all Ready",
            "reconciles per MD",
            "operator CPU",
            "POST events per MD (all clients)",
            "load at start",
        ),
        rows,
        "Not the shipped code: each patch stands in for a proposed change (see the analysis), measured "
        "on the same workload against its own baseline run.",
    )


def converge_table(results: dict[str, Any]) -> Table:
    rows = []
    for n in sizes(results):
        op, base = _runs(results, "operator", n), _runs(results, "baseline", n)
        create = _runs(results, "baseline-create", n)
        same = _runs(results, SAME_WORK, n)
        rows.append(
            (
                f"{n:,}",
                median_spread([r["seconds"] for r in op], unit=" s"),
                median_spread([r["seconds"] for r in base], unit=" s"),
                median_spread(_ratios(results, n), digits=2),
                median_spread([r["seconds"] for r in same], unit=" s") if same else "-",
                median_spread(_ratios(results, n, baseline=SAME_WORK), digits=2) if same else "-",
                median_spread([r["seconds"] for r in create], unit=" s") if create else "-",
                median_spread(
                    [r["ready_seconds"] for r in op if r.get("ready_seconds") is not None], unit=" s"
                ),
                median_spread(
                    [r["pods_ready_seconds"] for r in base if r.get("pods_ready_seconds") is not None],
                    unit=" s",
                ),
                f"op {loads(op)}; base {loads(base + create)}",
            )
        )
    return Table(
        "Converge: N ModelDeployments -> children + current observedGeneration",
        (
            "N",
            "operator",
            "baseline (SSA)",
            "ratio op/base",
            "baseline (same work)",
            "ratio op/same work",
            "baseline (POST)",
            "operator: all Ready",
            "baseline: pods Ready",
            "load at start",
        ),
        rows,
        "Baseline (SSA): the same children per ModelDeployment (a Deployment, 2 Services, a PodDisruptionBudget), rendered by render_all and "
        "server-side applied by a direct client with the operator's concurrency (8); nothing else. "
        "Baseline (same work): per ModelDeployment, the same client creates the ModelDeployment, applies "
        "its children and writes one status with the current observedGeneration, so both sides do the "
        "same work; the operator run's ModelDeployments are created by the benchmark, outside the operator.",
    )


def _per_md(run: dict[str, Any], match: Any) -> float:
    return sum(v for k, v in run["requests"].items() if match(k)) / run["count"]


def _is_event(key: str) -> bool:
    return key in ("POST events", "PATCH events")


def _is_status(key: str) -> bool:
    return key == "PATCH modeldeployments/status"


def _is_apply(key: str) -> bool:
    return key.startswith("APPLY ")


def operator_events_per_md(op: dict[str, Any], base: dict[str, Any]) -> float:
    """Events the operator posted (or counted again) per ModelDeployment: read from its own Events
    when the run recorded them, else the operator run's Event requests less the baseline run's (the
    scheduler and the Deployment controllers post the same, give or take a few per cent)."""
    if op.get("own_events") is not None:
        return float(op["own_events"]) / op["count"]
    return _per_md(op, _is_event) - _per_md(base, _is_event)


def _paired(results: dict[str, Any], n: int) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    return list(zip(_runs(results, "operator", n), _runs(results, "baseline", n), strict=False))


def cost_table(results: dict[str, Any]) -> Table:
    """Requests per ModelDeployment by what they are for, next to the floor the work needs."""
    rows = []
    for n in sizes(results):
        pairs = _paired(results, n)
        if not pairs:
            continue
        ops = [op for op, _ in pairs]
        children = max(_per_md(base, _is_apply) for _, base in pairs)
        rows.append(
            (
                f"{n:,}",
                f"{median_spread([operator_events_per_md(op, base) for op, base in pairs], 2)}"
                f" (floor {FLOOR['events']})",
                f"{median_spread([_per_md(op, _is_status) for op in ops], 2)} (floor {FLOOR['status']})",
                f"{median_spread([_per_md(op, _is_apply) for op in ops], 2)} (floor {children:g})",
                median_spread([r["cpu_seconds"] / n * 1000 for r in ops], 1, " ms"),
                median_spread([r["reconciles"] / n for r in ops], 1),
                median_spread(_ratios(results, n, baseline=SAME_WORK), digits=2)
                if _runs(results, SAME_WORK, n)
                else "-",
                median_spread(_ratios(results, n), digits=2),
            )
        )
    return Table(
        "Cost per ModelDeployment: converge until settled",
        (
            "N",
            "Events (POST + PATCH)",
            "status writes",
            "applies",
            "operator CPU",
            "passes",
            "converge ratio, same work",
            "converge ratio, SSA only",
        ),
        rows,
        "Requests from apiserver_request_total, per ModelDeployment. Events: the operator's own, read "
        "from the Events with source modelfleet when settled, one POST per Event and one PATCH per "
        "repeat counted on it (runs that did not record them: the operator run's Event requests less "
        "the baseline run's). The floor is what the work strictly "
        "needs: its children (as many as the SSA baseline applies: a Deployment, two Services, a PodDisruptionBudget), one status write, one Event. Settled: every ModelDeployment Ready "
        "and 3 s without a write by any client.",
    )


def latency_table(results: dict[str, Any]) -> Table:
    rows: list[tuple[str, ...]] = []
    if not results.get("latency"):
        return Table("Latency", ("path",), rows)
    for label, field in (("apply -> children", "children_seconds"), ("apply -> Ready", "ready_seconds")):
        runs = results.get("latency", [])
        p50 = [percentile(r[field], 50) for r in runs]
        p99 = [percentile(r[field], 99) for r in runs]
        samples = sum(len(r[field]) for r in runs)
        rows.append(
            (
                label,
                median_spread([v * 1000 for v in p50], 0, " ms"),
                median_spread([v * 1000 for v in p99], 0, " ms"),
                str(samples),
                loads(runs),
            )
        )
    return Table(
        "Latency on an idle operator (one ModelDeployment at a time)",
        ("path", "p50", "p99", "samples", "load at start"),
        rows,
    )


def resources_table(results: dict[str, Any]) -> Table:
    rows = []
    for n in sizes(results):
        op = _runs(results, "operator", n)
        if not op:
            continue
        per_md = [r["cpu_seconds"] / n * 1000 for r in op]
        rows.append(
            (
                f"{n:,}",
                median_spread([r["peak_rss_bytes"] / MIB for r in op], 0, " MiB"),
                median_spread([r["idle_rss_bytes"] / MIB for r in op], 0, " MiB"),
                median_spread([r["cpu_seconds"] for r in op], 1, " s"),
                median_spread(per_md, 1, " ms"),
                median_spread([r["reconciles"] / n for r in op], 1),
            )
        )
    return Table(
        "Operator memory and CPU (converge until settled)",
        (
            "N",
            "peak RSS (VmHWM)",
            "RSS idle before",
            "CPU",
            "CPU per ModelDeployment",
            "reconciles per ModelDeployment",
        ),
        rows,
    )


def _largest_operator_run(results: dict[str, Any]) -> dict[str, Any] | None:
    op = [r for r in results.get("converge", []) if r["mode"] == "operator" and not r.get("what_if")]
    return max(op, key=lambda r: r["count"]) if op else None


def api_table(results: dict[str, Any]) -> Table:
    """Requests by verb and resource, operator run against baseline run, for the largest N."""
    op = _largest_operator_run(results)
    if op is None:
        return Table("API requests", ("verb resource",), [])
    n = op["count"]
    base = next(iter(_runs(results, "baseline", n)), {"requests": {}})
    reconciles = max(1, op["reconciles"] or 0)
    keys = sorted(set(op["requests"]) | set(base["requests"]), key=lambda k: (-op["requests"].get(k, 0), k))
    rows = [
        (
            k,
            f"{op['requests'].get(k, 0):,}",
            f"{base['requests'].get(k, 0):,}",
            f"{(op['requests'].get(k, 0) - base['requests'].get(k, 0)) / n:.2f}",
            f"{op['requests'].get(k, 0) / reconciles:.2f}",
        )
        for k in keys
        if "leases" not in k and "nodes" not in k and not k.startswith("WATCH")
    ]
    return Table(
        f"API requests, converge of N = {n:,} until settled ({op['reconciles']:,} reconciles)",
        (
            "verb resource",
            "operator run",
            "baseline run",
            "difference per ModelDeployment",
            "operator run per reconcile",
        ),
        rows,
        "From apiserver_request_total (every client). The operator run includes the benchmark's own "
        "POST of each ModelDeployment and the controllers' work on the pods, as the baseline run does; "
        "node leases and node status (kwok heartbeats) are left out.",
    )


def steady_table(results: dict[str, Any]) -> Table:
    rows = []
    for r in results.get("converge", []):
        steady = r.get("steady")
        if r["mode"] != "operator" or not steady or r.get("what_if"):
            continue
        written = sum(steady["writes"].values())
        rows.append(
            (
                f"{r['count']:,}",
                f"{steady['seconds']:.0f} s",
                f"{steady['reconciles']:,}",
                f"{written}"
                + (f" ({', '.join(f'{k}: {v}' for k, v in steady['writes'].items())})" if written else ""),
                f"{steady['cpu_seconds']:.1f} s ({100 * steady['cpu_seconds'] / steady['seconds']:.1f}% of a core)",
                f"{steady['peak_rss_bytes'] / MIB:.0f} MiB",
            )
        )
    return Table(
        "Steady state: every ModelDeployment Healthy, nothing changes",
        (
            "N",
            "window",
            "reconciles (resync)",
            "writes (all clients, heartbeats excluded)",
            "operator CPU",
            "peak RSS",
        ),
        rows,
    )


def planner_table(results: dict[str, Any]) -> Table:
    rows = []
    for processes in (1, 2):
        runs = [r for r in results.get("planner", []) if r["processes"] == processes]
        if runs:
            rows.append(
                (
                    f"{processes} process{'es' if processes > 1 else ''}",
                    median_spread([r["per_cpu_second"] for r in runs], 0),
                    median_spread([r["per_wall_second"] for r in runs], 0),
                    loads(runs),
                )
            )
    return Table(
        "Planner throughput (bench/plan_throughput.py)",
        ("run", "plans/s (CPU time)", "plans/s (wall)", "load at start"),
        rows,
    )


def rollout_table(results: dict[str, Any]) -> Table:
    runs = results.get("rollouts", [])
    rows = []
    names = sorted(
        {name for r in runs for name in r["step_seconds"]},
        key=lambda s: (
            ["start", "setWeight"].index(s.split()[0])
            if s.split()[0] in ("start", "setWeight")
            else 2
            if s.startswith("pause")
            else 3
        ),
    )
    for name in names + ["total"]:
        values = [
            v for r in runs for v in (r["total_seconds"] if name == "total" else r["step_seconds"][name])
        ]
        rows.append(
            (
                name,
                f"{percentile(values, 50):.2f} s",
                f"{percentile(values, 99):.2f} s",
                f"{min(values):.2f}-{max(values):.2f} s",
                str(len(values)),
            )
        )
    count = runs[0]["count"] if runs else 0
    return Table(
        f"Rollouts: {count} concurrent canaries (setWeight 50, pause, promote)",
        ("step", "p50", "p99", "min-max", "samples"),
        rows,
        f"load at start: {loads(runs)}",
    )


def targets(results: dict[str, Any], big: int = 1000) -> list[Target]:
    out = []
    same = _ratios(results, big, baseline=SAME_WORK)
    out.append(_at_most("converge ratio at N = 1,000, same work", same, 1.5, "{:.2f}"))
    ratios = _ratios(results, big)
    out.append(
        Target(
            "converge ratio at N = 1,000, SSA only (the first definition)",
            "<= 1.5 (aim 1.2)",
            f"{statistics.median(ratios):.2f}" if ratios else "not measured",
            statistics.median(ratios) <= 1.5 if ratios else None,
        )
    )
    small = 100
    events = [operator_events_per_md(op, base) for n in (small, big) for op, base in _paired(results, n)]
    out.append(_at_most("Events per ModelDeployment (N = 100 and 1,000)", events, 2, "{:.2f}", worst=True))
    status = [_per_md(op, _is_status) for op in _runs(results, "operator", small)]
    out.append(_at_most("status writes per ModelDeployment at N = 100", status, 2, "{:.2f}"))
    cpu_small = [r["cpu_seconds"] / small * 1000 for r in _runs(results, "operator", small)]
    cpu_big = [r["cpu_seconds"] / big * 1000 for r in _runs(results, "operator", big)]
    out.append(_at_most("operator CPU per ModelDeployment at N = 100", cpu_small, 20, "{:.1f} ms"))
    out.append(_at_most("operator CPU per ModelDeployment at N = 1,000", cpu_big, 30, "{:.1f} ms"))
    growth = [statistics.median(cpu_big) / statistics.median(cpu_small)] if cpu_small and cpu_big else []
    out.append(_at_most("CPU per ModelDeployment, N = 1,000 / N = 100", growth, 1.2, "{:.2f}"))
    steady = [
        r["steady"]
        for r in results.get("converge", [])
        if r["mode"] == "operator" and r.get("steady") and not r.get("what_if")
    ]
    writes = [sum(s["writes"].values()) for s in steady]
    out.append(
        Target(
            "steady-state writes",
            "0",
            ", ".join(map(str, writes)) or "not measured",
            all(w == 0 for w in writes) if writes else None,
        )
    )
    rss = [r["peak_rss_bytes"] / MIB for r in _runs(results, "operator", big)]
    out.append(
        Target(
            "operator peak RSS at N = 1,000",
            "<= 200 MiB",
            f"{statistics.median(rss):.0f} MiB" if rss else "not measured",
            statistics.median(rss) <= 200 if rss else None,
        )
    )
    p50 = [percentile(r["children_seconds"], 50) for r in results.get("latency", [])]
    out.append(
        Target(
            "p50 apply -> children",
            "<= 1 s",
            f"{statistics.median(p50) * 1000:.0f} ms" if p50 else "not measured",
            statistics.median(p50) <= 1.0 if p50 else None,
        )
    )
    plans = [r["per_cpu_second"] for r in results.get("planner", []) if r["processes"] == 2]
    out.append(
        Target(
            "planner, 2 processes (CPU time)",
            ">= 10,000 plans/s",
            f"{statistics.median(plans):,.0f} plans/s" if plans else "not measured",
            statistics.median(plans) >= 10_000 if plans else None,
        )
    )
    return out


def _at_most(name: str, values: list[float], goal: float, shown: str, worst: bool = False) -> Target:
    """A target met when the median (or, with `worst`, the largest) of `values` is at most `goal`."""
    wanted = f"<= {goal:g}" + (" ms" if shown.endswith(" ms") else "")
    if not values:
        return Target(name, wanted, "not measured", None)
    value = max(values) if worst else statistics.median(values)
    return Target(name, wanted, shown.format(value), value <= goal)


def decide_table(results: dict[str, Any]) -> Table:
    rows = []
    runs = [r for r in results.get("decide", []) if not r.get("libyaml")]
    if runs:
        rows.append(
            (
                ", ".join(sorted({r.get("commit") or "?" for r in runs})),
                median_spread([r["ms"]["first pass"] for r in runs], 2, " ms"),
                median_spread([r["ms"]["steady pass"] for r in runs], 2, " ms"),
                loads(runs),
            )
        )
    return Table(
        "CPU of the pure decision per reconcile pass (bench/decide_cost.py; 160 nodes, 1,000 GPU pods)",
        ("operator code", "first pass (renders)", "steady pass (nothing to do)", "load at start"),
        rows,
        "A first pass plans and renders; a steady pass finds its objects in the render memo and only "
        "compares spec-hashes (with 1,000 ModelDeployments and resyncSeconds 300: ~3 such passes a "
        "second).",
    )


def all_tables(results: dict[str, Any]) -> list[Table]:
    tables = [
        converge_table(results),
        cost_table(results),
        latency_table(results),
        api_table(results),
        steady_table(results),
        resources_table(results),
        decide_table(results),
        planner_table(results),
        what_if_table(results),
    ]
    if results.get("rollouts"):
        tables.append(rollout_table(results))
    return [t for t in tables if t.rows]


def target_table(results: dict[str, Any]) -> Table:
    marks = {True: "met", False: "NOT met", None: "not measured"}
    return Table(
        "Targets (2-core machine)",
        ("target", "goal", "measured", "result"),
        [(t.name, t.goal, t.measured, marks[t.met]) for t in targets(results)],
    )


def as_text(table: Table) -> str:
    widths = [max(len(h), *(len(r[i]) for r in table.rows)) for i, h in enumerate(table.header)]
    lines = [
        table.title,
        "  ".join(h.ljust(w) for h, w in zip(table.header, widths, strict=True)),
        "  ".join("-" * w for w in widths),
    ]
    lines += ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) for row in table.rows]
    return "\n".join(lines + ([table.note] if table.note else []))


def as_markdown(table: Table, level: str = "###") -> str:
    lines = [
        f"{level} {table.title}",
        "",
        "| " + " | ".join(table.header) + " |",
        "|" + "|".join(" --- " for _ in table.header) + "|",
    ]
    lines += ["| " + " | ".join(row) + " |" for row in table.rows]
    return "\n".join(lines + (["", table.note] if table.note else []))
