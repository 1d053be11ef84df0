"""Projects and their tags: rows in, rows out, every query scoped by company.

Two exceptions leave this module instead of driver errors, for the use cases to translate:
``NameTaken`` (the unique (company, name) constraint refused a write, e.g. a racing creator) and
``BadPattern`` (PostgreSQL refused a regular expression that Python's ``re`` accepted).
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    Connection,
    Executable,
    Row,
    Table,
    and_,
    case,
    cast,
    delete,
    exists,
    extract,
    func,
    insert,
    not_,
    select,
    update,
)
from sqlalchemy.exc import DBAPIError, IntegrityError

from skiff.domain.projects import ARCHIVED_TAG, HIDDEN_TAG, REPORTS_TAG, STRING_FIELDS, ProjectQuery
from skiff.domain.task_query import ListCondition
from skiff.storage.repos import task_queries as task_query_repo
from skiff.storage.repos.common import BadPattern, NameTaken, has_tag, order_clauses, tag_condition
from skiff.storage.tables import (
    models,
    project_tags,
    projects,
    scalar_events,
    task_hyperparams,
    task_metrics,
    task_tags,
    tasks,
)

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


def find_projects(
    conn: Connection, company: str, query: ProjectQuery, *, within: Collection[str] | None = None
) -> list[dict[str, Any]]:
    """One page of the company's projects matching ``query`` (and, if given, among ``within``),
    as rows.

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
    if within is not None:
        where.append(c.id.in_(list(within)))
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
    return [_row(r) for r in _run_pattern_query(conn, statement)]


def _run_pattern_query(conn: Connection, statement: Executable) -> Sequence[Row[Any]]:
    """Execute a statement holding a client's regular expression: PostgreSQL's refusal of it
    leaves as ``BadPattern``."""
    try:
        return conn.execute(statement).all()
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


# aggregates over the tasks of projects (projects.get_all_ex statistics, the UI's column and filter
# choices). Every one is scoped by the caller's companies and served by the side tables' indexes.
def _bytewise(column: Any, dialect: str) -> Any:
    """Strings compare byte-wise on both dialects, as every other ordering does."""
    return column.collate("C") if dialect == "postgresql" else column


def _in_projects(task_column: Any, companies: Sequence[str], project_ids: Sequence[str]) -> ColumnElement[bool]:
    """The side-table row's task is in one of these projects."""
    in_scope = select(tasks.c.id).where(tasks.c.company.in_(list(companies)), tasks.c.project.in_(list(project_ids)))
    return task_column.in_(in_scope)


def _run_seconds(dialect: str) -> ColumnElement[Any]:
    """A task's run time in seconds: ``active_duration`` when the task reported one (pings and
    reports while running keep it), else from ``started`` to ``completed``, else 0."""
    start, end = tasks.c.started, tasks.c.completed
    # whole seconds, truncated as the running task's own count is; julianday() is a double, so
    # it is rounded to the milliseconds both databases keep before the cast truncates
    if dialect == "postgresql":
        elapsed: ColumnElement[Any] = func.floor(extract("epoch", end - start))
    else:
        elapsed = func.round((func.julianday(end) - func.julianday(start)) * 86400, 3)
    measured = case((and_(start.is_not(None), end.is_not(None), end >= start), cast(elapsed, BigInteger)), else_=0)
    return func.coalesce(tasks.c.active_duration, measured)


def task_stats(
    conn: Connection,
    companies: Sequence[str],
    project_ids: Sequence[str],
    *,
    since: datetime,
    users: Sequence[str] = (),
    include_hidden: bool = False,
    filters: Mapping[str, ListCondition] | None = None,
) -> list[dict[str, Any]]:
    """Tasks in these projects grouped by (project, archived, status): ``count``, summed
    ``runtime`` (seconds), latest ``started`` and how many completed at or after ``since``
    (``recent``). ``users`` keeps only tasks they created; ``filters`` are list conditions of the
    task query language (``{"system_tags": ["-pipeline"]}``)."""
    if not project_ids:
        return []
    archived = case((has_tag(task_tags, tasks.c.id, "system_tags", [ARCHIVED_TAG]), 1), else_=0)
    where: list[ColumnElement[bool]] = [tasks.c.company.in_(list(companies)), tasks.c.project.in_(list(project_ids))]
    if users:
        where.append(tasks.c.user.in_(list(users)))
    if not include_hidden:
        where.append(not_(has_tag(task_tags, tasks.c.id, "system_tags", [HIDDEN_TAG])))
    where += [task_query_repo.list_condition(name, cond) for name, cond in (filters or {}).items()]
    per_task = (
        select(
            tasks.c.project,
            tasks.c.status,
            archived.label("archived"),
            _run_seconds(conn.dialect.name).label("runtime"),
            tasks.c.started,
            case((tasks.c.completed >= since, 1), else_=0).label("recent"),
        )
        .where(*where)
        .subquery()
    )
    t = per_task.c
    query = select(
        t.project,
        t.archived,
        t.status,
        func.count().label("count"),
        func.sum(t.runtime).label("runtime"),
        func.max(t.started).label("started"),
        func.sum(t.recent).label("recent"),
    ).group_by(t.project, t.archived, t.status)
    return [_row(r) for r in conn.execute(query)]


def count_own_contents(conn: Connection, company: str, project_ids: Sequence[str]) -> dict[str, dict[str, int]]:
    """{project: {"own_tasks": n, "own_models": m}}: the company's tasks and models directly in
    each project, archived and hidden ones included (``check_own_contents``)."""
    found = {p: {"own_tasks": 0, "own_models": 0} for p in project_ids}
    for key, table in (("own_tasks", tasks), ("own_models", models)):
        if not project_ids:
            break
        query = (
            select(table.c.project, func.count())
            .where(table.c.company == company, table.c.project.in_(list(project_ids)))
            .group_by(table.c.project)
        )
        for project, count in conn.execute(query):
            found[project][key] = count
    return found


def holding_tasks(
    conn: Connection,
    company: str,
    *,
    users: Sequence[str] = (),
    task_type: str | None = None,
    system_tag: str | None = None,
) -> set[str]:
    """Ids of the company's projects holding, directly or in a subproject, tasks of the company
    created by one of ``users`` / of ``task_type`` / carrying ``system_tag`` (each when given)."""
    where: list[ColumnElement[bool]] = [tasks.c.company == company, tasks.c.project.is_not(None)]
    if users:
        where.append(tasks.c.user.in_(list(users)))
    if task_type is not None:
        where.append(tasks.c.type == task_type)
    if system_tag is not None:
        where.append(has_tag(task_tags, tasks.c.id, "system_tags", [system_tag]))
    direct = select(tasks.c.project).where(*where).distinct()
    query = select(projects.c.id, projects.c.path).where(projects.c.company == company, projects.c.id.in_(direct))
    found: set[str] = set()
    for project, path in conn.execute(query):
        found.add(project)
        found.update(path or [])
    return found


def hidden_among(conn: Connection, ids: Sequence[str]) -> set[str]:
    """Which of these projects carry the ``hidden`` system tag."""
    if not ids:
        return set()
    query = select(project_tags.c.project).where(
        project_tags.c.project.in_(list(ids)), project_tags.c.kind == "system_tags", project_tags.c.tag == HIDDEN_TAG
    )
    return set(conn.execute(query).scalars())


def hyperparam_names(
    conn: Connection, companies: Sequence[str], project_ids: Sequence[str] | None, *, offset: int, limit: int
) -> tuple[int, list[tuple[str, str]]]:
    """(total, one page of) the distinct (section, name) pairs of the tasks' hyperparameters,
    within ``project_ids`` unless None, by section then name."""
    hp = task_hyperparams.c
    names = select(hp.section, hp.name).where(hp.company.in_(list(companies))).group_by(hp.section, hp.name)
    if project_ids is not None:
        names = names.where(_in_projects(hp.task, companies, project_ids))
    total = conn.execute(select(func.count()).select_from(names.subquery())).scalar_one()
    dialect = conn.dialect.name
    page = names.order_by(_bytewise(hp.section, dialect), _bytewise(hp.name, dialect)).offset(offset).limit(limit)
    return total, [(section, name) for section, name in conn.execute(page)]


def hyperparam_values(
    conn: Connection,
    companies: Sequence[str],
    project_ids: Sequence[str] | None,
    section: str,
    name: str,
    *,
    pattern: str | None,
    offset: int,
    limit: int,
) -> tuple[int, list[str]]:
    """(total, one page of) the distinct values of one hyperparameter, sorted; ``pattern`` is a
    regular-expression search on the value."""
    hp = task_hyperparams.c
    values = (
        select(hp.value)
        .where(hp.company.in_(list(companies)), hp.section == section, hp.name == name, hp.value.is_not(None))
        .group_by(hp.value)
    )
    if project_ids is not None:
        values = values.where(_in_projects(hp.task, companies, project_ids))
    if pattern:
        values = values.where(hp.value.regexp_match(pattern))
    total = _run_pattern_query(conn, select(func.count()).select_from(values.subquery()))[0][0]
    page = values.order_by(_bytewise(hp.value, conn.dialect.name)).offset(offset).limit(limit)
    return total, [row[0] for row in _run_pattern_query(conn, page)]


def metric_variants(
    conn: Connection, companies: Sequence[str], project_ids: Sequence[str] | None, ids: Sequence[str] | None
) -> list[dict[str, str]]:
    """The distinct scalar series (metric, variant and their hashes) the tasks reported, within
    ``project_ids`` and among the tasks ``ids`` when given, by metric then variant."""
    tm = task_metrics.c
    columns = (tm.metric, tm.metric_hash, tm.variant, tm.variant_hash)
    query = select(*columns).where(tm.company.in_(list(companies))).group_by(*columns)
    if project_ids is not None:
        query = query.where(_in_projects(tm.task, companies, project_ids))
    if ids is not None:
        query = query.where(tm.task.in_(list(ids)))
    dialect = conn.dialect.name
    query = query.order_by(_bytewise(tm.metric, dialect), _bytewise(tm.variant, dialect))
    return [_row(r) for r in conn.execute(query)]


def model_metric_variants(
    conn: Connection, companies: Sequence[str], project_ids: Sequence[str] | None, ids: Sequence[str] | None
) -> list[tuple[str, str]]:
    """The distinct (metric, variant) of the scalars reported for models (events whose ``task``
    is a model id), within ``project_ids`` / among the models ``ids`` when given."""
    owners = select(models.c.id).where(models.c.company.in_(list(companies)))
    if project_ids is not None:
        owners = owners.where(models.c.project.in_(list(project_ids)))
    if ids is not None:
        owners = owners.where(models.c.id.in_(list(ids)))
    se = scalar_events.c
    dialect = conn.dialect.name
    query = (
        select(se.metric, se.variant)
        .where(se.task.in_(owners))
        .group_by(se.metric, se.variant)
        .order_by(_bytewise(se.metric, dialect), _bytewise(se.variant, dialect))
    )
    return [(metric, variant) for metric, variant in conn.execute(query)]


def task_parents(
    conn: Connection,
    company: str,
    companies: Sequence[str],
    project_ids: Sequence[str] | None,
    *,
    archived: bool | None,
    name_pattern: str | None,
) -> list[dict[str, Any]]:
    """The distinct parents (id, name, project, project_name) of the tasks in ``project_ids``
    (all when None), archived or not as asked (None: both), by name. A parent's project name
    shows only when the project is the caller's."""
    child = tasks.alias("child")
    children = select(child.c.parent).where(child.c.company.in_(list(companies)), child.c.parent.is_not(None))
    if project_ids is not None:
        children = children.where(child.c.project.in_(list(project_ids)))
    if archived is not None:
        is_archived = has_tag(task_tags, child.c.id, "system_tags", [ARCHIVED_TAG])
        children = children.where(is_archived if archived else not_(is_archived))
    own_project = and_(projects.c.id == tasks.c.project, projects.c.company == company)
    query = (
        select(tasks.c.id, tasks.c.name, tasks.c.project, projects.c.name.label("project_name"))
        .select_from(tasks.outerjoin(projects, own_project))
        .where(tasks.c.id.in_(children), tasks.c.company.in_(list(companies)))
        .order_by(_bytewise(tasks.c.name, conn.dialect.name), tasks.c.id)
    )
    if name_pattern:
        query = query.where(tasks.c.name.regexp_match(name_pattern))
    return [_row(r) for r in _run_pattern_query(conn, query)]
