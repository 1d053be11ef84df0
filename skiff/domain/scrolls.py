"""Scroll mode of the task queries (spec tasks-queries §5.2).

A scroll is an offset kept on the server under a random id, renewed on every use. It is not bound to
the query or the caller: the client repeats its filters and ordering on every call. A missing,
unknown or expired id silently starts a new scroll with a new id.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from skiff.domain.errors import error

TTL = timedelta(seconds=600)

#: Paging keys that scroll mode ignores (it pages by ``size`` from the stored position).
PAGING_KEYS = ("page", "page_size", "start", "size")

_SIZE_MESSAGE = "Integer size parameter greater than 1 should be provided when working with scroll"


@dataclass(frozen=True)
class Scroll:
    """One call in scroll mode: the id sent (None or "" for a new scroll), the page size, and
    whether to re-fetch everything handed out so far."""

    scroll_id: str | None
    size: int
    refresh: bool

    def window(self, position: int) -> tuple[int, int]:
        """(offset, limit) of this call for a scroll at ``position``."""
        if self.refresh:
            return 0, max(position, self.size)
        return position, self.size

    def advanced(self, position: int, returned: int) -> int:
        """The position after this call returned ``returned`` items."""
        return returned if self.refresh else position + returned


def parse_scroll(request: dict[str, Any]) -> Scroll | None:
    """Scroll mode is chosen by the presence of the ``scroll_id`` key, even with null."""
    if "scroll_id" not in request:
        return None
    size = request.get("size")
    if isinstance(size, str) and size.strip().isdigit():
        size = int(size)
    if isinstance(size, bool) or not isinstance(size, int) or size < 1:
        raise error("validation_error", _SIZE_MESSAGE)
    scroll_id = request["scroll_id"]
    return Scroll(scroll_id if isinstance(scroll_id, str) and scroll_id else None, size, bool(request.get("refresh_scroll")))
