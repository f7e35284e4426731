"""The screen of ``kubectl modelfleet explain NAME``: the plan in status as a memory bar per GPU of a
replica, and the layouts the planner rejected with its reasons (no I/O here).

The plan in status carries the chosen layout and its memory per GPU; the rejected alternatives are
not stored on the object (they would fill it), so the caller plans the spec again with the built-in
catalog and passes them in.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from modelfleet.api.status import PlanMemory, PlanStatus
from modelfleet.catalog.types import GIB
from modelfleet.cli.kubectl.snapshot import Snapshot
from modelfleet.planner.report import describe_layout
from modelfleet.planner.types import Rejected

BAR_WIDTH = 50  # characters for the usable memory of one GPU
# (label, character, style) per share of a GPU's usable memory; the characters tell them apart in plain text
SHARES = (
    ("weights", "█", "blue"),
    ("KV cache", "▓", "magenta"),
    ("overhead", "▒", "yellow"),
    ("free", "░", "dim"),
)


def explain(snapshot: Snapshot, rejected: Sequence[Rejected], rejected_shown: int = 8) -> RenderableType:
    plan = snapshot.status.plan
    if plan is None:
        return Text(f"{snapshot.name} has no plan yet: the operator has not reconciled it")
    parts: list[RenderableType] = [Text(f"Plan of {snapshot.name}: {plan_title(plan)}", style="bold")]
    parts.append(bullets(plan.reasons))
    if plan.memory is not None and plan.gpus_per_replica:
        parts += [Text(""), memory_bars(plan.memory, plan.gpus_per_replica, plan.gpu_type or "GPU")]
    if rejected:
        shown = list(rejected)[:rejected_shown]
        parts += [Text(""), Text(f"Rejected alternatives ({len(shown)} of {len(rejected)}):", style="bold")]
        parts.append(bullets(f"{describe_layout(r.candidate)}: {r.reason}" for r in shown))
    return Group(*parts)


def bullets(lines: Iterable[str]) -> Table:
    """``  - line``, a wrapped line indented under the text, not under the dash."""
    table = Table.grid(padding=(0, 1))
    table.add_column(width=3, justify="right")
    table.add_column()
    for line in lines:
        table.add_row("-", line)
    return table


def plan_title(plan: PlanStatus) -> str:
    if not plan.feasible:
        return "no layout fits"
    return plan.summary or f"{plan.gpus_per_replica} x {plan.gpu_type}"


def shares_bytes(memory: PlanMemory) -> tuple[int, int, int, int]:
    """Weights, KV cache, overhead and what is left of the usable memory of one GPU (never negative).

    >>> shares_bytes(PlanMemory(weightsBytes=40, kvCacheBytes=30, overheadBytes=10, usableBytes=100))
    (40, 30, 10, 20)
    """
    used = memory.weights_bytes + memory.kv_cache_bytes + memory.overhead_bytes
    return (
        memory.weights_bytes,
        memory.kv_cache_bytes,
        memory.overhead_bytes,
        max(memory.usable_bytes - used, 0),
    )


def bar(memory: PlanMemory, width: int = BAR_WIDTH) -> Text:
    """One GPU's usable memory as ``width`` characters, each share rounded to whole characters.

    >>> bar(PlanMemory(weightsBytes=40, kvCacheBytes=30, overheadBytes=10, usableBytes=100), 10).plain
    '████▓▓▓▒░░'
    """
    shares = shares_bytes(memory)
    total = max(sum(shares), 1)
    text = Text()
    drawn = 0
    for index, ((_, char, style), share) in enumerate(zip(SHARES, shares, strict=True)):
        cells = width - drawn if index == len(SHARES) - 1 else round(share * width / total)
        cells = max(min(cells, width - drawn), 0)
        text.append(char * cells, style=style)
        drawn += cells
    return text


def memory_bars(memory: PlanMemory, gpus: int, gpu_type: str) -> Table:
    """A bar for each GPU of a replica (tensor and pipeline parallelism give each the same share)."""
    table = Table.grid(padding=(0, 1))
    table.add_row(
        Text(f"Memory per GPU ({gpu_type}, {memory.usable_bytes / GIB:.1f} GiB usable):", style="bold")
    )
    bars = Table.grid(padding=(0, 1))
    for index in range(gpus):
        bars.add_row(f"  GPU {index}", bar(memory))
    table.add_row(bars)
    legend = Text("  ")
    for (label, char, style), share in zip(SHARES, shares_bytes(memory), strict=True):
        legend.append(char, style=style).append(f" {label} {share / GIB:.1f} GiB   ")
    table.add_row(legend)
    return table
