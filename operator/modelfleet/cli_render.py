"""``modelfleet render -f FILE [--gpu TYPE] [--revision-name NAME]``: the child manifests as YAML."""

from __future__ import annotations

import argparse

from modelfleet.cli_common import CliError


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "render", allow_abbrev=False, help="print the Kubernetes objects a ModelDeployment becomes"
    )
    parser.add_argument(
        "-f", "--filename", metavar="FILE", required=True, help="ModelDeployment YAML ('-' for stdin)"
    )
    parser.add_argument(
        "--gpu", metavar="TYPE", help="plan for this GPU type instead of spec.accelerator.type"
    )
    parser.add_argument("--revision-name", metavar="NAME", help="name the revision instead of hashing it")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    raise CliError("render: the renderer is not available in this build")
