"""``kubectl modelfleet``: the kubectl plugin (installed as the ``kubectl-modelfleet`` executable).

- ``get [NAME] [--watch]``: the live tree of a ModelDeployment, or a table of them without a NAME;
- ``promote | abort | pause | resume | retry NAME``: the manual rollout actions, refused with the
  reason when the operator would do nothing with them;
- ``plan``: ``modelfleet plan``, offline; ``explain NAME``: the plan in status, GPU by GPU.

Exit codes as ``modelfleet``'s (modelfleet/cli/__init__.py); a refused action exits 3. See docs/cli.md.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable, Sequence

from rich.console import Console, RenderableType
from rich.live import Live
from rich.text import Text

from modelfleet import __version__
from modelfleet.api.spec_rollout import RolloutAction
from modelfleet.cli import dispatch
from modelfleet.cli import plan as plan_command
from modelfleet.cli.common import EXIT_INFEASIBLE, EXIT_OK, CliError, print_table
from modelfleet.cli.kubectl.actions import ACTIONS, refusal
from modelfleet.cli.kubectl.client import Kubectl, fetch, list_all, set_action
from modelfleet.cli.kubectl.explain import explain
from modelfleet.cli.kubectl.tree import as_text, view

PROG = "kubectl modelfleet"
WATCH_INTERVAL_SECONDS = 1.0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG,
        allow_abbrev=False,
        description="Follow and steer ModelFleet rollouts (see docs/cli.md).",
    )
    parser.add_argument("--version", action="version", version=f"kubectl-modelfleet {__version__}")
    add_connection_flags(parser, default=None)
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    get = subparsers.add_parser("get", help="a ModelDeployment's rollout tree (or all of them)")
    get.add_argument("name", nargs="?", metavar="NAME", help="without it: a table of every ModelDeployment")
    get.add_argument("-w", "--watch", action="store_true", help="redraw in place until Ctrl-C")
    get.add_argument("--interval", type=float, default=WATCH_INTERVAL_SECONDS, metavar="SECONDS")
    get.add_argument("-A", "--all-namespaces", action="store_true", help="list every namespace's")
    get.set_defaults(func=run_get)
    for action in ACTIONS:
        command = subparsers.add_parser(action.value, help=f"{action.value} the rollout (docs/rollout.md)")
        command.add_argument("name", metavar="NAME")
        command.set_defaults(func=run_action, action=action)
    plan_command.add_parser(subparsers)
    explain_parser = subparsers.add_parser(
        "explain", help="the chosen GPU layout as memory per GPU, and the rejected alternatives"
    )
    explain_parser.add_argument("name", metavar="NAME")
    explain_parser.set_defaults(func=run_explain)
    for name, sub in subparsers.choices.items():
        if name != "plan":  # offline: it plans a file or a model id, never the cluster's objects
            add_connection_flags(sub, default=argparse.SUPPRESS)
    return parser


def add_connection_flags(parser: argparse.ArgumentParser, default: object) -> None:
    """kubectl's own flags, passed through to the kubectl the plugin runs. They are accepted before the
    command and after it; a command's copy defaults to SUPPRESS so that it never overwrites a value
    given before the command with None (argparse applies a subparser's defaults last)."""
    parser.add_argument(
        "--kubeconfig", metavar="FILE", default=default, help="kubeconfig file (default: kubectl's)"
    )
    parser.add_argument("--context", metavar="NAME", default=default, help="kubeconfig context")
    parser.add_argument(
        "-n", "--namespace", metavar="NS", default=default, help="namespace (default: the context's)"
    )


def kubectl_from(args: argparse.Namespace) -> Kubectl:
    return Kubectl(args.kubeconfig, args.context, args.namespace)


def run_get(args: argparse.Namespace) -> int:
    kubectl = kubectl_from(args)
    console = Console(highlight=False)
    if args.name is None:
        print_list(kubectl, args.all_namespaces)
        return EXIT_OK
    if not args.watch:
        show_once(console, view(fetch(kubectl, args.name)))
        return EXIT_OK

    def screen() -> RenderableType:
        try:
            return view(fetch(kubectl, args.name))
        except CliError as error:  # keep watching through an API hiccup or a deletion
            return Text(f"{args.name}: {error}", style="red")

    watch(console, screen, args.interval, time.sleep)
    return EXIT_OK


def show_once(console: Console, renderable: RenderableType) -> None:
    if console.is_terminal:
        console.print(renderable)
    else:
        sys.stdout.write(as_text(renderable))


def watch(
    console: Console,
    screen: Callable[[], RenderableType],
    interval_seconds: float,
    sleep: Callable[[float], None],
    rounds: int | None = None,
) -> None:
    """Redraw ``screen()`` every interval: in place on a terminal (like ``kubectl argo rollouts get
    --watch``), as a new block only when it changed otherwise (a log or a pipe); ``rounds`` bounds it."""
    done = 0
    if console.is_terminal:
        with Live(console=console, auto_refresh=False, vertical_overflow="visible") as live:
            while rounds is None or done < rounds:
                live.update(screen(), refresh=True)
                done += 1
                sleep(interval_seconds)
        return
    previous = None
    while rounds is None or done < rounds:
        text = as_text(screen())
        if text != previous:
            sys.stdout.write(text + "\n")
            sys.stdout.flush()
            previous = text
        done += 1
        sleep(interval_seconds)


def print_list(kubectl: Kubectl, all_namespaces: bool) -> None:
    rows = []
    for md in list_all(kubectl, all_namespaces):
        status = md.get("status") or {}
        rollout = status.get("rollout") or {}
        canary = (status.get("revisions") or {}).get("canary")
        rows.append(
            [md["metadata"]["namespace"]] * all_namespaces
            + [
                md["metadata"]["name"],
                status.get("phase", "-"),
                status.get("ready", "-"),
                rollout.get("step", "-") if canary else "-",
                f"{rollout.get('weight', 0)}%" if canary else "-",
                (status.get("plan") or {}).get("summary", "-"),
            ]
        )
    print_table(["NAMESPACE"] * all_namespaces + ["NAME", "PHASE", "READY", "STEP", "WEIGHT", "PLAN"], rows)


def run_action(args: argparse.Namespace) -> int:
    kubectl = kubectl_from(args)
    action: RolloutAction = args.action
    snapshot = fetch(kubectl, args.name)
    why_not = refusal(snapshot, action)
    if why_not is not None:
        raise CliError(f"{action.value} does nothing now: {why_not}", EXIT_INFEASIBLE)
    set_action(kubectl, snapshot, action.value)
    print(
        f"{action.value} requested for {snapshot.namespace}/{snapshot.name}: the operator acts on it in its next pass"
    )
    return EXIT_OK


def run_explain(args: argparse.Namespace) -> int:
    snapshot = fetch(kubectl_from(args), args.name)
    rejected = ()
    if snapshot.spec is not None and snapshot.status.plan is not None:
        try:
            rejected = plan_command.make_plan(snapshot.spec)[0].rejected
        except CliError:  # a model only the operator's catalog knows: the plan in status still shows
            rejected = ()
    show_once(Console(highlight=False), explain(snapshot, rejected))
    return EXIT_OK


def main(argv: Sequence[str] | None = None) -> int:
    return dispatch(build_parser(), argv)


if __name__ == "__main__":
    sys.exit(main())
