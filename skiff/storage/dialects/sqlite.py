"""SQLite: WAL, busy timeout, foreign keys, and transactions that skiff begins itself."""

from __future__ import annotations

import functools
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import URL

from skiff.domain.natural_order import natural_key
from skiff.domain.patterns import compile_linear
from skiff.storage.tables import NATURAL_COLLATION

BUSY_TIMEOUT_MS = 30_000
#: SQLite's heap limit for the whole process (``PRAGMA soft_heap_limit``; the setting is global,
#: so each connection sets the same value). Past it, page caches reuse their least recently used
#: pages instead of growing: without it each pooled connection fills a 2 MiB cache of its own and
#: the server's memory grows with the pool size long after start (issue 8). Sorters and prepared
#: statements may still go past it; a dropped page is read again from the file, usually from the
#: operating system's cache.
SOFT_HEAP_LIMIT_BYTES = 16 * 2**20


@functools.lru_cache(maxsize=256)
def _compiled(pattern: str) -> Any:
    return compile_linear(pattern)


def _regexp(pattern: str | None, value: object) -> bool:
    """``value REGEXP pattern`` (what SQLAlchemy's ``regexp_match`` emits): an RE2 search, linear
    in the text, unanchored and case-sensitive. Callers validate patterns first
    (``skiff.domain.patterns``); NULL never matches."""
    if pattern is None or value is None:
        return False
    return _compiled(pattern).search(str(value)) is not None


def _natural_compare(a: str, b: str) -> int:
    left, right = natural_key(a), natural_key(b)
    return (left > right) - (left < right)


def _on_connect(dbapi_conn, _record) -> None:  # type: ignore[no-untyped-def]
    # Let SQLAlchemy's "begin" hook emit BEGIN / BEGIN IMMEDIATE instead of pysqlite's own logic.
    dbapi_conn.isolation_level = None
    cur = dbapi_conn.cursor()
    cur.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
    cur.execute("PRAGMA journal_mode = WAL")
    # In WAL mode NORMAL survives process crashes (SIGKILL); only power loss may drop the tail.
    cur.execute("PRAGMA synchronous = NORMAL")
    cur.execute("PRAGMA foreign_keys = ON")
    cur.execute(f"PRAGMA soft_heap_limit = {SOFT_HEAP_LIMIT_BYTES}")
    cur.close()
    dbapi_conn.create_function("regexp", 2, _regexp, deterministic=True)
    dbapi_conn.create_collation(NATURAL_COLLATION, _natural_compare)


def create(url: URL, *, pool_size: int, **options: Any) -> Engine:
    engine = create_engine(
        url,
        **options,
        pool_size=pool_size,
        max_overflow=pool_size,
        # the most recently used connection first: under light load a few connections serve
        # every call, with warm page caches, and the others stay small
        pool_use_lifo=True,
        connect_args={"check_same_thread": False, "timeout": BUSY_TIMEOUT_MS / 1000},
    )
    event.listen(engine, "connect", _on_connect)
    return engine
