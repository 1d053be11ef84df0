"""Statements run straight on the DB-API cursor, for the few that (nearly) every call runs.

Executing even a compiled-once SQLAlchemy statement costs some 30 µs of Python (execution
context, events, result wrapping): several times the query itself for a primary-key read (the
credential lookup: 34 µs through ``Connection.execute``, 6 µs on the cursor). A ``Prepared``
statement is compiled by SQLAlchemy once per dialect and run on the cursor of the connection's
current transaction. Parameters and result columns go through the type processors SQLAlchemy
would apply (SQLite datetimes, JSON), and driver errors are wrapped as SQLAlchemy wraps them
(``IntegrityError``, ``DataError`` …), so callers see the same values and exceptions either way.
Parameters are named ``bindparam``s, which callers pass by name; values written into the
statement (``column == "x"``, an OFFSET of 0) are bound as they were given. Statement events
(``before_cursor_execute``) do not fire, and there is no expanding ``IN``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection
from sqlalchemy.engine import Dialect
from sqlalchemy.sql.expression import Executable

from skiff.storage.engine import driver_errors

Processor = Callable[[Any], Any]


@dataclass(frozen=True)
class _Compiled:
    sql: str
    positional: bool
    names: tuple[str, ...]  # the parameters, in SQL order for positional paramstyles
    binds: tuple[Processor | None, ...]  # per parameter
    fixed: dict[str, Any]  # the values written into the statement, by parameter name
    keys: tuple[str, ...]  # the result columns (SELECT)
    results: tuple[Processor | None, ...]  # per result column


class Prepared:
    """``statement``, compiled once per dialect; an INSERT or UPDATE writes ``columns`` (its
    parameters named after them), as ``Connection.execute(statement, {column: value, …})`` would."""

    def __init__(self, statement: Executable, columns: Sequence[str] | None = None) -> None:
        self.statement = statement
        self.columns = list(columns) if columns is not None else None
        self._compiled: dict[str, _Compiled] = {}

    def _for(self, dialect: Dialect) -> _Compiled:
        compiled = self._compiled.get(dialect.name)
        if compiled is None:
            sql = self.statement.compile(dialect=dialect, column_keys=self.columns)  # type: ignore[attr-defined]
            binds = sql.binds  # rendered name -> bind parameter
            if any(bind.expanding for bind in binds.values()):
                raise ValueError("a prepared statement cannot expand IN parameters")
            names = tuple(sql.positiontup or ()) if sql.positional else tuple(dict.fromkeys(sql.bind_names.values()))
            columns = list(getattr(self.statement, "selected_columns", ()))
            compiled = self._compiled[dialect.name] = _Compiled(
                sql=sql.string,
                positional=sql.positional,
                names=names,
                binds=tuple(binds[name].type.dialect_impl(dialect).bind_processor(dialect) for name in names),
                fixed={name: binds[name].effective_value for name in names if not binds[name].required},
                keys=tuple(column.key for column in columns),
                results=tuple(column.type.dialect_impl(dialect).result_processor(dialect, None) for column in columns),
            )
        return compiled

    @staticmethod
    def _values(compiled: _Compiled, params: Mapping[str, Any]) -> Sequence[Any] | dict[str, Any]:
        if compiled.fixed:
            params = {**compiled.fixed, **params}
        values = [params[name] if bind is None else bind(params[name]) for name, bind in zip(compiled.names, compiled.binds)]
        return values if compiled.positional else dict(zip(compiled.names, values))

    @staticmethod
    def _run(conn: Connection, compiled: _Compiled, values: Any, *, many: bool = False) -> tuple[int, list[Any]]:
        """(rows matched, result rows) of one execution on the connection's DB-API cursor."""
        cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
        try:
            with driver_errors(conn, compiled.sql, values, many=many):
                if many:
                    cursor.executemany(compiled.sql, values)
                else:
                    cursor.execute(compiled.sql, values)
                return cursor.rowcount, cursor.fetchall() if compiled.keys else []
        finally:
            cursor.close()

    def all(self, conn: Connection, params: Mapping[str, Any]) -> list[dict[str, Any]]:
        """Every result row of a SELECT as a dict keyed by the selected columns' keys (labels)."""
        compiled = self._for(conn.dialect)
        _, rows = self._run(conn, compiled, self._values(compiled, params))
        keys, results = compiled.keys, compiled.results
        return [
            {key: value if process is None else process(value) for key, process, value in zip(keys, results, row)}
            for row in rows
        ]

    def first(self, conn: Connection, params: Mapping[str, Any]) -> dict[str, Any] | None:
        rows = self.all(conn, params)
        return rows[0] if rows else None

    def execute(self, conn: Connection, params: Mapping[str, Any]) -> int:
        """Run a data-changing statement once; the number of rows it matched."""
        compiled = self._for(conn.dialect)
        return self._run(conn, compiled, self._values(compiled, params))[0]

    def execute_many(self, conn: Connection, rows: Iterable[Mapping[str, Any]]) -> None:
        """Run a data-changing statement once per parameter set (one DB-API executemany)."""
        compiled = self._for(conn.dialect)
        values = [self._values(compiled, params) for params in rows]
        if values:
            self._run(conn, compiled, values, many=True)
