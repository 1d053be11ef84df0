"""Worker use cases (the ``workers`` service; clients.md §4), one transaction each.

A worker is what ``clearml-agent`` registers: an id chosen by the agent (``host:N`` or
``CLEARML_WORKER_ID``), the queues it listens to and, while it runs one, its current task. It stays
alive for ``timeout`` seconds after its last register or status report; expired rows are invisible
to every reader here and deleted by the stale-workers job (``skiff.jobs.stale_workers``).

What the agent depends on: ``status_report`` registers an unknown worker on the fly (``execute``
never registers), tolerates ``machine_stats``/``tags`` of null, and stamps the reported task's
``last_worker``/``last_worker_report`` (which ``tasks.stop`` reads to decide whether a worker must
be asked to stop it); ``unregister`` of an unknown worker succeeds; ``get_runtime_properties`` is
polled every loop.

For other use cases: ``watched_queues(conn, company, now)`` and ``worker_alive(...)`` work inside
the caller's transaction.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection

from skiff.domain import clock
from skiff.domain import workers as rules
from skiff.domain.errors import ApiError, error
from skiff.domain.identity import Identity
from skiff.storage.engine import Database
from skiff.storage.repos import queues as queues_repo
from skiff.storage.repos import tasks as tasks_repo
from skiff.storage.repos import workers as repo


# register / unregister / status_report -----------------------------------------------------------
def register_worker(
    db: Database,
    caller: Identity,
    worker: str,
    *,
    timeout: int | None = None,
    queues: Sequence[str] | None = None,
    tags: Sequence[str] | None = None,
    system_tags: Sequence[str] | None = None,
    ip: str = "",
    now: datetime | None = None,
) -> None:
    """(Re-)register: a fresh entry replaces any earlier one (task, queue and report cleared).
    Every queue must be one of the company's (400/701)."""
    timeout = timeout or rules.DEFAULT_TIMEOUT
    if timeout <= 0:
        raise error("worker_registration_failed", "invalid timeout", timeout=timeout, worker=worker)
    now = now or clock.now()
    wanted = list(dict.fromkeys(queues or []))
    with db.write() as conn:
        unknown = [q for q in wanted if queues_repo.get_queue(conn, caller.company, q) is None]
        if unknown:
            raise error("invalid_queue_id", ids=tuple(unknown))
        row = rules.new_row(caller.company, caller.user, worker, now, timeout)
        row.update(ip=ip, queues=wanted, tags=list(tags or []), system_tags=list(system_tags or []))
        repo.save_worker(conn, row)


def unregister_worker(db: Database, caller: Identity, worker: str) -> None:
    """Forget the caller's worker; an unknown worker is not an error (the agent unregisters twice)."""
    with db.write() as conn:
        repo.delete_worker(conn, caller.company, caller.user, worker)


def status_report(
    db: Database,
    caller: Identity,
    worker: str,
    *,
    task: str | None = None,
    queue: str | None = None,
    queues: Sequence[str] | None = None,
    tags: Sequence[str] | None = None,
    system_tags: Sequence[str] | None = None,
    ip: str = "",
    now: datetime | None = None,
) -> None:
    """Record a report: activity time, current queue and task (cleared when not sent), the queue
    list and tags when sent. An unknown (or expired) worker is registered on the fly.

    A reported task must be one of the company's: it gets ``last_worker``, ``last_worker_report``,
    ``last_update``, ``last_change`` and ``last_changed_by`` (spec tasks-model §2.7). An unknown
    task is refused with 400/101, but the rest of the report is kept, as the reference does.
    """
    now = now or clock.now()
    failure: ApiError | None = None
    with db.write() as conn:
        # Lock order as in every use case: the task row first, then the worker row.
        doc = tasks_repo.get_task(conn, [caller.company], task, for_update=True) if task else None
        row = repo.get_worker(conn, caller.company, caller.user, worker, for_update=True)
        if row is None or row["expires_at"] <= now:
            row = rules.new_row(caller.company, caller.user, worker, now, rules.DEFAULT_TIMEOUT)
        row["ip"] = ip
        if tags is not None:
            row["tags"] = list(tags)
        if system_tags is not None:
            row["system_tags"] = list(system_tags)
        rules.touch(row, now)
        row["queue"] = queue
        if queues:
            row["queues"] = list(dict.fromkeys(queues))
        if not task:
            row["task"] = None
            row["project"] = None
        elif doc is None:
            failure = error("invalid_task_id", id=task, company=caller.company)
        else:
            new = copy.deepcopy(doc)
            new.update(
                last_worker=worker,
                last_worker_report=now,
                last_update=now,
                last_change=now,
                last_changed_by=caller.user,
            )
            tasks_repo.replace_task(conn, doc, new)
            row["task"] = task
            row["project"] = doc.get("project")
        if failure is None:
            row["last_report"] = now
        repo.save_worker(conn, row)
    if failure is not None:
        raise failure


# reads -------------------------------------------------------------------------------------------
def _queue_entries(conn: Connection, company: str, ids: Iterable[str]) -> dict[str, dict[str, Any]]:
    """``{queue id: {id, name, display_name?, num_tasks, next_task?}}`` for the queues that exist."""
    found: dict[str, dict[str, Any]] = {}
    first_tasks: dict[str, str] = {}
    for queue_id in sorted(set(ids)):
        queue = queues_repo.get_queue(conn, company, queue_id)
        if queue is None:
            continue
        entry: dict[str, Any] = {"id": queue_id, "name": queue["name"]}
        if queue.get("display_name"):
            entry["display_name"] = queue["display_name"]
        entry["num_tasks"] = queues_repo.count_entries(conn, queue_id)
        first = queues_repo.peek_first(conn, queue_id)
        if first:
            first_tasks[queue_id] = first
        found[queue_id] = entry
    docs = tasks_repo.get_tasks(conn, [company], first_tasks.values())
    for queue_id, task_id in first_tasks.items():
        name = (docs.get(task_id) or {}).get("name")
        found[queue_id]["next_task"] = {"id": task_id, "name": name} if name is not None else {"id": task_id}
    return found


def list_workers(
    db: Database,
    caller: Identity,
    *,
    last_seen: int | None = rules.DEFAULT_LAST_SEEN,
    tags: Sequence[str] | None = None,
    system_tags: Sequence[str] | None = None,
    worker_pattern: str | None = None,
    now: datetime | None = None,
) -> list[dict[str, Any]]:
    """The company's live workers active in the last ``last_seen`` seconds (0/None: any), with
    their current task (running time in ms, last iteration) and queues (name, length, next task)."""
    now = now or clock.now()
    with db.read() as conn:
        rows = rules.select_workers(
            repo.live_workers(conn, caller.company, now),
            now,
            last_seen=last_seen,
            tags=tags,
            system_tags=system_tags,
            worker_pattern=worker_pattern,
        )
        tasks = tasks_repo.get_tasks(conn, [caller.company], [r["task"] for r in rows if r["task"]])
        queues = _queue_entries(conn, caller.company, [q for r in rows for q in r["queues"] or []])
    return [rules.worker_entry(row, tasks, queues) for row in rows]


def count_workers(
    db: Database,
    caller: Identity,
    *,
    last_seen: int | None = None,
    tags: Sequence[str] | None = None,
    system_tags: Sequence[str] | None = None,
    worker_pattern: str | None = None,
    now: datetime | None = None,
) -> int:
    """How many workers ``list_workers`` would list with these filters."""
    now = now or clock.now()
    with db.read() as conn:
        rows = repo.live_workers(conn, caller.company, now)
    return len(
        rules.select_workers(
            rows, now, last_seen=last_seen, tags=tags, system_tags=system_tags, worker_pattern=worker_pattern
        )
    )


# runtime properties ------------------------------------------------------------------------------
def get_runtime_properties(
    db: Database, caller: Identity, worker: str, now: datetime | None = None
) -> list[dict[str, Any]]:
    """``[{key, value, expiry}]`` of the caller's worker (registered or not), by key."""
    now = now or clock.now()
    with db.read() as conn:
        found = repo.live_runtime_properties(conn, caller.company, caller.user, worker, now)
    return [
        {"key": p["key"], "value": p["value"], "expiry": rules.property_expiry(p["expires_at"], now)} for p in found
    ]


def set_runtime_properties(
    db: Database, caller: Identity, worker: str, properties: Sequence[dict[str, Any]], now: datetime | None = None
) -> dict[str, list[str]]:
    """Set each ``{key, value, expiry?}`` (expiry in seconds; none: lasting; 0: remove the key)."""
    now = now or clock.now()
    added: list[str] = []
    removed: list[str] = []
    with db.write() as conn:
        for prop in properties:
            key, expiry = prop["key"], prop.get("expiry")
            if expiry == 0:
                repo.delete_runtime_property(conn, caller.company, caller.user, worker, key)
                removed.append(key)
                continue
            expires_at = now + timedelta(seconds=expiry) if expiry else None
            repo.set_runtime_property(conn, caller.company, caller.user, worker, key, prop["value"], expires_at)
            added.append(key)
    return {"added": added, "removed": removed, "errors": []}


# for other use cases and jobs --------------------------------------------------------------------
def watched_queues(conn: Connection, company: str, now: datetime) -> set[str]:
    """Ids of the queues some live worker of the company listens to (``queue_watched``)."""
    return {queue for queues in repo.live_queue_lists(conn, company, now) for queue in queues}


def workers_by_queue(conn: Connection, company: str, now: datetime) -> dict[str, list[dict[str, Any]]]:
    """For ``queues.get_all_ex``: ``{queue id: [{name, ip, key, task}]}``, the live workers that
    listen to each queue (``task``: ``{id, name}`` of the worker's current task, or None)."""
    rows = repo.live_workers(conn, company, now)
    docs = tasks_repo.get_tasks(conn, [company], [r["task"] for r in rows if r["task"]])
    names = {task: doc.get("name") for task, doc in docs.items()}
    found: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        task = None
        if row["task"]:
            task = {"id": row["task"], "name": names[row["task"]]} if names.get(row["task"]) else {"id": row["task"]}
        worker = {"name": row["id"], "ip": row["ip"] or "", "key": rules.worker_key(row), "task": task}
        for queue in row["queues"] or []:
            found.setdefault(queue, []).append(worker)
    return found


def worker_alive(conn: Connection, company: str, worker: str, now: datetime) -> bool:
    """Is a worker of this id registered and unexpired in the company (under any user)?"""
    return repo.is_alive(conn, company, worker, now)


def expire_workers(db: Database, now: datetime) -> tuple[int, int]:
    """Delete the expired workers and runtime properties of every company: (workers, properties)."""
    with db.write() as conn:
        return repo.delete_expired_workers(conn, now), repo.delete_expired_runtime_properties(conn, now)
