"""Queue use cases, one transaction each: create, read, list, update, delete, the entry operations
(add, remove, pop, peek, count, moves, clear), metrics and metadata.

The task side is kept as the reference keeps it: ``add_task`` points ``execution.queue`` at the
queue (its status is left alone); ``get_next_task`` pops and leaves the task ``queued`` (a task
found ``stopped`` is put back to ``queued``, the reference's guard against an abort racing the
enqueue); ``clear_queue``, ``delete`` (forced) and ``remove_task`` with ``update_task_status``
return each affected task to its ``enqueue_status`` (or ``created``), clearing ``enqueue_status``
and ``execution.queue``.

For other use cases running in their own transaction (``tasks.enqueue`` …): ``load_queue``,
``queue_by_name_or_create`` and ``default_queue`` answer with the reference's errors.
"""

from __future__ import annotations

import copy
from datetime import datetime
from typing import Any

from sqlalchemy import Connection

from skiff.domain import clock, ids
from skiff.domain import queues as rules
from skiff.domain import task_status as machine
from skiff.domain.errors import ApiError, error
from skiff.domain.identity import Identity
from skiff.ops.tasks import load_for_write, touch_projects, visible
from skiff.storage.engine import Database
from skiff.ops.workers import workers_by_queue
from skiff.storage.repos import queues as repo
from skiff.storage.repos import tasks as tasks_repo

def _duplicate(company: str, name: str) -> ApiError:
    # A taken name answers 400/801 expected_unique_data, from the unique (company, name) index.
    return error("expected_unique_data", company=company, name=name)


def _invalid_id(company: str, queue: str) -> ApiError:
    return error("invalid_queue_id", id=queue, company=company)


def _not_queued(company: str, queue: str, task: str) -> ApiError:
    return error("invalid_queue_or_task_not_queued", task=task, id=queue, company=company)


# for other use cases (inside their transaction) ---------------------------------------------------
def load_queue(conn: Connection, company: str, queue: str) -> dict[str, Any]:
    """The company's queue row, or 400/701 ``Invalid queue id: id=<q>, company=<c>``."""
    row = repo.get_queue(conn, company, queue)
    if row is None:
        raise _invalid_id(company, queue)
    return row


def default_queue(conn: Connection, company: str) -> dict[str, Any]:
    """The company's default queue row (system tag ``default``): none → 400/707, several → 400/708."""
    found = repo.default_queues(conn, company)
    if not found:
        raise error("no_default_queue")
    if len(found) > 1:
        raise error("multiple_default_queues", queues=tuple(q["id"] for q in found))
    return found[0]


def queue_by_name_or_create(conn: Connection, company: str, name: str, now: datetime) -> dict[str, Any]:
    """The company's queue named ``name`` (stripped), created if missing (``tasks.enqueue`` with
    ``queue_name``). Short names → 400/800. A racing creator that wins the name makes this answer
    400/801 on PostgreSQL (the transaction is spoilt by then: retry the whole use case)."""
    parsed = rules.parse_name(name)
    found = repo.find_by_name(conn, company, parsed)
    if found is not None:
        return found
    try:
        return _insert(conn, company, parsed, now)
    except repo.NameTaken:
        raise _duplicate(company, parsed) from None


def ensure_default_queue(conn: Connection, company: str, now: datetime) -> str:
    """Give the company a default queue if it has none: the queue named "default" gets the system
    tag, or is created with it. Returns the default queue's id (the oldest if several)."""
    found = repo.default_queues(conn, company)
    if found:
        return found[0]["id"]
    row = repo.find_by_name(conn, company, rules.DEFAULT_NAME)
    if row is None:
        row = _insert(conn, company, rules.DEFAULT_NAME, now)
    tags = repo.tags_of(conn, [row["id"]])[row["id"]]["system_tags"]
    repo.set_tags(conn, company, row["id"], "system_tags", sorted({*tags, rules.DEFAULT_TAG}))
    return row["id"]


def _insert(
    conn: Connection,
    company: str,
    name: str,
    now: datetime,
    *,
    display_name: str | None = None,
    metadata: dict[str, Any] | None = None,
    tags: list[str] | None = None,
    system_tags: list[str] | None = None,
) -> dict[str, Any]:
    row = {
        "id": ids.new_id(),
        "company": company,
        "name": name,
        "display_name": display_name,
        "created": now,
        "last_update": now,
        "metadata": metadata or {},
    }
    repo.insert_queue(conn, **row)
    for kind, values in (("tags", tags), ("system_tags", system_tags)):
        if values:
            repo.set_tags(conn, company, row["id"], kind, values)
    return row


def _release_task(conn: Connection, caller: Identity, doc: dict[str, Any], reason: str, now: datetime) -> None:
    """Forced status change (spec §3.2) back to what the task was before it was queued (or
    created), clearing ``enqueue_status`` and ``execution.queue``; compare-and-set on the status."""
    target = doc.get("enqueue_status") or "created"
    new = copy.deepcopy(doc)
    machine.apply_status(new, machine.status_fields(target, reason=reason, message="", now=now, user=caller.user))
    new["enqueue_status"] = None
    (new.get("execution") or {}).pop("queue", None)
    try:
        tasks_repo.replace_task(conn, doc, new)
    except tasks_repo.StatusChanged:
        raise error(
            "failed_changing_task_status", task_id=doc["id"], current_status=doc.get("status"), new_status=target
        ) from None
    touch_projects(conn, caller.company, [new.get("project")], now)


def _release_tasks(
    conn: Connection, caller: Identity, queue: str, task_ids: list[str], reason: str, now: datetime
) -> list[str]:
    """Lock the tasks, return those whose ``execution.queue`` is this queue to their previous
    status; returns their ids (in ``task_ids`` order)."""
    found = tasks_repo.get_tasks(conn, [caller.company], sorted(task_ids), for_update=True)
    released = []
    for task in task_ids:
        doc = found.get(task)
        if doc is not None and (doc.get("execution") or {}).get("queue") == queue:
            _release_task(conn, caller, doc, reason, now)
            released.append(task)
    return released


# create / read / list -----------------------------------------------------------------------------
def create_queue(
    db: Database,
    caller: Identity,
    *,
    name: str,
    display_name: str | None = None,
    tags: list[str] | None = None,
    system_tags: list[str] | None = None,
    metadata: Any = None,
) -> str:
    """``queues.create``: names are stripped, 3+ characters (400/800), unique (400/801)."""
    parsed = rules.parse_name(name)
    tag_list = rules.normalize_queue_tags(tags, "tags")
    system_list = rules.normalize_queue_tags(system_tags, "system_tags")
    items = rules.normalize_metadata(metadata)
    with db.write() as conn:
        if repo.find_by_name(conn, caller.company, parsed) is not None:
            raise _duplicate(caller.company, parsed)
        try:
            row = _insert(
                conn, caller.company, parsed, clock.now(), display_name=display_name, metadata=items,
                tags=tag_list, system_tags=system_list,
            )  # fmt: skip
        except repo.NameTaken:
            raise _duplicate(caller.company, parsed) from None
    return row["id"]


def get_queue(db: Database, caller: Identity, queue: str, *, max_entries: int | None = None) -> dict[str, Any]:
    """``queues.get_by_id``: the whole document, or 400/701 (also for another company's id)."""
    with db.read() as conn:
        row = load_queue(conn, caller.company, queue)
        tags = repo.tags_of(conn, [queue])[queue]
        limit = max_entries if max_entries and max_entries > 0 else None
        entries = repo.entries_of(conn, [queue], limit=limit)[queue]
    return rules.queue_document(row, tags, entries)


def list_queues(db: Database, caller: Identity, query: rules.QueueQuery, *, ex: bool = False) -> list[dict[str, Any]]:
    """``queues.get_all`` (and, with ``ex``, ``get_all_ex``: each entry's task as ``{id, name}``
    and the queue's ``workers``)."""
    projection = query.projection
    with db.read() as conn:
        try:
            rows = repo.find_queues(conn, caller.company, query)
        except repo.BadPattern as exc:
            raise error("invalid_regex_error", err=str(exc)) from None
        queue_ids = [r["id"] for r in rows]
        tags = repo.tags_of(conn, queue_ids) if projection.wants("tags") or projection.wants("system_tags") else None
        entries = repo.entries_of(conn, queue_ids, limit=query.max_entries) if projection.wants("entries") else None
        names: dict[str, str] = {}
        serving = workers_by_queue(conn, caller.company, clock.now()) if ex else {}
        if ex and entries:
            task_ids = [e["task"] for found in entries.values() for e in found]
            names = {t: d.get("name", "") for t, d in tasks_repo.get_tasks(conn, visible(caller), task_ids).items()}
    documents = []
    for row in rows:
        queue_entries = entries[row["id"]] if entries is not None else None
        if ex and queue_entries is not None:
            queue_entries = [
                {"task": {"id": e["task"], **({"name": names[e["task"]]} if e["task"] in names else {})}, "added": e["added"]}
                for e in queue_entries
            ]
        doc = rules.project_fields(
            rules.queue_document(row, tags[row["id"]] if tags else None, queue_entries), projection
        )
        if ex:
            doc["workers"] = serving.get(row["id"], [])
        documents.append(doc)
    return documents


def get_default(db: Database, caller: Identity) -> dict[str, str]:
    """``queues.get_default``: ``{id, name}`` of the default queue, or 400/707 / 400/708."""
    with db.read() as conn:
        row = default_queue(conn, caller.company)
    return {"id": row["id"], "name": row["name"]}


# update / delete ----------------------------------------------------------------------------------
def update_queue(db: Database, caller: Identity, queue: str, changes: dict[str, Any]) -> dict[str, Any]:
    """``queues.update``: name, display_name, tags, system_tags, metadata (only those sent).
    Answers ``{updated, fields}`` with the fields written, as the reference."""
    fields: dict[str, Any] = {}
    tag_sets: dict[str, list[str]] = {}
    if changes.get("name") is not None:
        fields["name"] = rules.parse_name(changes["name"])
    if "display_name" in changes:
        fields["display_name"] = changes["display_name"]
    if changes.get("metadata") is not None:
        fields["metadata"] = rules.normalize_metadata(changes["metadata"])
    for kind in rules.TAG_KINDS:
        if changes.get(kind) is not None:
            tag_sets[kind] = rules.normalize_queue_tags(changes[kind], kind)
    with db.write() as conn:
        row = load_queue(conn, caller.company, queue)
        if not fields and not tag_sets:
            return {"updated": 0, "fields": {}}
        if fields.get("name", row["name"]) != row["name"]:
            if repo.find_by_name(conn, caller.company, fields["name"]) is not None:
                raise _duplicate(caller.company, fields["name"])
        try:
            repo.update_queue(conn, caller.company, queue, **fields, last_update=clock.now())
        except repo.NameTaken:
            raise _duplicate(caller.company, fields["name"]) from None
        for kind, values in tag_sets.items():
            repo.set_tags(conn, caller.company, queue, kind, values)
    return {"updated": 1, "fields": {**fields, **tag_sets}}


def delete_queue(db: Database, caller: Identity, queue: str, *, force: bool) -> None:
    """``queues.delete``: a non-empty queue needs ``force`` (400/702); its tasks then go back to
    their previous status ("Queue <id> was deleted")."""
    now = clock.now()
    with db.write() as conn:
        load_queue(conn, caller.company, queue)
        waiting = repo.queue_tasks(conn, queue)
        if waiting:
            if not force:
                raise error("queue_not_empty", "use force=true to delete", id=queue)
            _release_tasks(conn, caller, queue, waiting, f"Queue {queue} was deleted", now)
        repo.delete_queue(conn, caller.company, queue)


# entries ------------------------------------------------------------------------------------------
def add_task(db: Database, caller: Identity, queue: str, task: str, *, update_execution_queue: bool = True) -> int:
    """``queues.add_task``: append the task (any status; the status is left alone) and, unless
    told otherwise, point its ``execution.queue`` here. A task already in this queue → 400/706;
    in another queue → 400/706 too (a task is in at most one queue: use ``tasks.enqueue`` to move
    it)."""
    now = clock.now()
    with db.write() as conn:
        load_queue(conn, caller.company, queue)
        doc = load_for_write(conn, caller, task)
        try:
            repo.add_entry(conn, caller.company, queue, task, now)
        except repo.TaskAlreadyQueued as exc:
            if exc.queue in ("", queue):
                raise error("task_already_queued", task=task) from None
            raise error("task_already_queued", "in another queue", task=task, queue=exc.queue) from None
        except repo.UnknownQueue:
            raise _invalid_id(caller.company, queue) from None
        if update_execution_queue and (doc.get("execution") or {}).get("queue") != queue:
            new = copy.deepcopy(doc)
            new["execution"] = {**(new.get("execution") or {}), "queue": queue}
            tasks_repo.replace_task(conn, doc, new)
    return 1


def get_next_task(
    db: Database, caller: Identity, queue: str, *, task: str | None = None, get_task_info: bool = False
) -> dict[str, Any]:
    """``queues.get_next_task``: pop the front entry → ``{entry: {task, added}}`` (plus
    ``task_info: {company, user}`` when asked), ``{}`` for an empty queue (or, with ``task``, when
    that task is not at the front). Unknown queue → 400/701."""
    with db.read() as conn:
        # Agents poll every few seconds, mostly finding nothing: answer that without taking the
        # write lock (on SQLite every write transaction waits for the one writer).
        load_queue(conn, caller.company, queue)
        front = repo.peek_first(conn, queue)
    if front is None or (task is not None and front != task):
        return {}
    now = clock.now()
    with db.write() as conn:
        try:
            entry = repo.pop_first(conn, caller.company, queue, now, task=task)
        except repo.UnknownQueue:
            raise _invalid_id(caller.company, queue) from None
        if entry is None:
            return {}
        result: dict[str, Any] = {"entry": entry}
        doc = tasks_repo.get_task(conn, visible(caller), entry["task"])
        if doc is not None:
            if doc.get("status") == "stopped":
                new = dict(doc, status="queued")
                try:
                    tasks_repo.replace_task(conn, doc, new)
                except tasks_repo.StatusChanged:
                    pass  # someone else changed it meanwhile: theirs stands
            if get_task_info:
                result["task_info"] = {"company": doc.get("company", ""), "user": doc.get("user", "")}
    return result


def remove_task(db: Database, caller: Identity, queue: str, task: str, *, update_task_status: bool = False) -> int:
    """``queues.remove_task``: 400/703 unless the task is in this queue. With
    ``update_task_status`` the task goes back to its previous status (if it was queued here)."""
    now = clock.now()
    with db.write() as conn:
        entry = repo.entry_of_task(conn, caller.company, task)
        if entry is None or entry["queue"] != queue:
            raise _not_queued(caller.company, queue, task)
        if update_task_status:
            _release_tasks(conn, caller, queue, [task], f"Task was removed from the queue {queue}", now)
        removed = repo.remove_task_entries(conn, caller.company, task, now, queue=queue)
        if not removed:
            raise _not_queued(caller.company, queue, task)
    return removed


def clear_queue(db: Database, caller: Identity, queue: str) -> list[str]:
    """``queues.clear_queue``: empty the queue; tasks queued here go back to their previous status
    ("Queue <id> was cleared"). Returns the ids of the tasks whose status changed."""
    now = clock.now()
    with db.write() as conn:
        if repo.get_queue(conn, caller.company, queue) is None:
            raise error("invalid_queue_id", queue=queue)
        waiting = repo.queue_tasks(conn, queue)
        if not waiting:
            return []
        released = _release_tasks(conn, caller, queue, waiting, f"Queue {queue} was cleared", now)
        repo.clear_entries(conn, caller.company, queue, now, tasks=waiting)
    return released


#: How the move_* endpoints choose the new index from the current one and the queue length.
MOVES = {
    "forward": lambda current, size, count: current - count,
    "backward": lambda current, size, count: current + count,
    "front": lambda current, size, count: 0,
    "back": lambda current, size, count: size - 1,
}


def move_task(db: Database, caller: Identity, queue: str, task: str, how: str, count: int = 1) -> int:
    """``queues.move_task_*``: the task's new 0-based position (clamped to the queue). 400/703
    unless the task is in this queue."""
    now = clock.now()
    with db.write() as conn:
        tasks = repo.queue_tasks(conn, queue) if repo.get_queue(conn, caller.company, queue) else []
        if task not in tasks:
            raise _not_queued(caller.company, queue, task)
        target = MOVES[how](tasks.index(task), len(tasks), count)
        position = repo.move_entry(conn, caller.company, queue, task, target, now)
        if position is None:
            raise _not_queued(caller.company, queue, task)
    return position


def count_entries(db: Database, caller: Identity, queue: str) -> int:
    """``queues.get_num_entries``; unknown queue → 400/701."""
    with db.read() as conn:
        if repo.get_queue(conn, caller.company, queue) is None:
            raise error("invalid_queue_id", queue_id=queue)
        return repo.count_entries(conn, queue)


def peek_task(db: Database, caller: Identity, queue: str) -> str | None:
    """``queues.peek_task``: the front task id (left in place), None for an empty queue."""
    with db.read() as conn:
        load_queue(conn, caller.company, queue)
        return repo.peek_first(conn, queue)


# metrics ------------------------------------------------------------------------------------------
def get_queue_metrics(
    db: Database,
    caller: Identity,
    *,
    from_date: float,
    to_date: float,
    interval: int,
    queue_ids: list[str] | None,
    refresh: bool = False,
) -> list[dict[str, Any]]:
    """``queues.get_queue_metrics``: per asked queue (those with samples), or one company-wide
    series named "total" when no queue is asked for."""
    start, end = rules.check_metrics_range(from_date, to_date)
    wanted = list(dict.fromkeys(queue_ids)) if queue_ids else None
    if refresh:
        now = clock.now()
        with db.write() as conn:
            mine = set(repo.company_queue_ids(conn, caller.company))
            for queue in wanted if wanted is not None else sorted(mine):
                if queue in mine:
                    repo.record_sample(conn, caller.company, queue, now)
    with db.read() as conn:
        points = repo.metric_points(conn, caller.company, wanted, start, end, interval * 1000)
    if wanted is not None:
        return [{"queue": q, **rules.series(points[q])} for q in wanted if q in points]
    return [{"queue": rules.TOTAL_SERIES, **rules.series(rules.company_total(points))}]


# metadata -----------------------------------------------------------------------------------------
def add_or_update_metadata(db: Database, caller: Identity, queue: str, items: Any, *, replace: bool) -> int:
    """``queues.add_or_update_metadata``: merge items by key (or replace them all)."""
    new_items = rules.normalize_metadata(items)
    with db.write() as conn:
        row = load_queue(conn, caller.company, queue)
        metadata = new_items if replace else {**(row["metadata"] or {}), **new_items}
        repo.update_queue(conn, caller.company, queue, metadata=metadata)
    return 1


def delete_metadata(db: Database, caller: Identity, queue: str, keys: list[str]) -> int:
    """``queues.delete_metadata``: drop items by key (unknown keys are ignored)."""
    with db.write() as conn:
        row = load_queue(conn, caller.company, queue)
        metadata = {k: v for k, v in (row["metadata"] or {}).items() if k not in set(keys)}
        repo.update_queue(conn, caller.company, queue, metadata=metadata)
    return 1
