"""SQLite: a process's writers take turns on one write transaction and share its commit.

SQLite has one writer at a time, and its commit writes every page the transaction dirtied to the
WAL, one frame (two system calls) per page. A task write dirties ~45 pages (the table, its
indexes, tags, the full-text index), most of them pages the next task write dirties again: the
right-hand leaves of the time-ordered indexes, the full-text segment, the project's row. So when
writers are queued anyway, the one holding the write transaction hands it to the next instead of
committing, and the last of the run commits for all of them (a "group commit"):

- each writer's block runs in a SAVEPOINT of its own: a block that raises undoes only its own
  changes, and its exception reaches only its caller;
- a writer's ``write()`` returns only once the shared transaction has committed, so its caller
  (and whoever it answers) never sees a change that is not durable yet, and its next transaction,
  on any connection, sees it;
- a failed commit fails every writer of the group (each raises the commit's error);
- with no writer waiting, a writer commits at once, as it did alone: under light load nothing
  changes; a group closes at ``MAX_GROUP`` writers so the first does not wait for ever more;
- a writer that may change any number of rows (``alone``: deleting a task's events) has a
  transaction of its own: on its turn it commits the open group for its members first, runs
  without a savepoint (whose journal would hold the original of every page it changes) and
  commits before the next writer's turn.

Writers that wait longer than the queue's timeout go on without it to SQLite's own wait
(``busy_timeout``), which still arbitrates between processes.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from sqlalchemy import Connection, RootTransaction

#: The most writers one commit serves.
MAX_GROUP = 16
_SAVEPOINT = "skiff_writer"


def commit(conn: Connection, transaction: RootTransaction) -> None:
    """Commit; if that fails, leave no transaction open on the driver's connection. SQLite keeps
    a transaction whose COMMIT failed (a deferred constraint, a full disk) open, and SQLAlchemy,
    which counts it as ended, would give the connection back to its pool without a ROLLBACK:
    its next user's BEGIN would fail."""
    try:
        transaction.commit()
    except BaseException:
        driver = None if conn.invalidated else conn.connection.dbapi_connection
        if getattr(driver, "in_transaction", False):
            driver.rollback()  # type: ignore[union-attr]
        raise


class Group:
    """One write transaction and the writers that took turns on it."""

    def __init__(self, alone: bool = False) -> None:
        self.conn: Connection | None = None
        self.transaction: RootTransaction | None = None
        #: one writer's transaction: no savepoint, and nobody joins it
        self.alone = alone
        self.members = 0
        #: set once the transaction has committed or rolled back
        self.finished = threading.Event()
        #: why the transaction did not commit (every waiting member raises it)
        self.error: BaseException | None = None

    def _driver(self, statement: str) -> None:
        assert self.conn is not None
        self.conn.connection.dbapi_connection.execute(statement)  # type: ignore[union-attr]

    def begin_member(self, connect: Callable[[], tuple[Connection, RootTransaction]]) -> Connection:
        """The transaction's connection for the next member, inside a savepoint of its own."""
        if self.conn is None:
            self.conn, self.transaction = connect()
        self.members += 1
        if not self.alone:
            self._driver(f"SAVEPOINT {_SAVEPOINT}")
        return self.conn

    def end_member(self, failed: bool) -> None:
        """Keep (``failed=False``) or undo the current member's changes (a lone member's are
        undone with its transaction: ``WriterQueue.give_back`` with ``broken``)."""
        if self.alone:
            return
        if failed:
            self._driver(f"ROLLBACK TO {_SAVEPOINT}")
        self._driver(f"RELEASE {_SAVEPOINT}")

    def finish(self) -> None:
        """Commit (or, after an error, roll back) and give the connection back to the pool."""
        try:
            if self.transaction is not None:
                if self.error is None:
                    try:
                        commit(self.conn, self.transaction)  # type: ignore[arg-type]
                    except BaseException as exc:
                        self.error = exc
                        raise
                else:
                    self.transaction.rollback()
        finally:
            if self.conn is not None:
                self.conn.close()
            self.finished.set()


class WriterQueue:
    """Turns on the process's open write ``Group``, in arrival order (see the module's docstring)."""

    def __init__(self) -> None:
        self._turn = threading.Condition()
        self._busy = False
        self._waiting = 0
        self._group: Group | None = None
        self._holder = threading.local()
        #: groups committed and writers served (how much sharing there was)
        self.commits = 0
        self.writers = 0

    def holds(self) -> bool:
        """Is this thread inside a write of the queue's (a nested write goes around it)?"""
        return getattr(self._holder, "group", None) is not None

    def take(self, timeout: float, *, alone: bool = False) -> Group | None:
        """Wait for this thread's turn on the open group (a new one if none is open); None after
        ``timeout`` seconds. ``alone``: a new group of this writer's own, once the open one (if
        any) has committed."""
        deadline = time.monotonic() + timeout
        with self._turn:
            self._waiting += 1
            try:
                while self._busy:
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        return None
                    self._turn.wait(remaining)
            finally:
                self._waiting -= 1
            self._busy = True
            if self._group is None:
                self._group = Group(alone)
            group = self._group
        if alone and not group.alone:  # others' open group: commit it for them, still this thread's turn
            try:
                self._finish(group)
            except BaseException:
                self._release()
                raise
            with self._turn:
                group = self._group = Group(alone=True)
        self._holder.group = group
        return group

    def give_back(self, group: Group, broken: BaseException | None = None) -> None:
        """End this thread's turn: hand the open group to the next waiting writer, or commit it.
        ``broken``: the group's transaction is unusable (roll it back, fail its members)."""
        self._holder.group = None
        with self._turn:
            if broken is None and self._waiting and group.members < MAX_GROUP and not group.alone:
                self._busy = False
                self._turn.notify()
                return
        if broken is not None and group.error is None:
            group.error = broken
        try:
            self._finish(group)
        finally:
            self._release()

    def _release(self) -> None:
        """End this thread's turn."""
        with self._turn:
            self._busy = False
            self._turn.notify()

    def _finish(self, group: Group) -> None:
        """Commit or roll back ``group`` during this thread's turn (no other writer touches the
        connection); a failed commit reaches the group's members, not this thread."""
        try:
            group.finish()
        except BaseException:
            if group.error is None:
                raise
        finally:
            with self._turn:
                self._group = None
                self.commits += group.error is None
                self.writers += group.members


def write_in_group(queue: WriterQueue, group: Group, connect: Callable[[], tuple[Connection, RootTransaction]]) -> Any:
    """The body of ``Database.write`` for a writer whose turn it is (a generator: yields the
    connection once, returns after the group's commit)."""
    broken: BaseException | None = None
    member = False
    try:
        conn = group.begin_member(connect)
        member = True
        try:
            yield conn
        except BaseException as exc:
            if group.alone:  # its transaction is its own: undo all of it
                broken = exc
                raise
            try:
                group.end_member(failed=True)
            except BaseException as undo_error:  # the savepoint is gone: so is the whole transaction
                broken = undo_error
            raise
        try:
            group.end_member(failed=False)
        except BaseException as exc:
            broken = exc
            raise
    except BaseException as exc:
        if not member:  # could not even begin: the transaction cannot go on
            broken = exc
        queue.give_back(group, broken)
        raise
    queue.give_back(group)
    group.finished.wait()
    if group.error is not None:
        raise group.error
