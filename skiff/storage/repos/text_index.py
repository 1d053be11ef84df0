"""Upkeep of SQLite's full-text index of ``task_search`` (FTS5).

FTS5 writes each transaction's new text as a new segment and merges segments of a level only
when four pile up, so a server that creates and edits tasks one at a time keeps a dozen or more
segments. A ``search_text`` query that probes the index task by task (a common term on a page
ordered by date) looks the term up in every segment: at 100k tasks a probe cost 48 us over 18
segments and 16 us over one. ``merge`` merges any two segments of a level into the next level
(FTS5's ``usermerge`` of 2), which leaves at most one segment per level: a handful.

It never asks FTS5 for one segment (``optimize``, or ``merge`` with a negative page count). In
SQLite 3.40 (Debian 12's, and so Python's there) every such full merge adds a level to the
index's structure and none is ever removed; at 2,000 levels FTS5 reads the structure as corrupt
and every write to ``task_search`` fails with "database disk image is malformed". One insert
and one ``optimize``, repeated, got there after 1,522 rounds; a full merge now and then between
batches of writes (the old merge job) adds levels faster. Migration 0015 rebuilds the index,
which resets its structure.

PostgreSQL's GIN index has no such structure to keep (autovacuum folds its pending list).
"""

from __future__ import annotations

from sqlalchemy import Connection, text

_SEGMENTS = text("SELECT count(DISTINCT segid) FROM task_search_fts_idx")
_TOTAL_CHANGES = text("SELECT total_changes()")
#: merge two or more segments of a level (FTS5's default is four); stored in the index's config
_USERMERGE = text("INSERT INTO task_search_fts (task_search_fts, rank) VALUES ('usermerge', 2)")
#: a positive page count: merge within levels only (see the module's docstring)
_MERGE = text("INSERT INTO task_search_fts (task_search_fts, rank) VALUES ('merge', :pages)")


def segments(conn: Connection) -> int:
    """How many segments the index has (each is one more B-tree a term lookup descends); 0 on
    PostgreSQL, which has none to merge."""
    if conn.dialect.name != "sqlite":
        return 0
    return int(conn.execute(_SEGMENTS).scalar_one())


def merge(conn: Connection, pages: int) -> bool:
    """Merge segments of a level, writing about ``pages`` pages of merged segments; False once
    no level has two segments left (FTS5 then changes no rows: a merge step that worked changes
    at least two)."""
    conn.execute(_USERMERGE)
    before = conn.execute(_TOTAL_CHANGES).scalar_one()
    conn.execute(_MERGE, {"pages": pages})
    return conn.execute(_TOTAL_CHANGES).scalar_one() - before >= 2
