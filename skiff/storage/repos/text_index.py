"""Upkeep of SQLite's full-text index of ``task_search`` (FTS5).

FTS5 writes each transaction's new text as a new segment and merges segments of a level only
when four pile up, so a server that creates and edits tasks one at a time keeps a dozen or more
segments. A ``search_text`` query that probes the index task by task (a common term on a page
ordered by date) looks the term up in every segment: at 100k tasks a probe cost 48 us over 18
segments and 16 us over one. ``merge`` folds every segment into one, a bounded amount of work
per call. PostgreSQL's GIN index has no such structure to keep (autovacuum folds its pending list).
"""

from __future__ import annotations

from sqlalchemy import Connection, text

_SEGMENTS = text("SELECT count(DISTINCT segid) FROM task_search_fts_idx")
_TOTAL_CHANGES = text("SELECT total_changes()")
#: a negative page count: merge segments of different levels too (towards one segment)
_MERGE = text("INSERT INTO task_search_fts (task_search_fts, rank) VALUES ('merge', -:pages)")


def segments(conn: Connection) -> int:
    """How many segments the index has (each is one more B-tree a term lookup descends); 0 on
    PostgreSQL, which has none to merge."""
    if conn.dialect.name != "sqlite":
        return 0
    return int(conn.execute(_SEGMENTS).scalar_one())


def merge(conn: Connection, pages: int) -> bool:
    """Merge segments, writing about ``pages`` pages of the merged segment; False once nothing is
    left to merge (FTS5 then changes no rows: a merge step that worked changes at least two)."""
    before = conn.execute(_TOTAL_CHANGES).scalar_one()
    conn.execute(_MERGE, {"pages": pages})
    return conn.execute(_TOTAL_CHANGES).scalar_one() - before >= 2
