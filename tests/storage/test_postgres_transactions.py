"""PostgreSQL connections run in autocommit mode: reads send no BEGIN and no COMMIT (at READ
COMMITTED each statement has its own snapshot anyway), every other transaction begins with a BEGIN
that skiff sends, so writes, migrations and administrative connections stay atomic. A pooled
connection whose server process went away is replaced at checkout, without a round trip."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from psycopg.pq import TransactionStatus
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError

from skiff.storage.engine import Database, pipelined
from tests.support import DIALECT, PG_URL, new_database_url, pg_round_trips

pytestmark = pytest.mark.skipif(DIALECT != "postgresql", reason="PostgreSQL's transactions")


@pytest.fixture
def database(tmp_path: Path) -> Iterator[Database]:
    db = Database(new_database_url(tmp_path), pool_size=2)
    with db.write() as conn:
        conn.execute(text("CREATE TABLE t (x integer PRIMARY KEY)"))
    yield db
    db.dispose()


def status(conn) -> TransactionStatus:  # type: ignore[no-untyped-def]
    return conn.connection.dbapi_connection.info.transaction_status


def rows(db: Database) -> list[int]:
    with db.read() as conn:
        return [x for (x,) in conn.execute(text("SELECT x FROM t ORDER BY x"))]


def test_a_read_runs_outside_a_transaction_block(database: Database) -> None:
    with database.read() as conn:
        assert conn.execute(text("SELECT count(*) FROM t")).scalar_one() == 0
        assert status(conn) == TransactionStatus.IDLE
        # each statement is a transaction of its own: two statements, two transaction ids
        first = conn.execute(text("SELECT txid_current()")).scalar_one()
        second = conn.execute(text("SELECT txid_current()")).scalar_one()
        assert second > first


def test_a_write_is_one_transaction(database: Database) -> None:
    with database.write() as conn:
        assert status(conn) == TransactionStatus.INTRANS
        conn.execute(text("INSERT INTO t VALUES (1)"))
        first = conn.execute(text("SELECT txid_current()")).scalar_one()
        assert conn.execute(text("SELECT txid_current()")).scalar_one() == first
    assert rows(database) == [1]

    with pytest.raises(RuntimeError), database.write() as conn:
        conn.execute(text("INSERT INTO t VALUES (2)"))
        raise RuntimeError("the use case fails after its first statement")
    assert rows(database) == [1]


def test_a_connection_of_the_engine_itself_is_in_a_transaction(database: Database) -> None:
    """Migrations and administrative commands use the engine directly: their statements run in
    one transaction, rolled back unless committed."""
    with database.engine.connect() as conn:
        conn.execute(text("INSERT INTO t VALUES (3)"))
        assert status(conn) == TransactionStatus.INTRANS
    assert rows(database) == []
    with database.engine.begin() as conn:
        conn.execute(text("INSERT INTO t VALUES (3)"))
    assert rows(database) == [3]


def _until_gone(admin: psycopg.Connection, name: str | None) -> None:
    deadline = time.monotonic() + 30
    query = "SELECT count(*) FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()"
    while admin.execute(query, (name,)).fetchone() != (0,):
        assert time.monotonic() < deadline, "the terminated backends did not end"
        time.sleep(0.01)


def test_a_pooled_connection_whose_server_process_ended_is_replaced(database: Database) -> None:
    """What a restarted PostgreSQL does to every pooled connection: the next read and the next
    write still succeed."""
    with database.read() as conn:
        before = conn.execute(text("SELECT pg_backend_pid()")).scalar_one()
    with database.write() as conn:
        conn.execute(text("INSERT INTO t VALUES (4)"))
    name = database.engine.url.database
    with psycopg.connect(PG_URL, autocommit=True) as admin:
        ended = admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()", (name,)
        ).fetchall()
        assert ended and all(ok for (ok,) in ended)
        # pg_terminate_backend only signals: wait until the backends are gone, as in a restart
        _until_gone(admin, name)
    with database.read() as conn:
        assert conn.execute(text("SELECT pg_backend_pid()")).scalar_one() != before
    with database.write() as conn:
        conn.execute(text("INSERT INTO t VALUES (5)"))
    assert rows(database) == [4, 5]


def test_statements_sent_together_wait_for_the_server_once(database: Database, tmp_path: Path) -> None:
    """A create writes four tables; ``pipelined`` sends their statements in one go."""
    insert = "INSERT INTO t VALUES (%s)"

    def three(conn, start: int) -> None:  # type: ignore[no-untyped-def]
        for x in range(start, start + 3):
            conn.exec_driver_sql(insert, (x,))

    with database.write() as conn:
        assert pg_round_trips(conn, lambda: three(conn, 1), tmp_path / "one.trace") == 3

        def together() -> None:
            with pipelined(conn):
                three(conn, 4)

        assert pg_round_trips(conn, together, tmp_path / "together.trace") == 1
    assert rows(database) == [1, 2, 3, 4, 5, 6]


def test_an_error_among_statements_sent_together_undoes_the_transaction(database: Database) -> None:
    """The first error is raised where the block ends, as SQLAlchemy raises it, and the
    transaction (the statements before it included) changes nothing."""
    with database.write() as conn:
        conn.execute(text("INSERT INTO t VALUES (1)"))
    with pytest.raises(IntegrityError), database.write() as conn:
        with pipelined(conn):
            conn.exec_driver_sql("INSERT INTO t VALUES (%s)", (2,))
            conn.exec_driver_sql("INSERT INTO t VALUES (%s)", (1,))  # a duplicate key
            conn.exec_driver_sql("INSERT INTO t VALUES (%s)", (3,))
    assert rows(database) == [1]
    with database.write() as conn:  # the pooled connection is usable again
        conn.execute(text("INSERT INTO t VALUES (4)"))
    assert rows(database) == [1, 4]
