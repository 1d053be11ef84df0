"""Projects and their tags: rows in, rows out, every query scoped by company.

Two exceptions leave this module instead of driver errors, for the use cases to translate:
``NameTaken`` (the unique (company, name) constraint refused a write, e.g. a racing creator) and
``BadPattern`` (PostgreSQL refused a regular expression that Python's ``re`` accepted).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Connection,
    Table,
    and_,
    delete,
    exists,
    func,
    insert,
    not_,
    select,
    update,
)
from sqlalchemy.exc import DBAPIError, IntegrityError

from skiff.domain.projects import ARCHIVED_TAG, HIDDEN_TAG, REPORTS_TAG, STRING_FIELDS, ProjectQuery
from skiff.storage.repos.common import BadPattern, NameTaken, has_tag, order_clauses, tag_condition
from skiff.storage.tables import project_tags, projects, task_tags, tasks

_UNIQUE_NAME = "uq_projects_company_name"
_PG_INVALID_REGEX = "2201B"


def _is_unique_name_violation(exc: IntegrityError) -> bool:
    text = str(exc.orig)
    # PostgreSQL names the constraint; SQLite names the columns.
    return _UNIQUE_NAME in text or "projects.company, projects.name" in text


def _row(row: Any) -> dict[str, Any]:
    return dict(row._mapping)


# writes -------------------------------------------------------------------------------------------
def insert_project(conn: Connection, **values: Any) -> None:
    try:
        conn.execute(insert(projects).values(**values))
    except IntegrityError as exc:
        if _is_unique_name_violation(exc):
            raise NameTaken(values["name"]) from None
        raise


def update_project(conn: Connection, company: str, id: str, **values: Any) -> int:
    try:
        result = conn.execute(
            update(projects).where(projects.c.company == company, projects.c.id == id).values(**values)
        )
    except IntegrityError as exc:
        if _is_unique_name_violation(exc):
            raise NameTaken(values.get("name", "")) from None
        raise
    return result.rowcount


def touch_projects(conn: Connection, company: str, ids: Iterable[str], when: datetime) -> None:
    ids = [i for i in ids if i]
    if ids:
        conn.execute(
            update(projects)
            .where(projects.c.company == company, projects.c.id.in_(ids))
            .values(last_update=when)
        )


def delete_projects(conn: Connection, company: str, ids: Sequence[str]) -> int:
    """Delete these projects (a whole subtree at once); returns how many existed."""
    if not ids:
        return 0
    mine = and_(projects.c.company == company, projects.c.id.in_(ids))
    # Counted first: SQLite's rowcount leaves out rows its ON DELETE CASCADE (parent) removed.
    found = conn.execute(select(func.count()).select_from(projects).where(mine)).scalar_one()
    conn.execute(delete(project_tags).where(project_tags.c.project.in_(select(projects.c.id).where(mine))))
    conn.execute(delete(projects).where(mine))
    return found


def set_tags(conn: Connection, project: str, kind: str, tags: Sequence[str]) -> None:
    """Replace the project's tags of one kind (``tags`` or ``system_tags``)."""
    conn.execute(delete(project_tags).where(project_tags.c.project == project, project_tags.c.kind == kind))
    if tags:
        conn.execute(insert(project_tags), [{"project": project, "kind": kind, "tag": t} for t in tags])


# reads --------------------------------------------------------------------------------------------
def get_project(conn: Connection, company: str, id: str) -> dict[str, Any] | None:
    row = conn.execute(select(projects).where(projects.c.company == company, projects.c.id == id)).first()
    return _row(row) if row else None


def exists_anywhere(conn: Connection, id: str) -> bool:
    """Is there a project with this id in any company (the parse-time check of task writes)?"""
    return conn.execute(select(projects.c.id).where(projects.c.id == id)).first() is not None


def find_by_name(conn: Connection, company: str, name: str) -> dict[str, Any] | None:
    row = conn.execute(
        select(projects).where(projects.c.company == company, projects.c.name == name)
    ).first()
    return _row(row) if row else None


def subtree(
    conn: Connection, company: str, roots: Sequence[str], *, include_roots: bool = True
) -> list[dict[str, Any]]:
    """The projects ``roots`` (of this company) and all their descendants, at every depth, by name;
    with ``include_roots=False`` only the descendants."""
    if not roots:
        return []
    start = projects.c.id.in_(roots) if include_roots else projects.c.parent.in_(roots)
    tree = select(projects.c.id).where(projects.c.company == company, start).cte("tree", recursive=True)
    tree = tree.union_all(select(projects.c.id).where(projects.c.parent == tree.c.id))
    query = select(projects).where(projects.c.id.in_(select(tree.c.id))).order_by(projects.c.name)
    return [_row(r) for r in conn.execute(query)]


def subtree_ids(
    conn: Connection, company: str, roots: Sequence[str], *, include_roots: bool = True
) -> list[str]:
    """Ids of ``roots`` and all their descendants (what ``include_subprojects`` expands to)."""
    return [row["id"] for row in subtree(conn, company, roots, include_roots=include_roots)]


def tags_of(conn: Connection, ids: Sequence[str]) -> dict[str, dict[str, list[str]]]:
    """{project id: {"tags": [...], "system_tags": [...]}}, sorted."""
    found: dict[str, dict[str, list[str]]] = {i: {"tags": [], "system_tags": []} for i in ids}
    if ids:
        query = (
            select(project_tags.c.project, project_tags.c.kind, project_tags.c.tag)
            .where(project_tags.c.project.in_(ids))
            .order_by(project_tags.c.tag)
        )
        for project, kind, tag in conn.execute(query):
            found[project].setdefault(kind, []).append(tag)
    return found


def find_projects(conn: Connection, company: str, query: ProjectQuery) -> list[dict[str, Any]]:
    """One page of the company's projects matching ``query``, as rows.

    ``name``/``description`` are regular-expression searches: ``regexp_match`` compiles to ``~``
    on PostgreSQL and to ``REGEXP`` on SQLite, where ``dialects/sqlite.py`` registers Python's
    ``re.search`` as the function. The two engines differ in corners: PostgreSQL's ARE syntax has
    no ``(?P<name>...)`` groups (refused: ``BadPattern``), reads ``\\b`` as a backspace (its word
    boundary is ``\\y``) and has no ``\\Z``. The SDK's patterns (``^<re.escape(name)>$``) and
    plain substrings mean the same in both.
    """
    dialect = conn.dialect.name
    c = projects.c
    where: list[ColumnElement[bool]] = [c.company == company]
    if query.ids:
        where.append(c.id.in_(query.ids))
    if query.name:
        where.append(c.name.regexp_match(query.name))
    if query.description:
        where.append(c.description.regexp_match(query.description))
    if query.basename:
        where.append(c.basename == query.basename)
    if query.tags:
        where.append(tag_condition(project_tags, projects.c.id, "tags", query.tags))
    if query.system_tags:
        where.append(tag_condition(project_tags, projects.c.id, "system_tags", query.system_tags))
    if query.parents:
        if query.shallow:
            where.append(c.parent.in_(query.parents))
        else:
            where.append(c.id.in_(subtree_ids(conn, company, query.parents, include_roots=False)))
    elif query.shallow:
        where.append(c.parent.is_(None))
    if not query.include_hidden:
        where.append(not_(has_tag(project_tags, projects.c.id, "system_tags", [HIDDEN_TAG])))

    statement = select(projects).where(*where)
    order = order_clauses(projects, query.order, STRING_FIELDS, dialect)
    # Without order_by: creation order (the reference answers in insertion order).
    statement = statement.order_by(*(order or [c.created, c.id])).offset(query.offset).limit(query.limit)
    try:
        return [_row(r) for r in conn.execute(statement)]
    except DBAPIError as exc:
        if getattr(exc.orig, "sqlstate", None) == _PG_INVALID_REGEX:
            raise BadPattern(str(exc.orig).strip()) from None
        raise


# contents (tasks and models) ----------------------------------------------------------------------
def count_in_projects(
    conn: Connection, table: Table, company: str, project_ids: Sequence[str], *where: ColumnElement[bool]
) -> int:
    """Rows of ``table`` (any table with ``company`` and ``project`` columns: tasks, models) in
    the given projects, with optional extra conditions (e.g. "not archived")."""
    if not project_ids:
        return 0
    query = (
        select(func.count())
        .select_from(table)
        .where(table.c.company == company, table.c.project.in_(project_ids), *where)
    )
    return conn.execute(query).scalar_one()


def detach_from_projects(conn: Connection, table: Table, company: str, project_ids: Sequence[str]) -> int:
    """Move the rows of ``table`` in these projects to the root (``project`` NULL)."""
    if not project_ids:
        return 0
    result = conn.execute(
        update(table)
        .where(table.c.company == company, table.c.project.in_(project_ids))
        .values(project=None)
    )
    return result.rowcount


def _task_has_system_tag(tag: str) -> ColumnElement[bool]:
    return exists().where(task_tags.c.task == tasks.c.id, task_tags.c.kind == "system_tags", task_tags.c.tag == tag)


def count_tasks(conn: Connection, company: str, project_ids: Sequence[str]) -> dict[str, int]:
    """The company's tasks in these projects, as ``projects.validate_delete`` reports them:
    reports (system tag ``reports``) apart from other tasks, each also without the archived ones.
    (Public tasks, company "", sitting in a private project are not counted.)"""
    report, archived = _task_has_system_tag(REPORTS_TAG), _task_has_system_tag(ARCHIVED_TAG)
    return {
        "tasks": count_in_projects(conn, tasks, company, project_ids, not_(report)),
        "non_archived_tasks": count_in_projects(conn, tasks, company, project_ids, not_(report), not_(archived)),
        "reports": count_in_projects(conn, tasks, company, project_ids, report),
        "non_archived_reports": count_in_projects(conn, tasks, company, project_ids, report, not_(archived)),
    }


def detach_tasks(conn: Connection, company: str, project_ids: Sequence[str]) -> int:
    """The company's tasks in these projects move to the top level; returns how many."""
    return detach_from_projects(conn, tasks, company, project_ids)
