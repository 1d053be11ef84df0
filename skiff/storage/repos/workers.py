"""Workers and their runtime properties: rows in, rows out, scoped by company.

A worker row is keyed by ``(company, user, id)`` as the reference keys its entries. Liveness is a
column, not a timer: ``expires_at`` is stamped ``last_activity + timeout`` on every write, readers
select ``expires_at > now`` and the stale-workers job deletes the rest, so every process sees the
same set of workers whatever its clock-driven jobs have done so far.

Writes are upserts (``INSERT … ON CONFLICT DO UPDATE``, the same statement on both dialects) so
that two processes registering one worker at once both succeed instead of one hitting the
primary key.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Table, and_, delete, or_, select
from sqlalchemy.dialects import postgresql, sqlite

from skiff.storage.tables import companies, projects, users, worker_runtime_properties, workers

_KEY = ("company", "user", "id")
_PROPERTY_KEY = ("company", "user", "worker", "key")


def _upsert(conn: Connection, table: Table, values: dict[str, Any], key: Sequence[str]) -> None:
    # Both dialects spell ON CONFLICT the same way; only the construct's module differs.
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    statement = dialect.insert(table).values(**values)
    changes = {name: statement.excluded[name] for name in values if name not in key}
    conn.execute(statement.on_conflict_do_update(index_elements=list(key), set_=changes))


# workers -----------------------------------------------------------------------------------------
def get_worker(
    conn: Connection, company: str, user: str, id: str, *, for_update: bool = False
) -> dict[str, Any] | None:
    """The worker row (alive or not), or None."""
    query = select(workers).where(workers.c.company == company, workers.c.user == user, workers.c.id == id)
    if for_update:
        query = query.with_for_update()
    row = conn.execute(query).first()
    return dict(row._mapping) if row else None


def save_worker(conn: Connection, row: dict[str, Any]) -> None:
    """Insert or replace the worker row (every column of ``workers`` must be given)."""
    _upsert(conn, workers, {column.name: row[column.name] for column in workers.columns}, _KEY)


def delete_worker(conn: Connection, company: str, user: str, id: str) -> int:
    query = delete(workers).where(workers.c.company == company, workers.c.user == user, workers.c.id == id)
    return conn.execute(query).rowcount


def live_workers(conn: Connection, company: str, now: datetime) -> list[dict[str, Any]]:
    """The company's workers that have not expired at ``now``, oldest registration first, each
    with ``user_name``, ``company_name`` and ``project_name`` (None when gone)."""
    query = (
        select(
            workers,
            users.c.name.label("user_name"),
            companies.c.name.label("company_name"),
            projects.c.name.label("project_name"),
        )
        .select_from(
            workers.outerjoin(users, and_(users.c.id == workers.c.user, users.c.company == workers.c.company))
            .outerjoin(companies, companies.c.id == workers.c.company)
            .outerjoin(projects, and_(projects.c.id == workers.c.project, projects.c.company == workers.c.company))
        )
        .where(workers.c.company == company, workers.c.expires_at > now)
        .order_by(workers.c.register_time, workers.c.id, workers.c.user)
    )
    return [dict(row._mapping) for row in conn.execute(query)]


def live_queue_lists(conn: Connection, company: str, now: datetime) -> list[list[str]]:
    """The ``queues`` list of every live worker of the company."""
    query = select(workers.c.queues).where(workers.c.company == company, workers.c.expires_at > now)
    return [list(queues or []) for queues in conn.execute(query).scalars()]


def is_alive(conn: Connection, company: str, id: str, now: datetime) -> bool:
    """Does a live worker of this id exist in the company (under any user)?"""
    query = select(workers.c.id).where(
        workers.c.company == company, workers.c.id == id, workers.c.expires_at > now
    )
    return conn.execute(query.limit(1)).first() is not None


def delete_expired_workers(conn: Connection, now: datetime) -> int:
    """Remove every worker (of every company) whose registration expired at or before ``now``."""
    return conn.execute(delete(workers).where(workers.c.expires_at <= now)).rowcount


# runtime properties ------------------------------------------------------------------------------
def _property_owner(company: str, user: str, worker: str) -> Any:
    table = worker_runtime_properties
    return and_(table.c.company == company, table.c.user == user, table.c.worker == worker)


def live_runtime_properties(
    conn: Connection, company: str, user: str, worker: str, now: datetime
) -> list[dict[str, Any]]:
    """``{key, value, expires_at}`` of the worker's unexpired properties, by key."""
    table = worker_runtime_properties
    query = (
        select(table.c.key, table.c.value, table.c.expires_at)
        .where(_property_owner(company, user, worker), or_(table.c.expires_at.is_(None), table.c.expires_at > now))
        .order_by(table.c.key)
    )
    return [dict(row._mapping) for row in conn.execute(query)]


def set_runtime_property(
    conn: Connection, company: str, user: str, worker: str, key: str, value: str, expires_at: datetime | None
) -> None:
    values = {"company": company, "user": user, "worker": worker, "key": key, "value": value, "expires_at": expires_at}
    _upsert(conn, worker_runtime_properties, values, _PROPERTY_KEY)


def delete_runtime_property(conn: Connection, company: str, user: str, worker: str, key: str) -> int:
    table = worker_runtime_properties
    return conn.execute(delete(table).where(_property_owner(company, user, worker), table.c.key == key)).rowcount


def delete_expired_runtime_properties(conn: Connection, now: datetime) -> int:
    table = worker_runtime_properties
    return conn.execute(delete(table).where(table.c.expires_at <= now)).rowcount
