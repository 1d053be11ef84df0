"""Task document use cases (spec tasks-model §4, §5.1–5.19), one transaction each.

Lookups see the caller's company plus public tasks (company ""); writes refuse public tasks with
403/21 (B1 in the spec). Every write stamps ``last_change``/``last_changed_by`` and, where §2.7
says so, ``last_update``, and touches the task's project.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from datetime import datetime
from typing import Any

from sqlalchemy import Connection

from skiff.domain import clock, ids
from skiff.domain import task_document as docs
from skiff.domain.errors import ApiError, error
from skiff.domain.identity import Identity
from skiff.domain.versions import Version
from skiff.storage.engine import Database
from skiff.storage.repos import models as models_repo
from skiff.storage.repos import projects as projects_repo
from skiff.storage.repos import tasks as repo

PUBLIC = repo.PUBLIC


def visible(caller: Identity) -> tuple[str, str]:
    return (caller.company, PUBLIC)


# shared building blocks --------------------------------------------------------------------------
def public_refusal(ids_: list[str]) -> ApiError:
    return error("no_write_permission", f"cannot modify public task(s), ids={tuple(ids_)!r}")


def load_for_write(conn: Connection, caller: Identity, task: str) -> dict[str, Any]:
    """B1: the caller's (or a public) task, locked for the rest of the transaction."""
    doc = repo.get_task(conn, visible(caller), task, for_update=True)
    if doc is None:
        raise error("invalid_task_id", id=task, company=caller.company)
    if doc["company"] == PUBLIC:
        raise public_refusal([task])
    return doc


def load_many_for_write(conn: Connection, caller: Identity, task_ids: list[str]) -> dict[str, dict[str, Any]]:
    """B3: all or nothing; public ones → 403/21, missing ones → 400/101."""
    found = repo.get_tasks(conn, visible(caller), task_ids, for_update=True)
    public = [t for t in dict.fromkeys(task_ids) if t in found and found[t]["company"] == PUBLIC]
    if public:
        raise public_refusal(public)
    missing = [t for t in dict.fromkeys(task_ids) if t not in found]
    if missing:
        raise error("invalid_task_id", ids=tuple(missing))
    return found


def check_updatable(doc: dict[str, Any], force: bool) -> None:
    """B2: only a draft can change; with force also a running task."""
    allowed = ("created", "in_progress") if force else ("created",)
    if doc.get("status", "created") not in allowed:
        raise error("invalid_task_status", expected="created", status=doc.get("status"))


def stamp(doc: dict[str, Any], caller: Identity, now: datetime, *, last_update: bool) -> None:
    doc["last_change"] = now
    doc["last_changed_by"] = caller.user
    if last_update:
        doc["last_update"] = now


def touch_projects(conn: Connection, company: str, projects: list[str | None], now: datetime) -> None:
    wanted = [p for p in dict.fromkeys(projects) if p]
    if wanted:
        projects_repo.touch_projects(conn, company, wanted, now)


def check_references(
    conn: Connection,
    caller: Identity,
    doc: dict[str, Any],
    *,
    parent: bool = True,
    project: bool = True,
    input_models: bool = False,
) -> None:
    """Parent and project of a task being written must exist and be usable (spec §2.6, §2.9);
    with ``input_models`` every ``models.input[].model`` must be a model of the caller's company
    or a public one (400/201)."""
    parent_id = doc.get("parent")
    if parent and parent_id and not parent_id.startswith(docs.DELETED_PARENT_PREFIX):
        if repo.get_task(conn, visible(caller), parent_id) is None:
            if not repo.exists_anywhere(conn, parent_id):
                raise error("fields_value_error", "expecting Task id", id=parent_id, field="parent")
            raise error("invalid_task_id", "invalid parent", parent=parent_id)
    project_id = doc.get("project")
    if project and project_id:
        if projects_repo.get_project(conn, caller.company, project_id) is None:
            if not projects_repo.exists_anywhere(conn, project_id):
                raise error("fields_value_error", "expecting Project id", id=project_id, field="project")
            raise error("invalid_project_id", id=project_id)
    if input_models:
        wanted = [i.get("model") for i in (doc.get("models") or {}).get("input") or [] if isinstance(i, dict)]
        wanted = list(dict.fromkeys(m for m in wanted if m))
        found = models_repo.existing_ids(conn, visible(caller), wanted)
        missing = [m for m in wanted if m not in found]
        if missing:
            raise error("invalid_model_id", models=tuple(missing))


# create / validate / read ---------------------------------------------------------------------------
def create_task(db: Database, caller: Identity, fields: dict[str, Any], version: Version) -> str:
    now = clock.now()
    doc = docs.new_task(fields, id=ids.new_id(), user=caller.user, company=caller.company, now=now, version=version)
    with db.write() as conn:
        check_references(conn, caller, doc, input_models=True)
        repo.insert_task(conn, doc)
        touch_projects(conn, caller.company, [doc.get("project")], now)
    return doc["id"]


def validate_task(db: Database, caller: Identity, fields: dict[str, Any], version: Version) -> None:
    """Everything create checks, nothing saved (a deleted-parent marker is dropped first)."""
    fields = dict(fields)
    if str(fields.get("parent") or "").startswith(docs.DELETED_PARENT_PREFIX):
        fields.pop("parent")
    # the name's only check (length) belongs to the storage validation on save, which validate
    # does not run (spec §5.2); the request model has already made sure it is a string
    fields.pop("name", None)
    doc = docs.new_task(fields, id="", user=caller.user, company=caller.company, now=clock.now(), version=version)
    with db.read() as conn:
        check_references(conn, caller, doc, input_models=True)


def get_task(db: Database, caller: Identity, task: str) -> dict[str, Any]:
    with db.read() as conn:
        doc = repo.get_task(conn, visible(caller), task)
    if doc is None:
        raise error("invalid_task_id", ids=(task,))
    return doc


def get_tasks(db: Database, caller: Identity, task_ids: list[str]) -> list[dict[str, Any]]:
    """Tasks in request order; every id must exist (400/101 naming the missing ones)."""
    with db.read() as conn:
        found = repo.get_tasks(conn, visible(caller), task_ids)
    missing = [t for t in dict.fromkeys(task_ids) if t not in found]
    if missing:
        raise error("invalid_task_id", ids=tuple(missing))
    return [found[t] for t in dict.fromkeys(task_ids)]


def find_tasks_by_id(db: Database, caller: Identity, task_ids: list[str]) -> list[dict[str, Any]]:
    """The visible ones of ``task_ids``, in request order; unknown ids are skipped."""
    with db.read() as conn:
        found = repo.get_tasks(conn, visible(caller), task_ids)
    return [found[t] for t in dict.fromkeys(task_ids) if t in found]


# edit / update ---------------------------------------------------------------------------------------
def edit_task(
    db: Database, caller: Identity, task: str, fields: dict[str, Any], *, force: bool, version: Version
) -> tuple[int, dict[str, Any], list[str]]:
    """Returns (updated, the new document, the top-level fields written, stamps included)."""
    now = clock.now()
    with db.write() as conn:
        old = load_for_write(conn, caller, task)
        # not B2: edit wants a draft unless forced, and then takes any status (spec §5.4)
        if not force and old.get("status", "created") != "created":
            raise error("invalid_task_status", expected="created", status=old.get("status"))
        new = docs.copy_document(old)
        fields = copy.deepcopy(fields)
        docs.apply_legacy_write(fields, version, old, now)
        written = docs.apply_fields(new, fields, now)
        if not written:
            return 0, old, []
        check_references(
            conn,
            caller,
            new,
            parent="parent" in written,
            project="project" in written,
            input_models="input" in (fields.get("models") or {}),
        )
        stamp(new, caller, now, last_update=docs.bumps_last_update(written))
        repo.replace_task(conn, old, new)
        if "project" in written:
            touch_projects(conn, caller.company, [new.get("project")], now)
    stamped = ["last_change", "last_changed_by"] + (["last_update"] if docs.bumps_last_update(written) else [])
    return 1, new, written + stamped


_UPDATE_FIELDS = ("name", "tags", "system_tags", "comment", "project", "status_message", "output__error")


def _apply_update(conn: Connection, caller: Identity, old: dict[str, Any], fields: dict[str, Any], now: datetime) -> tuple[dict[str, Any], dict[str, Any]]:
    new = docs.copy_document(old)
    written: dict[str, Any] = {}
    for key in _UPDATE_FIELDS:
        value = fields.get(key)
        if value is None:
            continue
        if key == "name":
            new["name"] = written["name"] = docs.clean_name(value)
        elif key in ("tags", "system_tags"):
            new[key] = written[key] = docs.normalize_tags(value, key)
        elif key == "output__error":
            new["output"] = {**(new.get("output") or {}), "error": value}
            written["output.error"] = value
        else:
            new[key] = written[key] = value
    if "project" in written:
        check_references(conn, caller, new, parent=False, project=True)
    if written:
        stamp(new, caller, now, last_update=False)
        written["last_change"] = now
        written["last_changed_by"] = caller.user
    return new, written


def update_task(db: Database, caller: Identity, task: str, fields: dict[str, Any]) -> dict[str, Any]:
    now = clock.now()
    with db.write() as conn:
        old = load_for_write(conn, caller, task)
        new, written = _apply_update(conn, caller, old, fields, now)
        if not written:
            return {"updated": 0, "fields": {}}
        repo.replace_task(conn, old, new)
        if "project" in written:
            touch_projects(conn, caller.company, [new["project"]], now)
    return {"updated": 1, "fields": written}


def update_batch(db: Database, caller: Identity, items: list[dict[str, Any]]) -> int:
    """All-or-nothing over the ids (B3); a later line for the same task wins."""
    by_task: dict[str, dict[str, Any]] = {}
    for item in items:
        by_task[item["task"]] = item
    if not by_task:
        return 0
    now = clock.now()
    updated = 0
    with db.write() as conn:
        found = load_many_for_write(conn, caller, list(by_task))
        for task, fields in by_task.items():
            old = found[task]
            new, written = _apply_update(conn, caller, old, fields, now)
            if written and new != old:
                repo.replace_task(conn, old, new)
                updated += 1
        touch_projects(conn, caller.company, [d.get("project") for d in found.values()], now)
    return updated


def update_tags(db: Database, caller: Identity, task_ids: list[str], add: list[str], remove: list[str]) -> int:
    if not add and not remove:
        raise error("validation_error", "Either add tags or remove tags should be provided")
    add_tags = docs.normalize_tags(add)
    remove_tags = set(remove)
    now = clock.now()
    updated = 0
    with db.write() as conn:
        found = load_many_for_write(conn, caller, task_ids)
        for old in found.values():
            new = docs.copy_document(old)
            tags = set(new.get("tags") or [])
            if add_tags:
                tags |= set(add_tags)
                updated += 1
            if remove_tags:
                tags -= remove_tags
                updated += 1
            new["tags"] = sorted(tags)
            stamp(new, caller, now, last_update=False)
            repo.replace_task(conn, old, new)
        touch_projects(conn, caller.company, [d.get("project") for d in found.values()], now)
    return updated


# one-field edits (§5.8, §5.16–5.19) -----------------------------------------------------------------
def _modify(
    db: Database,
    caller: Identity,
    task: str,
    change: Callable[[dict[str, Any], datetime], bool],
    *,
    check: Callable[[dict[str, Any]], None] | None = None,
) -> None:
    """Load for write, check, apply ``change`` (returns whether last_update moves), stamp, save.
    ``change`` gets a deep copy of the stored document of its own, to change in place."""
    now = clock.now()
    with db.write() as conn:
        old = load_for_write(conn, caller, task)
        if check is not None:
            check(old)
        new = docs.copy_document(old)
        bump = change(new, now)
        stamp(new, caller, now, last_update=bump)
        repo.replace_task(conn, old, new)


def set_requirements(db: Database, caller: Identity, task: str, requirements: dict[str, Any]) -> None:
    def change(doc: dict[str, Any], now: datetime) -> bool:
        doc["script"] = {**(doc.get("script") or {}), "requirements": requirements}
        return True

    _modify(db, caller, task, change)


PROPERTIES = "properties"


def _section(raw: Any) -> str:
    section = docs.clean_key(raw, "section name")
    return PROPERTIES if section.lower() == PROPERTIES else section


def edit_hyper_params(db: Database, caller: Identity, task: str, items: list[dict[str, Any]], replace: str, force: bool) -> None:
    # (section key, name key, item): the keys are stripped, the item keeps its section and name as
    # sent (spec §2.4 rules 1 and 4), except that `properties` is normalised in both (§5.16)
    parsed: list[tuple[str, str, dict[str, str]]] = []
    for item in items:
        section = _section(item.get("section"))
        name = docs.clean_key(item.get("name"), "parameter name")
        value = item.get("value")
        if not isinstance(value, str):
            raise error("validation_error", f"error for field 'hyperparams.value'. expected a string, got {value!r:.40}")
        sent = {**item, "section": PROPERTIES} if section == PROPERTIES else item
        parsed.append((section, name, docs.normalize_param_item(sent, section, name, f"hyperparams.{section}.{name}")))
    only_properties = all(section == PROPERTIES for section, _, _ in parsed)

    def change(doc: dict[str, Any], now: datetime) -> bool:
        current = doc.get("hyperparams") or {}
        if replace == "all":
            current = {}
        elif replace == "section":
            for section, _, _ in parsed:
                current[section] = {}
        for section, name, item in parsed:
            current.setdefault(section, {})[name] = item
        doc["hyperparams"] = current
        return not only_properties

    _modify(db, caller, task, change, check=None if only_properties else lambda d: check_updatable(d, force))


def delete_hyper_params(db: Database, caller: Identity, task: str, keys: list[dict[str, Any]], force: bool) -> None:
    whole: set[str] = set()
    single: list[tuple[str, str]] = []
    for key in keys:
        section = _section(key.get("section"))
        name = key.get("name")
        if isinstance(name, str) and name.strip():
            single.append((section, name.strip()))
        else:
            whole.add(section)
    if any(section in whole for section, _ in single):
        raise error("fields_conflict", "Cannot delete section field if the whole section was scheduled for deletion")
    sections = whole | {s for s, _ in single}
    only_properties = sections == {PROPERTIES}

    def change(doc: dict[str, Any], now: datetime) -> bool:
        current = doc.get("hyperparams") or {}
        for section in whole:
            current.pop(section, None)
        for section, name in single:
            current.get(section, {}).pop(name, None)
            if section in current and not current[section]:
                current.pop(section)
        doc["hyperparams"] = current
        return not only_properties

    _modify(db, caller, task, change, check=None if only_properties else lambda d: check_updatable(d, force))


def edit_configuration(db: Database, caller: Identity, task: str, items: list[dict[str, Any]], replace: bool, force: bool) -> None:
    parsed = {}
    for item in items:
        name = docs.clean_key(item.get("name"), "configuration name")
        if not isinstance(item.get("value"), str):
            raise error("validation_error", f"error for field 'configuration.value'. expected a string for {name!r}")
        parsed[name] = docs.normalize_config_item(item, name, f"configuration.{name}")

    def change(doc: dict[str, Any], now: datetime) -> bool:
        current = {} if replace else doc.get("configuration") or {}
        current.update(parsed)
        doc["configuration"] = current
        return True

    _modify(db, caller, task, change, check=lambda d: check_updatable(d, force))


def delete_configuration(db: Database, caller: Identity, task: str, names: list[str], force: bool) -> None:
    wanted = {n.strip() for n in names}

    def change(doc: dict[str, Any], now: datetime) -> bool:
        doc["configuration"] = {k: v for k, v in (doc.get("configuration") or {}).items() if k not in wanted}
        return True

    _modify(db, caller, task, change, check=lambda d: check_updatable(d, force))


def add_or_update_artifacts(db: Database, caller: Identity, task: str, artifacts: list[dict[str, Any]]) -> None:
    def change(doc: dict[str, Any], now: datetime) -> bool:
        execution = dict(doc.get("execution") or {})
        execution["artifacts"] = docs.merge_artifacts(execution.get("artifacts") or [], artifacts)
        doc["execution"] = execution
        return True

    # the request's force is ignored: created or in_progress, always (spec §5.18)
    _modify(db, caller, task, change, check=lambda d: check_updatable(d, True))


def delete_artifacts(db: Database, caller: Identity, task: str, artifact_ids: list[dict[str, Any]]) -> None:
    wanted = set()
    for item in artifact_ids:
        if not isinstance(item.get("key"), str):
            raise error("validation_error", "error for field 'artifacts.key'. field is required!")
        wanted.add(docs.artifact_storage_key(item["key"], item.get("mode") or "output"))

    def change(doc: dict[str, Any], now: datetime) -> bool:
        execution = dict(doc.get("execution") or {})
        execution["artifacts"] = [
            a for a in execution.get("artifacts") or [] if docs.artifact_storage_key(a["key"], a.get("mode", "output")) not in wanted
        ]
        doc["execution"] = execution
        return True

    _modify(db, caller, task, change, check=lambda d: check_updatable(d, True))


def add_or_update_model(db: Database, caller: Identity, task: str, name: str, model: str, kind: str, iteration: int | None) -> None:
    def change(doc: dict[str, Any], now: datetime) -> bool:
        models = doc.get("models") or {}
        items = models.setdefault(kind, [])
        for item in items:
            if item.get("name") == name:
                item["model"] = model
                item["updated"] = now
                break
        else:
            items.append({"name": name, "model": model, "updated": now})
        models.setdefault("input", [])
        models.setdefault("output", [])
        doc["models"] = models
        if iteration is not None:
            doc["last_iteration"] = max(int(doc.get("last_iteration") or 0), iteration)
        if doc.get("status") == "in_progress" and doc.get("started"):
            doc["active_duration"] = int((now - _as_datetime(doc["started"])).total_seconds())
        return True

    _modify(db, caller, task, change, check=lambda d: check_updatable(d, True))


def delete_models(db: Database, caller: Identity, task: str, items: list[dict[str, Any]]) -> None:
    def change(doc: dict[str, Any], now: datetime) -> bool:
        models = doc.get("models") or {}
        for item in items:
            kind, name = item.get("type"), item.get("name")
            models[kind] = [m for m in models.get(kind, []) if m.get("name") != name]
        doc["models"] = models
        return False

    _modify(db, caller, task, change, check=lambda d: check_updatable(d, True))


def _as_datetime(value: Any) -> datetime:
    return value if isinstance(value, datetime) else datetime.fromisoformat(str(value)).replace(tzinfo=None)


def validate_existing(db: Database, caller: Identity, task: str) -> None:
    """``enqueue_many(validate_tasks=true)``: a stored task's parent, project and input models
    are checked as create checks them."""
    with db.read() as conn:
        doc = repo.get_task(conn, visible(caller), task)
        if doc is None:
            raise error("invalid_task_id", id=task, company=caller.company)
        check_references(conn, caller, doc, input_models=True)
