"""Row offsets and limits from request paging fields (``page``/``page_size``, ``start``/``size``).

Clients may send any integer; SQL takes signed 64-bit ones, so ``page * page_size`` past that
range would fail in the driver. No table holds anywhere near ``MAX_ROWS`` rows, so clamping there
reads the same (nothing) and keeps every value in range.
"""

from __future__ import annotations

MAX_ROWS = 2**62


def clamp(value: int) -> int:
    """``value`` limited to ``0..MAX_ROWS`` (for SQL OFFSET and LIMIT)."""
    return max(0, min(value, MAX_ROWS))


def page_offset(page: int, size: int) -> int:
    return clamp(page * size)
