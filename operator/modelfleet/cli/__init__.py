"""``modelfleet``: plan, render, crd, catalog, fetch (and run, the operator itself).

Exit codes are a contract scripts rely on:

- 0: done (for ``plan``: a feasible plan)
- 1: an internal error (a bug: please report it with the command line)
- 2: bad input (flags, files, spec fields); the message names the field
- 3: understood but impossible (no GPU layout fits, the model is unknown and no overrides given)

Errors are one line on stderr per problem, never a traceback. ``fetch``, which a Job runs, has exit
codes of its own that tell the Job whether to retry (docs/weights.md).

Adding a subcommand: write ``modelfleet/cli/<name>.py`` with ``add_parser(subparsers)`` that registers
an argparse parser whose ``func(args) -> int`` does the work, and list it in ``_COMMAND_MODULES``.
``run`` (the operator) plugs in the same way through ``modelfleet.cli.run``, loaded only when present
so that the pure commands never import kopf or kubernetes.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from modelfleet import __version__
from modelfleet.cli.common import EXIT_INTERNAL, CliError

_COMMAND_MODULES = (
    "modelfleet.cli.plan",
    "modelfleet.cli.render",
    "modelfleet.cli.crd",
    "modelfleet.cli.catalog",
    "modelfleet.cli.fetch",
)
# The hook for `modelfleet run`: a module with add_parser(subparsers), like the ones above.
RUN_COMMAND_MODULE = "modelfleet.cli.run"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="modelfleet",
        allow_abbrev=False,
        description="Size, render and roll out self-hosted LLM inference fleets.",
    )
    parser.add_argument("--version", action="version", version=f"modelfleet {__version__}")
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module_name in _COMMAND_MODULES:
        importlib.import_module(module_name).add_parser(subparsers)
    _add_run_parser(subparsers)
    return parser


def _add_run_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    try:
        module = importlib.import_module(RUN_COMMAND_MODULE)
    except ModuleNotFoundError as error:
        if error.name != RUN_COMMAND_MODULE:
            raise
        return
    module.add_parser(subparsers)


def main(argv: Sequence[str] | None = None) -> int:
    return dispatch(build_parser(), argv)


def dispatch(parser: argparse.ArgumentParser, argv: Sequence[str] | None) -> int:
    """Parse, run the chosen command's ``func`` and turn every failure into the exit-code contract."""
    command = parser.prog
    try:
        args = parser.parse_args(argv)
        command = f"{parser.prog} {args.command}"
        return int(args.func(args))
    except CliError as error:
        for line in error.lines:
            print(f"{command}: {line}", file=sys.stderr)
        return error.exit_code
    except BrokenPipeError:  # `modelfleet plan ... | head` must not print a traceback
        return 0
    except KeyboardInterrupt:
        return 130
    except Exception as error:  # the contract is one line, never a traceback
        print(f"{command}: internal error: {type(error).__name__}: {error}", file=sys.stderr)
        return EXIT_INTERNAL


if __name__ == "__main__":
    sys.exit(main())
