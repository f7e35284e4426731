"""Spec errors with messages that name the field, e.g. ``spec.serving.concurrency: must be <= 4096``."""

from __future__ import annotations

from pydantic import ValidationError


class SpecError(ValueError):
    """A ModelDeployment spec that cannot be parsed; ``str()`` is one line per problem, field first."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("; ".join(problems))


def field_path(location: tuple[int | str, ...], prefix: str = "spec") -> str:
    """Dotted camelCase path of a pydantic error location.

    >>> field_path(("serving", "concurrency"))
    'spec.serving.concurrency'
    >>> field_path(("rollout", "canary", "steps", 2, "pause"))
    'spec.rollout.canary.steps[2].pause'
    """
    path = prefix
    for part in location:
        if isinstance(part, int):
            path += f"[{part}]"
        else:
            path = f"{path}.{part}" if path else str(part)
    return path


def problems_of(error: ValidationError, prefix: str = "spec") -> list[str]:
    """One ``path: message`` line per pydantic error (union branches and duplicates collapsed)."""
    lines: list[str] = []
    for item in error.errors(include_url=False):
        # Tagged unions and Optional wrappers add their own loc parts (e.g. "function-after[...]");
        # they are not field names a user can act on.
        location = tuple(
            p for p in item["loc"] if not (isinstance(p, str) and ("[" in p or p.startswith("function-")))
        )
        message = str(item["msg"]).removeprefix("Value error, ")
        line = f"{field_path(location, prefix)}: {message}"
        if item["type"] == "extra_forbidden":
            line = f"{field_path(location, prefix)}: unknown field (check spelling and camelCase)"
        if line not in lines:
            lines.append(line)
    return lines


def spec_error_from(error: ValidationError, prefix: str = "spec") -> SpecError:
    return SpecError(problems_of(error, prefix))
