"""SQLite: writers that queue behind one another share one transaction and its commit
(``storage/group_commit.py``), each block in a savepoint of its own."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError

from skiff.storage import group_commit
from skiff.storage.engine import Database


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Database]:
    db = Database(f"sqlite:///{tmp_path / 'group.db'}", pool_size=4)
    with db.write() as conn:
        conn.execute(text("CREATE TABLE rows (name TEXT PRIMARY KEY)"))
        conn.execute(text("CREATE TABLE parents (id INTEGER PRIMARY KEY)"))
        # checked at COMMIT, not by the statement: a way to make a commit fail
        conn.execute(text("CREATE TABLE children (parent INTEGER REFERENCES parents (id) DEFERRABLE INITIALLY DEFERRED)"))
    yield db
    db.dispose()


def _names(db: Database) -> set[str]:
    with db.read() as conn:
        return set(conn.execute(text("SELECT name FROM rows")).scalars())


def _until(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.005)


class Writers:
    """A holder inside its write block, and writers queued behind it (each a thread that
    inserts its name, optionally runs ``extra`` in the same block, and records what it saw)."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self.errors: dict[str, BaseException] = {}
        #: did the writer's row show on another connection as soon as write() returned?
        self.visible_on_return: dict[str, bool] = {}
        self.threads: list[threading.Thread] = []
        self._inside = threading.Event()
        self._release = threading.Event()

    def _write(self, name: str, extra: Callable[[object], None] | None, hold: bool, bulk: bool) -> None:
        try:
            with self.db.write(bulk=bulk) as conn:
                conn.execute(text("INSERT INTO rows VALUES (:n)"), {"n": name})
                if extra is not None:
                    extra(conn)
                if hold:
                    self._inside.set()
                    assert self._release.wait(10)
            self.visible_on_return[name] = name in _names(self.db)
        except BaseException as exc:  # noqa: BLE001 - the test asserts on it
            self.errors[name] = exc

    def start(self, name: str, extra: Callable[[object], None] | None = None, *, hold: bool = False, bulk: bool = False) -> None:
        thread = threading.Thread(target=self._write, args=(name, extra, hold, bulk))
        self.threads.append(thread)
        thread.start()
        if hold:
            assert self._inside.wait(10)

    def run(self, holder: str, queued: dict[str, Callable[[object], None] | None], bulk: frozenset[str] = frozenset()) -> None:
        """The holder writes and waits; the others queue behind it (one at a time, so in this
        order; those in ``bulk`` as bulk writers); then the holder lets go and everyone finishes."""
        self.start(holder, hold=True)
        assert self.db._writers is not None
        for count, (name, extra) in enumerate(queued.items(), 1):
            self.start(name, extra, bulk=name in bulk)
            _until(lambda: self.db._writers._waiting == count)  # type: ignore[union-attr]
        self._release.set()
        for thread in self.threads:
            thread.join(30)
            assert not thread.is_alive()


def test_queued_writers_share_one_commit(db: Database) -> None:
    queue = db._writers
    assert queue is not None
    before = (queue.commits, queue.writers)
    writers = Writers(db)
    writers.run("holder", {f"w{i}": None for i in range(4)})
    assert writers.errors == {}
    assert _names(db) == {"holder", "w0", "w1", "w2", "w3"}
    assert (queue.commits - before[0], queue.writers - before[1]) == (1, 5)
    # nobody's write() returned before the shared commit
    assert writers.visible_on_return == dict.fromkeys(["holder", "w0", "w1", "w2", "w3"], True)


def test_a_group_closes_at_max_group(db: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(group_commit, "MAX_GROUP", 2)
    queue = db._writers
    assert queue is not None
    before = (queue.commits, queue.writers)
    writers = Writers(db)
    writers.run("holder", {f"w{i}": None for i in range(4)})
    assert writers.errors == {} and len(_names(db)) == 5
    assert (queue.commits - before[0], queue.writers - before[1]) == (3, 5)


def test_alone_a_writer_commits_at_once(db: Database) -> None:
    queue = db._writers
    assert queue is not None
    before = queue.commits
    for name in ("a", "b"):
        with db.write() as conn:
            conn.execute(text("INSERT INTO rows VALUES (:n)"), {"n": name})
        assert name in _names(db)
    assert queue.commits == before + 2


def _fail(conn: object) -> None:
    raise ZeroDivisionError("the block fails")


def _duplicate(conn: object) -> None:
    conn.execute(text("INSERT INTO rows VALUES ('holder')"))  # type: ignore[attr-defined]


def test_a_failing_writer_undoes_only_its_own_changes(db: Database) -> None:
    queue = db._writers
    assert queue is not None
    before = queue.commits
    writers = Writers(db)
    writers.run("holder", {"w0": None, "fails": _fail, "duplicate": _duplicate, "w1": None})
    assert set(writers.errors) == {"fails", "duplicate"}
    assert isinstance(writers.errors["fails"], ZeroDivisionError)
    assert isinstance(writers.errors["duplicate"], IntegrityError)
    assert _names(db) == {"holder", "w0", "w1"}
    assert queue.commits == before + 1


def _orphan(conn: object) -> None:
    conn.execute(text("INSERT INTO children VALUES (42)"))  # type: ignore[attr-defined]


def test_a_failed_commit_fails_every_writer_of_the_group(db: Database) -> None:
    writers = Writers(db)
    writers.run("holder", {"w0": None, "orphan": _orphan})
    assert set(writers.errors) == {"holder", "w0", "orphan"}
    assert all(isinstance(exc, IntegrityError) and "FOREIGN KEY" in str(exc) for exc in writers.errors.values())
    assert _names(db) == set()
    # the queue goes on: the next writer has a transaction of its own
    with db.write() as conn:
        conn.execute(text("INSERT INTO rows VALUES ('after')"))
    assert _names(db) == {"after"}


def test_alone_a_failed_commit_fails_its_writer(db: Database) -> None:
    with pytest.raises(IntegrityError, match="FOREIGN KEY"), db.write() as conn:
        _orphan(conn)
    with db.read() as conn:
        assert conn.execute(text("SELECT count(*) FROM children")).scalar_one() == 0


def test_a_bulk_writer_has_a_transaction_of_its_own(db: Database) -> None:
    """It commits the open group for its members first, and nobody joins its transaction, which
    keeps its temporary data (and no savepoint journal) on files."""
    queue = db._writers
    assert queue is not None
    before = (queue.commits, queue.writers)
    seen: dict[str, object] = {}

    def look(name: str) -> Callable[[object], None]:
        def extra(conn: object) -> None:
            seen[name] = (conn.exec_driver_sql("PRAGMA temp_store").scalar(), _names(db))  # type: ignore[attr-defined]

        return extra

    writers = Writers(db)
    writers.run("holder", {"w0": look("w0"), "bulk": look("bulk"), "w1": look("w1")}, bulk=frozenset({"bulk"}))
    assert writers.errors == {}
    assert _names(db) == {"holder", "w0", "bulk", "w1"}
    # the group of holder and w0 had committed when the bulk writer's block ran; w1 came after
    assert seen == {"w0": (2, set()), "bulk": (0, {"holder", "w0"}), "w1": (2, {"holder", "w0", "bulk"})}
    assert (queue.commits - before[0], queue.writers - before[1]) == (3, 4)


def test_a_failing_bulk_writer_undoes_all_of_its_own_changes(db: Database) -> None:
    writers = Writers(db)
    writers.run("holder", {"w0": None, "fails": _fail, "w1": None}, bulk=frozenset({"fails"}))
    assert set(writers.errors) == {"fails"} and isinstance(writers.errors["fails"], ZeroDivisionError)
    assert _names(db) == {"holder", "w0", "w1"}
    with db.write(bulk=True) as conn:
        conn.execute(text("INSERT INTO rows VALUES ('alone')"))
        assert conn.exec_driver_sql("PRAGMA temp_store").scalar() == 0
    assert "alone" in _names(db)
