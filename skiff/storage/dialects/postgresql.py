"""PostgreSQL through psycopg 3."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine, create_engine
from sqlalchemy.engine import URL


def create(url: URL, *, pool_size: int, **options: Any) -> Engine:
    return create_engine(
        url, **options, pool_size=pool_size, max_overflow=pool_size, pool_pre_ping=True
    )
