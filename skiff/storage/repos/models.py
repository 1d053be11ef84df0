"""Models: one row per model (promoted columns + JSON document) and the model tag side table;
plus the queries that follow task <-> model links (the tasks that use a model as input).

The use cases work with whole model documents (plain dicts); this module splits them into
columns and ``document`` on write and merges them back on read, keeping ``model_tags`` in step
in the same transaction.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Connection,
    and_,
    case,
    delete,
    func,
    insert,
    not_,
    or_,
    select,
    update,
)
from sqlalchemy.exc import DBAPIError

from skiff.domain.model_document import ARCHIVED_TAG, HIDDEN_TAG, STRING_ORDER_FIELDS, ModelQuery
from skiff.storage.repos.common import BadPattern, has_tag, merge_document, order_clauses, split_document, tag_condition
from skiff.storage.tables import model_tags, models, task_tags, tasks

#: Document fields that live in their own column.
PROMOTED = (
    "id", "company", "company_origin", "user", "name", "project", "task", "parent", "framework", "uri",
    "ready", "comment", "created", "last_update", "last_change", "last_changed_by",
)  # fmt: skip
_COLUMNS = [models.c[name] for name in PROMOTED] + [models.c.document]
PUBLIC = ""
_PG_INVALID_REGEX = "2201B"


def _split(doc: dict[str, Any]) -> dict[str, Any]:
    row = split_document(doc, PROMOTED)
    row["ready"] = bool(row["ready"])
    return row


def _merge(row: Any) -> dict[str, Any]:
    return merge_document(row, PROMOTED)


def _write_tags(conn: Connection, doc: dict[str, Any]) -> None:
    conn.execute(delete(model_tags).where(model_tags.c.model == doc["id"]))
    rows = [
        {"model": doc["id"], "kind": kind, "tag": tag, "company": doc["company"]}
        for kind in ("tags", "system_tags")
        for tag in sorted(set(doc.get(kind) or []))
    ]
    if rows:
        conn.execute(insert(model_tags), rows)


# writes -------------------------------------------------------------------------------------------
def insert_model(conn: Connection, doc: dict[str, Any]) -> None:
    conn.execute(insert(models).values(**_split(doc)))
    _write_tags(conn, doc)


def replace_model(conn: Connection, old: dict[str, Any], new: dict[str, Any]) -> int:
    """Write ``new`` over ``old`` (same id): only changed columns; tags only if they changed."""
    before, after = _split(old), _split(new)
    changes = {k: v for k, v in after.items() if before.get(k) != v}
    updated = 1
    if changes:
        updated = conn.execute(update(models).where(models.c.id == new["id"]).values(**changes)).rowcount
    if old.get("company") != new.get("company") or any(old.get(k) != new.get(k) for k in ("tags", "system_tags")):
        _write_tags(conn, new)
    return updated


def delete_models(conn: Connection, ids: Sequence[str]) -> int:
    if not ids:
        return 0
    return conn.execute(delete(models).where(models.c.id.in_(list(ids)))).rowcount


def set_task(conn: Connection, ids: Sequence[str], task: str | None, when: datetime, by: str) -> int:
    """Point models at another creating task (``None`` clears the link)."""
    if not ids:
        return 0
    return conn.execute(
        update(models)
        .where(models.c.id.in_(list(ids)))
        .values(task=task, last_change=when, last_changed_by=by)
    ).rowcount


# reads --------------------------------------------------------------------------------------------
def get_models(
    conn: Connection, companies: Sequence[str], ids: Iterable[str], *, for_update: bool = False
) -> dict[str, dict[str, Any]]:
    """Models by id, visible to ``companies`` (the caller's and, for reads, the public "")."""
    ids = list(dict.fromkeys(ids))
    if not ids:
        return {}
    query = select(*_COLUMNS).where(models.c.id.in_(ids), models.c.company.in_(list(companies)))
    if for_update:
        query = query.with_for_update()
    return {row.id: _merge(row) for row in conn.execute(query)}


def get_model(
    conn: Connection, companies: Sequence[str], id: str, *, for_update: bool = False
) -> dict[str, Any] | None:
    return get_models(conn, companies, [id], for_update=for_update).get(id)


def existing_ids(conn: Connection, companies: Sequence[str], ids: Iterable[str]) -> set[str]:
    ids = list(dict.fromkeys(ids))
    if not ids:
        return set()
    query = select(models.c.id).where(models.c.id.in_(ids), models.c.company.in_(list(companies)))
    return set(conn.execute(query).scalars())


def models_of_task(
    conn: Connection, companies: Sequence[str], task: str, *, for_update: bool = False
) -> list[dict[str, Any]]:
    """The models whose creating task is ``task``."""
    query = select(*_COLUMNS).where(models.c.task == task, models.c.company.in_(list(companies)))
    if for_update:
        query = query.with_for_update()
    return [_merge(row) for row in conn.execute(query.order_by(models.c.created, models.c.id))]


def frameworks(conn: Connection, companies: Sequence[str], projects: Sequence[str] | None) -> list[str]:
    query = select(models.c.framework).distinct().where(
        models.c.company.in_(list(companies)), models.c.framework.is_not(None), models.c.framework != ""
    )
    if projects:
        query = query.where(models.c.project.in_(list(projects)))
    return sorted(conn.execute(query).scalars())


# tasks using models as input ------------------------------------------------------------------------
def _uses_as_input(model_ids: Sequence[str]) -> ColumnElement[bool]:
    """A condition on ``tasks``: some ``models.input[].model`` is one of ``model_ids`` (the
    ``input_model`` rows of task_tags, index (kind, tag, task); any company, as a model's id may be
    referenced anywhere, as in the reference)."""
    return tasks.c.id.in_(
        select(task_tags.c.task).where(task_tags.c.kind == "input_model", task_tags.c.tag.in_(list(model_ids)))
    )


def tasks_using_models(conn: Connection, model_ids: Sequence[str]) -> list[dict[str, Any]]:
    """``{id, company, inputs}`` of every task (any company) with one of ``model_ids`` among its
    input models; ``inputs`` lists which of them it uses."""
    wanted = list(dict.fromkeys(model_ids))
    if not wanted:
        return []
    query = select(tasks.c.id, tasks.c.company, tasks.c.document).where(_uses_as_input(wanted))
    found = []
    for row in conn.execute(query.order_by(tasks.c.id)):
        inputs = ((row.document or {}).get("models") or {}).get("input") or []
        used = [m for m in wanted if any(isinstance(i, dict) and i.get("model") == m for i in inputs)]
        if used:
            found.append({"id": row.id, "company": row.company, "inputs": used})
    return found


def update_task_statistics(
    conn: Connection, company: str, task: str, *, iteration: int | None, when: datetime, by: str
) -> int:
    """A model write reported progress for its task: ``last_iteration = max(old, iteration)``
    and the task's update stamps (the task's own company only)."""
    values: dict[str, Any] = {"last_update": when, "last_change": when, "last_changed_by": by}
    if iteration is not None:
        values["last_iteration"] = case(
            (or_(tasks.c.last_iteration.is_(None), tasks.c.last_iteration < iteration), iteration),
            else_=tasks.c.last_iteration,
        )
    return conn.execute(
        update(tasks).where(tasks.c.id == task, tasks.c.company == company).values(**values)
    ).rowcount


# contents of projects -------------------------------------------------------------------------------
def count_in_projects(conn: Connection, company: str, project_ids: Sequence[str]) -> dict[str, int]:
    """The company's models in these projects, and those of them not archived."""
    if not project_ids:
        return {"models": 0, "non_archived_models": 0}
    mine = and_(models.c.company == company, models.c.project.in_(list(project_ids)))
    count = select(func.count()).select_from(models)
    not_archived = not_(has_tag(model_tags, models.c.id, "system_tags", [ARCHIVED_TAG]))
    return {
        "models": conn.execute(count.where(mine)).scalar_one(),
        "non_archived_models": conn.execute(count.where(mine, not_archived)).scalar_one(),
    }


def detach_from_projects(conn: Connection, company: str, project_ids: Sequence[str]) -> int:
    """Move the company's models in these projects to the top level (``project`` NULL)."""
    if not project_ids:
        return 0
    return conn.execute(
        update(models)
        .where(models.c.company == company, models.c.project.in_(list(project_ids)))
        .values(project=None)
    ).rowcount


def delete_in_projects(conn: Connection, company: str, project_ids: Sequence[str]) -> tuple[int, list[str]]:
    """Delete the company's models in these projects; returns (how many, their uris)."""
    if not project_ids:
        return 0, []
    mine = and_(models.c.company == company, models.c.project.in_(list(project_ids)))
    uris = [u for u in conn.execute(select(models.c.uri).where(mine)).scalars() if u]
    deleted = conn.execute(delete(models).where(mine)).rowcount
    return deleted, uris


# get_all ------------------------------------------------------------------------------------------
def find_models(
    conn: Connection, companies: Sequence[str], query: ModelQuery, *, projects: Sequence[str] | None = None
) -> list[dict[str, Any]]:
    """One page of the models visible to ``companies`` matching ``query``; ``projects`` replaces
    the query's projects (include_subprojects expanded by the caller)."""
    c = models.c
    where: list[ColumnElement[bool]] = [c.company.in_(list(companies))]
    for column, values in (
        (c.id, query.ids),
        (c.user, query.users),
        (c.task, query.tasks),
        (c.parent, query.parents),
        (c.framework, query.frameworks),
        (c.uri, query.uris),
        (c.project, tuple(projects) if projects is not None else query.projects),
    ):
        if values:
            where.append(column.in_(list(values)))
    if query.name:
        where.append(c.name.regexp_match(query.name))
    if query.comment:
        where.append(c.comment.regexp_match(query.comment))
    if query.ready is not None:
        where.append(c.ready == query.ready)
    if query.tags:
        where.append(tag_condition(model_tags, models.c.id, "tags", query.tags))
    if query.system_tags:
        where.append(tag_condition(model_tags, models.c.id, "system_tags", query.system_tags))
    for key, values in query.metadata:
        if values:
            where.append(c.document[("metadata", key, "value")].as_string().in_(list(values)))
    if not query.include_hidden:
        where.append(not_(has_tag(model_tags, models.c.id, "system_tags", [HIDDEN_TAG])))

    statement = (
        select(*_COLUMNS)
        .where(*where)
        .order_by(*(order_clauses(models, query.order, STRING_ORDER_FIELDS, conn.dialect.name) or [models.c.created, models.c.id]))
        .offset(query.offset)
        .limit(query.limit)
    )
    try:
        return [_merge(row) for row in conn.execute(statement)]
    except DBAPIError as exc:
        if getattr(exc.orig, "sqlstate", None) == _PG_INVALID_REGEX:
            raise BadPattern(str(exc.orig).strip()) from None
        raise
