"""The screen of ``kubectl modelfleet get NAME``: a pure function from a :class:`Snapshot` to a rich
renderable, and that renderable as plain text (what a pipe or a test sees).

The layout follows ``kubectl argo rollouts get rollout``: a summary, the canary's step checklist,
the analysis with its measured values, the conditions, then the tree of revisions, their
Deployments / LeaderWorkerSets and pods.
"""

from __future__ import annotations

import io

from rich.console import Console, Group, RenderableType
from rich.table import Table
from rich.text import Text
from rich.tree import Tree

from modelfleet.api.conditions import ConditionStatus, Phase
from modelfleet.api.spec_rollout import RolloutStrategy
from modelfleet.api.status import AnalysisResult, Verdict
from modelfleet.cli.kubectl.snapshot import Pod, Snapshot, Workload
from modelfleet.rollout.steps import describe_step

PHASE_STYLE = {
    Phase.HEALTHY: "green",
    Phase.PROGRESSING: "cyan",
    Phase.PAUSED: "yellow",
    Phase.DEGRADED: "red",
    Phase.FAILED: "bold red",
    Phase.PENDING: "yellow",
}
VERDICT_MARK = {
    Verdict.SUCCESS: ("✔", "green"),
    Verdict.FAILURE: ("✖", "red"),
    Verdict.INCONCLUSIVE: ("?", "yellow"),
    Verdict.ERROR: ("⚠", "red"),
}
DONE, CURRENT, PAUSED, ABORTED, TODO = "✔", "►", "‖", "✖", "○"
PLAIN_WIDTH = 120  # columns of the plain-text view when no terminal says otherwise


def view(snapshot: Snapshot) -> RenderableType:
    """Everything ``get`` shows about one ModelDeployment."""
    parts: list[RenderableType] = [summary(snapshot)]
    steps = step_list(snapshot)
    if steps is not None:
        parts += [Text(""), steps]
    analysis = analysis_table(snapshot)
    if analysis is not None:
        parts += [Text(""), analysis]
    parts += [Text(""), conditions_table(snapshot), Text(""), resource_tree(snapshot)]
    return Group(*parts)


def as_text(renderable: RenderableType, width: int = PLAIN_WIDTH) -> str:
    """The renderable without colours or cursor movement, lines stripped of trailing spaces."""
    buffer = io.StringIO()
    Console(file=buffer, width=width, color_system=None, force_terminal=False, highlight=False).print(
        renderable
    )
    return "\n".join(line.rstrip() for line in buffer.getvalue().splitlines()) + "\n"


def summary(snapshot: Snapshot) -> Table:
    status = snapshot.status
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold")
    grid.add_column()
    phase = status.phase
    grid.add_row("Name:", snapshot.name)
    grid.add_row("Namespace:", snapshot.namespace)
    grid.add_row(
        "Phase:", Text(phase.value if phase else "-", style=PHASE_STYLE.get(phase, "")) if phase else "-"
    )
    if status.message:
        grid.add_row("Message:", status.message)
    grid.add_row("Plan:", plan_line(snapshot))
    grid.add_row("Ready:", status.ready or "-")
    if snapshot.spec is not None:
        grid.add_row("Strategy:", strategy_line(snapshot))
    rollout = status.rollout
    if status.revisions is not None and status.revisions.canary and rollout is not None:
        grid.add_row("Step:", step_line(snapshot))
        grid.add_row("Weight:", weight_line(snapshot))
        if rollout.message and rollout.message != status.message:
            grid.add_row("Rollout:", rollout.message)
    if rollout is not None and rollout.abort_reason:
        grid.add_row("Aborted:", Text(rollout.abort_reason, style="red"))
    for problem in snapshot.problems:
        grid.add_row("Unreadable:", Text(problem, style="red"))
    return grid


def plan_line(snapshot: Snapshot) -> str:
    plan = snapshot.status.plan
    if plan is None:
        return "-"
    if not plan.feasible:
        return "no layout fits: " + ("; ".join(plan.reasons) or "see the Schedulable condition")
    return plan.summary or "-"


def strategy_line(snapshot: Snapshot) -> str:
    assert snapshot.spec is not None
    rollout = snapshot.spec.rollout
    if rollout.strategy is RolloutStrategy.ROLLING_UPDATE:
        return "RollingUpdate"
    routing = rollout.canary.traffic_routing.provider.value
    return f"Canary ({len(rollout.canary.steps)} steps, traffic by {routing})"


def step_line(snapshot: Snapshot) -> str:
    """``2/5`` (1-based, as the step list numbers them), and since when it runs or is paused."""
    rollout = snapshot.status.rollout
    assert rollout is not None
    if rollout.step is None:
        return "-"
    total = len(snapshot.spec.rollout.canary.steps) if snapshot.spec is not None else None
    if total is None:
        text = str(rollout.step + 1)
    elif rollout.step >= total:
        text = f"{total}/{total}, all done"
    else:
        text = f"{rollout.step + 1}/{total}"
    if rollout.paused_at:
        return f"{text} (paused since {rollout.paused_at})"
    return f"{text} (since {rollout.step_started_at})" if rollout.step_started_at else text


def weight_line(snapshot: Snapshot) -> str:
    """The canary's share of traffic, asked and observed, and the stable's remainder.

    >>> from modelfleet.api.status import ModelDeploymentStatus
    >>> status = ModelDeploymentStatus.model_validate(
    ...     {"revisions": {"stable": "a", "canary": "b"}, "rollout": {"weight": 25, "observedWeight": 20}})
    >>> weight_line(Snapshot("m", "ns", None, (), status))
    'canary 25% (observed 20%), stable 75%'
    """
    rollout = snapshot.status.rollout
    weight = rollout.weight if rollout is not None and rollout.weight is not None else 0
    text = f"canary {weight}%"
    if rollout is not None and rollout.observed_weight is not None and rollout.observed_weight != weight:
        text += f" (observed {rollout.observed_weight}%)"
    return f"{text}, stable {100 - weight}%"


def step_list(snapshot: Snapshot) -> Table | None:
    """The canary's checklist: done, current (or paused) and to do. None for a RollingUpdate."""
    spec = snapshot.spec
    if spec is None or spec.rollout.strategy is RolloutStrategy.ROLLING_UPDATE:
        return None
    status = snapshot.status
    in_progress = status.revisions is not None and bool(status.revisions.canary)
    current = status.rollout.step if in_progress and status.rollout is not None else None
    # A manual pause stamps pausedAt; a pause step with no duration holds with the phase Paused only.
    paused = (status.rollout is not None and bool(status.rollout.paused_at)) or status.phase is Phase.PAUSED
    aborted = status.rollout is not None and bool(status.rollout.abort_reason)
    table = Table.grid(padding=(0, 1))
    table.add_column(width=1)
    table.add_column(justify="right")
    table.add_column()
    rows = Table.grid()
    rows.add_row(Text("Steps:", style="bold"))
    for index, step in enumerate(spec.rollout.canary.steps):
        if current is None:
            mark = Text("·")
        elif index < current:
            mark = Text(DONE, style="green")
        elif index == current and aborted:
            mark = Text(ABORTED, style="bold red")
        elif index == current:
            mark = Text(PAUSED if paused else CURRENT, style="bold yellow" if paused else "bold cyan")
        else:
            mark = Text(TODO, style="dim")
        job = " + evaluation job" if step.analysis is not None and step.analysis.job is not None else ""
        table.add_row(mark, f"{index + 1}.", describe_step(step) + job)
    rows.add_row(table)
    return rows


def analysis_table(snapshot: Snapshot) -> Table | None:
    rollout = snapshot.status.rollout
    if rollout is None or not (rollout.analysis or rollout.success_count or rollout.failure_count):
        return None
    rows = Table.grid()
    rows.add_row(
        Text(
            f"Analysis: {rollout.success_count} passed, {rollout.failure_count} failed, "
            f"{rollout.error_count} errors in a row",
            style="bold",
        )
    )
    table = Table.grid(padding=(0, 2))
    for _ in range(5):
        table.add_column()
    for result in rollout.analysis:
        table.add_row(*analysis_row(result))
    rows.add_row(table)
    return rows


def analysis_row(result: AnalysisResult) -> tuple[Text, str, str, str, str]:
    mark, style = VERDICT_MARK[result.verdict]
    value = "no value" if result.value is None else f"{result.value:g}"
    threshold = f"(want {result.threshold})" if result.threshold else ""
    return Text(f"{mark} {result.name}", style=style), value, threshold, result.message, result.at or ""


def conditions_table(snapshot: Snapshot) -> Table:
    rows = Table.grid()
    rows.add_row(Text("Conditions:", style="bold"))
    table = Table.grid(padding=(0, 2))
    for _ in range(4):
        table.add_column()
    if not snapshot.status.conditions:
        rows.add_row(Text("none yet (the operator has not reconciled this object)", style="dim"))
        return rows
    for condition in snapshot.status.conditions:
        good = condition.status is ConditionStatus.TRUE
        if condition.type == "Degraded":
            good = not good
        style = "green" if good else ("yellow" if condition.status is ConditionStatus.UNKNOWN else "red")
        table.add_row(
            condition.type, Text(condition.status.value, style=style), condition.reason, condition.message
        )
    rows.add_row(table)
    return rows


def revision_label(snapshot: Snapshot, revision: str) -> Text:
    """``revision 3f2a9c1d0e  stable  75%``: its role and the share of traffic it should get."""
    revisions = snapshot.status.revisions
    stable = revisions.stable if revisions else None
    canary = revisions.canary if revisions else None
    rollout = snapshot.status.rollout
    canary_weight = rollout.weight if canary and rollout is not None and rollout.weight is not None else 0
    text = Text(f"revision {revision or '(unlabelled)'}")
    if revision == canary:
        text.append("  canary", style="bold cyan").append(f"  {canary_weight}%")
    elif revision == stable:
        text.append("  stable", style="bold green").append(f"  {100 - canary_weight}%")
    else:
        text.append("  old", style="dim")
    return text


def resource_tree(snapshot: Snapshot) -> Tree:
    """ModelDeployment -> revisions (stable first, then canary, then others) -> workloads -> pods."""
    tree = Tree(Text(f"ModelDeployment {snapshot.name}", style="bold"))
    revisions = snapshot.status.revisions
    ordered = [r for r in (revisions.stable, revisions.canary) if r] if revisions else []
    seen = {w.revision for w in snapshot.workloads} | {p.revision for p in snapshot.pods}
    ordered += sorted(seen - set(ordered))
    for revision in ordered:
        branch = tree.add(revision_label(snapshot, revision))
        workloads = [w for w in snapshot.workloads if w.revision == revision]
        pods = [p for p in snapshot.pods if p.revision == revision]
        if not workloads:
            for pod in pods:
                branch.add(pod_label(pod))
            if not pods:
                branch.add(Text("no workload yet", style="dim"))
        for index, workload in enumerate(workloads):
            node = branch.add(workload_label(workload))
            # Every pod of a revision belongs to its one workload; list them under the first.
            for pod in pods if index == 0 else []:
                node.add(pod_label(pod))
    return tree


def workload_label(workload: Workload) -> Text:
    ready = workload.ready_replicas >= workload.replicas
    return Text(f"{workload.kind} {workload.name}  ").append(
        f"{workload.ready_replicas}/{workload.replicas} ready", style="green" if ready else "yellow"
    )


def pod_label(pod: Pod) -> Text:
    state = f"{pod.phase}, {'ready' if pod.ready else 'not ready'}"
    style = "green" if pod.ready else ("red" if pod.phase in ("Failed", "Unknown") else "yellow")
    text = Text(f"Pod {pod.name}  ").append(state, style=style)
    return text.append(f"  on {pod.node}", style="dim") if pod.node else text
