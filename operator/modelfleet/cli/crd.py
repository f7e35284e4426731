"""``modelfleet crd [-o DIR]``: the CustomResourceDefinition generated from the API models."""

from __future__ import annotations

import argparse
from pathlib import Path

from modelfleet.api.crd import CRD_FILENAME, crd_yaml
from modelfleet.cli.common import EXIT_OK, CliError


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser("crd", allow_abbrev=False, help="print or write the ModelDeployment CRD")
    parser.add_argument(
        "-o", "--output-dir", metavar="DIR", help=f"write DIR/{CRD_FILENAME} instead of printing"
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    text = crd_yaml()
    if not args.output_dir:
        print(text, end="")
        return EXIT_OK
    directory = Path(args.output_dir)
    try:
        directory.mkdir(parents=True, exist_ok=True)
        (directory / CRD_FILENAME).write_text(text, encoding="utf-8")
    except OSError as error:
        raise CliError(f"{directory}: cannot write: {error.strerror or error}") from None
    print(directory / CRD_FILENAME)
    return EXIT_OK
