"""Use case: keep the full-text index of ``search_text`` in few segments (``storage/repos/text_index``)."""

from __future__ import annotations

from skiff.storage.engine import Database
from skiff.storage.repos import text_index as repo

#: Merge once the index has more segments than this (a few are left by every batch of writes).
SEGMENT_THRESHOLD = 8
#: Pages written per merge step; each step is its own write transaction, so writers wait at
#: most one step (about a megabyte of index) for the lock.
PAGES_PER_STEP = 256


def compact_text_index(db: Database, *, threshold: int = SEGMENT_THRESHOLD, pages: int = PAGES_PER_STEP) -> int:
    """Merge the segments of each level of the index if it has more than ``threshold``; the
    number of merge steps run (0: nothing to do, as always on PostgreSQL)."""
    with db.read() as conn:
        if repo.segments(conn) <= threshold:
            return 0
    steps, worked = 0, True
    while worked:
        with db.write() as conn:
            worked = repo.merge(conn, pages)
        steps += 1
    return steps
