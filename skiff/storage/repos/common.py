"""Pieces every entity's ``get_all`` shares: tag side-table conditions and ORDER BY with the
reference's empty-values rule, plus the exceptions repositories raise instead of driver errors."""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from typing import Any

from sqlalchemy import Boolean, Column, ColumnElement, Connection, Table, and_, case, exists, false, literal, not_, or_, select
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.visitors import InternalTraversal

from skiff.domain.projects import TagFilter


class NameTaken(Exception):
    """The unique (company, name) constraint refused a write (e.g. a racing creator)."""

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.name = name


class BadPattern(Exception):
    """The database refused a regular expression that Python's ``re`` accepted."""


class _PlannerHint(ColumnElement[Any]):
    """An expression as it stands, written for one dialect's planner (see the subclasses)."""

    inherit_cache = True
    _traverse_internals = [("inner", InternalTraversal.dp_clauseelement)]

    def __init__(self, inner: ColumnElement[Any]) -> None:
        self.inner = inner
        self.type = inner.type


@compiles(_PlannerHint)
def _compile_as_it_stands(element: _PlannerHint, compiler: Any, **kw: Any) -> str:
    return compiler.process(element.inner, **kw)


class unselective(_PlannerHint):  # noqa: N801 (used like a SQL function)
    """A condition most rows meet, such as the company scope of a single-tenant install. Without
    statistics SQLite guesses that an equality on an indexed column keeps ~10 rows, and so
    started queries from ``company IN (...)`` (every task of the company, each checked against
    the rest) where a primary-key list or a hyperparameter value would find the few rows wanted
    at once (a hyperparameter-filtered page of 50 at 10k tasks: 25.5 ms in-process, then 6.4 ms).
    On SQLite this is ``likelihood(condition, 0.9375)``, which tells its planner so; elsewhere
    the condition itself."""

    inherit_cache = True
    _is_implicitly_boolean = True  # a condition as it stands (no "= 1" in WHERE)

    def __init__(self, condition: ColumnElement[bool]) -> None:
        super().__init__(condition)
        self.type = Boolean()


@compiles(unselective, "sqlite")
def _compile_unselective_sqlite(element: unselective, compiler: Any, **kw: Any) -> str:
    return f"likelihood({compiler.process(element.inner, **kw)}, 0.9375)"


class unindexed(_PlannerHint):  # noqa: N801 (used like a SQL function)
    """A string column that PostgreSQL must not look up through an index (``column || ''``),
    so that a narrower index serving the rest of the condition is the only one it can take.
    Elsewhere the column itself."""

    inherit_cache = True


@compiles(unindexed, "postgresql")
def _compile_unindexed_postgresql(element: unindexed, compiler: Any, **kw: Any) -> str:
    return f"({compiler.process(element.inner, **kw)} || '')"


def has_tag(tags: Table, owner: Column[Any], kind: str, values: Iterable[str] | None = None) -> ColumnElement[bool]:
    """EXISTS a row of the ``tags`` side table (owner column first) for this entity and kind
    (with one of ``values`` when given)."""
    link = tags.c[tags.primary_key.columns.keys()[0]]
    query = select(literal(1)).where(link == owner, tags.c.kind == kind)
    if values is not None:
        query = query.where(tags.c.tag.in_(list(values)))
    return exists(query)


def tag_condition(tags: Table, owner: Column[Any], kind: str, spec: TagFilter) -> ColumnElement[bool]:
    """Inclusions (any of), exclusions (none of) and ``null`` (no tags of this kind)."""
    parts: list[ColumnElement[bool]] = []
    if spec.include:
        parts.append(has_tag(tags, owner, kind, spec.include))
    if spec.exclude:
        parts.append(not_(has_tag(tags, owner, kind, spec.exclude)))
    condition = and_(*parts) if parts else false()
    if spec.empty:
        condition = or_(condition, not_(has_tag(tags, owner, kind)))
    return condition


def order_clauses(
    table: Table, order: Sequence[tuple[str, bool]], string_fields: Collection[str], dialect: str
) -> list[ColumnElement[Any]]:
    """ORDER BY for ``(field, descending)`` keys. The first ascending key puts empty values (null,
    and "" for strings) after all others (spec tasks-queries §4.2); later keys sort nulls lowest.
    Strings compare byte-wise on both dialects (``COLLATE "C"`` on PostgreSQL)."""
    clauses: list[ColumnElement[Any]] = []
    for position, (name, descending) in enumerate(order):
        column = table.c[name]
        if position == 0 and not descending:
            blank = column.is_(None)
            if name in string_fields:
                blank = or_(blank, column == "")
            clauses.append(case((blank, 1), else_=0))
        key = column.collate("C") if name in string_fields and dialect == "postgresql" else column
        clauses.append(key.desc().nulls_last() if descending else key.asc().nulls_first())
    return clauses


def split_document(doc: Mapping[str, Any], promoted: Sequence[str]) -> dict[str, Any]:
    """A whole entity document as a row: promoted fields as columns, the rest in ``document``."""
    row = {name: doc.get(name) for name in promoted}
    columns = frozenset(promoted)
    row["document"] = {k: v for k, v in doc.items() if k not in columns}
    return row


def merge_document(row: Any, promoted: Sequence[str]) -> dict[str, Any]:
    """The inverse of ``split_document``: unset (NULL) promoted fields stay absent. ``row`` is a
    result row or a mapping (a ``prepared`` statement's row)."""
    mapping = row if isinstance(row, Mapping) else row._mapping
    doc = dict(mapping["document"] or {})
    for name in promoted:
        value = mapping[name]
        if value is not None:
            doc[name] = value
    return doc


#: PostgreSQL: rows per multi-row INSERT (``insert_many``), far below the protocol's 65,535 bind
#: parameters for any of skiff's tables
PG_ROWS_PER_INSERT = 500


def insert_many(
    conn: Connection,
    table: str,
    columns: tuple[str, ...],
    rows: list[tuple[Any, ...]],
    *,
    upsert: str = "",
    distinct_keys: bool = False,
) -> None:
    """Insert ``rows`` with plain DB-API calls: for thousands of rows per batch that is several
    times faster than compiling a SQLAlchemy insert. ``upsert`` is an ``ON CONFLICT …`` clause
    (same syntax on SQLite and PostgreSQL).

    SQLite: one executemany. PostgreSQL: multi-row INSERTs (``VALUES (…), (…)``) of up to
    ``PG_ROWS_PER_INSERT`` rows, since psycopg's executemany sends each row as a message of its
    own (setting 20 hyperparameters: 20 socket writes instead of one). An upsert goes that way
    only when the caller knows that no two rows share a conflict key (``distinct_keys``): one
    statement may not update a row twice, where an executemany lets the later row win."""
    marker = "?" if conn.dialect.paramstyle == "qmark" else "%s"
    names = ", ".join(f'"{c}"' for c in columns)
    group = f'({", ".join([marker] * len(columns))})'
    if conn.dialect.name == "postgresql" and (distinct_keys or not upsert):
        for start in range(0, len(rows), PG_ROWS_PER_INSERT):
            chunk = rows[start : start + PG_ROWS_PER_INSERT]
            sql = f'INSERT INTO {table} ({names}) VALUES {", ".join([group] * len(chunk))} {upsert}'
            conn.exec_driver_sql(sql, tuple(value for row in chunk for value in row))
        return
    conn.exec_driver_sql(f"INSERT INTO {table} ({names}) VALUES {group} {upsert}", rows)
