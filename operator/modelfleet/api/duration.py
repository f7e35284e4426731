"""Durations as users write them in a spec: ``"30s"``, ``"10m"``, ``"1h30m"``, ``"500ms"``.

The same grammar is enforced twice: by :data:`DURATION_PATTERN` in the CRD schema (so the API server
rejects ``"10 minutes"`` at ``kubectl apply``) and by :func:`parse_duration` in the operator and CLI.
It is the subset of Go's ``time.ParseDuration`` that makes sense for rollouts: no signs, no
fractions, no micro/nanoseconds, and units from largest to smallest at most once each is *not*
required (``"90s"`` and ``"1m30s"`` are both fine).
"""

from __future__ import annotations

import re

# Anchored for both Python's re and the Kubernetes OpenAPI (ECMA-262) pattern engine.
DURATION_PATTERN = r"^([0-9]{1,6}(ms|s|m|h))+$"
DURATION_MAX_LENGTH = 32

_PART = re.compile(r"([0-9]{1,6})(ms|s|m|h)")
_SECONDS_PER_UNIT = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}


class DurationError(ValueError):
    """A duration string that does not follow the grammar; the message shows valid examples."""


def parse_duration(text: str) -> float:
    """Seconds in a duration string.

    >>> parse_duration("1h30m")
    5400.0
    >>> parse_duration("90s")
    90.0
    >>> parse_duration("250ms")
    0.25
    """
    if (
        not isinstance(text, str)
        or len(text) > DURATION_MAX_LENGTH
        or not re.fullmatch(DURATION_PATTERN, text)
    ):
        raise DurationError(
            f"invalid duration {text!r}: use a number and a unit (ms, s, m, h), e.g. 30s, 10m, 1h30m"
        )
    return sum(int(count) * _SECONDS_PER_UNIT[unit] for count, unit in _PART.findall(text))


def format_duration(seconds: float) -> str:
    """The shortest duration string for whole seconds (milliseconds when below one second).

    >>> format_duration(5400)
    '1h30m'
    >>> format_duration(0.5)
    '500ms'
    """
    if seconds < 1:
        return f"{round(seconds * 1000)}ms"
    total = int(seconds)
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    parts = [f"{value}{unit}" for value, unit in ((hours, "h"), (minutes, "m"), (secs, "s")) if value]
    return "".join(parts) or "0s"
