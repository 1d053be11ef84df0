"""Scroll states (spec tasks-queries §5.2): an offset under an id, with an expiry."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection, delete, insert, select, update

from skiff.storage.tables import scroll_states


def position(conn: Connection, id: str, now: datetime) -> int | None:
    """The position of a live scroll, locked until the transaction ends; None if unknown or expired."""
    query = select(scroll_states.c.position).where(scroll_states.c.id == id, scroll_states.c.expires_at > now)
    if conn.dialect.name == "postgresql":
        query = query.with_for_update()
    return conn.execute(query).scalar_one_or_none()


def create(conn: Connection, id: str, position: int, expires_at: datetime, now: datetime) -> None:
    """A new scroll; expired ones are dropped on the way (index on expires_at)."""
    conn.execute(delete(scroll_states).where(scroll_states.c.expires_at <= now))
    conn.execute(insert(scroll_states).values(id=id, position=position, expires_at=expires_at))


def move(conn: Connection, id: str, position: int, expires_at: datetime) -> None:
    conn.execute(update(scroll_states).where(scroll_states.c.id == id).values(position=position, expires_at=expires_at))
