"""Time as the machine sees it: RFC 3339 strings in status, ``now`` injected by the caller.

Kubernetes stores times with whole seconds, so the machine writes them that way too; a restarted
operator that parses them back computes the same remaining pause (to the second).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta


def format_time(moment: datetime) -> str:
    """``2026-05-01T12:00:00Z`` for a moment (naive moments are taken as UTC).

    >>> format_time(datetime(2026, 5, 1, 12, 0, 7, 900000, tzinfo=UTC))
    '2026-05-01T12:00:07Z'
    """
    aware = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    return aware.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_time(text: str | None) -> datetime | None:
    """The moment an RFC 3339 string names, or None when it is missing or unreadable.

    An unreadable timestamp (edited by hand) is treated as missing rather than crashing the
    reconcile: the caller then restarts the clock at ``now``.
    """
    if not text:
        return None
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def elapsed_seconds(since: str | None, now: datetime) -> float:
    """Seconds from a stored timestamp to ``now``; 0 when the timestamp is missing."""
    start = parse_time(since)
    if start is None:
        return 0.0
    aware_now = now if now.tzinfo else now.replace(tzinfo=UTC)
    return max(0.0, (aware_now - start).total_seconds())


def shift_time(text: str | None, seconds: float) -> str | None:
    """A stored timestamp moved forward by ``seconds`` (used to leave a manual pause out of timers)."""
    start = parse_time(text)
    if start is None:
        return text
    return format_time(start + timedelta(seconds=seconds))
