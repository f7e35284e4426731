"""``modelfleet catalog [models|gpus|licenses] [-o table|json|yaml]``: what the catalog knows."""

from __future__ import annotations

import argparse
from typing import Any

from modelfleet.cli_common import EXIT_OK, OUTPUT_FORMATS, print_document, print_table

KINDS = ("models", "gpus", "licenses")


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser("catalog", help="list the models, GPUs and licences the catalog knows")
    parser.add_argument("kind", nargs="?", choices=KINDS, default="models")
    parser.add_argument("-o", "--output", choices=OUTPUT_FORMATS, default="table")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    headers, rows = _LISTERS[args.kind]()
    if args.output == "table":
        print_table(headers, [[row.get(h) for h in headers] for row in rows])
    else:
        print_document(rows, args.output)
    return EXIT_OK


def _models() -> tuple[list[str], list[dict[str, Any]]]:
    raise NotImplementedError


def _gpus() -> tuple[list[str], list[dict[str, Any]]]:
    raise NotImplementedError


def _licenses() -> tuple[list[str], list[dict[str, Any]]]:
    raise NotImplementedError


_LISTERS = {"models": _models, "gpus": _gpus, "licenses": _licenses}
