"""Time policy: naive UTC datetimes with millisecond precision; ISO-8601 with offset on the wire."""

from __future__ import annotations

from datetime import datetime, timezone


def now() -> datetime:
    """The current UTC time, naive, truncated to milliseconds (what both databases keep)."""
    t = datetime.now(timezone.utc).replace(tzinfo=None)
    return t.replace(microsecond=t.microsecond - t.microsecond % 1000)


def to_wire(value: datetime | None) -> str | None:
    """``2024-01-02T03:04:05.123000+00:00``; the fraction is omitted when zero."""
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=timezone.utc)
    return value.isoformat()
