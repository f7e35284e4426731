"""What every ``modelfleet`` subcommand shares: exit codes, errors, reading specs, printing."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import yaml

from modelfleet import GROUP, KIND
from modelfleet.api.errors import SpecError

EXIT_OK = 0
EXIT_INTERNAL = 1  # a bug in modelfleet, not in the input
EXIT_BAD_INPUT = 2
EXIT_INFEASIBLE = 3

OUTPUT_FORMATS = ("table", "json", "yaml")


class CliError(Exception):
    """A message for the user (one line per problem) and the exit code to return."""

    def __init__(self, lines: str | Iterable[str], exit_code: int = EXIT_BAD_INPUT) -> None:
        self.lines = [lines] if isinstance(lines, str) else list(lines)
        self.exit_code = exit_code
        super().__init__("; ".join(self.lines))


def spec_error(error: SpecError) -> CliError:
    return CliError(error.problems, EXIT_BAD_INPUT)


def read_manifest(path: str) -> dict[str, Any]:
    """The ModelDeployment in a YAML file (the first one when the file holds several documents).

    A bare spec (a mapping with ``model`` at the top) is accepted too, for quick experiments.
    """
    try:
        text = sys.stdin.read() if path == "-" else Path(path).read_text(encoding="utf-8")
        documents = [d for d in yaml.safe_load_all(text) if d is not None]
    except OSError as error:
        raise CliError(f"{path}: cannot read: {error.strerror or error}") from None
    except yaml.YAMLError as error:
        raise CliError(f"{path}: not valid YAML: {' '.join(str(error).split())}") from None
    for document in documents:
        if isinstance(document, dict) and document.get("kind") == KIND:
            _check_api_version(path, document)
            return document
    if len(documents) == 1 and isinstance(documents[0], dict) and "model" in documents[0]:
        return {"kind": KIND, "metadata": {}, "spec": documents[0]}
    raise CliError(f"{path}: no {KIND} found (expected kind: {KIND}, apiVersion: {GROUP}/...)")


def _check_api_version(path: str, document: dict[str, Any]) -> None:
    api_version = str(document.get("apiVersion", ""))
    if not api_version.startswith(f"{GROUP}/"):
        raise CliError(f"{path}: apiVersion {api_version!r} is not {GROUP}/v1alpha1")


def print_document(data: Any, output: str) -> None:
    """JSON or YAML on stdout, keys sorted so output diffs cleanly."""
    if output == "json":
        print(json.dumps(data, indent=2, sort_keys=True))
    else:
        print(yaml.safe_dump(data, sort_keys=True, default_flow_style=False, width=120), end="")


def print_table(headers: list[str], rows: list[list[Any]]) -> None:
    """A plain aligned table, like `kubectl get`."""
    cells = [headers, *[["" if c is None else str(c) for c in row] for row in rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    for row in cells:
        print("   ".join(value.ljust(width) for value, width in zip(row, widths, strict=True)).rstrip())
