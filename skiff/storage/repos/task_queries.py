"""The task query compiler: a parsed ``TaskQuery`` (spec tasks-queries §2–§5, no SQL) as one
SQLAlchemy Core statement for both dialects — list conditions over promoted columns and the side
tables, the filters map, multi-field patterns, ranges and dates, full-text search, ordering with
empties last and natural collation, paging — and its plan (``explain_tasks``).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Connection,
    Select,
    String,
    and_,
    bindparam,
    case,
    exists,
    false,
    func,
    literal,
    literal_column,
    not_,
    or_,
    select,
    true,
)
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.expression import ClauseElement, Executable, Join

from skiff.domain.task_query import (
    OBJECT_ARRAYS,
    TEXT_SCORE,
    FieldFilter,
    ListCondition,
    MetricPath,
    MultiField,
    OrderKey,
    ParamPath,
    Range,
    TaskQuery,
    parse_metric_path,
    parse_param_path,
)
from skiff.domain.natural_order import SORT_KEY_BYTES, sort_key
from skiff.domain.text_search import TEXT_FIELDS, TextSearch
from skiff.storage.dialects.expressions import json_equals, json_strings, regex_search
from skiff.storage.repos.common import BadPattern, unindexed, unselective
from skiff.storage.repos.prepared import Prepared
from skiff.storage.repos.tasks import ARRAY_KINDS, PROMOTED, get_tasks
from skiff.storage.tables import (
    NATURAL_COLLATION,
    task_hyperparams,
    task_metrics,
    task_search,
    task_search_fts,
    task_search_vector,
    task_tags,
    tasks,
)

#: List-filter keys and order paths served by promoted columns.
SCALAR_COLUMNS = {
    "id": tasks.c.id,
    "user": tasks.c.user,
    "project": tasks.c.project,
    "parent": tasks.c.parent,
    "status": tasks.c.status,
    "type": tasks.c.type,
    "execution.queue": tasks.c.queue,
}
ORDER_COLUMNS = {
    **SCALAR_COLUMNS,
    **{name: tasks.c[name] for name in (
        "name", "comment", "company", "created", "started", "completed", "published", "status_changed",
        "last_update", "last_change", "last_changed_by", "last_worker",
        "last_worker_report", "active_duration",
    )},
    # stored as 0 by the reference on creation (§6.2): a task without iterations has 0, not empty
    "last_iteration": func.coalesce(tasks.c.last_iteration, 0),
}  # fmt: skip
_STRING_ORDER = {"id", "user", "project", "parent", "status", "type", "execution.queue", "name", "comment",
                 "company", "last_changed_by", "last_worker"}  # fmt: skip


class UnsupportedField(Exception):
    """A path the query compiler does not serve."""


def _combine(conditions: list[ColumnElement[bool]], operator: str) -> ColumnElement[bool]:
    if not conditions:
        return true()
    return and_(*conditions) if operator == "and" else or_(*conditions)


def _tag_exists(kind: str, values: tuple[str, ...] | None = None) -> ColumnElement[bool]:
    """A correlated EXISTS on the task's rows of ``kind``. (As ``id IN (…)`` SQLite would start from
    every task holding a common tag and sort them all; walking an order index and probing is
    cheaper for tags, unlike the near-unique hyperparameter values below.)"""
    query = select(literal(1)).where(task_tags.c.task == tasks.c.id, task_tags.c.kind == kind)
    if values is not None:
        query = query.where(task_tags.c.tag.in_(values))
    return exists(query)


#: SQLite: with at most this many hidden tasks, a query reads their ids once (``_not_hidden``).
HIDDEN_SET_LIMIT = 1000
_HIDDEN = select(task_tags.c.task).where(task_tags.c.kind == "system_tags", task_tags.c.tag == "hidden")
_COUNT_HIDDEN = Prepared(select(func.count().label("hidden")).select_from(_HIDDEN.limit(bindparam("limit")).subquery()))


def _not_hidden(conn: Connection) -> ColumnElement[bool]:
    """Tasks without the "hidden" system tag (what lists show unless ``search_hidden``).

    SQLite: a correlated NOT EXISTS seeks each candidate's tag rows, ~4-6 µs a task (a page of 50
    filtered on a hyperparameter value and sorted by a metric: 0.6 of the 0.8 ms that its 100
    candidates cost). ``id NOT IN (the hidden ids)`` reads the hidden ids once per query
    (~0.2 µs each) and probes that set in memory, so it is used while there are at most
    ``HIDDEN_SET_LIMIT`` of them, which a bounded count tells (pipelines hide their steps, so
    some installs have many). PostgreSQL's anti-join probes its index cheaply."""
    if conn.dialect.name == "sqlite":
        counted = _COUNT_HIDDEN.first(conn, {"limit": HIDDEN_SET_LIMIT + 1})
        if counted is not None and counted["hidden"] <= HIDDEN_SET_LIMIT:
            return tasks.c.id.not_in(_HIDDEN)
    return not_(_tag_exists("system_tags", ("hidden",)))


def _range(column: Any, bounds: Range) -> ColumnElement[bool]:
    parts = []
    if bounds.low is not None:
        parts.append(column >= bounds.low)
    if bounds.high is not None:
        parts.append(column <= bounds.high)
    condition = and_(*parts)
    return or_(condition, column.is_(None)) if bounds.low is None else condition


_COMPARE = {">=": "__ge__", ">": "__gt__", "<=": "__le__", "<": "__lt__", "=": "__eq__"}


def _date_condition(column: Any, spec: Range | dict[str, Any]) -> ColumnElement[bool]:
    if isinstance(spec, Range):
        return _range(column, spec)
    return and_(true(), *[getattr(column, _COMPARE[op])(value) for op, value in spec.items()])


def _param_selection(path: ParamPath, *columns: Any) -> Any:
    """The rows of a parameter, or of every parameter of a section (a 2-part path), of any task."""
    query = select(*(columns or [literal(1)])).where(task_hyperparams.c.section == path.section)
    return query if path.name is None else query.where(task_hyperparams.c.name == path.name)


def _param_rows(path: ParamPath, *columns: Any) -> Any:
    """The same rows of the task at hand (correlated with ``tasks`` only: the statement may join
    another parameter's row)."""
    return _param_selection(path, *columns).where(task_hyperparams.c.task == tasks.c.id).correlate(tasks)


def param_value_in(values: tuple[str, ...]) -> ColumnElement[bool]:
    """``task_hyperparams.value IN values``, stated so that the order index answers it: equal values
    have equal sort keys, and a sort key shorter than ``SORT_KEY_BYTES`` (not cut) belongs to one
    value only (it ends with the value's text). So while every key is whole, the index entries
    (section, name, sort key) are the answer and no table row is read (a W4 page of the http
    benchmark read 100 rows for it, 200 of its ~730 pages); a cut key may be shared by several
    values, and then the values are compared too."""
    keys = sorted({sort_key(v) for v in values})
    if all(len(key) < SORT_KEY_BYTES for key in keys):
        return task_hyperparams.c.sort_key.in_(keys)
    return and_(task_hyperparams.c.sort_key.in_(keys), task_hyperparams.c.value.in_(values))


# the filters map and multi-field conditions (spec tasks-queries §2.5, §2.9) ----------------------
_PG_INVALID_REGEX = "2201B"


@dataclass(frozen=True)
class _Membership:
    """A list field as SQL. ``has_any(values)`` is never NULL, so its negation is "holds none of
    them" (a missing value included). ``missing`` is the list language's empty (§2.4: missing, null
    or no element); ``empty`` the filters map's (§2.5: an empty array; a scalar never is)."""

    has_any: Callable[[tuple[str, ...]], ColumnElement[bool]]
    array: bool
    missing: ColumnElement[bool]

    @property
    def empty(self) -> ColumnElement[bool]:
        return self.missing if self.array else false()

    def has_all(self, values: tuple[str, ...]) -> ColumnElement[bool]:
        if self.array:
            return and_(*[self.has_any((v,)) for v in values])
        return self.has_any(values) if len(values) == 1 else false()  # a scalar equals one value


def _membership(field: str | ParamPath) -> _Membership:
    """Scalar columns, array fields (task_tags rows) and hyperparameters (only ``.value`` holds
    values; a 3-part path compares whole parameter objects with strings and never matches)."""
    if isinstance(field, ParamPath):
        param, by_value = field, field.field == "value"

        def has_param(values: tuple[str, ...]) -> ColumnElement[bool]:
            if not by_value:
                return false()
            # id IN (…) over (section, name, value): the database starts from the few matching tasks
            return tasks.c.id.in_(_param_selection(param, task_hyperparams.c.task).where(param_value_in(values)))

        return _Membership(has_param, False, not_(exists(_param_rows(param))))
    if field in SCALAR_COLUMNS:
        column = SCALAR_COLUMNS[field]
        return _Membership(lambda values: and_(column.is_not(None), column.in_(values)), False, column.is_(None))
    kind = ARRAY_KINDS[field]
    return _Membership(lambda values: _tag_exists(kind, values), True, not_(_tag_exists(kind)))


def list_condition(field: str | ParamPath, cond: ListCondition) -> ColumnElement[bool]:
    """One list field in the operator language of §2.4: the IN, ALL and NIN buckets joined by the
    global operator, OR-ed with "empty" when a null was given. Also for other queries over tasks
    (the projects' statistics filter)."""
    member = _membership(field)
    parts: list[ColumnElement[bool]] = []
    if cond.include_any:
        parts.append(member.has_any(cond.include_any))
    if cond.include_all:
        parts.append(member.has_all(cond.include_all))
    if cond.exclude:
        parts.append(not_(member.has_any(cond.exclude)))
    result = _combine(parts, cond.operator) if parts else None
    if cond.or_empty:
        return member.missing if result is None else or_(result, member.missing)
    return result if result is not None else true()


def _filter_condition(field: str | ParamPath, spec: FieldFilter) -> ColumnElement[bool]:
    """``any``: IN(include) OR NOT ALL(exclude); ``all``: ALL(include) AND NIN(exclude); ``null``
    among include/exclude: the array is / is not empty (a scalar never is)."""
    member = _membership(field)
    any_terms: list[ColumnElement[bool]] = []
    all_terms: list[ColumnElement[bool]] = []
    for part, terms, include, exclude in (
        (spec.any, any_terms, member.has_any, lambda v: not_(member.has_all(v))),
        (spec.all, all_terms, member.has_all, lambda v: not_(member.has_any(v))),
    ):
        if part.include:
            terms.append(include(part.include))
        if part.exclude:
            terms.append(exclude(part.exclude))
        if part.include_empty:
            terms.append(member.empty)
        if part.exclude_empty:
            terms.append(not_(member.empty))
    parts = [or_(*any_terms)] if any_terms else []
    parts += [and_(*all_terms)] if all_terms else []
    return _combine(parts, spec.operator)


def _pattern_condition(path: tuple[str, ...], pattern: str, dialect: str) -> ColumnElement[bool]:
    """A case-insensitive search on one literal path (§2.9): a text column, the elements of an
    array list field, or the strings at the path in the document (through its arrays of objects).
    Numbers, dates and objects never match."""
    name = ".".join(path)
    column = SCALAR_COLUMNS.get(name, tasks.c[name] if name in PROMOTED else None)
    if column is not None:
        return regex_search(column, pattern, dialect, ignore_case=True) if isinstance(column.type, String) else false()
    if name in ARRAY_KINDS:
        tags = select(literal(1)).where(task_tags.c.task == tasks.c.id, task_tags.c.kind == ARRAY_KINDS[name])
        return exists(tags.where(regex_search(task_tags.c.tag, pattern, dialect, ignore_case=True)))
    array = next((a for a in OBJECT_ARRAYS if path[: len(a)] == a and len(path) > len(a)), None)
    if array is None:
        strings = json_strings(tasks.c.document, path, dialect)
    else:
        strings = json_strings(tasks.c.document, array, dialect, item=path[len(array) :])
    return exists(strings.where(regex_search(strings.selected_columns.value, pattern, dialect, ignore_case=True)))


def _multi_field_condition(spec: MultiField, dialect: str) -> ColumnElement[bool]:
    if spec.pattern is not None:
        parts = [_pattern_condition(path, spec.pattern, dialect) for path in spec.paths]
    else:
        assert spec.dates is not None
        parts = [_date_condition(tasks.c[path[0]], spec.dates) for path in spec.paths]
    return _combine(parts, spec.operator)


def _metric_column(path: MetricPath) -> Any:
    """A metric's field of the task at hand, read by the task's primary key. The metric is given
    to PostgreSQL as expressions only that key's scan can filter on: before statistics (a freshly
    loaded table) it priced the (metric_hash, variant_hash, value) index the same and read the
    metric's row of every task for each task (10k tasks: 351 ms for a page instead of 1.5 ms)."""
    return (
        select(task_metrics.c[path.field])
        .where(
            task_metrics.c.task == tasks.c.id,
            unindexed(task_metrics.c.metric_hash) == path.metric_hash,
            unindexed(task_metrics.c.variant_hash) == path.variant_hash,
        )
        .scalar_subquery()
    )


def _param_order_column(path: ParamPath, natural: bool) -> Any:
    """A hyperparameter's value (its natural sort key when the query sorts naturally). Sorting by
    a whole parameter object sorts by its value, by a whole section by its first parameter's value
    (§4.3; the first by name here, as rows keep no order)."""
    column = task_hyperparams.c.sort_key if natural else task_hyperparams.c.value
    return _param_rows(path, column).order_by(task_hyperparams.c.name).limit(1).scalar_subquery()


def _string_order(column: Any, natural: bool, dialect: str) -> Any:
    """A string sort key: the natural collation when the query asks for it (§4.3), otherwise
    byte-wise (PostgreSQL's "C", SQLite's default BINARY), as the other entities compare."""
    if natural:
        return column.collate(NATURAL_COLLATION)
    return column.collate("C") if dialect == "postgresql" else column


def _order_by(
    query: TaskQuery, dialect: str, score: Any = None, *, keys: Sequence[OrderKey] | None = None, task_key: Any = None
) -> list[Any]:
    """ORDER BY of a task query; ``score`` is the text relevance (higher is better) when searching.
    ``keys``: only these keys, none of them first (what follows a leading hyperparameter);
    ``task_key``: the natural order of the id as bytes, put before the id key."""
    if not query.order:
        return [tasks.c.created, tasks.c.id]
    clauses: list[Any] = []
    first = keys is None  # the first key that is not @text_score (§4.4)
    for key in query.order if keys is None else keys:
        if key.path == TEXT_SCORE:
            if score is not None:  # None: a search that matches nothing (the domain refuses no search)
                clauses.append(score.desc())  # best first
            continue
        if key.path == "id" and task_key is not None:
            clauses.append(task_key.desc() if key.descending else task_key.asc())
        is_string = key.path in _STRING_ORDER or (key.path.startswith("hyperparams.") and not query.natural_order)
        if key.path.startswith("hyperparams."):
            column = _param_order_column(parse_param_path(key.path), query.natural_order)
        elif key.path.startswith("last_metrics."):
            column = _metric_column(parse_metric_path(key.path))
        elif key.path in ORDER_COLUMNS:
            column = ORDER_COLUMNS[key.path]
        else:
            raise UnsupportedField(key.path)
        if first and not key.descending:
            # empties last on the first ascending key (§4.2); an empty hyperparameter value is
            # a value, only a missing one is empty
            empty = column.is_(None)
            if key.path in _STRING_ORDER:
                empty = or_(empty, column == "")
            clauses.append(case((empty, 1), else_=0))
        first = False
        if is_string:
            column = _string_order(column, query.natural_order, dialect)
        # later keys: database order, null lowest (first ascending, last descending)
        clauses.append(column.desc().nulls_last() if key.descending else column.asc().nulls_first())
    return clauses


# full-text search (§2.10): the domain's word tokens rendered per dialect, always as bound values
def _fts5_phrase(words: Sequence[str]) -> str:
    return '"' + " ".join(words).replace('"', '""') + '"'


def fts5_match(search: TextSearch) -> str:
    """An FTS5 MATCH expression: all phrases, or else any term; none of the exclusions. With
    phrases the terms join as ``AND (first phrase OR terms…)``: no effect on the match, but bm25
    then counts them."""
    terms = [_fts5_phrase((t,)) for t in search.terms]
    phrases = [_fts5_phrase(p) for p in search.phrases]
    if phrases:
        expression = " AND ".join(phrases)
        if terms:
            expression = f"{expression} AND ({' OR '.join([phrases[0], *terms])})"
    else:
        expression = " OR ".join(terms)
    if search.excluded:
        excluded = " OR ".join(_fts5_phrase((w,)) for w in search.excluded)
        expression = f"({expression}) NOT ({excluded})"
    return expression


_ENGLISH = literal_column("'english'::regconfig")
#: ts_rank weights of the labels {D, C, B, A}: C = 1, B = 2, A = 10 as in TEXT_FIELDS, scaled to 1
_PG_WEIGHTS = literal_column("'{0, 0.1, 0.2, 1}'::float4[]")


def _tsquery(words: Sequence[str]) -> Any:
    return func.phraseto_tsquery(_ENGLISH, " ".join(words))


def _any_tsquery(queries: list[Any]) -> Any:
    return functools.reduce(func.tsquery_or, queries)


def _text_hits(search: TextSearch, dialect: str) -> Any:
    """``(task, score)`` of the tasks whose text matches ``search``; a higher score is better."""
    if dialect == "sqlite":
        fts = literal_column(task_search_fts.name)
        weights = [float(weight) for _, weight in TEXT_FIELDS]
        return (
            select(task_search.c.task, (-func.bm25(fts, *weights)).label("score"))
            .select_from(task_search.join(task_search_fts, task_search_fts.c.rowid == task_search.c.docid))
            .where(fts.match(fts5_match(search)))
            .subquery("text_hits")
        )
    ranked = _any_tsquery([_tsquery(p) for p in search.phrases] + [_tsquery((t,)) for t in search.terms])
    return (
        select(task_search.c.task, func.ts_rank(_PG_WEIGHTS, task_search_vector, ranked).label("score"))
        .where(task_search_vector.op("@@")(_tsquery_match(search)))
        .subquery("text_hits")
    )


def _tsquery_match(search: TextSearch) -> Any:
    """All phrases, or else any term; none of the exclusions."""
    terms = [_tsquery((t,)) for t in search.terms]
    phrases = [_tsquery(p) for p in search.phrases]
    matched = functools.reduce(func.tsquery_and, phrases) if phrases else _any_tsquery(terms)
    if search.excluded:
        matched = func.tsquery_and(matched, func.tsquery_not(_any_tsquery([_tsquery((w,)) for w in search.excluded])))
    return matched


#: SQLite: with at least this many text matches a search probes the matches of each task the
#: order walks (one indexed FTS5 lookup per task); with fewer it starts from the matches.
DENSE_TEXT_MATCHES = 1000


def _text_condition(conn: Connection, search: TextSearch) -> ColumnElement[bool]:
    """The tasks whose text matches, when the order does not need a score. Ranking every match
    costs as much as the matches, so no score is computed here: a common term on a page ordered
    by ``-last_update`` stops after a page's worth of hits instead of ranking them all."""
    if conn.dialect.name == "postgresql":  # the planner knows the lexemes' frequencies
        return exists(
            select(literal(1)).where(task_search.c.task == tasks.c.id, task_search_vector.op("@@")(_tsquery_match(search)))
        )
    fts = literal_column(task_search_fts.name)
    expression = fts5_match(search)
    hits = (
        select(task_search.c.task)
        .select_from(task_search.join(task_search_fts, task_search_fts.c.rowid == task_search.c.docid))
        .where(fts.match(expression))
    )
    counted = select(func.count()).select_from(
        select(literal(1)).select_from(task_search_fts).where(fts.match(expression)).limit(DENSE_TEXT_MATCHES).subquery()
    )
    if conn.execute(counted).scalar_one() >= DENSE_TEXT_MATCHES:
        return exists(hits.where(task_search.c.task == tasks.c.id))
    return tasks.c.id.in_(hits)


def _leading_param(query: TaskQuery) -> ParamPath | None:
    """The parameter of a leading ``hyperparams.<section>.<name>`` order key (§4.3: always in
    natural order), which ``ix_task_hyperparams_order`` serves."""
    if not query.order or not query.order[0].path.startswith("hyperparams."):
        return None
    if query.text is not None and any(key.path == TEXT_SCORE for key in query.order):
        return None
    path = parse_param_path(query.order[0].path)
    return path if path.name is not None else None


def _project_values(query: TaskQuery, projects: Sequence[str] | None) -> Sequence[str] | None:
    """The project ids a query is confined to, when its project condition is a plain list."""
    if projects is not None:
        return projects
    cond = query.lists.get("project")
    if cond is None or cond.include_all or cond.exclude or cond.or_empty or not cond.include_any:
        return None
    return cond.include_any


#: How many order-index entries walking costs as much as sorting one task of the scope (at 100k
#: tasks: 1.2 us per entry walked, 5 us per task sorted, all from indexes).
WALKED_PER_SORTED = 4


def _walks_param_index(conn: Connection, companies: Sequence[str], query: TaskQuery, projects: Sequence[str] | None) -> bool:
    """SQLite: whether to walk the parameter's order index (about (offset + limit) x tasks /
    tasks in scope index entries) rather than start from the project's tasks and sort them
    (tasks in scope). SQLite's planner prefers the project index even where walking stops after
    a few thousand entries, so the choice is made here, from two cheap counts; PostgreSQL's
    planner weighs LIMIT itself."""
    if conn.dialect.name != "sqlite":
        return False
    total = conn.execute(select(func.max(literal_column("rowid"))).select_from(tasks)).scalar() or 0
    values = _project_values(query, projects)
    if values is None:
        return True
    scope = conn.execute(
        select(func.count()).select_from(tasks).where(tasks.c.company.in_(list(companies)), tasks.c.project.in_(list(values)))
    ).scalar_one()
    return WALKED_PER_SORTED * scope * scope > (query.offset + query.limit) * total


class _OuterLoopJoin(Join):
    """An inner join whose left side SQLite reads first: ``CROSS JOIN … ON``, which its planner
    never reorders, so the company and project conditions can stay indexable for the right
    side's lookups without making the planner start from them. Other dialects: a plain join."""

    inherit_cache = True


@compiles(_OuterLoopJoin, "sqlite")
def _compile_outer_loop_join(element: _OuterLoopJoin, compiler: Any, **kw: Any) -> str:
    side = {**kw, "asfrom": True}
    left, right = element.left._compiler_dispatch(compiler, **side), element.right._compiler_dispatch(compiler, **side)
    return f"{left} CROSS JOIN {right} ON {element.onclause._compiler_dispatch(compiler, **kw)}"


#: List fields whose column an index of ``tasks`` has (after the company or alone), read from
#: the table's declaration
_LOOKUP_FIELDS = frozenset(
    name
    for name, column in SCALAR_COLUMNS.items()
    if column.primary_key or any(column.name in index.columns for index in tasks.indexes)
)


def _scope_is_unselective(query: TaskQuery) -> bool:
    """Whether SQLite should not start from the company scope: the query names no values of an
    indexed column to look the tasks up by (an exclusion such as ``status: ["-completed"]``
    keeps most tasks), so a sort walks its index instead of sorting the company's every task
    (all tasks of a single-tenant install); or a parameter's value finds the few tasks first."""
    looks_up = any(name in _LOOKUP_FIELDS and cond.names_values for name, cond in query.lists.items()) or any(
        name in _LOOKUP_FIELDS for name in query.filters
    )
    return not looks_up or any(cond.names_values for cond in query.params.values())


def _conditions(
    conn: Connection, companies: Sequence[str], query: TaskQuery, projects: Sequence[str] | None
) -> tuple[list[ColumnElement[bool]], Any, Any]:
    """The WHERE conditions of a query, its FROM and the text score (None without one)."""
    dialect = conn.dialect.name
    scope: ColumnElement[bool] = tasks.c.company.in_(list(companies))
    if _scope_is_unselective(query):
        scope = unselective(scope)
    conditions = [scope]
    for name, cond in query.lists.items():
        if name == "project" and projects is not None:
            conditions.append(tasks.c.project.in_(list(projects)))
        else:
            conditions.append(list_condition(name, cond))
    for name, pattern in query.patterns.items():
        conditions.append(tasks.c[name].regexp_match(pattern))
    for name, bounds in query.ranges.items():
        conditions.append(_range(ORDER_COLUMNS[name], bounds))
    for name, spec in query.dates.items():
        conditions.append(_date_condition(tasks.c[name], spec))
    for metric, bounds in query.metric_ranges.items():
        conditions.append(_range(_metric_column(metric), bounds))
    for path, cond in query.params.items():
        conditions.append(list_condition(path, cond))
    for key, value in query.runtime.items():
        conditions.append(json_equals(tasks.c.document, ("runtime", key), value, dialect))
    for field, spec in [*query.filters.items(), *query.param_filters.items()]:
        conditions.append(_filter_condition(field, spec))
    for multi in query.multi_fields:
        conditions.append(_multi_field_condition(multi, dialect))
    if not query.search_hidden:
        conditions.append(_not_hidden(conn))
    source, score = tasks, None
    if query.text is not None:
        if query.text.matches_nothing:
            conditions.append(false())
        elif any(key.path == TEXT_SCORE for key in query.order):
            hits = _text_hits(query.text, dialect)
            source, score = tasks.join(hits, hits.c.task == tasks.c.id), hits.c.score
        else:
            conditions.append(_text_condition(conn, query.text))
    return conditions, source, score


def select_tasks(
    conn: Connection, companies: Sequence[str], query: TaskQuery, *, projects: Sequence[str] | None = None
) -> Select[Any]:
    """The ids ``find_tasks`` selects, in order (also what ``explain_tasks`` shows); under a
    leading hyperparameter key, those of the tasks that have a value (``find_tasks`` adds those
    without)."""
    param = _leading_param(query)
    if param is not None:
        return _with_param_value(conn, companies, query, projects, param)
    conditions, source, score = _conditions(conn, companies, query, projects)
    return (
        select(tasks.c.id)
        .select_from(source)
        .where(and_(*conditions))
        .order_by(*_order_by(query, conn.dialect.name, score))
        .offset(query.offset)
        .limit(query.limit)
    )


def _with_param_value(
    conn: Connection, companies: Sequence[str], query: TaskQuery, projects: Sequence[str] | None, param: ParamPath
) -> Select[Any]:
    """The tasks with a value of the leading parameter, joined to its row so that the order is
    (sort_key, task_key, id): the order of ``ix_task_hyperparams_order``. Walking that index, each
    entry's task is checked through the (company, project, id) index, never its row."""
    conditions, source, _ = _conditions(conn, companies, query, projects)
    hp = task_hyperparams.c
    on = and_(hp.task == tasks.c.id, hp.section == param.section, hp.name == param.name, hp.sort_key.is_not(None))
    if _walks_param_index(conn, companies, query, projects):
        joined: Any = _OuterLoopJoin(task_hyperparams, source, on)
    else:
        joined = source.join(task_hyperparams, on)
    lead = hp.sort_key.desc() if query.order[0].descending else hp.sort_key.asc()
    rest = _order_by(query, conn.dialect.name, keys=query.order[1:], task_key=hp.task_key)
    return (
        select(tasks.c.id)
        .select_from(joined)
        .where(and_(*conditions))
        .order_by(lead, *rest)
        .offset(query.offset)
        .limit(query.limit)
    )


def _without_param_value(
    conn: Connection, companies: Sequence[str], query: TaskQuery, projects: Sequence[str] | None, param: ParamPath
) -> Select[Any]:
    """The tasks without a value of the leading parameter (empty: they come last, §4.2)."""
    conditions, source, _ = _conditions(conn, companies, query, projects)
    valued = exists(_param_rows(param).where(task_hyperparams.c.sort_key.is_not(None)))
    return (
        select(tasks.c.id)
        .select_from(source)
        .where(and_(*conditions, not_(valued)))
        .order_by(*_order_by(query, conn.dialect.name, keys=query.order[1:]))
    )


def _rows(conn: Connection, companies: Sequence[str], statement: Select[Any]) -> list[dict[str, Any]]:
    """The tasks a statement of ids selects, in its order. The statement sorts and cuts only ids
    (a sort that carried whole documents, as when a small project's tasks are sorted by a
    parameter, cost more than the sort itself); the page's rows are read by id afterwards."""
    ids = list(conn.execute(statement).scalars())
    found = get_tasks(conn, companies, ids)
    return [found[i] for i in ids if i in found]


def find_tasks(
    conn: Connection, companies: Sequence[str], query: TaskQuery, *, projects: Sequence[str] | None = None
) -> list[dict[str, Any]]:
    """Tasks matching ``query``; ``projects`` replaces the project condition (subproject expansion).
    ``BadPattern``: PostgreSQL refused a regular expression that Python's ``re`` accepted."""
    try:
        statement = select_tasks(conn, companies, query, projects=projects)
        found = _rows(conn, companies, statement)
        param = _leading_param(query)
        if param is None or len(found) >= query.limit:
            return found
        # the page reaches past the tasks with a value: continue with those without one
        if found:
            valued = query.offset + len(found)
        else:
            every = statement.order_by(None).offset(None).limit(None).subquery()
            valued = conn.execute(select(func.count()).select_from(every)).scalar_one()
        rest = _without_param_value(conn, companies, query, projects, param)
        return found + _rows(conn, companies, rest.offset(max(0, query.offset - valued)).limit(query.limit - len(found)))
    except DBAPIError as exc:
        if getattr(exc.orig, "sqlstate", None) == _PG_INVALID_REGEX:
            raise BadPattern(str(exc.orig).strip()) from None
        raise


def explain_tasks(
    conn: Connection, companies: Sequence[str], query: TaskQuery, *, projects: Sequence[str] | None = None
) -> list[str]:
    """The database's plan for ``find_tasks``, one line per step (for index-coverage tests).
    PostgreSQL plans with sequential scans discouraged, since tiny test tables would otherwise
    be scanned legitimately."""
    statement = select_tasks(conn, companies, query, projects=projects)
    if conn.dialect.name != "postgresql":
        return explain(conn, statement)
    # the session's setting, not SET LOCAL: a read runs outside a transaction block
    conn.exec_driver_sql("SET enable_seqscan = off")
    try:
        return explain(conn, statement)
    finally:
        conn.exec_driver_sql("RESET enable_seqscan")


def explain(conn: Connection, statement: Select[Any]) -> list[str]:
    """The plan of ``statement``, one line per step."""
    # SQLite: (id, parent, notused, detail); PostgreSQL: one text column
    return [row[-1] for row in conn.execute(_Explain(statement))]


class _Explain(Executable, ClauseElement):
    """``EXPLAIN`` (PostgreSQL) or ``EXPLAIN QUERY PLAN`` (SQLite) of a statement, with its bound
    parameters passed as usual."""

    inherit_cache = False

    def __init__(self, statement: Select[Any]) -> None:
        self.statement = statement


@compiles(_Explain)
def _compile_explain(element: _Explain, compiler: Any, **kw: Any) -> str:
    prefix = "EXPLAIN QUERY PLAN " if compiler.dialect.name == "sqlite" else "EXPLAIN "
    return prefix + compiler.process(element.statement, **kw)


