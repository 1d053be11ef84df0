"""SQLite: a server checkpoints the WAL on a thread of its own (``Database.start_checkpoints``),
not in the commits of its writers, which used to pay SQLite's automatic checkpoint (and its
fsyncs) every ~1000 pages while holding the write lock."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import text
from starlette.testclient import TestClient

from skiff.app import create_app
from skiff.settings import Settings
from skiff.storage.dialects import sqlite as sqlite_dialect
from skiff.storage.engine import Database
from tests.support import PG_URL, new_database_url

PAGE = 4096


@pytest.fixture
def database(tmp_path: Path) -> Iterator[Database]:
    db = Database(f"sqlite:///{tmp_path / 'wal.db'}", pool_size=2)
    with db.write() as conn:
        conn.execute(text("CREATE TABLE blobs (id INTEGER PRIMARY KEY, body BLOB NOT NULL)"))
    yield db
    db.dispose()


def _write_pages(db: Database, count: int) -> None:
    """``count`` transactions that each add a page-sized row."""
    for _ in range(count):
        with db.write() as conn:
            conn.execute(text("INSERT INTO blobs (body) VALUES (randomblob(:n))"), {"n": PAGE - 200})


def _wal_pages(db: Database) -> int:
    return Path(f"{db.engine.url.database}-wal").stat().st_size // PAGE


def _autocheckpoint(db: Database) -> int:
    with db.read() as conn:
        return int(conn.exec_driver_sql("PRAGMA wal_autocheckpoint").scalar_one())


def _until(condition: Callable[[], bool], timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


def test_writers_checkpoint_by_themselves_without_it(database: Database) -> None:
    """The baseline the other tests differ from: SQLite's own checkpoint every 1000 pages keeps
    reusing the start of the WAL."""
    _write_pages(database, 1500)
    assert database.checkpointer is None
    assert _autocheckpoint(database) == 1000
    assert _wal_pages(database) < 1200


def test_with_it_writers_leave_the_wal_to_the_thread(database: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sqlite_dialect, "CHECKPOINT_INTERVAL_SEC", 3600.0)  # the thread waits
    database.start_checkpoints()
    assert database.checkpointer is not None and database.checkpointer.running
    assert _autocheckpoint(database) == sqlite_dialect.BACKSTOP_CHECKPOINT_PAGES
    _write_pages(database, 1500)
    assert _wal_pages(database) > 1500  # nobody checkpointed
    assert database.checkpointer.checkpoints == 0


def test_the_thread_copies_every_committed_page_soon_after_the_commits(database: Database) -> None:
    database.start_checkpoints()
    checkpointer = database.checkpointer
    assert checkpointer is not None
    _write_pages(database, 300)
    assert _until(lambda: checkpointer.last is not None and checkpointer.last[1] >= 300 and checkpointer.last[1] == checkpointer.last[2])
    time.sleep(3 * sqlite_dialect.CHECKPOINT_INTERVAL_SEC)  # (a commit just after one began is seen by one more)
    done = checkpointer.checkpoints
    time.sleep(5 * sqlite_dialect.CHECKPOINT_INTERVAL_SEC)
    assert checkpointer.checkpoints == done  # idle: no commit, no checkpoint
    _write_pages(database, 10)
    assert _until(lambda: checkpointer.checkpoints > done)
    with database.read() as conn:
        assert conn.exec_driver_sql("SELECT count(*) FROM blobs").scalar_one() == 310


def test_under_sustained_writes_the_backstop_bounds_the_wal(database: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    """New frames keep the thread from ever reaching the WAL's end; the writer that reaches the
    backstop checkpoints the rest, and the WAL restarts instead of growing with the writes."""
    monkeypatch.setattr(sqlite_dialect, "BACKSTOP_CHECKPOINT_PAGES", 256)
    database.start_checkpoints()
    assert _autocheckpoint(database) == 256
    _write_pages(database, 2000)
    assert _wal_pages(database) < 2 * 256


def test_writers_running_alongside_checkpoints_lose_nothing(database: Database) -> None:
    database.start_checkpoints()
    threads = [threading.Thread(target=_write_pages, args=(database, 100)) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert database.checkpointer is not None
    assert _until(lambda: database.checkpointer.checkpoints > 0)  # type: ignore[union-attr]
    with database.read() as conn:
        assert conn.exec_driver_sql("SELECT count(*) FROM blobs").scalar_one() == 400
        assert conn.exec_driver_sql("PRAGMA integrity_check").scalar_one() == "ok"


def test_dispose_stops_the_thread(database: Database) -> None:
    # this database's thread: another test's server in the same process may still run its own
    before = set(threading.enumerate())
    database.start_checkpoints()
    checkpointer = database.checkpointer
    assert checkpointer is not None
    started = [thread for thread in set(threading.enumerate()) - before if thread.name == "skiff-checkpoint"]
    assert len(started) == 1
    database.dispose()
    assert not checkpointer.running
    assert not started[0].is_alive()


def test_the_server_lifespan_starts_it(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'served.db'}"
    database = Database(url, pool_size=2)
    with TestClient(create_app(Settings(data_dir=tmp_path, db_url=url, jobs=False), database)) as client:
        assert client.post("/debug.ping", json={}).status_code == 200
        assert database.checkpointer is not None and database.checkpointer.running
        assert _autocheckpoint(database) == sqlite_dialect.BACKSTOP_CHECKPOINT_PAGES
    assert not database.checkpointer.running


@pytest.mark.skipif(not PG_URL, reason="PostgreSQL checkpoints by itself; runs with SKIFF_TEST_PG_URL")
def test_not_for_postgresql(tmp_path: Path) -> None:
    db = Database(new_database_url(tmp_path), pool_size=1)
    db.start_checkpoints()
    assert db.checkpointer is None
    db.dispose()
