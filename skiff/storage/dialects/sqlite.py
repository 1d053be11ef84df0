"""SQLite: WAL, busy timeout, foreign keys, and transactions that skiff begins itself."""

from __future__ import annotations

import functools
import re
import unicodedata
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import URL

from skiff.domain.patterns import compile_linear
from skiff.storage.tables import NATURAL_COLLATION

BUSY_TIMEOUT_MS = 30_000


@functools.lru_cache(maxsize=256)
def _compiled(pattern: str) -> Any:
    return compile_linear(pattern)


def _regexp(pattern: str | None, value: object) -> bool:
    """``value REGEXP pattern`` (what SQLAlchemy's ``regexp_match`` emits): an RE2 search, linear
    in the text, unanchored and case-sensitive. Callers validate patterns first
    (``skiff.domain.patterns``); NULL never matches."""
    if pattern is None or value is None:
        return False
    return _compiled(pattern).search(str(value)) is not None


#: Rank of the ASCII punctuation and symbols, in ICU's root order (they sort before digits, digits
#: before letters); other non-alphanumeric characters follow by code point.
_SYMBOL_ORDER = {c: i for i, c in enumerate(" _-,;:!?.'\"()[]{}@*/\\&#%`^+<=>|~$")}
_RUNS = re.compile(r"(\d+)|(\D)")


@functools.lru_cache(maxsize=65536)
def natural_key(text: str) -> tuple[Any, ...]:
    """Sort key of the natural collation (spec tasks-queries §4.3, ICU en_US numericOrdering):
    digit runs compare as integers (so "2" < "11", "1.5" < "1.10"), symbols before digits before
    letters; letters by base letter, then accents, then case (lowercase first), then code points."""
    primary: list[tuple[int, Any]] = []
    accents: list[str] = []
    cases: list[int] = []
    for digits, char in _RUNS.findall(text):
        if digits:
            value = digits.lstrip("0") or "0"
            primary.append((1, (len(value), value)))
        elif char.isalpha():
            base = unicodedata.normalize("NFD", char)
            primary.append((2, base[0].casefold()))
            accents.append(base[1:])
            cases.append(0 if base[0].islower() or not base[0].isupper() else 1)
        else:
            primary.append((0, _SYMBOL_ORDER.get(char, 1000 + ord(char))))
    return tuple(primary), tuple(accents), tuple(cases), text


def _natural_compare(a: str, b: str) -> int:
    left, right = natural_key(a), natural_key(b)
    return (left > right) - (left < right)


def _on_connect(dbapi_conn, _record) -> None:  # type: ignore[no-untyped-def]
    # Let SQLAlchemy's "begin" hook emit BEGIN / BEGIN IMMEDIATE instead of pysqlite's own logic.
    dbapi_conn.isolation_level = None
    cur = dbapi_conn.cursor()
    cur.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
    cur.execute("PRAGMA journal_mode = WAL")
    # In WAL mode NORMAL survives process crashes (SIGKILL); only power loss may drop the tail.
    cur.execute("PRAGMA synchronous = NORMAL")
    cur.execute("PRAGMA foreign_keys = ON")
    cur.close()
    dbapi_conn.create_function("regexp", 2, _regexp, deterministic=True)
    dbapi_conn.create_collation(NATURAL_COLLATION, _natural_compare)


def create(url: URL, *, pool_size: int, **options: Any) -> Engine:
    engine = create_engine(
        url,
        **options,
        pool_size=pool_size,
        max_overflow=pool_size,
        connect_args={"check_same_thread": False, "timeout": BUSY_TIMEOUT_MS / 1000},
    )
    event.listen(engine, "connect", _on_connect)
    return engine
