"""SQLite: a process's writers queue on a lock of their own before ``BEGIN IMMEDIATE``
(``storage/engine.py``), so they never poll SQLite's write lock (whose busy handler sleeps up to
100 ms between tries, leaving the lock idle). Shown with ``busy_timeout`` at 0: any writer that
reached SQLite while another held the lock would fail at once with "database is locked"."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError, OperationalError

from skiff.storage import engine
from skiff.storage.dialects import sqlite as sqlite_dialect
from skiff.storage.engine import Database


@pytest.fixture
def impatient(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Database]:
    """A SQLite database whose connections give up on a held write lock at once."""
    monkeypatch.setattr(sqlite_dialect, "BUSY_TIMEOUT_MS", 0)
    db = Database(f"sqlite:///{tmp_path / 'queue.db'}", pool_size=4)
    with db.write() as conn:
        conn.execute(text("CREATE TABLE counter (n INTEGER NOT NULL)"))
        conn.execute(text("INSERT INTO counter VALUES (0)"))
    yield db
    db.dispose()


def _increment(db: Database, inside: threading.Event | None = None, release: threading.Event | None = None) -> None:
    with db.write() as conn:
        if inside is not None and release is not None:
            inside.set()
            release.wait(10)
        conn.execute(text("UPDATE counter SET n = n + 1"))


def _try(db: Database, failed: list[BaseException]) -> None:
    """``_increment``, keeping what it raised in ``failed``."""
    try:
        _increment(db)
    except BaseException as exc:  # noqa: BLE001 - the caller asserts on it
        failed.append(exc)


def test_writers_of_one_process_wait_for_each_other_not_for_sqlite(impatient: Database) -> None:
    inside, release = threading.Event(), threading.Event()
    holder = threading.Thread(target=_increment, args=(impatient, inside, release))
    holder.start()
    assert inside.wait(10)
    errors: list[BaseException] = []
    waiters = [threading.Thread(target=_try, args=(impatient, errors)) for _ in range(4)]
    for waiter in waiters:
        waiter.start()
    release.set()
    for thread in (holder, *waiters):
        thread.join(30)
    assert errors == []
    with impatient.read() as conn:
        assert conn.execute(text("SELECT n FROM counter")).scalar_one() == 5


def test_without_the_queue_the_same_writers_collide(impatient: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    """Guards the test above: with the queue gone, a writer reaches SQLite while the lock is held."""
    monkeypatch.setattr(impatient, "_writers", None)
    inside, release = threading.Event(), threading.Event()
    holder = threading.Thread(target=_increment, args=(impatient, inside, release))
    holder.start()
    assert inside.wait(10)
    try:
        with pytest.raises(OperationalError, match="database is locked"):
            _increment(impatient)
    finally:
        release.set()
        holder.join(30)


def test_the_queue_gives_way_to_sqlites_wait_after_its_timeout(impatient: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    """A writer queued past ``WRITER_QUEUE_TIMEOUT_SEC`` goes on to SQLite (here: fails at once)."""
    monkeypatch.setattr(engine, "WRITER_QUEUE_TIMEOUT_SEC", 0)
    inside, release = threading.Event(), threading.Event()
    holder = threading.Thread(target=_increment, args=(impatient, inside, release))
    holder.start()
    assert inside.wait(10)
    failed: list[BaseException] = []
    other = threading.Thread(target=_try, args=(impatient, failed))
    try:
        other.start()
        other.join(30)
        assert len(failed) == 1 and "database is locked" in str(failed[0])
    finally:
        release.set()
        holder.join(30)


def test_a_failed_commit_fails_its_writer_and_leaves_the_pool_usable(impatient: Database) -> None:
    """SQLite keeps a transaction whose COMMIT failed open; ``write()`` must roll it back, or the
    pooled connection's next user cannot begin. (SQLAlchemy's transaction context does; a commit
    of SQLAlchemy's transaction object on its own, as a group-commit attempt did, does not.)"""
    with impatient.write() as conn:
        conn.execute(text("CREATE TABLE parents (id INTEGER PRIMARY KEY)"))
        # checked at COMMIT, not by the statement: a way to make a commit fail
        conn.execute(text("CREATE TABLE children (parent INTEGER REFERENCES parents (id) DEFERRABLE INITIALLY DEFERRED)"))
    with pytest.raises(IntegrityError, match="FOREIGN KEY"), impatient.write() as conn:
        conn.execute(text("INSERT INTO children VALUES (42)"))
    # the pool hands out its most recently returned connection first: the one that failed
    with impatient.read() as conn:
        assert conn.execute(text("SELECT count(*) FROM children")).scalar_one() == 0
    with impatient.write() as conn:
        conn.execute(text("INSERT INTO parents VALUES (42)"))
        conn.execute(text("INSERT INTO children VALUES (42)"))
    with impatient.read() as conn:
        assert conn.execute(text("SELECT count(*) FROM children")).scalar_one() == 1
