"""Database handles for SQLite and PostgreSQL with one transaction per use case.

``Database.read()`` opens a plain transaction; ``Database.write()`` one that takes the write lock
up front (SQLite ``BEGIN IMMEDIATE``, so two writers queue on ``busy_timeout`` instead of failing
with "database is locked" halfway through). Dialect specifics live in ``dialects/``.

SQLite has one writer at a time, and a writer that finds the lock taken polls for it with
growing sleeps (up to 100 ms each), so under concurrent writes the lock sits free while waiters
sleep, and a write can wait seconds. A process's own writers therefore queue on a lock in the
process first and take turns on one write transaction, whose commit they share when they queue
(``group_commit``); ``busy_timeout`` still arbitrates between processes (``serve --workers N``,
administrative commands).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import orjson
from sqlalchemy import Connection, Engine, RootTransaction, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError

from skiff.domain import encoding
from skiff.domain.errors import error
from skiff.settings import normalize_db_url
from skiff.storage import group_commit
from skiff.storage.dialects import postgresql as pg_dialect
from skiff.storage.dialects import sqlite as sqlite_dialect

_WRITE = "skiff_write"
#: SQLite: a write transaction of its own, not a group's (``Database.write(bulk=True)``)
_BULK = "skiff_bulk"
#: PostgreSQL: a read transaction, which runs in autocommit mode (no BEGIN, no COMMIT)
_READ = "skiff_read"
#: SQLite: how long a writer waits for the process's other writers (as long as SQLite's own
#: ``busy_timeout`` lets it wait for other processes).
WRITER_QUEUE_TIMEOUT_SEC = 30


def json_dumps(value: object) -> str:
    """JSON columns: orjson, with naive datetimes written as UTC ISO strings."""
    return encoding.dumps(value).decode()


#: PostgreSQL errors of a value too large for its column or index (SQLSTATE): a client's input,
#: answered 400/12 instead of 500. SQLite stores such values.
_OVERSIZED = {"22001": "value too long for a stored field", "54000": "value too large to be indexed"}


@contextmanager
def _refusing_oversized_values() -> Iterator[None]:
    try:
        yield
    except DBAPIError as exc:
        reason = _OVERSIZED.get(getattr(exc.orig, "sqlstate", None) or "")
        if reason is None:
            raise
        raise error("validation_error", reason) from None


@contextmanager
def driver_errors(conn: Connection, statement: str, params: Any, *, many: bool = False) -> Iterator[None]:
    """Driver errors of a statement run on ``conn``'s DB-API connection, raised as SQLAlchemy
    raises them from ``Connection.execute`` (``IntegrityError``, ``OperationalError`` …)."""
    error_class = conn.dialect.loaded_dbapi.Error
    try:
        yield
    except error_class as exc:
        raise DBAPIError.instance(statement, params, exc, error_class, dialect=conn.dialect, ismulti=many) from exc


@contextmanager
def pipelined(conn: Connection) -> Iterator[None]:
    """PostgreSQL: the statements run on ``conn`` inside go to the server together and their
    results come back together (psycopg's pipeline mode), one round trip instead of one each; the
    first error is raised when the block ends, as ``driver_errors`` raises it. Only for statements
    whose results the block does not read. SQLite runs them as usual."""
    if conn.dialect.name != "postgresql":
        yield
        return
    driver = conn.connection.driver_connection
    with driver_errors(conn, "(statements sent together)", ()), driver.pipeline():  # type: ignore[union-attr]
        yield


class _IdleReaders:
    """SQLite: connections kept checked out of the engine's pool between read transactions.

    Checking a connection out of SQLAlchemy's pool and back in (``Engine.connect()``, ``close()``)
    costs some 30 µs of Python per call: a fifth of a get-by-id's use case, more than its two
    queries. A read takes one of these instead (the most recently used first) and gives it back
    when its transaction ends. At most ``size`` are kept, below the pool's size so that writers
    always find connections there. PostgreSQL reads keep using the pool, whose checkout replaces
    a connection the server has closed (what hides a restarted PostgreSQL from clients)."""

    def __init__(self, size: int) -> None:
        self._size = size
        self._idle: list[tuple[Connection, int]] = []
        self._generation = 0  # bumped by ``close``: connections taken before go back to the pool
        self._lock = threading.Lock()

    def take(self, engine: Engine) -> tuple[Connection, int]:
        with self._lock:
            if self._idle:
                return self._idle.pop()
            generation = self._generation
        return engine.connect(), generation

    def give_back(self, conn: Connection, generation: int) -> None:
        if not conn.invalidated and not conn.in_transaction():
            with self._lock:
                if generation == self._generation and len(self._idle) < self._size:
                    self._idle.append((conn, generation))
                    return
        conn.close()

    def close(self) -> None:
        """Return every idle connection to the pool; those in use go back when their read ends."""
        with self._lock:
            idle, self._idle = self._idle, []
            self._generation += 1
        for conn, _ in idle:
            conn.close()


class Database:
    def __init__(self, url: str, *, pool_size: int = 16) -> None:
        self.url = normalize_db_url(url)
        parsed = make_url(self.url)
        self.dialect = parsed.get_backend_name()
        json = {"json_serializer": json_dumps, "json_deserializer": orjson.loads}
        if self.dialect == "sqlite":
            self.engine = sqlite_dialect.create(parsed, pool_size=pool_size, **json)
        elif self.dialect == "postgresql":
            self.engine = pg_dialect.create(parsed, pool_size=pool_size, **json)
        else:
            raise ValueError(f"unsupported database {self.dialect!r}: use sqlite or postgresql")
        event.listen(self.engine, "begin", self._begin)
        #: SQLite: this process's writers, one at a time, sharing commits (see the module's
        #: docstring and ``group_commit``)
        self._writers = group_commit.WriterQueue() if self.dialect == "sqlite" else None
        self._readers = _IdleReaders(max(1, pool_size // 2)) if self.dialect == "sqlite" else None
        #: SQLite, in a server: WAL checkpoints off the writers' path (``start_checkpoints``)
        self.checkpointer: sqlite_dialect.Checkpointer | None = None

    def start_checkpoints(self) -> None:
        """SQLite files: from now on a thread of this process checkpoints the WAL, not the
        committing writers. Connections already pooled are closed so that every connection
        is opened knowing it (a server calls this before it takes requests)."""
        if self.dialect != "sqlite" or self.checkpointer is not None or sqlite_path(self.url) is None:
            return
        self.checkpointer = sqlite_dialect.Checkpointer(self.engine)
        event.listen(self.engine, "connect", self.checkpointer.configure)
        self.checkpointer.start()
        if self._readers is not None:
            self._readers.close()
        self.engine.pool.dispose()

    def _begin(self, conn: Connection) -> None:
        # on the driver's connection: 13-20 us less per transaction than a statement through
        # SQLAlchemy, whose execution machinery does nothing useful here
        options = conn.get_execution_options()
        driver = conn.connection.dbapi_connection
        if self.dialect == "sqlite":
            with driver_errors(conn, "PRAGMA temp_store", ()):
                write = options.get(_WRITE, False)
                statement = sqlite_dialect.begin_statement(
                    driver, conn.connection.info, write=write, temp_in_memory=write and not options.get(_BULK, False)
                )
        elif options.get(_READ, False):
            return  # PostgreSQL reads run in autocommit (see dialects/postgresql.py)
        else:
            statement = "BEGIN"
        with driver_errors(conn, statement, ()):
            driver.execute(statement)  # type: ignore[union-attr]

    @contextmanager
    def read(self) -> Iterator[Connection]:
        readers = self._readers
        if readers is None:
            with _refusing_oversized_values(), self.engine.connect() as conn:
                conn.execution_options(**{_READ: True})
                with conn.begin():
                    yield conn
            return
        conn, generation = readers.take(self.engine)
        try:
            with conn.begin():
                yield conn
        finally:
            readers.give_back(conn, generation)

    @contextmanager
    def write(self, *, bulk: bool = False) -> Iterator[Connection]:
        """A write transaction. ``bulk``: the use case may change any number of rows (a task's
        events): on SQLite it takes its turn like any writer but in a transaction of its own,
        with no savepoint and its temporary data on files (``group_commit``,
        ``dialects.sqlite.begin_statement``)."""
        queue = self._writers
        # a write nested in one of this thread's own goes around the queue (and waits for SQLite);
        # past the queue's timeout, a writer goes on to SQLite's own wait
        group = None if queue is None or queue.holds() else queue.take(WRITER_QUEUE_TIMEOUT_SEC, alone=bulk)
        connect = self._bulk_transaction if bulk else self._write_transaction
        with _refusing_oversized_values():
            if group is not None:
                assert queue is not None
                yield from group_commit.write_in_group(queue, group, connect)
            else:
                conn, transaction = connect()
                with conn:
                    try:
                        yield conn
                    except BaseException:
                        transaction.rollback()
                        raise
                    group_commit.commit(conn, transaction)
        if self.checkpointer is not None:
            self.checkpointer.written()

    def _write_transaction(self, bulk: bool = False) -> tuple[Connection, RootTransaction]:
        """A pooled connection in a write transaction (``BEGIN IMMEDIATE`` on SQLite)."""
        conn = self.engine.connect()
        try:
            conn.execution_options(**{_WRITE: True, _BULK: bulk})
            return conn, conn.begin()
        except BaseException:
            conn.close()
            raise

    def _bulk_transaction(self) -> tuple[Connection, RootTransaction]:
        return self._write_transaction(bulk=True)

    def dispose(self) -> None:
        if self.checkpointer is not None:
            self.checkpointer.stop()
        if self._readers is not None:
            self._readers.close()
        self.engine.dispose()


def sqlite_path(url: str) -> Path | None:
    """The file behind a SQLite URL, or None for PostgreSQL / in-memory databases."""
    parsed = make_url(normalize_db_url(url))
    if parsed.get_backend_name() != "sqlite" or not parsed.database or parsed.database == ":memory:":
        return None
    return Path(parsed.database)


def prepare_sqlite_file(path: Path) -> None:
    """Create the data directory (0700) and an empty database file (0600) if missing."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    if not path.exists():
        fd = os.open(path, os.O_CREAT | os.O_WRONLY, 0o600)
        os.close(fd)


def create_plain_engine(url: str) -> Engine:
    """An engine without skiff's transaction hooks (for alembic and administrative tasks)."""
    return Database(url, pool_size=1).engine
