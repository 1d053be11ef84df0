"""SQLite reads keep their connections checked out of the engine's pool between transactions
(``engine._IdleReaders``): a read takes the most recently used idle one, a bounded number stay
idle, and disposing returns them all. PostgreSQL reads check out from the pool every time (its
checkout pings the server)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import pytest
from sqlalchemy import event, text
from sqlalchemy.exc import PendingRollbackError

from skiff.storage.engine import Database
from tests.support import DIALECT, new_database_url

POOL_SIZE = 4  # so at most 2 idle readers


@pytest.fixture
def database(tmp_path: Path) -> Iterator[Database]:
    db = Database(new_database_url(tmp_path), pool_size=POOL_SIZE)
    yield db
    db.dispose()


def checkouts(db: Database) -> list[object]:
    """The DB-API connections the engine's pool hands out, one entry per checkout."""
    seen: list[object] = []
    event.listen(db.engine.pool, "checkout", lambda dbapi_conn, record, proxy: seen.append(dbapi_conn))
    return seen


def read_one(db: Database) -> int:
    with db.read() as conn:
        return int(conn.execute(text("SELECT 1")).scalar_one())


sqlite_only = pytest.mark.skipif(DIALECT != "sqlite", reason="SQLite keeps idle readers")


@sqlite_only
def test_reads_in_a_row_check_out_once(database: Database) -> None:
    seen = checkouts(database)
    for _ in range(20):
        assert read_one(database) == 1
    assert len(seen) == 1
    assert database.engine.pool.checkedout() == 1  # kept for the next read


@sqlite_only
def test_every_read_is_its_own_transaction(database: Database) -> None:
    """A kept connection starts each read in a new transaction and ends it: what one read left
    uncommitted is never seen by the next, and a failed read rolls back."""
    with database.write() as conn:
        conn.execute(text("CREATE TABLE t (x INTEGER)"))
    with pytest.raises(RuntimeError):
        with database.read() as conn:
            conn.execute(text("CREATE TEMP TABLE scratch (y INTEGER)"))
            assert conn.in_transaction()
            raise RuntimeError("the use case failed")
    with database.read() as conn:
        assert conn.in_transaction()
        # the temporary table was created in the rolled-back transaction
        assert conn.execute(text("SELECT count(*) FROM sqlite_temp_master WHERE name = 'scratch'")).scalar_one() == 0
    with database.write() as conn:
        conn.execute(text("INSERT INTO t VALUES (7)"))
    assert database.engine.pool.checkedout() == 1
    with database.read() as conn:
        assert conn.execute(text("SELECT x FROM t")).scalar_one() == 7


@sqlite_only
def test_nested_reads_use_connections_of_their_own_and_at_most_half_the_pool_stays(database: Database) -> None:
    with ExitStack() as stack:
        conns = [stack.enter_context(database.read()) for _ in range(POOL_SIZE)]
        assert len({id(c) for c in conns}) == POOL_SIZE
        assert database.engine.pool.checkedout() == POOL_SIZE
    assert database.engine.pool.checkedout() == POOL_SIZE // 2
    # the writers still find connections in the pool
    with database.write() as conn:
        conn.execute(text("CREATE TABLE t (x INTEGER)"))


@sqlite_only
def test_an_invalidated_connection_is_not_kept(database: Database) -> None:
    """As after a lost connection: SQLAlchemy invalidates it, and the read fails."""
    seen = checkouts(database)
    with pytest.raises(PendingRollbackError):
        with database.read() as conn:
            conn.invalidate()
    assert conn.closed
    assert database.engine.pool.checkedout() == 0
    assert read_one(database) == 1
    assert len(seen) == 2 and seen[0] is not seen[1]


@sqlite_only
def test_dispose_returns_idle_readers_and_those_in_use_when_their_read_ends(database: Database) -> None:
    with database.read() as in_use:
        with database.read() as idle:
            pass
        assert not idle.closed  # kept for the next read
        database.dispose()
        assert idle.closed
        assert not in_use.closed  # the read in progress goes on
        assert in_use.execute(text("SELECT 2")).scalar_one() == 2
    assert in_use.closed
    # the database stays usable, on a new pool, as after SQLAlchemy's own dispose
    assert read_one(database) == 1
    assert database.engine.pool.checkedout() == 1


@sqlite_only
def test_starting_checkpoints_drops_idle_readers(tmp_path: Path) -> None:
    """Connections opened before the checkpointer existed do not know it (their automatic
    checkpoint is SQLite's default): ``start_checkpoints`` must not leave one idle for reads."""
    db = Database(f"sqlite:///{tmp_path / 'c.db'}", pool_size=POOL_SIZE)
    try:
        with db.read() as conn:
            before = conn.connection.dbapi_connection
            assert conn.exec_driver_sql("PRAGMA wal_autocheckpoint").scalar_one() == 1000
        db.start_checkpoints()
        with db.read() as conn:
            assert conn.connection.dbapi_connection is not before
            assert conn.exec_driver_sql("PRAGMA wal_autocheckpoint").scalar_one() != 1000
    finally:
        db.dispose()


@pytest.mark.skipif(DIALECT != "postgresql", reason="PostgreSQL reads go through the pool")
def test_postgresql_reads_check_out_every_time(database: Database) -> None:
    seen = checkouts(database)
    for _ in range(3):
        assert read_one(database) == 1
    assert len(seen) == 3
    assert database.engine.pool.checkedout() == 0
