"""``modelfleet render -f FILE [--gpu TYPE] [--revision-name NAME]``: the child manifests as YAML.

The same objects the operator applies for a fresh ModelDeployment (its revision at full weight), with
no cluster: the plan assumes the catalog's typical nodes, as ``modelfleet plan`` does.
"""

from __future__ import annotations

import argparse
from typing import Any

import yaml

from modelfleet.api.errors import SpecError
from modelfleet.api.spec import parse_spec
from modelfleet.cli.common import (
    EXIT_BAD_INPUT,
    EXIT_INFEASIBLE,
    EXIT_OK,
    CliError,
    read_manifest,
    spec_error,
)
from modelfleet.cli.plan import make_plan

DNS_NAME_MAX_LENGTH = 63


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
    parser.add_argument(
        "--revision-name", metavar="NAME", help="name the revision NAME instead of its content hash"
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    manifest = read_manifest(args.filename)
    name, namespace = _identity(manifest)
    raw = dict(manifest.get("spec") or {})
    if args.gpu:
        raw["accelerator"] = {**(raw.get("accelerator") or {}), "type": args.gpu}
    try:
        spec = parse_spec(raw)
    except SpecError as error:
        raise spec_error(error) from None
    plan, facts = make_plan(spec)
    if not plan.feasible:
        raise CliError([f"no feasible plan: {reason}" for reason in plan.reasons], EXIT_INFEASIBLE)
    objects = _render(spec, plan, facts, name=name, namespace=namespace, revision=args.revision_name)
    print(yaml.safe_dump_all(objects, sort_keys=True, default_flow_style=False, width=120), end="")
    return EXIT_OK


def _identity(manifest: dict[str, Any]) -> tuple[str, str]:
    metadata = manifest.get("metadata") or {}
    name = metadata.get("name") if isinstance(metadata, dict) else None
    if not isinstance(name, str) or not name:
        raise CliError("metadata.name: required to name the rendered objects")
    namespace = metadata.get("namespace") or "default"
    return name, str(namespace)


def _render(
    spec: Any, plan: Any, facts: Any, *, name: str, namespace: str, revision: str | None
) -> list[Any]:
    from modelfleet.render import RenderError, render_all

    if revision is not None and len(revision) > DNS_NAME_MAX_LENGTH:
        raise CliError(f"--revision-name: at most {DNS_NAME_MAX_LENGTH} characters", EXIT_BAD_INPUT)
    try:
        return render_all(spec, plan, name=name, namespace=namespace, facts=facts, revision=revision)
    except RenderError as error:
        raise CliError(" ".join(str(error).split()), EXIT_BAD_INPUT) from None
