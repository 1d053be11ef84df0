"""SQLite: WAL, busy timeout, foreign keys, and transactions that skiff begins itself."""

from __future__ import annotations

import functools
import logging
import threading
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
#: With a ``Checkpointer`` running, a connection checkpoints by itself only once the WAL holds this
#: many pages (SQLite's default is 1000). Under sustained writes the thread never reaches the WAL's
#: end (new frames keep coming), so this is also what restarts the WAL and bounds its file (~20 MB
#: measured; 16,384 pages gave the same throughput and a 68 MB file).
BACKSTOP_CHECKPOINT_PAGES = 4096
#: How long the checkpointer lets commits accumulate before it copies them into the database file.
CHECKPOINT_INTERVAL_SEC = 0.05

log = logging.getLogger("skiff.storage")

_TEMP_STORE_KEY = "skiff_temp_store"


def begin_statement(dbapi_conn: Any, info: dict[str, Any], *, write: bool, temp_in_memory: bool) -> str:
    """The statement that begins a transaction, after setting where its temporary data goes.

    Each writer's block in a group runs in a savepoint of its own (``group_commit``), and SQLite
    keeps the original of every page the block changes in a statement journal. Past 64 KiB (a
    task create changes ~30 pages) that journal goes to a new temporary file: per write an open,
    an unlink, ~60 writes and a close, a quarter of a create's CPU. With ``temp_store = MEMORY``,
    which SQLite reads when a transaction begins, it stays in memory, and so do sorts and
    temporary tables. That is for writes other than bulk ones only (``temp_in_memory``): a read
    may sort a whole table, and a bulk write (``Database.write(bulk=True)``) may change any number of pages
    (deleting a million events journaled 140 MB, and the process kept it). ``info`` is the
    pooled connection's: the pragma runs only when the setting changes.
    """
    store = "MEMORY" if temp_in_memory else "DEFAULT"
    if info.get(_TEMP_STORE_KEY) != store:
        dbapi_conn.execute(f"PRAGMA temp_store = {store}")
        info[_TEMP_STORE_KEY] = store
    return "BEGIN IMMEDIATE" if write else "BEGIN"


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


class Checkpointer:
    """Copies committed WAL pages into the database file on a thread of its own.

    SQLite's own checkpoint runs inside the commit that takes the WAL past 1000 pages, while that
    writer still holds the write lock: with ~45 pages per task write it came every ~20 commits and
    its fsyncs stalled every writer behind it. Here a thread runs a PASSIVE checkpoint (it never
    blocks readers or writers) at most every ``interval`` seconds after a commit, and copies a
    page written by many commits once. Connections opened while it runs (``configure``) leave
    checkpoints to it up to ``BACKSTOP_CHECKPOINT_PAGES``; a writer that reaches that many pages
    checkpoints what the thread has not copied yet, which lets the next writer restart the WAL.
    """

    def __init__(self, engine: Engine, interval: float | None = None) -> None:
        self.engine = engine
        self.interval = CHECKPOINT_INTERVAL_SEC if interval is None else interval
        self.checkpoints = 0
        #: (busy, WAL frames, frames checkpointed) of the last checkpoint
        self.last: tuple[int, int, int] | None = None
        self._written = threading.Event()
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name="skiff-checkpoint", daemon=True)

    @property
    def running(self) -> bool:
        return self._thread.is_alive() and not self._stopping.is_set()

    def configure(self, dbapi_conn: Any, _record: Any = None) -> None:
        """A ``connect`` listener of the engine."""
        if self.running:
            dbapi_conn.execute(f"PRAGMA wal_autocheckpoint = {BACKSTOP_CHECKPOINT_PAGES}")

    def start(self) -> None:
        self._thread.start()

    def written(self) -> None:
        """A write transaction committed (cheap: called on every one)."""
        if not self._written.is_set():
            self._written.set()

    def stop(self) -> None:
        self._stopping.set()
        self._written.set()
        if self._thread.is_alive():
            self._thread.join()

    def checkpoint(self) -> None:
        conn = self.engine.raw_connection()
        try:
            row = conn.driver_connection.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()  # type: ignore[union-attr]
            self.last = (int(row[0]), int(row[1]), int(row[2]))
            self.checkpoints += 1
        finally:
            conn.close()

    def _run(self) -> None:
        while not self._stopping.is_set():
            self._written.wait()
            if self._stopping.wait(self.interval):
                break
            self._written.clear()
            try:
                self.checkpoint()
            except Exception:  # a busy or closed database: the next commit tries again
                log.warning("background WAL checkpoint failed", exc_info=True)
