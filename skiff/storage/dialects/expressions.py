"""SQL expressions spelled differently on SQLite and PostgreSQL: a case-insensitive regular
expression search, the strings found at a path inside a JSON document column, and membership
in a list bound as one parameter."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import orjson
from sqlalchemy import Boolean, ColumnElement, Select, String, Text, and_, bindparam, case, cast, column, false, func, literal, select
from sqlalchemy.dialects.postgresql import ARRAY, JSON, JSONB
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.visitors import InternalTraversal
from sqlalchemy.types import TypeDecorator, TypeEngine


def regex_search(value: Any, pattern: str, dialect: str, *, ignore_case: bool = False) -> ColumnElement[bool]:
    """Unanchored search of ``pattern`` in ``value``; NULL never matches. SQLite's REGEXP is
    Python's ``re`` (``dialects/sqlite.py``), which reads a leading ``(?i)`` as the flag (the pattern
    was compiled with it first, so its own global flags stay at the start); PostgreSQL has ``~*``."""
    if not ignore_case:
        return value.regexp_match(pattern)
    if dialect == "postgresql":
        return value.regexp_match(pattern, flags="i")
    return value.regexp_match("(?i)" + pattern)


def _sqlite_path(parts: Sequence[str]) -> str:
    return "$" + "".join(f'."{part}"' for part in parts)


def _pg_at(document: Any, parts: Sequence[str]) -> Any:
    """``document #> path`` as JSONB, with the path bound as a text[] parameter, so any character
    in a key is data (SQLAlchemy's own JSON path renders an unescaped array literal). On a
    ``json`` column only the value found is converted, not the whole document."""
    return cast(document.op("#>", return_type=JSON)(literal(list(parts), ARRAY(Text))), JSONB)


def json_strings(document: Any, path: Sequence[str], dialect: str, *, item: Sequence[str] = ()) -> Select[Any]:
    """One row (column ``value``) per string at ``path`` in a JSON ``document`` column: the value
    itself when it is a string, each string element when it is an array. With ``item``, ``path``
    is an array of objects and the strings are those at ``item`` in its elements. Numbers,
    booleans, objects and missing paths give no rows. Correlates with the document's table."""
    if dialect == "postgresql":
        node = _pg_at(document, path)
        kind = func.jsonb_typeof(node)
        whens = [(kind == "array", node)]
        if not item:
            whens.append((kind == "string", func.jsonb_build_array(node)))
        source = case(*whens, else_=literal([], JSONB))
        elements = func.jsonb_array_elements(source).table_valued(column("value", JSONB)).alias("json_items")
        element = _pg_at(elements.c.value, item) if item else elements.c.value
        text = element.op("#>>", return_type=Text)(literal([], ARRAY(Text)))
        return select(text.label("value")).select_from(elements).where(func.jsonb_typeof(element) == "string")
    at = _sqlite_path(path)
    elements = func.json_each(document, at).table_valued("value", "type").alias("json_items")
    if item:
        inner = _sqlite_path(item)
        text, is_text = func.json_extract(elements.c.value, inner), func.json_type(elements.c.value, inner) == "text"
    else:
        text, is_text = elements.c.value, elements.c.type == "text"
    kinds = ("array",) if item else ("array", "text")
    return select(text.label("value")).select_from(elements).where(func.json_type(document, at).in_(kinds), is_text)


def json_equals(document: Any, path: Sequence[str], value: Any, dialect: str) -> ColumnElement[bool]:
    """The JSON value at ``path`` in ``document`` equals ``value`` (a string, number, boolean,
    list or object; numbers compare numerically, never a string with a number)."""
    if dialect == "postgresql":
        return _pg_at(document, path) == literal(value, JSONB)
    if any('"' in part for part in path):
        return false()  # SQLite's JSON path syntax cannot spell such a key
    at = _sqlite_path(path)
    kind = func.json_type(document, at)
    if isinstance(value, bool):
        return kind == ("true" if value else "false")
    if isinstance(value, (int, float)):
        return and_(kind.in_(("integer", "real")), func.json_extract(document, at) == value)
    if isinstance(value, str):
        return and_(kind == "text", func.json_extract(document, at) == value)
    return and_(kind.in_(("array", "object")), func.json_extract(document, at) == func.json(literal(orjson.dumps(value).decode())))


class _StringList(TypeDecorator[list[str]]):
    """A list of strings as one bound value: a ``text[]`` on PostgreSQL, a JSON array on SQLite
    (read back by ``json_each``)."""

    impl = String
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        return dialect.type_descriptor(ARRAY(Text) if dialect.name == "postgresql" else String())

    def process_bind_param(self, value: Any, dialect: Dialect) -> Any:
        return value if dialect.name == "postgresql" else orjson.dumps(list(value)).decode()


class _OneOf(ColumnElement[bool]):
    """``column`` equals one of the strings of a list parameter (see ``one_of``)."""

    inherit_cache = True
    _is_implicitly_boolean = True
    _traverse_internals = [("column", InternalTraversal.dp_clauseelement), ("values", InternalTraversal.dp_clauseelement)]
    type = Boolean()

    def __init__(self, column: ColumnElement[Any], name: str) -> None:
        self.column = column
        self.values = bindparam(name, type_=_StringList())


def one_of(column: ColumnElement[Any], name: str) -> ColumnElement[bool]:
    """``column IN (…)`` for a list of strings bound as the single parameter ``name``: the same
    SQL for any number of values, so the statement can be compiled once (``repos.prepared``),
    where SQLAlchemy's expanding IN renders the list into the SQL on every execution."""
    return _OneOf(column, name)


@compiles(_OneOf, "postgresql")
def _one_of_postgresql(element: _OneOf, compiler: Any, **kw: Any) -> str:
    return f"{compiler.process(element.column, **kw)} = ANY({compiler.process(element.values, **kw)})"


@compiles(_OneOf)
def _one_of_json_each(element: _OneOf, compiler: Any, **kw: Any) -> str:
    values = compiler.process(element.values, **kw)
    return f"{compiler.process(element.column, **kw)} IN (SELECT value FROM json_each({values}))"
