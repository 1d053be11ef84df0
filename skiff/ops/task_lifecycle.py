"""Task status changes (spec tasks-model §3, §5.20–5.27): one algorithm for every endpoint.

``change_status`` validates the transition against ``domain.task_status.ALLOWED`` (unless forced),
writes the seven common fields plus the endpoint's extras with a compare-and-set on the status it
read, touches the project, and answers ``{updated, fields}`` with what the spec echoes.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection

from skiff.domain import clock
from skiff.domain import task_status as machine
from skiff.domain.errors import error
from skiff.domain.identity import Identity
from skiff.domain.task_document import TASK_STATUSES, task_urls
from skiff.ops import models as models_ops
from skiff.ops import queues as queue_ops
from skiff.ops import workers as worker_ops
from skiff.ops.tasks import load_for_write, touch_projects, visible
from skiff.ops.tasks_manage import save_status
from skiff.storage.engine import Database
from skiff.storage.repos import events as events_repo
from skiff.storage.repos import queues as queues_repo
from skiff.storage.repos import tasks as repo

#: A worker-run task whose last update is older than this is no longer considered alive (§5.20).
TASK_UPDATE_TIMEOUT = timedelta(seconds=600)

#: ``extras(old_doc, now) -> (fields to write, the subset echoed in the response)``
Extras = Callable[[dict[str, Any], datetime], tuple[dict[str, Any], dict[str, Any]]]


def _no_extras(doc: dict[str, Any], now: datetime) -> tuple[dict[str, Any], dict[str, Any]]:
    return {}, {}


def apply_change(
    conn: Connection,
    caller: Identity,
    old: dict[str, Any],
    new_status: str,
    *,
    force: bool,
    reason: str,
    message: str,
    now: datetime,
    extras: Extras = _no_extras,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Inside a transaction: validate, write and return (new document, echoed fields)."""
    machine.check_transition(old.get("status", "created"), new_status, force=force)
    fields = machine.status_fields(new_status, reason=reason, message=message, now=now, user=caller.user)
    written, echoed = extras(old, now)
    new = copy.deepcopy(old)
    machine.apply_status(new, fields)
    for key, value in written.items():  # None unsets a field
        if value is None:
            new.pop(key, None)
        else:
            new[key] = value
    save_status(conn, old, new)
    touch_projects(conn, caller.company, [new.get("project")], now)
    return new, {**fields, **echoed}


def change_status(
    db: Database,
    caller: Identity,
    task: str,
    new_status: str,
    *,
    force: bool = False,
    reason: str = "",
    message: str = "",
    extras: Extras = _no_extras,
) -> dict[str, Any]:
    now = clock.now()
    with db.write() as conn:
        old = load_for_write(conn, caller, task)
        _, fields = apply_change(
            conn, caller, old, new_status, force=force, reason=reason, message=message, now=now, extras=extras
        )
    return {"updated": 1, "fields": fields}


# endpoint-specific extras ------------------------------------------------------------------------
def started_extras(doc: dict[str, Any], now: datetime) -> tuple[dict[str, Any], dict[str, Any]]:
    started = doc.get("started")
    if started is None:
        return {"started": now}, {"started": now}
    return {"started": min(_dt(started), now)}, {}


def completed_extras(doc: dict[str, Any], now: datetime) -> tuple[dict[str, Any], dict[str, Any]]:
    return {"completed": now}, {"completed": now}


def _dt(value: Any) -> datetime:
    return value if isinstance(value, datetime) else datetime.fromisoformat(str(value)).replace(tzinfo=None)


def started(db: Database, caller: Identity, task: str, *, force: bool, reason: str, message: str) -> dict[str, Any]:
    result = change_status(
        db, caller, task, "in_progress", force=force, reason=reason, message=message, extras=started_extras
    )
    return {**result, "started": result["updated"]}


def stopped(db: Database, caller: Identity, task: str, *, force: bool, reason: str, message: str) -> dict[str, Any]:
    return change_status(db, caller, task, "stopped", force=force, reason=reason, message=message, extras=completed_extras)


def failed(db: Database, caller: Identity, task: str, *, force: bool, reason: str, message: str) -> dict[str, Any]:
    return change_status(db, caller, task, "failed", force=force, reason=reason, message=message)


def close(db: Database, caller: Identity, task: str, *, force: bool, reason: str, message: str) -> dict[str, Any]:
    return change_status(db, caller, task, "closed", force=force, reason=reason, message=message)


def completed(
    db: Database, caller: Identity, task: str, *, force: bool, reason: str, message: str, publish: bool
) -> dict[str, Any]:
    result = change_status(
        db, caller, task, "completed", force=force, reason=reason, message=message, extras=completed_extras
    )
    result["published"] = 0
    if publish:
        published = publish_task(db, caller, task, force=force, reason=reason, message=message, publish_model=True)
        result["fields"] = {**result["fields"], **published["fields"]}
        result["published"] = 1
    return result


def publish_task(
    db: Database, caller: Identity, task: str, *, force: bool, reason: str, message: str, publish_model: bool
) -> dict[str, Any]:
    """stopped/closed/failed/completed/publishing → published (never published → published)."""
    now = clock.now()
    with db.write() as conn:
        old = load_for_write(conn, caller, task)
        current = old.get("status", "created")
        if not force:
            if current == "published":  # the one same-state change publish refuses
                raise error("invalid_task_status", "Invalid status change", current_status=current, new_status=current)
            machine.check_transition(current, "published")
        if publish_model:
            publish_output_model(conn, caller, old, now)

        def extras(doc: dict[str, Any], when: datetime) -> tuple[dict[str, Any], dict[str, Any]]:
            output = copy.deepcopy(doc.get("output") or {})
            return {"published": when}, {"published": when, "output": output}

        _, fields = apply_change(
            conn, caller, old, "published", force=True, reason=reason, message=message, now=now, extras=extras
        )
    return {"updated": 1, "fields": fields}


def publish_output_model(conn: Connection, caller: Identity, doc: dict[str, Any], now: datetime) -> None:
    """Publishing a task publishes its last output model (spec §5.23)."""
    outputs = (doc.get("models") or {}).get("output") or []
    if not outputs:
        return
    models_ops.publish_in_transaction(conn, caller, outputs[-1]["model"], now)


def ping(db: Database, caller: Identity, task: str) -> None:
    """Keep-alive: stamps last_update; silently ignores unknown, foreign and public tasks."""
    now = clock.now()
    with db.write() as conn:
        old = repo.get_task(conn, [caller.company], task, for_update=True)
        if old is None:
            return
        new = copy.deepcopy(old)
        new["last_update"] = now
        new["last_change"] = now
        new["last_changed_by"] = caller.user
        if new.get("status") == "in_progress" and new.get("started"):
            new["active_duration"] = int((now - _dt(new["started"])).total_seconds())
        repo.replace_task(conn, old, new)


def is_worker_run(doc: dict[str, Any], now: datetime) -> bool:
    """Is a live worker running this task (§5.20 (c))?"""
    if not doc.get("last_worker"):
        return False
    last_update = doc.get("last_update")
    return last_update is not None and now - _dt(last_update) <= TASK_UPDATE_TIMEOUT


# queue-aware status changes (spec §5.20, §5.24, §5.25, §5.27) --------------------------------------
def _leave_queues(conn: Connection, caller: Identity, doc: dict[str, Any], now: datetime, *, all_queues: bool) -> int:
    """B4 (the task's ``execution.queue`` only) or, with ``all_queues``, every queue of the company.
    A task is in at most one queue, so the second is the entry wherever it is."""
    queue = (doc.get("execution") or {}).get("queue")
    if all_queues:
        return queues_repo.remove_task_entries(conn, caller.company, doc["id"], now)
    if doc.get("status") == "queued" and queue:
        return queues_repo.remove_task_entries(conn, caller.company, doc["id"], now, queue=queue)
    return 0


def enqueue(
    db: Database,
    caller: Identity,
    task: str,
    *,
    queue: str | None,
    queue_name: str | None,
    reason: str,
    message: str,
    force: bool,
    verify_watched_queue: bool,
    update_execution_queue: bool = True,
) -> dict[str, Any]:
    if verify_watched_queue and not update_execution_queue:
        raise error("validation_error", "verify_watched_queue cannot be used with update_execution_queue=False")
    if queue and queue_name:
        raise error("validation_error", "Either queue id or queue name should be provided")
    now = clock.now()
    with db.write() as conn:
        old = load_for_write(conn, caller, task)
        current_queue = (old.get("execution") or {}).get("queue")
        if not update_execution_queue and not (old.get("status") == "queued" and current_queue):
            raise error(
                "validation_error",
                "Cannot skip setting execution queue for a task that is not enqueued or does not have execution queue set",
            )
        if queue_name:
            target = queue_ops.queue_by_name_or_create(conn, caller.company, queue_name, now)["id"]
        elif queue:
            target = queue_ops.load_queue(conn, caller.company, queue)["id"]
        else:
            target = queue_ops.default_queue(conn, caller.company)["id"]
        previous = old.get("status", "created")
        enqueue_status = old.get("enqueue_status") if previous == "queued" else previous

        def extras(doc: dict[str, Any], when: datetime) -> tuple[dict[str, Any], dict[str, Any]]:
            written: dict[str, Any] = {"enqueue_status": enqueue_status}
            echoed: dict[str, Any] = {"enqueue_status": enqueue_status}
            if update_execution_queue:
                written["execution"] = {**(doc.get("execution") or {}), "queue": target}
                echoed["execution.queue"] = target
            return written, echoed

        _, fields = apply_change(
            conn, caller, old, "queued", force=force, reason=reason, message=message, now=now, extras=extras
        )
        entry = queues_repo.entry_of_task(conn, caller.company, task)
        if entry is not None and entry["queue"] == target:
            raise error("task_already_queued", task=task)
        queues_repo.remove_task_entries(conn, caller.company, task, now)
        try:
            queues_repo.add_entry(conn, caller.company, target, task, now)
        except queues_repo.UnknownQueue:
            raise error("invalid_queue_id", id=target, company=caller.company) from None
        except queues_repo.TaskAlreadyQueued:
            raise error("task_already_queued", task=task) from None
        result: dict[str, Any] = {"queued": 1, "updated": 1, "fields": fields}
        if verify_watched_queue:
            result["queue_watched"] = target in worker_ops.watched_queues(conn, caller.company, now)
    return result


def dequeue(
    db: Database,
    caller: Identity,
    task: str,
    *,
    reason: str,
    message: str,
    remove_from_all_queues: bool,
    new_status: str | None,
) -> dict[str, Any]:
    """B5: never fails on status; an unknown task is silently removed from the queues."""
    if new_status is not None and new_status not in TASK_STATUSES:
        raise error("validation_error", f"Invalid task status: {new_status}")
    now = clock.now()
    with db.write() as conn:
        old = repo.get_task(conn, visible(caller), task, for_update=True)
        if old is None:
            queues_repo.remove_task_entries(conn, caller.company, task, now)
            return {"dequeued": 1, "updated": 0, "fields": {}}
        old = load_for_write(conn, caller, task)  # refuses public tasks
        _leave_queues(conn, caller, old, now, all_queues=remove_from_all_queues)
        status = old.get("status", "created")
        if status not in ("queued", "in_progress"):
            return {"dequeued": 1, "updated": 0, "fields": {}}
        target = new_status or old.get("enqueue_status") or "created"

        def extras(doc: dict[str, Any], when: datetime) -> tuple[dict[str, Any], dict[str, Any]]:
            return {"enqueue_status": None}, {"enqueue_status": None}

        _, fields = apply_change(
            conn, caller, old, target, force=True, reason=reason, message=message, now=now, extras=extras
        )
    return {"dequeued": 1, "updated": 1, "fields": fields}


def stop(db: Database, caller: Identity, task: str, *, force: bool, reason: str) -> dict[str, Any]:
    """Stop at once (queued, development or not run by a live worker), else ask the worker:
    status_message "stopping" on a same-state change."""
    now = clock.now()
    with db.write() as conn:
        old = load_for_write(conn, caller, task)
        status = old.get("status", "created")
        immediate = (
            status == "queued"
            or "development" in (old.get("system_tags") or [])
            or not is_worker_run(old, now)
        )
        if immediate:
            _leave_queues(conn, caller, old, now, all_queues=False)
            _, fields = apply_change(
                conn, caller, old, "stopped", force=force, reason=reason,
                message=f"Stopped by {caller.user_name}", now=now,
            )  # fmt: skip
        else:
            _, fields = apply_change(
                conn, caller, old, status, force=True, reason=reason, message="stopping", now=now
            )
    return {"updated": 1, "fields": fields}


def reset(
    db: Database,
    caller: Identity,
    task: str,
    *,
    force: bool,
    clear_all: bool,
    return_file_urls: bool,
    delete_output_models: bool,
) -> dict[str, Any]:
    now = clock.now()
    with db.write(bulk=True) as conn:  # a reset deletes the task's events
        old = load_for_write(conn, caller, task)
        status = old.get("status", "created")
        if status == "published" and not force:
            raise error("invalid_task_status", task_id=task, status=status)
        machine.check_transition(status, "created", force=force)
        if not force and repo.children(conn, task, status="published"):
            raise error(
                "task_cannot_be_deleted",
                "has children, use force=True",
                task=task,
                children=len(repo.children(conn, task, status="published")),
            )
        cleanup = models_ops.cleanup_task_models(
            conn, caller, old, force=force, delete_output_models=delete_output_models, deleting=False, now=now
        )
        removed = queues_repo.remove_task_entries(conn, caller.company, task, now)
        events_repo.delete_for_task(conn, task)
        urls = task_urls(old, cleanup.model_urls)

        def extras(doc: dict[str, Any], when: datetime) -> tuple[dict[str, Any], dict[str, Any]]:
            execution = copy.deepcopy(doc.get("execution") or {})
            if clear_all:
                execution = {}
            else:
                execution.pop("queue", None)
                execution["artifacts"] = [a for a in execution.get("artifacts") or [] if a.get("mode") == "input"]
            output = {k: v for k, v in (doc.get("output") or {}).items() if k not in ("result", "error")}
            written = {
                "last_iteration": 0,
                "last_metrics": {},
                "unique_metrics": [],
                "metric_stats": {},
                "models": {"input": (doc.get("models") or {}).get("input") or [], "output": []},
                "runtime": {},
                "output": output,
                "execution": execution,
            }
            for gone in ("last_worker", "last_worker_report", "started", "completed", "published",
                         "active_duration", "enqueue_status"):  # fmt: skip
                written[gone] = None
            if clear_all:
                written["script"] = None
            return written, {}

        new, fields = apply_change(
            conn, caller, old, "created", force=True, reason="reset", message="reset", now=now, extras=extras
        )
    return {
        "updated": 1,
        "fields": fields,
        "dequeued": {"removed": removed} if removed else {},
        "events": {},
        "deleted_models": cleanup.deleted_models,
        "urls": urls if return_file_urls else {},
    }
