"""PostgreSQL through psycopg 3, its connections in autocommit mode.

skiff begins transactions itself (``Database``'s "begin" hook sends ``BEGIN``), except for read
transactions: at READ COMMITTED, PostgreSQL's default and skiff's, every statement of a
transaction takes a snapshot of its own anyway, so a read's ``BEGIN`` and ``COMMIT`` would cost
two round trips of the four of a get-by-id and guarantee nothing more. psycopg's ``commit()`` and
``rollback()`` send ``COMMIT``/``ROLLBACK`` only when the server reports a transaction open."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine, create_engine
from sqlalchemy.engine import URL


def create(url: URL, *, pool_size: int, **options: Any) -> Engine:
    return create_engine(
        url,
        **options,
        pool_size=pool_size,
        max_overflow=pool_size,
        pool_pre_ping=True,
        isolation_level="AUTOCOMMIT",
    )
