"""Tasks: one row per task (promoted columns + JSON document) and the tag/hyperparameter side tables
(the query compiler is ``task_queries``).

The use cases work with whole task documents (plain dicts, as clients see them before the read
transforms). This module splits a document into columns and ``document`` on write and merges them
on read, and keeps the side tables in step in the same transaction.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, bindparam, delete, func, insert, select, update

from skiff.domain.natural_order import sort_key, tie_key
from skiff.domain.task_query import ARRAY_LIST_FIELDS
from skiff.domain.text_search import TEXT_FIELDS, index_text, text_index_values
from skiff.storage.dialects.expressions import one_of
from skiff.storage.engine import pipelined
from skiff.storage.repos.common import insert_many, merge_document, split_document, unselective
from skiff.storage.repos.prepared import Prepared
from skiff.storage.tables import task_hyperparams, task_search, task_tags, tasks

#: Document fields that live in their own column (None = absent).
PROMOTED = (
    "id", "company", "company_origin", "user", "name", "type", "status", "project", "parent",
    "comment", "enqueue_status", "created", "started", "completed", "published", "status_changed",
    "last_update", "last_change", "last_changed_by", "last_iteration", "last_worker",
    "last_worker_report", "active_duration",
)  # fmt: skip
TASK_COLUMNS = [tasks.c[name] for name in PROMOTED] + [tasks.c.document]
PUBLIC = ""


def _split(doc: dict[str, Any]) -> dict[str, Any]:
    row = split_document(doc, PROMOTED)
    row["queue"] = (doc.get("execution") or {}).get("queue")
    return row


def merge_row(row: Any) -> dict[str, Any]:
    return merge_document(row, PROMOTED)


#: Array list fields (spec tasks-queries §2.4): their elements are rows of the task_tags side table
#: under these kinds.
ARRAY_KINDS = {"tags": "tags", "system_tags": "system_tags", "models.input.model": "input_model"}


def array_values(doc: dict[str, Any], field: str) -> list[str]:
    """The distinct elements of an array list field of a task document."""
    if field == "models.input.model":
        values = [m.get("model") for m in (doc.get("models") or {}).get("input") or []]
    else:
        values = doc.get(field) or []
    return sorted({v for v in values if isinstance(v, str) and v})


_TAG_COLUMNS = ("task", "kind", "tag", "company")
_HYPERPARAM_COLUMNS = ("task", "section", "name", "company", "value", "sort_key", "task_key")


def _tag_rows(doc: dict[str, Any]) -> list[tuple[str, ...]]:
    """The task_tags rows of a task document: one per element of each array list field."""
    task, company = doc["id"], doc["company"]
    return [(task, ARRAY_KINDS[field], value, company) for field in ARRAY_LIST_FIELDS for value in array_values(doc, field)]


def _hyperparam_rows(doc: dict[str, Any]) -> list[tuple[Any, ...]]:
    """The task_hyperparams rows of a task document: one per parameter."""
    if not doc.get("hyperparams"):
        return []  # (without the tie key's cost)
    task, company = doc["id"], doc["company"]
    task_key = tie_key(task)
    return [
        (task, section, name, company, value, None if value is None else sort_key(value), task_key)
        for section, params in (doc.get("hyperparams") or {}).items()
        for name, item in params.items()
        for value in (item.get("value"),)
    ]




def _insert_side_rows(conn: Connection, tag_rows: list[tuple[str, ...]], param_rows: list[tuple[Any, ...]]) -> None:
    """Plain DB-API executemanys: a task has ~40 hyperparameter rows, so compiling each through
    SQLAlchemy would be most of a bulk load's time."""
    if tag_rows:
        insert_many(conn, task_tags.name, _TAG_COLUMNS, tag_rows)
    if param_rows:
        insert_many(conn, task_hyperparams.name, _HYPERPARAM_COLUMNS, param_rows)


def _write_side_tables(conn: Connection, doc: dict[str, Any], *, tags: bool, hyperparams: bool) -> None:
    """Replace a stored task's tag and/or hyperparameter rows with those of ``doc``."""
    if tags:
        conn.execute(delete(task_tags).where(task_tags.c.task == doc["id"]))
    if hyperparams:
        conn.execute(delete(task_hyperparams).where(task_hyperparams.c.task == doc["id"]))
    _insert_side_rows(conn, _tag_rows(doc) if tags else [], _hyperparam_rows(doc) if hyperparams else [])


def _param_values(doc: dict[str, Any]) -> dict[tuple[str, str], Any]:
    """(section, name) -> value of every hyperparameter of a task document: what its row holds."""
    return {
        (section, name): item.get("value")
        for section, params in (doc.get("hyperparams") or {}).items()
        for name, item in params.items()
    }


_PARAM_KEY = ("task", "section", "name")
#: the hyperparameter rows written with an upsert: a changed value replaces the row's other columns
_PARAM_UPSERT = "ON CONFLICT ({}) DO UPDATE SET {}".format(
    ", ".join(f'"{c}"' for c in _PARAM_KEY),
    ", ".join(f'"{c}" = excluded."{c}"' for c in _HYPERPARAM_COLUMNS if c not in _PARAM_KEY),
)
_DELETE_PARAM = delete(task_hyperparams).where(
    task_hyperparams.c.task == bindparam("task_id"),
    task_hyperparams.c.section == bindparam("param_section"),
    task_hyperparams.c.name == bindparam("param_name"),
)


def _update_hyperparam_rows(conn: Connection, old: dict[str, Any], new: dict[str, Any]) -> None:
    """Write only the hyperparameter rows whose value was added, changed or removed: an edit of a
    few parameters of a task that has many must not rewrite every row and its index entries."""
    before, after = _param_values(old), _param_values(new)
    gone = [key for key in before if key not in after]
    if gone:
        conn.execute(_DELETE_PARAM, [{"task_id": new["id"], "param_section": s, "param_name": n} for s, n in gone])
    changed: dict[str, dict[str, Any]] = {}
    for (section, name), value in after.items():
        if (section, name) not in before or before[section, name] != value:
            changed.setdefault(section, {})[name] = new["hyperparams"][section][name]
    if changed:
        rows = _hyperparam_rows({"id": new["id"], "company": new["company"], "hyperparams": changed})
        # (one row per (section, name): the rows' keys are distinct)
        insert_many(conn, task_hyperparams.name, _HYPERPARAM_COLUMNS, rows, upsert=_PARAM_UPSERT, distinct_keys=True)


#: ``task_search`` columns in the order of the domain's ``TEXT_FIELDS`` (which is also the column
#: order of the SQLite full-text table, so bm25 weights line up).
_SEARCH_COLUMNS = ("name", "task", "comment", "report", "input_models", "output_models", "repository", "entry_point")
assert len(_SEARCH_COLUMNS) == len(TEXT_FIELDS)


def _search_row(doc: dict[str, Any]) -> dict[str, str]:
    return dict(zip(_SEARCH_COLUMNS, text_index_values(doc)))


#: Run on the cursor (``prepared``): a create writes one row of each, and SQLAlchemy's execution
#: of the insert cost more than the insert.
_INSERT_TASK = Prepared(insert(tasks), columns=[*PROMOTED, "queue", "document"])
_INSERT_SEARCH = Prepared(insert(task_search), columns=_SEARCH_COLUMNS)


def insert_task(conn: Connection, doc: dict[str, Any]) -> None:
    insert_tasks(conn, [doc])


def insert_tasks(conn: Connection, docs: Sequence[dict[str, Any]]) -> None:
    """Insert new tasks with one insert per table (rows, searched text, tags, hyperparameters),
    so bulk loaders write exactly what a single ``insert_task`` writes; on PostgreSQL the four go
    to the server together. On SQLite the full-text index follows ``task_search`` through its
    triggers."""
    task_rows, search_rows = [_split(doc) for doc in docs], [_search_row(doc) for doc in docs]
    tag_rows = [row for doc in docs for row in _tag_rows(doc)]
    param_rows = [row for doc in docs for row in _hyperparam_rows(doc)]
    with pipelined(conn):
        _INSERT_TASK.execute_many(conn, task_rows)
        _INSERT_SEARCH.execute_many(conn, search_rows)
        _insert_side_rows(conn, tag_rows, param_rows)


class StatusChanged(Exception):
    """A compare-and-set on the status found another status in the row."""


#: UPDATEs of a task row by the set of columns they write (and whether they compare-and-set the
#: status), run on the cursor (``prepared``): every task write is one, with a handful of column sets.
_ROW_UPDATES: dict[tuple[tuple[str, ...], bool], Prepared] = {}
_ROW_UPDATE_KINDS = 512


def _row_update(columns: tuple[str, ...], check_status: bool) -> Prepared:
    statement = _ROW_UPDATES.get((columns, check_status))
    if statement is None:
        query = update(tasks).where(tasks.c.id == bindparam("task_id"))
        if check_status:
            query = query.where(tasks.c.status.is_not_distinct_from(bindparam("expected_status")))
        statement = Prepared(query, columns=columns)
        if len(_ROW_UPDATES) < _ROW_UPDATE_KINDS:  # a bound, however clients combine fields
            _ROW_UPDATES[columns, check_status] = statement
    return statement


def replace_task(conn: Connection, old: dict[str, Any], new: dict[str, Any]) -> None:
    """Write ``new`` over ``old`` (same id): only changed columns, side tables only if affected.

    When the status changes the write is a compare-and-set on the old status
    (``UPDATE … WHERE id = ? AND status = ?``) and raises ``StatusChanged`` if another writer won.
    The other statements (all of them when the status stays) go to PostgreSQL together.
    """
    before, after = _split(old), _split(new)
    changes = {k: v for k, v in after.items() if before.get(k) != v}
    status_changes = "status" in changes
    if status_changes and _update_row(conn, before, changes, new["id"]) == 0:  # (its answer decides)
        raise StatusChanged(new["id"])
    company_moved = old.get("company") != new.get("company")
    with pipelined(conn):
        if changes and not status_changes:
            _update_row(conn, before, changes, new["id"])
        _write_side_tables(
            conn,
            new,
            tags=company_moved or any(old.get(k) != new.get(k) for k in ("tags", "system_tags", "models")),
            hyperparams=company_moved,
        )
        if not company_moved and old.get("hyperparams") != new.get("hyperparams"):
            _update_hyperparam_rows(conn, old, new)
        text = _search_row(new)
        if text != _search_row(old):
            conn.execute(update(task_search).where(task_search.c.task == new["id"]).values(**text))


def _update_row(conn: Connection, before: dict[str, Any], changes: dict[str, Any], task_id: str) -> int:
    """Write the changed columns of a task row (a compare-and-set on ``before``'s status when
    the status is among them); the number of rows matched."""
    statement = _row_update(tuple(sorted(changes)), "status" in changes)
    return statement.execute(conn, {**changes, "task_id": task_id, "expected_status": before["status"]})


def update_columns(conn: Connection, ids: Sequence[str], **values: Any) -> int:
    """Set promoted columns on several tasks at once (e.g. parent rewrites); the searched text
    (``name``, ``comment``) follows."""
    count = conn.execute(update(tasks).where(tasks.c.id.in_(ids)).values(**values)).rowcount
    text = {k: index_text(v) for k, v in values.items() if k in ("name", "comment")}
    if text:
        conn.execute(update(task_search).where(task_search.c.task.in_(ids)).values(**text))
    return count


#: Tasks by id, on the cursor (``prepared``): every page of a listing reads its rows here, and
#: SQLAlchemy's execution and expanding IN (the list rendered into the SQL on every call) cost
#: more than the query: a page of 50 on SQLite, documents decoded, took 2.1-2.2 ms that way
#: and 1.2-1.8 ms here. The ids find the rows.
_GET_TASKS = select(*TASK_COLUMNS).where(one_of(tasks.c.id, "ids"), unselective(one_of(tasks.c.company, "companies")))
_GET_TASKS_PREPARED = {False: Prepared(_GET_TASKS), True: Prepared(_GET_TASKS.with_for_update())}
#: One task among at most two companies (the caller's and the public ""), the hottest read: on
#: the cursor (``prepared``).
_GET_TASK = select(*TASK_COLUMNS).where(
    tasks.c.id == bindparam("id"), tasks.c.company.in_([bindparam("company"), bindparam("other")])
)
_GET_TASK_PREPARED = {False: Prepared(_GET_TASK), True: Prepared(_GET_TASK.with_for_update())}


def get_tasks(
    conn: Connection, companies: Sequence[str], ids: Iterable[str], *, for_update: bool = False
) -> dict[str, dict[str, Any]]:
    """Tasks by id, visible to ``companies`` (the caller's and, for reads, the public "")."""
    ids = list(dict.fromkeys(ids))
    if not ids:
        return {}
    rows = _GET_TASKS_PREPARED[for_update].all(conn, {"ids": ids, "companies": list(companies)})
    return {row["id"]: merge_row(row) for row in rows}


def get_task(conn: Connection, companies: Sequence[str], id: str, *, for_update: bool = False) -> dict[str, Any] | None:
    if not 1 <= len(companies) <= 2:
        return get_tasks(conn, companies, [id], for_update=for_update).get(id)
    params = {"id": id, "company": companies[0], "other": companies[-1]}
    row = _GET_TASK_PREPARED[for_update].first(conn, params)
    return None if row is None else merge_row(row)


def exists_anywhere(conn: Connection, id: str) -> bool:
    return conn.execute(select(tasks.c.id).where(tasks.c.id == id)).first() is not None


def delete_task(conn: Connection, id: str) -> None:
    """The side tables and the searched text go with the row (foreign keys ON DELETE CASCADE)."""
    conn.execute(delete(tasks).where(tasks.c.id == id))


def children(conn: Connection, parent: str, status: str | None = None) -> list[str]:
    query = select(tasks.c.id).where(tasks.c.parent == parent)
    if status is not None:
        query = query.where(tasks.c.status == status)
    return list(conn.execute(query).scalars())


def mark_children_orphaned(conn: Connection, parent: str, marker: str, when: datetime, by: str) -> int:
    return conn.execute(
        update(tasks)
        .where(tasks.c.parent == parent)
        .values(parent=marker, last_change=when, last_changed_by=by)
    ).rowcount


def ids_in_projects(conn: Connection, company: str, projects: Sequence[str]) -> list[str]:
    """Ids of the company's tasks in any of ``projects``."""
    if not projects:
        return []
    query = select(tasks.c.id).where(tasks.c.company == company, tasks.c.project.in_(list(projects)))
    return list(conn.execute(query).scalars())


def not_updated_since(conn: Connection, status: str, before: datetime) -> list[tuple[str, str]]:
    """``(id, company)`` of the tasks of every company in ``status`` whose ``last_update`` is older
    than ``before`` (tasks never updated are left out), oldest first. For the watchdog (§8)."""
    query = (
        select(tasks.c.id, tasks.c.company)
        .where(tasks.c.status == status, tasks.c.last_update < before)
        .order_by(tasks.c.last_update, tasks.c.id)
    )
    return [(row.id, row.company) for row in conn.execute(query)]


def count_tasks(conn: Connection, companies: Sequence[str]) -> int:
    return conn.execute(select(func.count()).select_from(tasks).where(tasks.c.company.in_(list(companies)))).scalar_one()


def distinct_types(conn: Connection, companies: Sequence[str], projects: Sequence[str] | None) -> list[str]:
    query = select(tasks.c.type).where(tasks.c.company.in_(list(companies))).distinct()
    if projects is not None:
        query = query.where(tasks.c.project.in_(list(projects)))
    return sorted(conn.execute(query).scalars())
