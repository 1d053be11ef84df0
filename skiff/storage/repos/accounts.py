"""Companies, users, credentials and the server's own state."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, bindparam, delete, func, insert, select, update

from skiff.storage.repos.prepared import Prepared
from skiff.storage.tables import companies, credentials, server_state, users


# server state -----------------------------------------------------------------------------------
def get_state(conn: Connection, key: str) -> str | None:
    return conn.execute(select(server_state.c.value).where(server_state.c.key == key)).scalar()


def set_state(conn: Connection, key: str, value: str) -> None:
    if get_state(conn, key) is None:
        conn.execute(insert(server_state).values(key=key, value=value))
    else:
        conn.execute(update(server_state).where(server_state.c.key == key).values(value=value))


# companies ---------------------------------------------------------------------------------------
def insert_company(conn: Connection, id: str, name: str, created: datetime) -> None:
    conn.execute(insert(companies).values(id=id, name=name, created=created))


def count_companies(conn: Connection) -> int:
    return conn.execute(select(func.count()).select_from(companies)).scalar_one()


def list_company_ids(conn: Connection) -> list[str]:
    return list(conn.execute(select(companies.c.id).order_by(companies.c.id)).scalars())


def first_company(conn: Connection) -> dict[str, Any] | None:
    row = conn.execute(select(companies).order_by(companies.c.created).limit(1)).first()
    return dict(row._mapping) if row else None


def get_company(conn: Connection, id: str) -> dict[str, Any] | None:
    row = conn.execute(select(companies).where(companies.c.id == id)).first()
    return dict(row._mapping) if row else None


# users -------------------------------------------------------------------------------------------
def insert_user(conn: Connection, **values: Any) -> None:
    conn.execute(insert(users).values(**values))


def get_user(conn: Connection, company: str, id: str) -> dict[str, Any] | None:
    row = conn.execute(
        select(users).where(users.c.company == company, users.c.id == id)
    ).first()
    return dict(row._mapping) if row else None


def find_user_by_name(conn: Connection, company: str, name: str) -> dict[str, Any] | None:
    row = conn.execute(
        select(users).where(users.c.company == company, users.c.name == name)
    ).first()
    return dict(row._mapping) if row else None


def list_users(conn: Connection, company: str | None = None) -> list[dict[str, Any]]:
    query = select(users).order_by(users.c.created, users.c.name)
    if company is not None:
        query = query.where(users.c.company == company)
    return [dict(r._mapping) for r in conn.execute(query)]


def update_user(conn: Connection, company: str, id: str, **values: Any) -> int:
    result = conn.execute(
        update(users).where(users.c.company == company, users.c.id == id).values(**values)
    )
    return result.rowcount


# credentials -------------------------------------------------------------------------------------
def insert_credentials(conn: Connection, **values: Any) -> None:
    conn.execute(insert(credentials).values(**values))


#: Run on the cursor (``prepared``): it runs on every authenticated call, and SQLAlchemy's
#: execution of it cost more than the query (benchmarks/http.py profile).
_FIND_CREDENTIALS = Prepared(
    select(
        credentials.c.access_key,
        credentials.c.secret_hash,
        credentials.c.user,
        credentials.c.company,
        users.c.name.label("user_name"),
        users.c.role,
        companies.c.name.label("company_name"),
    )
    .join(users, users.c.id == credentials.c.user)
    .join(companies, companies.c.id == credentials.c.company)
    .where(credentials.c.access_key == bindparam("access_key"))
)


def find_credentials(conn: Connection, access_key: str) -> dict[str, Any] | None:
    """The credential with its user and company, for authentication."""
    return _FIND_CREDENTIALS.first(conn, {"access_key": access_key})


def list_credentials(conn: Connection, company: str, user: str | None) -> list[dict[str, Any]]:
    query = select(credentials).where(credentials.c.company == company)
    if user is not None:
        query = query.where(credentials.c.user == user)
    return [dict(r._mapping) for r in conn.execute(query.order_by(credentials.c.created))]


def delete_credentials(conn: Connection, access_key: str, company: str | None = None, user: str | None = None) -> int:
    query = delete(credentials).where(credentials.c.access_key == access_key)
    if company is not None:
        query = query.where(credentials.c.company == company)
    if user is not None:
        query = query.where(credentials.c.user == user)
    return conn.execute(query).rowcount


def touch_credentials(conn: Connection, access_key: str, when: datetime, remote: str | None) -> None:
    conn.execute(
        update(credentials)
        .where(credentials.c.access_key == access_key)
        .values(last_used=when, last_used_from=remote)
    )
