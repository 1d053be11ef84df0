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
from skiff.ops import models as models_ops
from skiff.ops.tasks import load_for_write, touch_projects
from skiff.ops.tasks_manage import save_status
from skiff.storage.engine import Database
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
    new.update(written)
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
