"""Project use cases, one transaction each: create (with missing ancestors), read, list, update
(renaming the subtree), move, validate_delete and delete.

``ensure_project`` and ``repo.subtree_ids`` also work inside another use case's transaction
(``tasks.clone`` with ``new_project_name``, ``tasks.move`` with ``project_name``,
``include_subprojects``).
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection

from skiff.domain import clock, ids
from skiff.domain import projects as rules
from skiff.domain.errors import ApiError, error
from skiff.domain.identity import Identity
from skiff.storage.engine import Database
from skiff.storage.repos import models as models_repo
from skiff.storage.repos import projects as repo

#: Attempts for create/move when a racing writer created one of the *ancestors* first (PostgreSQL;
#: SQLite serialises writers). The retry then finds it; a taken target name is never retried.
_ATTEMPTS = 3


def _duplicate(company: str, name: str) -> ApiError:
    # The reference answers a taken name from its unique index as 400/801 expected_unique_data
    # (clients.md's "400/701" is a slip: 701 is invalid_queue_id). The SDK's Task.init relies on
    # the refusal: it then repeats its get_all lookup and finds the winner's project.
    return error("expected_unique_data", company=company, name=name)


def _invalid_id(project: str) -> ApiError:
    return error("invalid_project_id", id=project)


def _load(conn: Connection, company: str, project: str) -> dict[str, Any]:
    row = repo.get_project(conn, company, project)
    if row is None:
        raise _invalid_id(project)
    return row


# creating -------------------------------------------------------------------------------------------
def _insert(
    conn: Connection,
    company: str,
    user: str,
    name: rules.ProjectName,
    parent: dict[str, Any] | None,
    now: datetime,
    **fields: Any,
) -> dict[str, Any]:
    row = {
        "id": ids.new_id(),
        "company": company,
        "user": user,
        "name": name.full,
        "basename": name.basename,
        "parent": parent["id"] if parent else None,
        "path": [*parent["path"], parent["id"]] if parent else [],
        "created": now,
        "last_update": now,
        **fields,
    }
    repo.insert_project(conn, **row)
    if parent:
        repo.touch_projects(conn, company, [parent["id"]], now)
    return row


def _ensure_location(
    conn: Connection, company: str, user: str, location: str, now: datetime
) -> dict[str, Any] | None:
    """The project named ``location`` (a normalised full name), created with its missing
    ancestors; None for the top level."""
    if not location:
        return None
    parent = None
    parts = location.split(rules.SEPARATOR)
    for depth in range(1, len(parts) + 1):
        name = rules.ProjectName(tuple(parts[:depth]))
        found = repo.find_by_name(conn, company, name.full)
        parent = found or _insert(conn, company, user, name, parent, now, description="")
    return parent


def ensure_project(conn: Connection, company: str, user: str, raw_name: str) -> str:
    """Find the company's project by (normalised) name or create it with its ancestors; returns
    its id. Runs inside the caller's transaction.

    If a concurrent transaction creates one of these names first (PostgreSQL), this answers
    400/801: the transaction is spoilt by then, so a caller that wants to retry must retry the
    whole use case (as ``create_project`` does)."""
    name = rules.parse_name(raw_name)
    try:
        project = _ensure_location(conn, company, user, name.full, clock.now())
    except repo.NameTaken as exc:
        raise _duplicate(company, exc.name) from None
    assert project is not None
    return project["id"]


def create_project(
    db: Database,
    caller: Identity,
    *,
    name: str,
    description: str | None = None,
    tags: list[str] | None = None,
    system_tags: list[str] | None = None,
    default_output_destination: str | None = None,
) -> str:
    """``projects.create``: a new project named ``a/b/c`` gets ``a`` and ``a/b`` if missing."""
    parsed = rules.parse_name(name)
    fields = {
        "description": description,
        "default_output_destination": default_output_destination,
    }
    tag_sets = {
        "tags": rules.normalize_tags(tags, "tags"),
        "system_tags": rules.normalize_tags(system_tags, "system_tags"),
    }
    for attempt in range(_ATTEMPTS):
        try:
            with db.write() as conn:
                if repo.find_by_name(conn, caller.company, parsed.full) is not None:
                    raise _duplicate(caller.company, parsed.full)
                now = clock.now()
                parent = _ensure_location(conn, caller.company, caller.user, parsed.location, now)
                row = _insert(conn, caller.company, caller.user, parsed, parent, now, **fields)
                for kind, values in tag_sets.items():
                    repo.set_tags(conn, row["id"], kind, values)
                return row["id"]
        except repo.NameTaken as exc:
            if exc.name == parsed.full or attempt == _ATTEMPTS - 1:
                raise _duplicate(caller.company, exc.name) from None
    raise AssertionError("unreachable")


# reading --------------------------------------------------------------------------------------------
def get_project(db: Database, caller: Identity, project: str) -> dict[str, Any]:
    """``projects.get_by_id``: the whole document, or 400/401 (also for another company's id)."""
    with db.read() as conn:
        row = _load(conn, caller.company, project)
        tags = repo.tags_of(conn, [project])[project]
    return rules.project_document(row, tags)


def find_documents(
    conn: Connection, company: str, query: rules.ProjectQuery, within: Collection[str] | None = None
) -> list[dict[str, Any]]:
    """One page of projected documents (among ``within`` if given), inside the caller's
    transaction (``get_all`` and ``get_all_ex``)."""
    wanted = query.projection.fields()
    try:
        rows = repo.find_projects(conn, company, query, within=within)
    except repo.BadPattern as exc:
        raise error("invalid_regex_error", err=str(exc)) from None
    tags = None
    if "tags" in wanted or "system_tags" in wanted:
        tags = repo.tags_of(conn, [r["id"] for r in rows])
    return [
        rules.project_fields(rules.project_document(row, tags[row["id"]] if tags else None), query.projection)
        for row in rows
    ]


def list_projects(db: Database, caller: Identity, query: rules.ProjectQuery) -> list[dict[str, Any]]:
    """``projects.get_all``: one page of documents, projected."""
    with db.read() as conn:
        return find_documents(conn, caller.company, query)


# updating -------------------------------------------------------------------------------------------
def _rename_descendants(
    conn: Connection, company: str, root: dict[str, Any], new_name: str, new_path: list[str]
) -> int:
    """Give every descendant of ``root`` the new name prefix and ancestor path."""
    old_name, old_path = root["name"], list(root["path"])
    moved = 0
    for child in repo.subtree(conn, company, [root["id"]], include_roots=False):
        values: dict[str, Any] = {"name": rules.renamed(child["name"], old_name, new_name)}
        if new_path != old_path:
            values["path"] = new_path + list(child["path"])[len(old_path) :]
        moved += repo.update_project(conn, company, child["id"], **values)
    return moved


def update_project(db: Database, caller: Identity, project: str, changes: dict[str, Any]) -> dict[str, Any]:
    """``projects.update``. A new name may change the basename only (else 400/408); descendants'
    names follow. ``changes`` holds only the fields the client sent."""
    fields: dict[str, Any] = {}
    tag_sets: dict[str, list[str]] = {}
    for kind in rules.TAG_KINDS:
        if changes.get(kind) is not None:
            tag_sets[kind] = rules.normalize_tags(changes[kind], kind)
    for key in ("description", "default_output_destination"):
        if key in changes:
            fields[key] = changes[key]
    new_name = rules.parse_name(changes["name"]) if changes.get("name") is not None else None

    with db.write() as conn:
        row = _load(conn, caller.company, project)
        now = clock.now()
        values = dict(fields, last_update=now)
        if new_name is not None:
            old_name = rules.ProjectName(tuple(row["name"].split(rules.SEPARATOR)))
            if new_name.location != old_name.location:
                raise error("cannot_update_project_location", name=new_name.full)
            if new_name.full != row["name"]:
                if repo.find_by_name(conn, caller.company, new_name.full) is not None:
                    raise _duplicate(caller.company, new_name.full)
            values.update(name=new_name.full, basename=new_name.basename)
        try:
            updated = repo.update_project(conn, caller.company, project, **values)
            if new_name is not None and new_name.full != row["name"]:
                _rename_descendants(conn, caller.company, row, new_name.full, list(row["path"]))
        except repo.NameTaken as exc:
            raise _duplicate(caller.company, exc.name) from None
        for kind, tags in tag_sets.items():
            repo.set_tags(conn, project, kind, tags)

    answered = dict(fields, **tag_sets)
    if new_name is not None:
        answered["name"] = new_name.full
    return {"updated": updated, "fields": answered}


def move_project(db: Database, caller: Identity, project: str, new_location: str | None) -> int:
    """``projects.move``: put the project (and its subtree) below ``new_location``, creating
    that location if missing ("" or None = the top level). Returns how many projects moved."""
    parts = rules.split_parts(new_location or "")
    location = rules.SEPARATOR.join(parts)
    created_on_the_way = {rules.SEPARATOR.join(parts[:i]) for i in range(1, len(parts) + 1)}
    for attempt in range(_ATTEMPTS):
        try:
            with db.write() as conn:
                return _move(conn, caller, project, location)
        except repo.NameTaken as exc:
            if attempt == _ATTEMPTS - 1 or exc.name not in created_on_the_way:
                raise _duplicate(caller.company, exc.name) from None
    raise AssertionError("unreachable")


def _move(conn: Connection, caller: Identity, project: str, location: str) -> int:
    company = caller.company
    row = _load(conn, company, project)
    descendants = repo.subtree(conn, company, [project], include_roots=False)
    rules.check_move_depth(
        (len(p["path"]) + 1 for p in [row, *descendants]), len(row["path"]) + 1, location
    )
    now = clock.now()
    new_parent = _ensure_location(conn, company, caller.user, location, now)
    new_parent_id = new_parent["id"] if new_parent else None
    if new_parent_id == row["parent"]:
        raise rules.same_location_error(location)
    if new_parent is not None and (new_parent_id == project or project in new_parent["path"]):
        raise rules.moved_under_itself_error(project, new_parent_id)  # type: ignore[arg-type]

    name = rules.ProjectName(tuple(row["name"].split(rules.SEPARATOR))).under(location)
    if repo.find_by_name(conn, company, name.full) is not None:
        raise _duplicate(company, name.full)
    new_path = [*new_parent["path"], new_parent_id] if new_parent else []
    repo.update_project(conn, company, project, name=name.full, parent=new_parent_id, path=new_path)
    moved = 1 + _rename_descendants(conn, company, row, name.full, new_path)
    repo.touch_projects(conn, company, [row["parent"], new_parent_id], now)
    return moved


# deleting -------------------------------------------------------------------------------------------
@dataclass
class Contents:
    """What a subtree of projects holds (``projects.validate_delete``)."""

    tasks: int = 0
    non_archived_tasks: int = 0
    models: int = 0
    non_archived_models: int = 0
    reports: int = 0
    non_archived_reports: int = 0
    pipelines: int = 0
    datasets: int = 0


def _contents(conn: Connection, company: str, project_ids: list[str]) -> Contents:
    # pipelines and datasets (projects tagged "pipeline"/"dataset" and their controller or
    # version tasks) are not told apart yet.
    return Contents(
        **repo.count_tasks(conn, company, project_ids),
        **models_repo.count_in_projects(conn, company, project_ids),
    )


def validate_delete(db: Database, caller: Identity, project: str) -> dict[str, int]:
    """``projects.validate_delete``: what deleting the project (and its subtree) would touch."""
    with db.read() as conn:
        _load(conn, caller.company, project)
        subtree = repo.subtree_ids(conn, caller.company, [project])
        return asdict(_contents(conn, caller.company, subtree))


def delete_project(
    db: Database, caller: Identity, project: str, *, force: bool, delete_contents: bool
) -> dict[str, Any]:
    """``projects.delete``: the project and every subproject. Without ``force``, non-archived
    tasks (reports included) or models anywhere in the subtree refuse it (400/402, 400/405); the
    reference deletes subprojects along without asking. The tasks move to the top level
    (``disassociated_tasks``), or, with ``delete_contents``, would be deleted."""
    with db.write(bulk=True) as conn:  # every task of the subtree changes or goes, with its events
        _load(conn, caller.company, project)
        subtree = repo.subtree_ids(conn, caller.company, [project])
        contents = _contents(conn, caller.company, subtree)
        if not force:
            if contents.non_archived_tasks or contents.non_archived_reports:
                raise error("project_has_tasks", "use force=true", id=project)
            if contents.non_archived_models:
                raise error("project_has_models", "use force=true", id=project)
        deleted_tasks = 0
        task_urls: dict[str, list[str]] = {"model_urls": [], "artifact_urls": [], "event_urls": []}
        if delete_contents:
            # tasks first (their models, events, queue entries and children's parents with them)
            from skiff.ops.tasks_manage import remove_project_tasks  # tasks_manage imports this module

            deleted_tasks, task_urls = remove_project_tasks(conn, caller, subtree, clock.now())
            disassociated = 0
            deleted_models, model_urls = models_repo.delete_in_projects(conn, caller.company, subtree)
            model_urls = task_urls["model_urls"] + model_urls
        else:
            disassociated = repo.detach_tasks(conn, caller.company, subtree)
            models_repo.detach_from_projects(conn, caller.company, subtree)
            deleted_models, model_urls = 0, []
        result: dict[str, Any] = {
            "deleted": repo.delete_projects(conn, caller.company, subtree),
            "disassociated_tasks": disassociated,
            "deleted_models": deleted_models,
            "deleted_tasks": deleted_tasks,
            "urls": (
                {"model_urls": model_urls, "event_urls": [], "artifact_urls": task_urls["artifact_urls"]}
                if delete_contents
                else None
            ),
        }
    return result
