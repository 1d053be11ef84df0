"""Model use cases (the ``models`` service), one transaction each, and the model side of task
cleanup (spec tasks-model §4 B6) that ``tasks.delete`` (and later ``tasks.reset``) run inside
their own transaction.

Visibility follows the reference: reads see the caller's company plus public models (company
""); writes look the model up in the caller's company only, so a public or foreign model answers
400/201 ``Invalid model id: company=<c>, id=<m>``.

Task <-> model links kept both ways (as the reference keeps them):

* a model's ``task`` is its creating task; deleting that task rewrites it to ``__DELETED__<id>``
  (or deletes the draft model, B6); resetting it clears it;
* ``tasks.models.input[].model`` must name a visible model when a task is written (ops/tasks);
  deleting a model rewrites those references to ``__DELETED__<model id>`` (force only);
* deleting a model drops it from its creating task's ``models.output`` — or, if that task is
  published (force only), marks the item ``__DELETED__<model id>`` and sets ``output.error``;
* ``models.update_for_task`` (API <= 2.13) creates/updates a task's output model and makes it
  the task's only ``models.output`` item.
"""

from __future__ import annotations

import copy
from datetime import datetime
from typing import Any

from sqlalchemy import Connection

from skiff.domain import clock, ids
from skiff.domain import model_document as docs
from skiff.domain import task_status
from skiff.domain.errors import error
from skiff.domain.identity import Identity
from skiff.ops import tasks as task_ops
from skiff.storage.engine import Database
from skiff.storage.repos import models as repo
from skiff.storage.repos import projects as projects_repo
from skiff.storage.repos import tasks as tasks_repo

PUBLIC = repo.PUBLIC
#: Fields ``models.update`` writes (the reference's user-settable model fields). ``ready`` is not
#: among them: the SDK's UpdateRequest sends ``ready: false`` by default, which must not
#: unpublish a model; ``task`` is only used for the iteration statistics.
UPDATE_FIELDS = ("name", "comment", "tags", "system_tags", "project", "uri", "metadata")


def visible(caller: Identity) -> tuple[str, str]:
    return (caller.company, PUBLIC)


# shared building blocks --------------------------------------------------------------------------
def load_for_write(conn: Connection, caller: Identity, model: str) -> dict[str, Any]:
    """The caller's own model, locked (public and foreign models are not found: 400/201)."""
    doc = repo.get_model(conn, [caller.company], model, for_update=True)
    if doc is None:
        raise error("invalid_model_id", company=caller.company, id=model)
    return doc


def _stamp(doc: dict[str, Any], caller: Identity, now: datetime, *, last_update: bool) -> None:
    doc["last_change"] = now
    doc["last_changed_by"] = caller.user
    if last_update:
        doc["last_update"] = now


def _check_links(conn: Connection, caller: Identity, company: str, fields: dict[str, Any], *, parse: bool) -> None:
    """References a model write names: the task must be writable by the caller (400/101,
    403/21); the project must be one of ``company``'s; the parent a visible model.

    ``parse`` (edit/update) answers a missing task/project/parent as the reference's request
    parser does (400/16 ``expecting <X> id``); create answers a missing project 400/12."""
    task = fields.get("task")
    if task:
        if parse and not tasks_repo.exists_anywhere(conn, task):
            raise error("fields_value_error", "expecting Task id", id=task, field="task")
        task_ops.load_for_write(conn, caller, task)
    project = fields.get("project")
    if project and projects_repo.get_project(conn, company, project) is None:
        if parse:
            raise error("fields_value_error", "expecting Project id", id=project, field="project")
        raise error("validation_error", "Invalid project ids", project=project)
    parent = fields.get("parent")
    if parse and parent and not repo.existing_ids(conn, visible(caller), [parent]):
        raise error("fields_value_error", "expecting Model id", id=parent, field="parent")


def _echo(fields: dict[str, Any]) -> dict[str, Any]:
    """Written fields as the response shows them (tags sorted, internal keys kept as written)."""
    out = dict(fields)
    for kind in ("tags", "system_tags"):
        if kind in out:
            out[kind] = sorted(out[kind])
    return out


# create / read -------------------------------------------------------------------------------------
def create_model(db: Database, caller: Identity, raw: dict[str, Any], *, public: bool) -> str:
    """``models.create``. ``public`` creates it in the public company (its owner kept in
    ``company_origin`` so that ``make_private`` can return it)."""
    fields = docs.normalize_fields(raw)
    company = PUBLIC if public else caller.company
    now = clock.now()
    with db.write() as conn:
        _check_links(conn, caller, company, fields, parse=False)
        doc = docs.new_model(fields, id=ids.new_id(), user=caller.user, company=company, now=now)
        if public:
            doc["company_origin"] = caller.company
        repo.insert_model(conn, doc)
    return doc["id"]


def get_model(db: Database, caller: Identity, model: str) -> dict[str, Any]:
    with db.read() as conn:
        doc = repo.get_model(conn, visible(caller), model)
    if doc is None:
        raise error("invalid_model_id", "no such public or company model", id=model, company=caller.company)
    return doc


def list_models(db: Database, caller: Identity, query: docs.ModelQuery) -> list[dict[str, Any]]:
    with db.read() as conn:
        projects = None
        if query.include_subprojects and query.projects:
            projects = projects_repo.subtree_ids(conn, caller.company, list(query.projects))
            projects += [p for p in query.projects if p not in projects]
        try:
            return repo.find_models(conn, visible(caller), query, projects=projects)
        except repo.BadPattern as exc:
            raise error("invalid_regex_error", err=str(exc)) from None


def get_by_task_id(db: Database, caller: Identity, task: str) -> dict[str, Any]:
    """Legacy ``models.get_by_task_id``: the task's last output model."""
    with db.read() as conn:
        found = tasks_repo.get_task(conn, [caller.company], task)
        if found is None:
            raise error("invalid_task_id", id=task, company=caller.company)
        outputs = (found.get("models") or {}).get("output") or []
        if not outputs:
            raise error("missing_task_fields", field="models.output")
        model = outputs[-1].get("model")
        doc = repo.get_model(conn, visible(caller), model)
    if doc is None:
        raise error("invalid_model_id", "no such public or company model", id=model, company=caller.company)
    return doc


def frameworks(db: Database, caller: Identity, projects: list[str] | None) -> list[str]:
    with db.read() as conn:
        return repo.frameworks(conn, visible(caller), projects)


# edit / update -------------------------------------------------------------------------------------
def _drop_deleted_task(raw: dict[str, Any]) -> dict[str, Any]:
    task = raw.get("task")
    if isinstance(task, str) and task.startswith(docs.DELETED_PREFIX):
        return {k: v for k, v in raw.items() if k != "task"}
    return raw


def _write(
    conn: Connection,
    caller: Identity,
    old: dict[str, Any],
    fields: dict[str, Any],
    now: datetime,
) -> dict[str, Any]:
    """Write ``fields`` (and the stamps) over ``old``; returns what the response echoes."""
    new = copy.deepcopy(old)
    new.update(fields)
    if "uri" in fields:
        # a new file: the UI's cached view of the old one is stale (as the reference does)
        new["ui_cache"] = fields["ui_cache"] = {}
    bump = any(k in docs.LAST_UPDATE_FIELDS for k in fields)
    _stamp(new, caller, now, last_update=bump)
    repo.replace_model(conn, old, new)
    echoed = _echo(fields)
    echoed["last_change"] = now
    echoed["last_changed_by"] = caller.user
    if bump:
        echoed["last_update"] = now
    return echoed


def edit_model(
    db: Database, caller: Identity, model: str, raw: dict[str, Any], iteration: int | None
) -> dict[str, Any]:
    """``models.edit``: any model field; ``iteration`` moves the creating task's last_iteration."""
    fields = docs.normalize_fields(_drop_deleted_task(raw))
    now = clock.now()
    with db.write() as conn:
        old = load_for_write(conn, caller, model)
        _check_links(conn, caller, caller.company, fields, parse=True)
        task = old.get("task") or fields.get("task")
        if task and iteration is not None:
            repo.update_task_statistics(conn, caller.company, task, iteration=iteration, when=now, by=caller.user)
        if not fields:
            return {"updated": 0, "fields": {}}
        echoed = _write(conn, caller, old, fields, now)
    return {"updated": 1, "fields": echoed}


def update_model(
    db: Database, caller: Identity, model: str, raw: dict[str, Any], iteration: int | None
) -> dict[str, Any]:
    """``models.update``: the user-settable fields only (see ``UPDATE_FIELDS``); a ``task`` in
    the request is checked and receives the ``iteration``."""
    raw = _drop_deleted_task(raw)
    fields = docs.normalize_fields(raw, UPDATE_FIELDS)
    task = docs.normalize_fields(raw, ("task",)).get("task")
    now = clock.now()
    with db.write() as conn:
        old = load_for_write(conn, caller, model)
        _check_links(conn, caller, caller.company, {**fields, "task": task}, parse=True)
        if task and iteration is not None:
            repo.update_task_statistics(conn, caller.company, task, iteration=iteration, when=now, by=caller.user)
        if not fields:
            return {"updated": 0, "fields": {}}
        echoed = _write(conn, caller, old, fields, now)
    return {"updated": 1, "fields": echoed}


def update_for_task(db: Database, caller: Identity, req: dict[str, Any]) -> dict[str, Any]:
    """Legacy ``models.update_for_task`` (API <= 2.13): with ``override_model_id`` link that model
    as the task's output model; with ``uri`` update the task's last output model, or create one
    from the task (project, framework, labels, first input model as parent) and link it."""
    uri, override = req.get("uri"), req.get("override_model_id")
    if bool(uri) == bool(override):
        raise error("missing_required_fields", "exactly one field is required", fields=("uri", "override_model_id"))
    task_id = req["task"]
    now = clock.now()
    with db.write() as conn:
        task = task_ops.load_for_write(conn, caller, task_id)
        allowed = ["created", "in_progress"]
        if task.get("status", "created") not in allowed:
            raise error(
                "invalid_task_status",
                f"model can only be updated for tasks in the {allowed} states",
                id=task_id,
                company=caller.company,
            )
        if override:
            model_id = load_for_write(conn, caller, override)["id"]
        else:
            raw = {
                "uri": uri,
                "name": req["name"] if req.get("name") is not None else task.get("name"),
                "comment": (
                    req["comment"]
                    if req.get("comment") is not None
                    else f"Created by task `{task.get('name')}` ({task_id})"
                ),
                "tags": req.get("tags"),
                "system_tags": req.get("system_tags"),
            }
            fields = docs.normalize_fields(raw)
            outputs = (task.get("models") or {}).get("output") or []
            if outputs:
                # the task has an output model already: update it, leave the task's links as they are
                model_id = outputs[-1].get("model")
                old = load_for_write(conn, caller, model_id)
                if req.get("iteration") is not None:
                    repo.update_task_statistics(
                        conn, caller.company, task_id, iteration=req["iteration"], when=now, by=caller.user
                    )
                echoed = _write(conn, caller, old, fields, now)
                return {"id": model_id, "created": False, "updated": 1, "fields": echoed}
            execution = task.get("execution") or {}
            inputs = (task.get("models") or {}).get("input") or []
            derived: dict[str, Any] = {"task": task_id, "ready": task.get("status") == "published"}
            if task.get("project"):
                derived["project"] = task["project"]
            if execution.get("framework"):
                derived["framework"] = execution["framework"]
            if inputs:
                derived["parent"] = inputs[0].get("model")
            labels = {k: v for k, v in (execution.get("model_labels") or {}).items() if v is not None}
            if labels:
                derived["labels"] = labels
            doc = docs.new_model(
                {**derived, **fields}, id=ids.new_id(), user=caller.user, company=caller.company, now=now
            )
            repo.insert_model(conn, doc)
            model_id = doc["id"]
        new = copy.deepcopy(task)
        new["models"] = {
            **(new.get("models") or {}),
            "output": [{"name": docs.OUTPUT_MODEL_ITEM, "model": model_id, "updated": now}],
        }
        new.setdefault("models", {}).setdefault("input", [])
        if req.get("iteration") is not None:
            new["last_iteration"] = max(int(new.get("last_iteration") or 0), int(req["iteration"]))
        task_ops.stamp(new, caller, now, last_update=True)
        tasks_repo.replace_task(conn, task, new)
    return {"id": model_id, "created": True}


# publishing ---------------------------------------------------------------------------------------
def _publish_task(
    conn: Connection, caller: Identity, task: dict[str, Any], force: bool, now: datetime
) -> dict[str, Any]:
    """Publish the model's creating task (spec tasks-model §5.23) inside this transaction,
    without publishing its output model again."""
    # late import: task_lifecycle imports tasks_manage, which imports this module
    from skiff.ops import task_lifecycle

    task_status.check_transition(task.get("status", "created"), "published", force=force)

    def extras(doc: dict[str, Any], when: datetime) -> tuple[dict[str, Any], dict[str, Any]]:
        return {"published": when}, {"published": when, "output": copy.deepcopy(doc.get("output") or {})}

    _, fields = task_lifecycle.apply_change(
        conn, caller, task, "published", force=True, reason="", message="", now=now, extras=extras
    )
    return {"updated": 1, "fields": fields}


def publish_in_transaction(conn: Connection, caller: Identity, model: str, now: datetime) -> bool:
    """Publishing a task publishes its last output model when that one is a draft of the caller's
    company (spec tasks-model §5.23); anything else is left alone. Returns whether it changed."""
    old = repo.get_model(conn, [caller.company], model, for_update=True)
    if old is None or old.get("ready"):
        return False
    new = copy.deepcopy(old)
    new["ready"] = True
    _stamp(new, caller, now, last_update=True)
    repo.replace_model(conn, old, new)
    return True


def set_ready(
    db: Database, caller: Identity, model: str, *, publish_task: bool, force_publish_task: bool
) -> dict[str, Any]:
    """``models.set_ready``: publish the model (400/203 if it already is) and, with
    ``publish_task``, its creating task unless that one is published already."""
    now = clock.now()
    with db.write() as conn:
        old = load_for_write(conn, caller, model)
        if old.get("ready"):
            raise error("model_is_ready", company=caller.company, model=model)
        published_task = None
        if old.get("task") and publish_task:
            task = tasks_repo.get_task(conn, [caller.company], old["task"], for_update=True)
            if task is not None and task.get("status") != "published":
                published_task = {"id": task["id"], "data": _publish_task(conn, caller, task, force_publish_task, now)}
        new = copy.deepcopy(old)
        new["ready"] = True
        _stamp(new, caller, now, last_update=True)
        repo.replace_model(conn, old, new)
    result: dict[str, Any] = {"updated": 1}
    if published_task is not None:
        result["published_task"] = published_task
    return result


# delete -------------------------------------------------------------------------------------------
def _deleted(model: str) -> str:
    return f"{docs.DELETED_PREFIX}{model}"


def delete_model(db: Database, caller: Identity, model: str, *, force: bool) -> dict[str, Any]:
    """``models.delete``. Refused without ``force`` while tasks use it as an input model
    (400/205) or while its creating task is published (400/206); with force those references
    become ``__DELETED__<model id>``."""
    now = clock.now()
    marker = _deleted(model)
    with db.write() as conn:
        doc = load_for_write(conn, caller, model)
        users = repo.tasks_using_models(conn, [model])
        if users and not force:
            raise error("model_in_use", "as execution model, use force=True to delete", num_tasks=len(users))
        for user in users:
            task = tasks_repo.get_task(conn, [user["company"]], user["id"], for_update=True)
            if task is None:
                continue
            new = copy.deepcopy(task)
            for item in (new.get("models") or {}).get("input") or []:
                if item.get("model") == model:
                    item["model"] = marker
            tasks_repo.replace_task(conn, task, new)
        creator = doc.get("task")
        if creator:
            task = tasks_repo.get_task(conn, visible(caller), creator, for_update=True)
            if task is not None:
                new = copy.deepcopy(task)
                outputs = (new.get("models") or {}).get("output") or []
                linked = any(item.get("model") == model for item in outputs)
                if task.get("status") == "published":
                    if not force:
                        raise error(
                            "model_creating_task_exists", "and published, use force=True to delete", task=creator
                        )
                    for item in outputs:
                        if item.get("model") == model:
                            item["model"] = marker
                    if linked:
                        new["output"] = {**(new.get("output") or {}), "error": f"model deleted on {now.isoformat()}"}
                elif linked:
                    new["models"]["output"] = [item for item in outputs if item.get("model") != model]
                if linked:
                    task_ops.stamp(new, caller, now, last_update=False)
                    tasks_repo.replace_task(conn, task, new)
        repo.delete_models(conn, [model])
    return {"deleted": True, "url": doc.get("uri")}


def cleanup_task_models(
    conn: Connection,
    caller: Identity,
    task: dict[str, Any],
    *,
    force: bool,
    delete_output_models: bool,
    deleting: bool,
    now: datetime,
) -> docs.ModelsCleanup:
    """B6 steps 2–5, 7, 8 for ``task`` (the caller's), inside the caller's transaction.

    Published models the task created, or that are among its output models, refuse the
    operation without ``force`` (400/123). Draft ones are deleted when ``delete_output_models``
    unless another task uses them as input (then only their ``task`` link is cleared); the rest
    get ``task = __DELETED__<task id>`` (delete, counted as ``updated_models``) or lose the link
    (reset). ``model_urls`` are the uris of the draft models no task uses.
    """
    task_id = task["id"]
    company = [caller.company]
    published: dict[str, dict[str, Any]] = {}
    drafts: dict[str, dict[str, Any]] = {}
    for model in repo.models_of_task(conn, company, task_id, for_update=True):
        (published if model.get("ready") else drafts)[model["id"]] = model
    if published and not force:
        raise error("task_cannot_be_deleted", "has output models, use force=True", task=task_id, models=len(published))
    output_ids = [item.get("model") for item in (task.get("models") or {}).get("output") or [] if item.get("model")]
    found = repo.get_models(conn, company, output_ids, for_update=True)
    for model_id in dict.fromkeys(output_ids):
        model = found.get(model_id)
        if model is None:
            continue
        if model.get("ready"):
            if not force:
                raise error("task_cannot_be_deleted", "has output model, use force=True", task=task_id, model=model_id)
            published.setdefault(model_id, model)
        else:
            drafts.setdefault(model_id, model)

    in_use: set[str] = set()
    if drafts:
        for user in repo.tasks_using_models(conn, list(drafts)):
            in_use.update(user["inputs"])
    result = docs.ModelsCleanup(
        model_urls=list(dict.fromkeys(m["uri"] for m in drafts.values() if m.get("uri") and m["id"] not in in_use))
    )
    to_relink = dict(published)
    if delete_output_models:
        result.deleted_models = repo.delete_models(conn, [m for m in drafts if m not in in_use])
        repo.set_task(conn, [m for m in drafts if m in in_use], None, now, caller.user)
    else:
        to_relink.update(drafts)
    if to_relink:
        if deleting:
            result.updated_models = repo.set_task(conn, list(to_relink), _deleted(task_id), now, caller.user)
        else:
            repo.set_task(conn, list(to_relink), None, now, caller.user)
    return result


# archive, public/private, metadata ------------------------------------------------------------------
def _modify(db: Database, caller: Identity, model: str, change: Any, *, last_update: bool) -> None:
    now = clock.now()
    with db.write() as conn:
        old = load_for_write(conn, caller, model)
        new = copy.deepcopy(old)
        change(new)
        _stamp(new, caller, now, last_update=last_update)
        repo.replace_model(conn, old, new)


def archive_model(db: Database, caller: Identity, model: str) -> dict[str, Any]:
    def change(doc: dict[str, Any]) -> None:
        doc["system_tags"] = sorted(set(doc.get("system_tags") or []) | {docs.ARCHIVED_TAG})

    _modify(db, caller, model, change, last_update=False)
    return {"archived": True}


def unarchive_model(db: Database, caller: Identity, model: str) -> dict[str, Any]:
    def change(doc: dict[str, Any]) -> None:
        doc["system_tags"] = [t for t in doc.get("system_tags") or [] if t != docs.ARCHIVED_TAG]

    _modify(db, caller, model, change, last_update=False)
    return {"unarchived": True}


def add_or_update_metadata(db: Database, caller: Identity, model: str, items: list[Any], replace: bool) -> int:
    metadata = docs.normalize_metadata(items)

    def change(doc: dict[str, Any]) -> None:
        doc["metadata"] = metadata if replace else {**(doc.get("metadata") or {}), **metadata}

    _modify(db, caller, model, change, last_update=True)
    return 1


def delete_metadata(db: Database, caller: Identity, model: str, keys: list[str]) -> int:
    def change(doc: dict[str, Any]) -> None:
        doc["metadata"] = {k: v for k, v in (doc.get("metadata") or {}).items() if k not in set(keys)}

    _modify(db, caller, model, change, last_update=True)
    return 1


def make_public(db: Database, caller: Identity, model_ids: list[str]) -> int:
    now = clock.now()
    with db.write() as conn:
        found = repo.get_models(conn, [caller.company], model_ids, for_update=True)
        missing = [m for m in dict.fromkeys(model_ids) if m not in found]
        if missing:
            raise error("invalid_model_id", ids=tuple(missing))
        for old in found.values():
            new = copy.deepcopy(old)
            new["company"] = PUBLIC
            new["company_origin"] = caller.company
            _stamp(new, caller, now, last_update=False)
            repo.replace_model(conn, old, new)
    return len(found)


def make_private(db: Database, caller: Identity, model_ids: list[str]) -> int:
    now = clock.now()
    with db.write() as conn:
        found = {
            m: d
            for m, d in repo.get_models(conn, [PUBLIC], model_ids, for_update=True).items()
            if d.get("company_origin") == caller.company
        }
        missing = [m for m in dict.fromkeys(model_ids) if m not in found]
        if missing:
            raise error("invalid_model_id", ids=tuple(missing))
        for old in found.values():
            new = copy.deepcopy(old)
            new["company"] = caller.company
            new.pop("company_origin", None)
            _stamp(new, caller, now, last_update=False)
            repo.replace_model(conn, old, new)
    return len(found)

