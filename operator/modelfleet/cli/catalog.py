"""``modelfleet catalog [models|gpus|licenses] [-o table|json|yaml]``: what the catalog knows.

JSON/YAML rows carry every fact (camelCase, ``null`` = unknown); the table shows the ones people
compare first.
"""

from __future__ import annotations

import argparse
import dataclasses
import enum
from typing import Any

from pydantic.alias_generators import to_camel

from modelfleet.cli.common import EXIT_OK, OUTPUT_FORMATS, print_document, print_table

KINDS = ("models", "gpus", "licenses")
GIB = 1024**3

# (header, row key) per kind, for the table.
COLUMNS = {
    "models": [
        ("MODEL", "id"),
        ("PARAMS", "params"),
        ("ACTIVE", "active"),
        ("ATTENTION", "attention"),
        ("DTYPE", "nativeDtype"),
        ("CONTEXT", "maxContext"),
        ("LICENSE", "license"),
        ("UNKNOWN", "unknownCount"),
    ],
    "gpus": [
        ("GPU", "name"),
        ("VENDOR", "vendor"),
        ("MEMORY", "memory"),
        ("PER-NODE", "gpusPerNode"),
        ("SHAPES", "shapes"),
        ("ARCH", "arch"),
        ("FP8", "fp8"),
        ("FP4", "fp4"),
        ("RESOURCE", "resourceName"),
    ],
    "licenses": [("LICENSE", "id"), ("CATEGORY", "category"), ("NAME", "name")],
}


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "catalog", allow_abbrev=False, help="list the models, GPUs and licences the catalog knows"
    )
    parser.add_argument("kind", nargs="?", choices=KINDS, default="models")
    parser.add_argument("-o", "--output", choices=OUTPUT_FORMATS, default="table")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    rows = _LISTERS[args.kind]()
    if args.output == "table":
        columns = COLUMNS[args.kind]
        print_table([h for h, _ in columns], [[row.get(k) for _, k in columns] for row in rows])
    else:
        for row in rows:  # table-only helper keys
            for key in ("params", "active", "memory", "shapes", "unknownCount"):
                row.pop(key, None)
        print_document(rows, args.output)
    return EXIT_OK


def plain(value: Any) -> Any:
    """Dataclasses, enums and tuples as JSON-ready values with camelCase keys."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {to_camel(f.name): plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, tuple | list):
        return [plain(v) for v in value]
    return value


def billions(count: int | None) -> str | None:
    """``284000000000`` -> ``"284B"``; ``1600000000000`` -> ``"1.6T"``."""
    if count is None:
        return None
    if count >= 10**12:
        return f"{count / 10**12:.3g}T"
    return f"{count / 10**9:.3g}B"


def _models() -> list[dict[str, Any]]:
    from modelfleet.catalog import model_catalog

    rows = []
    for model_id in sorted(model_catalog(), key=str.lower):
        facts = model_catalog()[model_id]
        row = plain(facts)
        row.update(
            params=billions(facts.total_params),
            active=billions(facts.active_params),
            unknownCount=len(facts.unknown),
        )
        rows.append(row)
    return rows


def _gpus() -> list[dict[str, Any]]:
    from modelfleet.catalog import gpu_catalog

    rows = []
    for gpu in gpu_catalog().values():
        row = plain(gpu)
        row["memory"] = f"{gpu.memory_bytes / GIB:.0f}Gi"
        row["shapes"] = "/".join(str(shape) for shape in gpu.shapes)
        rows.append(row)
    return rows


def _licenses() -> list[dict[str, Any]]:
    from modelfleet.catalog import license_catalog

    return [plain(info) for _, info in sorted(license_catalog().items())]


_LISTERS = {"models": _models, "gpus": _gpus, "licenses": _licenses}
