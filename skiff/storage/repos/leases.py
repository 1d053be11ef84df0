"""Leases: which process may run a background job now (``skiff.jobs`` explains the protocol).

A lease is one row ``(name, holder, expires_at)``. Claiming is a compare-and-set: an ``UPDATE``
that only matches an expired lease, or an ``INSERT`` that does nothing if the row already exists.
Of any number of racing claimers exactly one sees a changed row: PostgreSQL re-checks the
``WHERE`` against the row a concurrent winner committed, SQLite lets one writer in at a time.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection, select, update
from sqlalchemy.dialects import postgresql, sqlite

from skiff.storage.tables import leases


def _insert_new(conn: Connection, name: str, holder: str, expires_at: datetime) -> bool:
    """Create the lease unless it exists; True if this call created it."""
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    statement = dialect.insert(leases).values(name=name, holder=holder, expires_at=expires_at)
    # RETURNING rather than rowcount: psycopg reports -1 for an INSERT … ON CONFLICT DO NOTHING.
    statement = statement.on_conflict_do_nothing(index_elements=["name"]).returning(leases.c.name)
    return conn.execute(statement).first() is not None


def claim(conn: Connection, name: str, holder: str, now: datetime, until: datetime) -> bool:
    """Take the lease until ``until`` if it is free (missing or expired at ``now``)."""
    taken = conn.execute(
        update(leases)
        .where(leases.c.name == name, leases.c.expires_at <= now)
        .values(holder=holder, expires_at=until)
    ).rowcount
    return taken == 1 or _insert_new(conn, name, holder, until)


def reserve(conn: Connection, name: str, holder: str, until: datetime) -> None:
    """Create the lease expiring at ``until`` if it does not exist yet (an existing one is kept)."""
    _insert_new(conn, name, holder, until)


def expiry(conn: Connection, name: str) -> datetime | None:
    """When the lease expires, or None if it was never taken."""
    return conn.execute(select(leases.c.expires_at).where(leases.c.name == name)).scalar()
