"""Whole-task use cases: clone, delete, archive/unarchive, move, make public/private
(spec tasks-model §5.3, §5.9–5.15), one transaction per task."""

from __future__ import annotations

import copy
from datetime import datetime
from typing import Any

from sqlalchemy import Connection

from skiff.domain import clock, ids
from skiff.domain import task_document as docs
from skiff.domain import task_status
from skiff.domain.errors import error
from skiff.domain.identity import Identity
from skiff.domain.versions import Version
from skiff.ops import models as models_ops
from skiff.ops.projects import ensure_project
from skiff.ops.tasks import (
    PUBLIC,
    check_references,
    load_for_write,
    load_many_for_write,
    stamp,
    touch_projects,
    visible,
)
from skiff.storage.engine import Database
from skiff.storage.repos import projects as projects_repo
from skiff.storage.repos import events as events_repo
from skiff.storage.repos import queues as queues_repo
from skiff.storage.repos import tasks as repo

ARCHIVED = "archived"


def save_status(conn: Connection, old: dict[str, Any], new: dict[str, Any]) -> None:
    """Save a document whose status may change; a lost compare-and-set answers 400/121."""
    try:
        repo.replace_task(conn, old, new)
    except repo.StatusChanged:
        raise error(
            "failed_changing_task_status",
            task_id=old["id"],
            current_status=old.get("status"),
            new_status=new.get("status"),
        ) from None


# clone -------------------------------------------------------------------------------------------
def clone_task(db: Database, caller: Identity, req: dict[str, Any], version: Version) -> dict[str, Any]:
    now = clock.now()
    with db.write() as conn:
        source = repo.get_task(conn, visible(caller), req["task"])
        if source is None:
            raise error("invalid_task_id", id=req["task"])
        new_tags = docs.normalize_tags(req.get("new_task_tags")) if req.get("new_task_tags") else None
        new_system_tags = (
            docs.normalize_tags(req.get("new_task_system_tags"), "system_tags") if req.get("new_task_system_tags") else None
        )
        overrides = copy.deepcopy(req.get("execution_overrides") or {})
        if not isinstance(overrides, dict):
            raise error("fields_value_error", "expecting dict", field="execution_overrides")

        doc: dict[str, Any] = {
            "id": ids.new_id(),
            "company": caller.company,
            "user": caller.user,
            "status": "created",
            "created": now,
            "last_update": now,
            "last_change": now,
            "last_changed_by": caller.user,
            "name": docs.clean_name(req.get("new_task_name") or source.get("name", "")),
            "type": source.get("type"),
            "script": copy.deepcopy(source.get("script") or {}),
        }
        for key, new_key in (("comment", "new_task_comment"),):
            value = req.get(new_key) or source.get(key)
            if value:
                doc[key] = value
        doc["tags"] = new_tags if new_tags is not None else list(source.get("tags") or [])
        doc["system_tags"] = (
            new_system_tags
            if new_system_tags is not None
            else [t for t in source.get("system_tags") or [] if t not in ("development", ARCHIVED)]
        )
        # parent: the given one; else the source's live parent; else the source itself
        source_parent = source.get("parent")
        if req.get("new_task_parent"):
            doc["parent"] = req["new_task_parent"]
        elif source_parent and not source_parent.startswith(docs.DELETED_PARENT_PREFIX):
            doc["parent"] = source_parent
        else:
            doc["parent"] = source["id"]
        # project
        new_project = None
        if req.get("new_task_project"):
            doc["project"] = req["new_task_project"]
        elif req.get("new_project_name") is not None:
            doc["project"] = ensure_project(conn, caller.company, caller.user, req["new_project_name"])
            found = projects_repo.get_project(conn, caller.company, doc["project"])
            new_project = {"id": doc["project"], "name": found["name"] if found else req["new_project_name"]}
        elif source.get("project"):
            doc["project"] = source["project"]
        destination = (source.get("output") or {}).get("destination")
        doc["output"] = {"destination": destination} if destination else {}
        # models
        input_models = None
        if req.get("new_task_input_models"):
            input_models = docs.normalize_model_items(req["new_task_input_models"], "new_task_input_models", now)
        elif overrides.get("model"):
            input_models = [{"name": "Input Model", "model": overrides["model"], "updated": now}]
        doc["models"] = {
            "input": input_models
            if input_models is not None
            else copy.deepcopy((source.get("models") or {}).get("input") or []),
            "output": [],
        }
        # container
        if req.get("new_task_container"):
            doc["container"] = docs.normalize_container(req["new_task_container"])
        elif overrides.get("docker_cmd"):
            image, _, arguments = str(overrides["docker_cmd"]).strip().partition(" ")
            doc["container"] = {"image": image, "arguments": arguments.strip()}
        else:
            doc["container"] = copy.deepcopy(source.get("container") or {})
        overrides.pop("model", None)
        overrides.pop("docker_cmd", None)
        # legacy keys in the overrides are discarded, as the reference does
        overrides.pop("parameters", None)
        overrides.pop("configuration", None)
        overrides.pop("model_desc", None)
        # execution: the source's minus queue, shallow-merged with the overrides, no output artifacts
        execution = copy.deepcopy(source.get("execution") or {})
        execution.pop("queue", None)
        execution.update(docs.normalize_execution(overrides) if overrides else {})
        execution["artifacts"] = [a for a in execution.get("artifacts") or [] if a.get("mode", "output") != "output"]
        if "model_labels" in execution:
            execution["model_labels"] = {k: (None if v is None else int(v)) for k, v in execution["model_labels"].items()}
        doc["execution"] = execution
        doc["hyperparams"] = (
            docs.normalize_hyperparams(req["new_task_hyperparams"])
            if req.get("new_task_hyperparams")
            else copy.deepcopy(source.get("hyperparams") or {})
        )
        doc["configuration"] = (
            docs.normalize_configuration(req["new_task_configuration"])
            if req.get("new_task_configuration")
            else copy.deepcopy(source.get("configuration") or {})
        )
        validate = bool(req.get("validate_references"))
        check_references(
            conn,
            caller,
            doc,
            parent=validate or bool(req.get("new_task_parent")),
            project=validate or bool(req.get("new_task_project")),
            input_models=validate or input_models is not None,
        )
        if doc.get("project") and projects_repo.get_project(conn, caller.company, doc["project"]) is None:
            # the source's project belongs to someone else (a public project): not writable
            raise error("no_write_permission", f"cannot modify public project(s), ids={(doc['project'],)!r}")
        repo.insert_task(conn, doc)
        touch_projects(conn, caller.company, [doc.get("project")], now)
    result: dict[str, Any] = {"id": doc["id"]}
    if new_project is not None and not req.get("new_task_project"):
        result["new_project"] = new_project
    return result


# delete ------------------------------------------------------------------------------------------
def remove_task(
    conn: Connection, caller: Identity, doc: dict[str, Any], *, force: bool, delete_output_models: bool, now: datetime
) -> dict[str, Any]:
    """Delete one task inside the caller's transaction (spec §5.9 after B1): the status rule, B6
    for children and models, its queue entry and events; returns the response fields with the
    task's urls."""
    task = doc["id"]
    status = doc.get("status", "created")
    if status != "created" and ARCHIVED not in (doc.get("system_tags") or []) and not force:
        raise error(
            "task_cannot_be_deleted", "due to status, use force=True", task=task, expected="created", current=status
        )
    if not force:
        published_children = repo.children(conn, task, status="published")
        if published_children:
            raise error(
                "task_cannot_be_deleted", "has children, use force=True", task=task, children=len(published_children)
            )
    # the task's models (B6 steps 2-5, 7, 8): published ones refuse without force
    cleanup = models_ops.cleanup_task_models(
        conn, caller, doc, force=force, delete_output_models=delete_output_models, deleting=True, now=now
    )
    updated_children = repo.mark_children_orphaned(conn, task, f"{docs.DELETED_PARENT_PREFIX}{task}", now, caller.user)
    urls = docs.task_urls(doc, cleanup.model_urls)
    # B5 leaves nothing to change on a task about to go: its queue entry and events go with it
    queues_repo.remove_task_entries(conn, caller.company, task, now)
    events_repo.delete_for_task(conn, task)
    repo.delete_task(conn, task)
    return {
        "deleted": True,
        "updated_children": updated_children,
        "updated_models": cleanup.updated_models,
        "deleted_models": cleanup.deleted_models,
        "urls": urls,
    }


def delete_task(
    db: Database,
    caller: Identity,
    task: str,
    *,
    force: bool,
    return_file_urls: bool,
    delete_output_models: bool = True,
) -> dict[str, Any]:
    now = clock.now()
    with db.write(bulk=True) as conn:  # the task's events go with it
        doc = load_for_write(conn, caller, task)
        result = remove_task(conn, caller, doc, force=force, delete_output_models=delete_output_models, now=now)
        touch_projects(conn, caller.company, [doc.get("project")], now)
    if not return_file_urls:
        result["urls"] = None
    return result


def remove_project_tasks(conn: Connection, caller: Identity, projects: list[str], now: datetime) -> tuple[int, dict[str, list[str]]]:
    """``projects.delete`` with ``delete_contents``: delete every task of the projects (forced, as
    the reference does), inside the caller's transaction. Returns (count, merged urls)."""
    urls: dict[str, list[str]] = {"model_urls": [], "artifact_urls": [], "event_urls": []}
    found = repo.get_tasks(conn, [caller.company], repo.ids_in_projects(conn, caller.company, projects), for_update=True)
    for doc in found.values():
        result = remove_task(conn, caller, doc, force=True, delete_output_models=True, now=now)
        for key in urls:
            urls[key] += result["urls"][key]
    return len(found), urls


# archive / unarchive -------------------------------------------------------------------------------
def _archive_one(conn: Connection, caller: Identity, doc: dict[str, Any], reason: str, message: str, now: datetime) -> None:
    new = copy.deepcopy(doc)
    status = doc.get("status", "created")
    queues_repo.remove_task_entries(conn, caller.company, doc["id"], now)
    if status in ("queued", "in_progress"):
        # leave the queue / stop the run (forced), as the reference's dequeue step does
        target = "stopped" if status == "in_progress" else (doc.get("enqueue_status") or "created")
        task_status.apply_status(new, task_status.status_fields(target, reason=reason, message=message, now=now, user=caller.user))
        new.pop("enqueue_status", None)
        (new.get("execution") or {}).pop("queue", None)
    new["status_reason"] = reason
    new["status_message"] = message
    new["system_tags"] = sorted(set(new.get("system_tags") or []) | {ARCHIVED})
    stamp(new, caller, now, last_update=False)
    save_status(conn, doc, new)


def archive_tasks(db: Database, caller: Identity, task_ids: list[str], reason: str, message: str) -> int:
    now = clock.now()
    with db.write() as conn:
        found = load_many_for_write(conn, caller, task_ids)
        for doc in found.values():
            _archive_one(conn, caller, doc, reason, message, now)
        touch_projects(conn, caller.company, [d.get("project") for d in found.values()], now)
    return len(found)


def archive_task(db: Database, caller: Identity, task: str, reason: str, message: str) -> dict[str, Any]:
    now = clock.now()
    with db.write() as conn:
        doc = load_for_write(conn, caller, task)
        _archive_one(conn, caller, doc, reason, message, now)
        touch_projects(conn, caller.company, [doc.get("project")], now)
    return {"archived": True}


def unarchive_task(db: Database, caller: Identity, task: str, reason: str, message: str) -> dict[str, Any]:
    now = clock.now()
    with db.write() as conn:
        doc = load_for_write(conn, caller, task)
        new = copy.deepcopy(doc)
        new["system_tags"] = [t for t in new.get("system_tags") or [] if t != ARCHIVED]
        new["status_reason"] = reason
        new["status_message"] = message
        stamp(new, caller, now, last_update=False)
        save_status(conn, doc, new)
    return {"unarchived": True}


# move ------------------------------------------------------------------------------------------------
def move_tasks(
    db: Database, caller: Identity, task_ids: list[str], *, project_given: bool, project: str | None, project_name: str | None
) -> str | None:
    if not project_given and not (project_name or "").strip():
        raise error("missing_required_fields", "project or project_name is required")
    now = clock.now()
    with db.write() as conn:
        found = load_many_for_write(conn, caller, task_ids)
        if project:
            if projects_repo.get_project(conn, caller.company, project) is None:
                raise error("invalid_project_id", id=project)
            target: str | None = project
        elif project_name and project_name.strip():
            target = ensure_project(conn, caller.company, caller.user, project_name)
        else:
            target = None
        old_projects = [d.get("project") for d in found.values()]
        for doc in found.values():
            new = copy.deepcopy(doc)
            if target is None:
                new.pop("project", None)
            else:
                new["project"] = target
            stamp(new, caller, now, last_update=False)
            repo.replace_task(conn, doc, new)
        touch_projects(conn, caller.company, old_projects + [target], now)
    return target


# public / private ------------------------------------------------------------------------------------
def make_public(db: Database, caller: Identity, task_ids: list[str]) -> int:
    now = clock.now()
    with db.write() as conn:
        found = repo.get_tasks(conn, [caller.company], task_ids, for_update=True)
        missing = [t for t in dict.fromkeys(task_ids) if t not in found]
        if missing:
            raise error("invalid_task_id", ids=tuple(missing))
        for doc in found.values():
            new = copy.deepcopy(doc)
            new["company"] = PUBLIC
            new["company_origin"] = caller.company
            stamp(new, caller, now, last_update=False)
            repo.replace_task(conn, doc, new)
    return len(found)


def make_private(db: Database, caller: Identity, task_ids: list[str]) -> int:
    now = clock.now()
    with db.write() as conn:
        found = {
            t: d
            for t, d in repo.get_tasks(conn, [PUBLIC], task_ids, for_update=True).items()
            if d.get("company_origin") == caller.company
        }
        missing = [t for t in dict.fromkeys(task_ids) if t not in found]
        if missing:
            raise error("invalid_task_id", ids=tuple(missing))
        for doc in found.values():
            new = copy.deepcopy(doc)
            new["company"] = caller.company
            new.pop("company_origin", None)
            stamp(new, caller, now, last_update=False)
            repo.replace_task(conn, doc, new)
    return len(found)
