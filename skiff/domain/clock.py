"""Time policy: naive UTC datetimes with millisecond precision; ISO-8601 with offset on the wire."""

from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone

_EPOCH = datetime(1970, 1, 1)


def now() -> datetime:
    """The current UTC time, naive, truncated to milliseconds (what both databases keep). One
    datetime built from the clock's milliseconds (0.7 us; through an aware ``datetime.now`` and
    two replaces it took 1.7, on every call)."""
    return _EPOCH + timedelta(milliseconds=time.time_ns() // 1_000_000)


def to_wire(value: datetime | None) -> str | None:
    """``2024-01-02T03:04:05.123000+00:00``; the fraction is omitted when zero."""
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=timezone.utc)
    return value.isoformat()
