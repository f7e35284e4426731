"""``python -m bench``: run the fleet-scale benchmarks, print the tables, keep the results, write the doc.

    python -m bench --smoke                          # tiny N on one small cluster, well under a minute
    python -m bench                                  # everything, as in docs/BENCHMARKS.md (about 1.5 h)
    python -m bench --only converge --sizes 1000 --repeat 3 --steady-seconds 300
    python -m bench --only converge --sizes 100,1000 --repeat 1 --profile /tmp/profiles
    python -m bench --report                         # print the tables and rewrite the doc from results

Results are merged into ``bench/results.json`` (a rerun of one section or one N replaces only those
records) and ``docs/BENCHMARKS.md`` is regenerated from them, keeping its hand-written analysis.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from bench import clusters as bench_clusters
from bench import coldstart, decide_cost, doc, environment, report, snapshot, whatif
from bench import profile as bench_profile
from bench.clusters import FLEET, SMOKE_FLEET, ClusterSource, fresh, shared
from bench.converge import run_baseline, run_operator
from bench.latency import run_latency
from bench.operator import DEFAULT_CONFIG, BenchOperator
from bench.rollouts import run_rollouts
from bench.workload import Workload
from testbed.cluster import REPO, LocalCluster
from testbed.progress import Progress

SECTIONS = ("planner", "latency", "converge", "rollouts", "coldstart")
RESULTS = REPO / "bench" / "results.json"
DOC = REPO / "docs" / "BENCHMARKS.md"
# The steady-state window starts when the run settled; each ModelDeployment's last pass came before
# that, so a resync period and a little more holds the next resync of every one of them.
STEADY_SECONDS = float(DEFAULT_CONFIG["resyncSeconds"]) + 30


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=(__doc__ or "").splitlines()[0])
    parser.add_argument(
        "--smoke", action="store_true", help="tiny N on one small shared cluster; no files written"
    )
    parser.add_argument("--only", default=",".join(SECTIONS), help=f"comma-separated sections of {SECTIONS}")
    parser.add_argument("--sizes", default="100,1000", help="converge: numbers of ModelDeployments")
    parser.add_argument("--repeat", type=int, default=3, help="converge, latency, planner: runs per figure")
    parser.add_argument("--concurrency", type=int, default=8, help="operator workers = baseline threads")
    parser.add_argument("--replicas", type=int, default=1, help="converge: replicas per ModelDeployment")
    parser.add_argument(
        "--steady-seconds",
        type=float,
        default=STEADY_SECONDS,
        help="steady-state window after the last operator run of each N, from the moment it settled "
        "(0: skip); the default holds a resync of every ModelDeployment",
    )
    parser.add_argument(
        "--profile", type=Path, help="py-spy the last operator run of each N into this directory"
    )
    parser.add_argument(
        "--what-if",
        default="",
        help=f"converge only: patch the operator ({', '.join(whatif.PATCHES)}),"
        " stored apart from the shipped figures",
    )
    parser.add_argument("--baseline-create", action="store_true", help="also a POST baseline (once per N)")
    parser.add_argument("--latency-samples", type=int, default=50)
    parser.add_argument("--canaries", type=int, default=100)
    parser.add_argument("--pause-seconds", type=int, default=10)
    parser.add_argument("--planner-seconds", type=float, default=3.0)
    parser.add_argument(
        "--max-load", type=float, default=1.0, help="wait for this 1-minute load before a run"
    )
    parser.add_argument(
        "--initial-load-wait-minutes",
        type=float,
        default=30,
        help="before the first run: wait this long at most for --max-load",
    )
    parser.add_argument(
        "--max-load-wait-minutes",
        type=float,
        default=5,
        help="before each later run (a cool-down after the previous one)",
    )
    parser.add_argument("--results", type=Path, help=f"results file (default {RESULTS.relative_to(REPO)})")
    parser.add_argument("--doc", type=Path, help=f"doc to write (default {DOC.relative_to(REPO)})")
    parser.add_argument("--no-doc", action="store_true", help="do not write the doc")
    parser.add_argument("--report", action="store_true", help="only print the tables and write the doc")
    parser.add_argument("--commit", default="HEAD", help="the commit of operator/ and templates/ to measure")
    args = parser.parse_args(argv)
    if args.smoke:
        args.sizes, args.repeat, args.steady_seconds = "3", 1, 3
        args.latency_samples, args.canaries, args.pause_seconds, args.planner_seconds = 3, 2, 1, 0.2
    return args


def say(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def load_results(path: Path | None) -> dict[str, Any]:
    return json.loads(path.read_text()) if path is not None and path.exists() else {}


def save_results(path: Path | None, results: dict[str, Any]) -> None:
    if path is not None:
        path.write_text(json.dumps(results, indent=1, sort_keys=True) + "\n")


PLANNER_RUN = """\
import json, sys
from bench import plan_throughput as p
seconds, processes = float(sys.argv[1]), int(sys.argv[2])
r = p.run(seconds) if processes == 1 else p.run_parallel(processes, seconds)
print(json.dumps({"plans": r.plans, "per_cpu_second": r.per_cpu_second, "per_wall_second": r.per_wall_second}))
"""


def code_environment() -> dict[str, str]:
    """A child interpreter that imports the session's operator snapshot (and finds ``bench``)."""
    code = BenchOperator.code
    if code is None:
        return dict(os.environ)
    paths = [code.environment()["PYTHONPATH"], str(REPO), os.environ.get("PYTHONPATH", "")]
    return dict(
        os.environ,
        PYTHONPATH=os.pathsep.join(paths).rstrip(os.pathsep),
        MODELFLEET_TEMPLATES_DIR=code.environment()["MODELFLEET_TEMPLATES_DIR"],
    )


def run_planner(args: argparse.Namespace, progress: Progress) -> list[dict[str, Any]]:
    """bench/plan_throughput.py, 1 and 2 processes, on the session's snapshot of the planner."""
    runs = []
    for _ in range(args.repeat):
        for processes in (1, 2):
            load = environment.loadavg()  # CPU-time figures: no cool-down needed
            out = subprocess.run(
                [sys.executable, "-c", PLANNER_RUN, str(args.planner_seconds), str(processes)],
                capture_output=True,
                text=True,
                check=True,
                env=code_environment(),
                cwd=REPO,
            )
            result = json.loads(out.stdout.strip().splitlines()[-1])
            runs.append(stamped({"processes": processes, **result, "loadavg_at_start": load}))
            progress.step_done(
                f"planner, {processes} process(es): {result['per_cpu_second']:,.0f} plans/s (CPU time)"
            )
    return runs


def stamped(record: dict[str, Any]) -> dict[str, Any]:
    """A result record with the commit of the operator code it measured."""
    record["commit"] = BenchOperator.code.commit if BenchOperator.code else "working tree"
    return record


def run_decide_cost(args: argparse.Namespace, progress: Progress) -> list[dict[str, Any]]:
    """CPU of the pure decision per reconcile pass: a first pass (renders) and a steady one (memo)."""
    runs = []
    passes = 20 if args.smoke else 300
    for _ in range(args.repeat):
        load = environment.loadavg()
        runs.append(
            stamped({"ms": decide_cost.run_subprocess(passes, code_environment()), "loadavg_at_start": load})
        )
    progress.step_done(f"decide(): {runs[0]['ms']}")
    return runs


def run_converge(
    args: argparse.Namespace,
    clusters: ClusterSource,
    results: dict[str, Any],
    save: Callable[[], None],
    progress: Progress,
) -> None:
    sizes = [int(s) for s in args.sizes.split(",") if s]
    what_if = args.what_if
    results["converge"] = [
        r for r in results.get("converge", []) if r["count"] not in sizes or r.get("what_if", "") != what_if
    ]
    for n in sizes:
        for rep in range(args.repeat):
            tag = f"n{n}r{rep}"
            work = Workload(
                count=n, replicas=args.replicas, name_prefix="md", namespace_prefix=f"bench-{tag}"
            )
            base = Workload(count=n, replicas=args.replicas, name_prefix="md", namespace_prefix=f"base-{tag}")
            same = Workload(count=n, replicas=args.replicas, name_prefix="md", namespace_prefix=f"same-{tag}")
            runs = [run_baseline(clusters, base, args.concurrency)]
            runs[0].what_if = what_if
            if not what_if:
                runs.append(run_baseline(clusters, same, args.concurrency, verb="same-work"))
            if args.baseline_create and rep == 0:
                create = Workload(count=n, replicas=args.replicas, namespace_prefix=f"post-{tag}")
                runs.append(run_baseline(clusters, create, args.concurrency, verb="create"))
            for run in runs:
                say(
                    f"converge N={n} run {rep + 1}/{args.repeat} {run.mode}: {run.seconds:.1f} s "
                    f"(load {run.loadavg_at_start[0]:.2f})"
                )
            last = rep == args.repeat - 1
            steady = args.steady_seconds if last else 0
            profile = args.profile / f"operator-n{n}.txt" if args.profile and last else None
            runs.append(
                run_operator(
                    clusters,
                    work,
                    args.concurrency,
                    steady_seconds=steady,
                    what_if=what_if,
                    profile_to=profile,
                )
            )
            if profile is not None and profile.exists():
                text = profile.read_text()
                ours = bench_profile.summary(text, top=15)
                where = bench_profile.by_module(text, top=15)
                say(f"profile N={n} ({profile}), ours: " + "; ".join(f"{f} {p:.0%}" for f, p in ours))
                say(f"profile N={n}, by module: " + "; ".join(f"{f} {p:.0%}" for f, p in where))
            progress.step_done(
                f"converge N={n} run {rep + 1}/{args.repeat} operator {what_if}: {runs[-1].seconds:.1f} s "
                f"(load {runs[-1].loadavg_at_start[0]:.2f})"
            )
            results["converge"] += [stamped(r.to_json()) for r in runs]
            save()


@contextlib.contextmanager
def cluster_source(args: argparse.Namespace) -> Iterator[ClusterSource]:
    if args.smoke:
        with LocalCluster(fleet_file=SMOKE_FLEET, quiet=True) as cluster:
            yield shared(cluster)
    else:
        yield fresh(FLEET, max_load=args.max_load, max_wait_seconds=args.max_wait_seconds)


def run_sections(args: argparse.Namespace, results: dict[str, Any], save: Callable[[], None]) -> None:
    sections = [s for s in args.only.split(",") if s]
    unknown = set(sections) - set(SECTIONS)
    if unknown:
        raise SystemExit(f"--only: unknown sections {sorted(unknown)}; choose from {SECTIONS}")
    progress = Progress(planned_steps(args, sections), say)
    if "coldstart" in sections:  # arithmetic: no cluster, no load to wait for, no machine to record
        results["coldstart"] = coldstart.records()
        progress.step_done(f"coldstart: {len(results['coldstart'])} models")
        save()
    if not set(sections) - {"coldstart"}:
        return
    results["meta"] = environment.describe(BenchOperator.code.commit if BenchOperator.code else None)
    if args.initial_wait_seconds > 0:
        environment.wait_for_load(args.max_load, args.initial_wait_seconds, say)
    if "planner" in sections:
        results["planner"] = run_planner(args, progress)
        results["decide"] = run_decide_cost(args, progress)
        save()
    needs_cluster = [s for s in sections if s not in ("planner", "coldstart")]
    if not needs_cluster:
        return
    with cluster_source(args) as clusters:
        if "latency" in sections:
            results["latency"] = []
            for rep in range(1 if args.smoke else args.repeat):
                run = run_latency(clusters, args.latency_samples, namespace_prefix=f"bench-lat{rep}")
                progress.step_done(f"latency run {rep + 1}: {len(run.children_seconds)} samples")
                results["latency"].append(stamped(run.to_json()))
                save()
        if "converge" in sections:
            run_converge(args, clusters, results, save, progress)
        if "rollouts" in sections:
            run = run_rollouts(clusters, args.canaries, args.pause_seconds, args.concurrency)
            progress.step_done(f"rollouts: {args.canaries} canaries")
            results["rollouts"] = [stamped(run.to_json())]
            save()


def planned_steps(args: argparse.Namespace, sections: list[str]) -> int:
    """The runs that report progress: each planner run (1 and 2 processes per repeat) and the decide
    cost, each latency run, each operator run of converge (its baselines go with it), the rollouts."""
    sizes = [s for s in args.sizes.split(",") if s]
    return (
        ("planner" in sections) * (2 * args.repeat + 1)
        + ("latency" in sections) * (1 if args.smoke else args.repeat)
        + ("converge" in sections) * len(sizes) * args.repeat
        + ("rollouts" in sections)
        + ("coldstart" in sections)
    )


def output_paths(args: argparse.Namespace) -> tuple[Path | None, Path | None]:
    """Where results and the doc go; --smoke writes neither unless told to."""
    results = args.results if args.results or args.smoke else RESULTS
    document = None if args.no_doc or (args.smoke and not args.doc) else (args.doc or DOC)
    return results, document


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    args.max_wait_seconds = 0 if args.smoke else args.max_load_wait_minutes * 60
    args.initial_wait_seconds = 0 if args.smoke else args.initial_load_wait_minutes * 60
    results_path, doc_path = output_paths(args)
    if args.smoke:
        BenchOperator.quiet_seconds = bench_clusters.QUIET_WINDOW_SECONDS = 1.0  # tiny N settles at once
    # A plain `kill` must still stop the clusters and operators this process started (by their PIDs).
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    results = load_results(results_path)
    if not args.report:
        BenchOperator.code = snapshot.take(args.commit)
        say(f"operator code: commit {BenchOperator.code.commit} ({BenchOperator.code.root})")
        try:
            run_sections(args, results, lambda: save_results(results_path, results))
        finally:
            BenchOperator.code.remove()
    for table in [*report.all_tables(results), report.target_table(results), *coldstart.tables(results)]:
        print(report.as_text(table), end="\n\n")
    if doc_path is not None:
        doc.write(doc_path, results)
        say(f"wrote {doc_path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
