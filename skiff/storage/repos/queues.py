"""Queues, their tags, their entries and metric samples: rows in, rows out, scoped by company.

Every function takes the caller's ``Connection`` and works inside the caller's transaction, so
``tasks.enqueue``/``dequeue``/``delete``/``reset``/``archive`` change a task's status and its queue
entry in one transaction. Functions that change entries also stamp the queue's ``last_update`` and
write a metrics sample, so no caller can forget to.

Exceptions leaving this module instead of driver errors::

    NameTaken          the unique (company, name) constraint refused a write (a racing creator)
    BadPattern         PostgreSQL refused a regular expression that Python's ``re`` accepted
    UnknownQueue       the queue does not exist in the company (add_entry, pop_first)
    TaskAlreadyQueued  the task already has an entry (in ``.queue``); a task is in at most one queue

Concurrency. SQLite serialises writers (``Database.write()`` is ``BEGIN IMMEDIATE``). On
PostgreSQL the writers here lock in one order, and callers holding other locks should keep it:
**task row(s) → queue row → entry rows**. ``add_entry``, ``remove_task_entries``, ``move_entry``
and ``clear_entries`` lock the queue row (``FOR NO KEY UPDATE``, which foreign-key checks do not
wait for) before touching entries, so a caller that already locked the task (``load_for_write``)
is in order. ``pop_first`` is the exception by design: it locks only the entry it takes, with
``FOR UPDATE SKIP LOCKED``, so concurrent pops hand out different entries without waiting on one
another, and it stamps the queue's ``last_update`` only if nobody holds the queue row (whoever does
is stamping it anyway).

Order. Entries are ordered by ``position``; positions are spaced ``STEP`` apart so that a move
takes one row update (the midpoint between its new neighbours); only when two neighbours touch is
the queue renumbered.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Connection,
    delete,
    func,
    insert,
    literal,
    not_,
    select,
    update,
)
from sqlalchemy.exc import DBAPIError, IntegrityError

from skiff.domain.queues import (
    DEFAULT_TAG,
    HIDDEN_TAGS,
    STRING_FIELDS,
    Point,
    QueueQuery,
    epoch_ms,
)
from skiff.storage.repos.common import BadPattern, NameTaken, has_tag, order_clauses, tag_condition
from skiff.storage.tables import queue_entries, queue_metrics, queue_tags, queues

#: Distance between the positions of neighbouring entries after an append or a renumbering.
STEP = 1 << 20

_UNIQUE_NAME = "uq_queues_company_name"
_ENTRY_KEY = "pk_queue_entries"
_PG_INVALID_REGEX = "2201B"


class UnknownQueue(Exception):
    """No such queue in the company."""

    def __init__(self, queue: str) -> None:
        super().__init__(queue)
        self.queue = queue


class TaskAlreadyQueued(Exception):
    """The task already has an entry, in ``queue``."""

    def __init__(self, task: str, queue: str) -> None:
        super().__init__(task, queue)
        self.task = task
        self.queue = queue


def _row(row: Any) -> dict[str, Any]:
    return dict(row._mapping)


def _is_unique_name_violation(exc: IntegrityError) -> bool:
    text = str(exc.orig)
    return _UNIQUE_NAME in text or "queues.company, queues.name" in text


def _is_entry_key_violation(exc: IntegrityError) -> bool:
    text = str(exc.orig)
    return _ENTRY_KEY in text or "queue_entries.task" in text


def _postgres(conn: Connection) -> bool:
    return conn.dialect.name == "postgresql"


# queues -------------------------------------------------------------------------------------------
def insert_queue(conn: Connection, **values: Any) -> None:
    """Insert a queue row (``id, company, name, created, last_update, display_name, metadata``).
    Raises ``NameTaken`` if the company already has a queue of that name."""
    values.setdefault("metadata", {})
    try:
        conn.execute(insert(queues).values(**values))
    except IntegrityError as exc:
        if _is_unique_name_violation(exc):
            raise NameTaken(values["name"]) from None
        raise


def update_queue(conn: Connection, company: str, id: str, **values: Any) -> int:
    """Set columns of one queue; returns 1 if it exists in the company, else 0. Raises
    ``NameTaken`` when a new name is taken."""
    try:
        result = conn.execute(
            update(queues).where(queues.c.company == company, queues.c.id == id).values(**values)
        )
    except IntegrityError as exc:
        if _is_unique_name_violation(exc):
            raise NameTaken(values.get("name", "")) from None
        raise
    return result.rowcount


def delete_queue(conn: Connection, company: str, id: str) -> int:
    """Delete a queue; its tags and entries go with it (ON DELETE CASCADE), its metric samples
    stay. Returns 1, or 0 if the company has no such queue."""
    return conn.execute(delete(queues).where(queues.c.company == company, queues.c.id == id)).rowcount


def get_queue(conn: Connection, company: str, id: str) -> dict[str, Any] | None:
    """The queue row, or None if the company has no such queue. Takes no lock."""
    row = conn.execute(select(queues).where(queues.c.company == company, queues.c.id == id)).first()
    return _row(row) if row else None


def _lock_queue(conn: Connection, company: str, id: str) -> dict[str, Any] | None:
    query = select(queues).where(queues.c.company == company, queues.c.id == id).with_for_update(key_share=True)
    row = conn.execute(query).first()
    return _row(row) if row else None


def find_by_name(conn: Connection, company: str, name: str) -> dict[str, Any] | None:
    """The company's queue with exactly this name, or None."""
    row = conn.execute(select(queues).where(queues.c.company == company, queues.c.name == name)).first()
    return _row(row) if row else None


def default_queues(conn: Connection, company: str) -> list[dict[str, Any]]:
    """Every queue of the company tagged as the default (system tag ``default``), oldest first.
    Exactly one is the normal case; the caller answers none with 400/707 and several with 400/708."""
    query = (
        select(queues)
        .where(queues.c.company == company, has_tag(queue_tags, queues.c.id, "system_tags", [DEFAULT_TAG]))
        .order_by(queues.c.created, queues.c.id)
    )
    return [_row(r) for r in conn.execute(query)]


def set_tags(conn: Connection, company: str, queue: str, kind: str, tags: Sequence[str]) -> None:
    """Replace the queue's tags of one kind (``tags`` or ``system_tags``)."""
    conn.execute(delete(queue_tags).where(queue_tags.c.queue == queue, queue_tags.c.kind == kind))
    if tags:
        conn.execute(
            insert(queue_tags),
            [{"queue": queue, "kind": kind, "tag": t, "company": company} for t in tags],
        )


def tags_of(conn: Connection, ids: Sequence[str]) -> dict[str, dict[str, list[str]]]:
    """{queue id: {"tags": [...], "system_tags": [...]}}, sorted."""
    found: dict[str, dict[str, list[str]]] = {i: {"tags": [], "system_tags": []} for i in ids}
    if ids:
        query = (
            select(queue_tags.c.queue, queue_tags.c.kind, queue_tags.c.tag)
            .where(queue_tags.c.queue.in_(list(ids)))
            .order_by(queue_tags.c.tag)
        )
        for queue, kind, tag in conn.execute(query):
            found[queue].setdefault(kind, []).append(tag)
    return found


def find_queues(conn: Connection, company: str, query: QueueQuery) -> list[dict[str, Any]]:
    """One page of the company's queues matching ``query`` (name: unanchored regex search)."""
    c = queues.c
    where: list[ColumnElement[bool]] = [c.company == company]
    if query.ids:
        where.append(c.id.in_(query.ids))
    if query.name:
        where.append(c.name.regexp_match(query.name))
    if query.tags:
        where.append(tag_condition(queue_tags, queues.c.id, "tags", query.tags))
    if query.system_tags:
        where.append(tag_condition(queue_tags, queues.c.id, "system_tags", query.system_tags))
    if not query.include_hidden:
        where.append(not_(has_tag(queue_tags, queues.c.id, "system_tags", HIDDEN_TAGS)))
    order = order_clauses(queues, query.order, STRING_FIELDS, conn.dialect.name) or [c.created, c.id]
    statement = select(queues).where(*where).order_by(*order).offset(query.offset).limit(query.limit)
    try:
        return [_row(r) for r in conn.execute(statement)]
    except DBAPIError as exc:
        if getattr(exc.orig, "sqlstate", None) == _PG_INVALID_REGEX:
            raise BadPattern(str(exc.orig).strip()) from None
        raise


def company_queue_ids(conn: Connection, company: str) -> list[str]:
    """Ids of all the company's queues, oldest first."""
    query = select(queues.c.id).where(queues.c.company == company).order_by(queues.c.created, queues.c.id)
    return list(conn.execute(query).scalars())


# entries: reads -----------------------------------------------------------------------------------
_ENTRY_ORDER = (queue_entries.c.position, queue_entries.c.added, queue_entries.c.task)


def entries_of(conn: Connection, queue_ids: Sequence[str], *, limit: int | None = None) -> dict[str, list[dict[str, Any]]]:
    """{queue id: [{task, added}, ...]} in queue order; with ``limit`` only the first entries."""
    found: dict[str, list[dict[str, Any]]] = {q: [] for q in queue_ids}
    if not queue_ids:
        return found
    e = queue_entries.c
    query = select(e.queue, e.task, e.added).where(e.queue.in_(list(queue_ids)))
    if limit is not None:
        rank = func.row_number().over(partition_by=e.queue, order_by=_ENTRY_ORDER).label("rank")
        ranked = select(e.queue, e.task, e.added, e.position, rank).where(e.queue.in_(list(queue_ids))).subquery()
        query = (
            select(ranked.c.queue, ranked.c.task, ranked.c.added)
            .where(ranked.c.rank <= limit)
            .order_by(ranked.c.queue, ranked.c.position, ranked.c.added, ranked.c.task)
        )
    else:
        query = query.order_by(e.queue, *_ENTRY_ORDER)
    for queue, task, added in conn.execute(query):
        found[queue].append({"task": task, "added": added})
    return found


def queue_tasks(conn: Connection, queue: str) -> list[str]:
    """Task ids of the queue's entries, in queue order."""
    query = select(queue_entries.c.task).where(queue_entries.c.queue == queue).order_by(*_ENTRY_ORDER)
    return list(conn.execute(query).scalars())


def count_entries(conn: Connection, queue: str) -> int:
    """How many entries the queue holds (0 for an unknown queue: check the queue first)."""
    query = select(func.count()).select_from(queue_entries).where(queue_entries.c.queue == queue)
    return conn.execute(query).scalar_one()


def peek_first(conn: Connection, queue: str) -> str | None:
    """The task at the front of the queue, left in place; None if the queue is empty."""
    query = select(queue_entries.c.task).where(queue_entries.c.queue == queue).order_by(*_ENTRY_ORDER).limit(1)
    return conn.execute(query).scalar()


def entry_of_task(conn: Connection, company: str, task: str) -> dict[str, Any] | None:
    """The task's entry ``{task, queue, added, position}`` in any queue of the company, or None.
    (At most one exists: a task is in at most one queue.)"""
    query = (
        select(queue_entries)
        .join(queues, queues.c.id == queue_entries.c.queue)
        .where(queue_entries.c.task == task, queues.c.company == company)
    )
    row = conn.execute(query).first()
    return _row(row) if row else None


def position_of(conn: Connection, queue: str, task: str) -> int | None:
    """The task's 0-based index in the queue, or None if it is not there."""
    tasks = queue_tasks(conn, queue)
    return tasks.index(task) if task in tasks else None


# entries: writes ----------------------------------------------------------------------------------
def add_entry(conn: Connection, company: str, queue: str, task: str, now: datetime) -> int:
    """Append ``{task, added: now}`` at the back of the company's queue and return its 0-based
    index. The task row must exist. Raises ``UnknownQueue`` if the company has no such queue and
    ``TaskAlreadyQueued`` if the task has an entry anywhere (this queue or another: call
    ``remove_task_entries`` first to move it). Stamps the queue and samples its metrics."""
    if _lock_queue(conn, company, queue) is None:
        raise UnknownQueue(queue)
    holder = conn.execute(select(queue_entries.c.queue).where(queue_entries.c.task == task)).scalar()
    if holder is not None:
        raise TaskAlreadyQueued(task, holder)
    last = conn.execute(select(func.max(queue_entries.c.position)).where(queue_entries.c.queue == queue)).scalar()
    position = 0 if last is None else last + STEP
    try:
        conn.execute(insert(queue_entries).values(task=task, queue=queue, position=position, added=now))
    except IntegrityError as exc:
        # A racing transaction queued the same task into another queue (callers that lock the
        # task first never see this).
        if _is_entry_key_violation(exc):
            raise TaskAlreadyQueued(task, "") from None
        raise
    _touch(conn, queue, now)
    record_sample(conn, company, queue, now)
    return count_entries(conn, queue) - 1


def remove_task_entries(conn: Connection, company: str, task: str, now: datetime, *, queue: str | None = None) -> int:
    """Remove the task from whichever queue of the company holds it (only from ``queue`` when
    given); returns how many entries went (0 or 1). Never raises for a task that is not queued.
    Stamps the queue and samples its metrics."""
    entry = entry_of_task(conn, company, task)
    if entry is None or (queue is not None and entry["queue"] != queue):
        return 0
    holder = entry["queue"]
    if _lock_queue(conn, company, holder) is None:
        return 0
    removed = conn.execute(
        delete(queue_entries).where(queue_entries.c.task == task, queue_entries.c.queue == holder)
    ).rowcount
    if removed:
        _touch(conn, holder, now)
        record_sample(conn, company, holder, now)
    return removed


def pop_first(conn: Connection, company: str, queue: str, now: datetime, *, task: str | None = None) -> dict[str, Any] | None:
    """Atomically take the entry at the front of the queue: returns ``{task, added}`` and deletes
    it, or None if the queue is empty. With ``task``, only if that task is at the front. Two
    transactions never get the same entry: on PostgreSQL the entry is locked ``FOR UPDATE SKIP
    LOCKED`` (a concurrent pop takes the next one instead of waiting), on SQLite writers are
    serialised. Raises ``UnknownQueue``. Samples the queue's metrics. A caller that then writes
    the popped task locks it after the entry: keep that rare (``queues.get_next_task`` does it
    only for a ``stopped`` task)."""
    if get_queue(conn, company, queue) is None:
        raise UnknownQueue(queue)
    e = queue_entries.c
    first = select(e.task, e.added).where(e.queue == queue).order_by(*_ENTRY_ORDER).limit(1)
    if _postgres(conn):
        first = first.with_for_update(skip_locked=True)
    row = conn.execute(first).first()
    if row is None or (task is not None and row.task != task):
        return None
    if not conn.execute(delete(queue_entries).where(e.task == row.task, e.queue == queue)).rowcount:
        return None
    stamp = update(queues).where(queues.c.id == queue).values(last_update=now)
    if _postgres(conn):
        free = select(queues.c.id).where(queues.c.id == queue).with_for_update(key_share=True, skip_locked=True)
        stamp = stamp.where(queues.c.id.in_(free.scalar_subquery()))
    conn.execute(stamp)
    record_sample(conn, company, queue, now)
    return {"task": row.task, "added": row.added}


def move_entry(conn: Connection, company: str, queue: str, task: str, index: int, now: datetime) -> int | None:
    """Move the task's entry to the 0-based ``index`` (clamped to the queue) and return the index
    it ends at; None if the task is not in this queue of the company. Stamps the queue."""
    if _lock_queue(conn, company, queue) is None:
        return None
    e = queue_entries.c
    rows = conn.execute(select(e.task, e.position).where(e.queue == queue).order_by(*_ENTRY_ORDER)).all()
    order = [r.task for r in rows]
    if task not in order:
        return None
    current = order.index(task)
    target = max(0, min(index, len(rows) - 1))
    if target == current:
        return target
    others = [r for r in rows if r.task != task]
    before = others[target - 1].position if target > 0 else None
    after = others[target].position if target < len(others) else None
    if before is None:
        position = after - STEP  # type: ignore[operator]
    elif after is None:
        position = before + STEP
    elif after - before > 1:
        position = (before + after) // 2
    else:
        position = None
    if position is not None:
        conn.execute(update(queue_entries).where(e.task == task).values(position=position))
    else:
        renumbered = [r.task for r in others]
        renumbered.insert(target, task)
        for i, name in enumerate(renumbered):
            conn.execute(update(queue_entries).where(e.task == name).values(position=i * STEP))
    _touch(conn, queue, now)
    return target


def clear_entries(conn: Connection, company: str, queue: str, now: datetime, *, tasks: Sequence[str] | None = None) -> list[str]:
    """Remove the queue's entries (only those of ``tasks`` when given); returns the removed task
    ids in queue order ([] for an unknown queue). Stamps the queue and samples its metrics."""
    if _lock_queue(conn, company, queue) is None:
        return []
    e = queue_entries.c
    query = select(e.task).where(e.queue == queue).order_by(*_ENTRY_ORDER)
    if tasks is not None:
        query = query.where(e.task.in_(list(tasks)))
    removed = list(conn.execute(query).scalars())
    if removed:
        conn.execute(delete(queue_entries).where(e.queue == queue, e.task.in_(removed)))
    _touch(conn, queue, now)
    record_sample(conn, company, queue, now)
    return removed


def _touch(conn: Connection, queue: str, now: datetime) -> None:
    conn.execute(update(queues).where(queues.c.id == queue).values(last_update=now))


# metrics ------------------------------------------------------------------------------------------
def _epoch_seconds(column: Any, dialect: str) -> ColumnElement[Any]:
    # A DateTime as seconds since the epoch: PostgreSQL has EXTRACT, SQLite stores the ISO text
    # that julianday() reads.
    if dialect == "postgresql":
        return func.extract("epoch", column)
    return (func.julianday(column) - literal(2440587.5)) * literal(86400.0)


def record_sample(conn: Connection, company: str, queue: str, now: datetime) -> None:
    """Store the queue's current length and its entries' average wait, stamped ``now``."""
    e = queue_entries.c
    length, mean_added = conn.execute(
        select(func.count(), func.avg(_epoch_seconds(e.added, conn.dialect.name))).where(e.queue == queue)
    ).one()
    now_ms = epoch_ms(now)
    wait = max(0.0, now_ms / 1000 - float(mean_added)) if length else 0.0
    conn.execute(
        insert(queue_metrics).values(
            company=company, queue=queue, timestamp=now_ms, queue_length=length, avg_waiting_time=wait
        )
    )


def metric_points(
    conn: Connection, company: str, queue_ids: Sequence[str] | None, start_ms: int, end_ms: int, interval_ms: int
) -> dict[str, list[Point]]:
    """{queue id: [Point, ...]} for samples in ``[start_ms, end_ms]``, bucketed by
    ``interval_ms`` from the epoch; per bucket the sample with the longest wait (then the longest
    queue). Queues without samples are absent. ``queue_ids`` None: every queue of the company."""
    m = queue_metrics.c
    bucket = (m.timestamp - m.timestamp % interval_ms).label("date")
    rank = func.row_number().over(
        partition_by=(m.queue, bucket), order_by=(m.avg_waiting_time.desc(), m.queue_length.desc(), m.id.desc())
    )
    where = [m.company == company, m.timestamp >= start_ms, m.timestamp <= end_ms]
    if queue_ids is not None:
        where.append(m.queue.in_(list(queue_ids)))
    ranked = select(m.queue, bucket, m.avg_waiting_time, m.queue_length, rank.label("rank")).where(*where).subquery()
    query = (
        select(ranked.c.queue, ranked.c.date, ranked.c.avg_waiting_time, ranked.c.queue_length)
        .where(ranked.c.rank == 1)
        .order_by(ranked.c.queue, ranked.c.date)
    )
    found: dict[str, list[Point]] = {}
    for queue, date, wait, length in conn.execute(query):
        found.setdefault(queue, []).append(Point(int(date), float(wait), int(length)))
    return found
