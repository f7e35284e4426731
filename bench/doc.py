"""docs/BENCHMARKS.md from the stored results. The figures are regenerated on every write; the
hand-written analysis between the ANALYSIS markers is carried over from the existing file."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from bench import coldstart, report

BEGIN, END = "<!-- BEGIN ANALYSIS (kept when the figures are regenerated) -->", "<!-- END ANALYSIS -->"
PLACEHOLDER = "_No analysis written yet._"

HOW_TO_RERUN = """\
```
make bench                                   # everything below (about 2 h on 2 cores) -> this file
.venv/bin/python -m bench --smoke            # tiny N on one small cluster, under a minute, writes nothing
.venv/bin/python -m bench --only converge --sizes 1000 --repeat 1 --steady-seconds 60   # a quick look
.venv/bin/python -m bench --only converge --sizes 100,1000 --repeat 1 --profile /tmp/prof   # py-spy it
.venv/bin/python -m bench --report           # reprint the tables and rewrite this file from bench/results.json
```

Each run starts its own local control plane (`testbed.cluster.LocalCluster`) on `bench/fleet-large.yaml`
(160 kwok nodes x 8 H100-80GB) and the operator as a real `modelfleet run` process (product defaults:
`workers: 8`, `resyncSeconds: 300`, info logging). Before each cluster starts, the runner waits (up to
`--max-load-wait-minutes`, default 30) for the 1-minute load average to fall to `--max-load` (1.0), and
records the load when the measurement starts next to every figure. Raw numbers: `bench/results.json`.
Which client made which request (evidence for the analysis) comes from `bench/audit.py`: a cluster
whose API server writes an audit log, summarised per client; it costs the API server time, so no
figure comes from an audited run. After each measured run the runner prints how many are done, the time
elapsed and an estimate of the time left (`[5/13 done, 6:12 elapsed, about 9:55 left]`, on stderr).
"""

METHOD = """\
- **Workload.** Every ModelDeployment serves `Qwen/Qwen3.5-9B` on `accelerator.type: H100-80GB` (one GPU
  per replica, `maxModelLen: 8192`) with `replicas: 1`, spread over 10 namespaces. Real pods, not
  `replicas: 0`: at fleet scale the operator's indexes hold every pod and its reconciles react to pods
  becoming Ready, and that is part of what it costs. The benchmark therefore has its own fleet file with
  capacity to spare (1,280 GPUs), so no ModelDeployment ever waits for capacity.
- **Converge.** The clock starts before the first create and stops when a watch has shown every child
  (the Deployment and both Services) and, for the operator, a status whose `observedGeneration` is
  current. The baseline sends exactly the same children (rendered by `modelfleet.render.render_all`,
  before the clock starts) with server-side apply as field manager `modelfleet` (the request the
  operator makes) from 8 threads (the operator's 8 workers), through the operator's own REST client, and
  nothing else. A second baseline does the same work as the operator's run: per ModelDeployment the
  same client creates the ModelDeployment, applies its children and writes one status with the
  current `observedGeneration` (converged when that status is seen, as for the operator). Each
  repetition runs both baselines and then the operator on fresh clusters; the ratios are taken per
  repetition.
- **API efficiency.** `apiserver_request_total` from the API server's `/metrics` before and after
  (settled = every ModelDeployment Ready and 3 s without a write by any client). It counts every
  client, so both runs include the controllers' work on the same pods; the difference is what the
  operator adds. The floor per ModelDeployment is what the work strictly needs: its children
  (applies: a Deployment, two Services and a PodDisruptionBudget, as many as the baseline applies),
  one status write and one Event. The operator's own Events are read from the Events themselves
  (`source=modelfleet`, one POST per Event plus its `count` - 1 repeats), so the controllers' Events,
  which vary by a few per cent from run to run, do not blur the figure.
- **Steady state.** Right after the last operator run of each N settled (within seconds of the last
  ModelDeployment becoming Ready, before most of them see their first resync), every write in the
  window by any client, leaving out only kwok's node leases and node status heartbeats.
- **Memory and CPU.** `VmHWM` of `/proc/<pid>/status` and utime + stime of `/proc/<pid>/stat` of the
  operator process, from before the first create until settled.
- **Profile.** With `--profile DIR`, py-spy (a sampling profiler from PyPI: every thread, 50 samples a
  second, without pausing the process, and only the thread holding the interpreter lock, so the
  samples are where the CPU goes, not where threads wait) records the last operator run of each N from the first create until
  settled; the runner prints the functions with the largest share of samples.
"""


COLD_START_INTRO = """\
How long a model takes to serve, from the bytes it weighs and stated bandwidths: computed by
`python -m bench --only coldstart` (`bench/coldstart.py`, arithmetic in `modelfleet.render.coldstart`),
not measured (the test bed has no GPUs). Every assumption is in the first table; change one in
`ColdStartRates` and rerun to see its effect. The weight cache is described in docs/weights.md."""


def kept_analysis(path: Path) -> str:
    if not path.exists():
        return PLACEHOLDER
    match = re.search(re.escape(BEGIN) + r"\n(.*?)\n" + re.escape(END), path.read_text(), re.DOTALL)
    return match.group(1).strip() if match else PLACEHOLDER


def commits(results: dict[str, Any]) -> str:
    """Which operator commits the stored figures measured, section by section."""
    by_section = {}
    for section in ("converge", "latency", "rollouts", "planner", "decide"):
        found = sorted({r.get("commit", "unrecorded") for r in results.get(section, [])})
        if found:
            by_section[section] = ", ".join(found)
    if len(set(by_section.values())) <= 1:
        return f"commit {next(iter(by_section.values()), 'unrecorded')} for every figure"
    return "; ".join(f"{section}: {c}" for section, c in by_section.items())


def meta_lines(meta: dict[str, Any], results: dict[str, Any]) -> list[str]:
    if not meta:
        return ["_Machine and versions not recorded._"]
    machine, versions = meta["machine"], meta["versions"]
    return [
        f"- Operator code measured: {commits(results)}",
        f"- Date: {meta['date']}",
        f"- Machine: {machine['cpu']}, {machine['cores']} cores, {machine['memory_gib']} GiB, "
        f"Linux {machine['kernel']} (shared with other work; see the load averages)",
        "- Versions: " + ", ".join(f"{k} {v}" for k, v in versions.items()),
    ]


def render(results: dict[str, Any], analysis: str) -> str:
    parts = [
        "# Benchmarks",
        "",
        "The operator at fleet scale on the local control plane: how long N ModelDeployments take to converge "
        "against a client that only creates their children, latency on an idle operator, API requests and "
        "writes, memory and CPU, planner throughput and concurrent canaries. Generated by `python -m bench` "
        "(`bench/`); the analysis section is written by hand.",
        "",
        *meta_lines(results.get("meta", {}), results),
        "",
        "## Targets",
        "",
        report.as_markdown(report.target_table(results), "###").split("\n", 2)[2],
        "",
        "## Figures",
        "",
    ]
    for table in report.all_tables(results):
        parts += [report.as_markdown(table), ""]
    cold = coldstart.tables(results)
    if cold:
        parts += ["## Cold start", "", COLD_START_INTRO, ""]
        for table in cold:
            parts += [report.as_markdown(table), ""]
    parts += [
        "## Analysis",
        "",
        BEGIN,
        analysis,
        END,
        "",
        "## Method",
        "",
        METHOD,
        "## How to rerun",
        "",
        HOW_TO_RERUN,
    ]
    return "\n".join(parts)


def write(path: Path, results: dict[str, Any]) -> None:
    path.write_text(render(results, kept_analysis(path)))
