"""Companies, users and credentials: install bootstrap and the admin side of accounts."""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from skiff.domain import clock, ids
from skiff.domain.errors import error
from skiff.domain.identity import ROLES, Identity
from skiff.domain.secrets_hash import hash_secret
from skiff.ops.queues import ensure_default_queue
from skiff.storage.engine import Database
from skiff.storage.repos import accounts as repo

DEFAULT_COMPANY_NAME = "skiff"
DEFAULT_ADMIN_NAME = "admin"
SIGNING_KEY_STATE = "token_signing_key"
INSTALL_ID_STATE = "install_id"


@dataclass(frozen=True)
class NewCredentials:
    user: str
    user_name: str
    company: str
    access_key: str
    secret_key: str


@dataclass(frozen=True)
class FirstStart:
    company: str
    credentials: NewCredentials


def _add_credentials(conn, company: str, user: str, label: str | None, access_key: str | None = None, secret_key: str | None = None) -> tuple[str, str]:  # type: ignore[no-untyped-def]
    access_key = access_key or ids.new_access_key()
    secret_key = secret_key or ids.new_secret_key()
    if repo.find_credentials(conn, access_key) is not None:
        raise error("expected_unique_data", "access key already exists")
    repo.insert_credentials(
        conn,
        access_key=access_key,
        secret_hash=hash_secret(secret_key),
        user=user,
        company=company,
        label=label,
        created=clock.now(),
    )
    return access_key, secret_key


def ensure_installed(
    db: Database, *, access_key: str | None = None, secret_key: str | None = None
) -> FirstStart | None:
    """On an empty database create the default company, an admin user and one credential pair.

    Returns what was created (to print once), or None when the install already exists.
    ``access_key``/``secret_key`` pin the first pair instead of generating it.
    """
    with db.write() as conn:
        if repo.get_state(conn, INSTALL_ID_STATE) is not None:
            return None
        now = clock.now()
        repo.set_state(conn, INSTALL_ID_STATE, ids.new_id())
        repo.set_state(conn, SIGNING_KEY_STATE, secrets.token_urlsafe(48))
        company = ids.new_id()
        repo.insert_company(conn, company, DEFAULT_COMPANY_NAME, now)
        ensure_default_queue(conn, company, now)
        user = ids.new_id()
        repo.insert_user(
            conn, id=user, company=company, name=DEFAULT_ADMIN_NAME, role="admin", created=now
        )
        key, secret = _add_credentials(conn, company, user, "first start", access_key, secret_key)
    return FirstStart(company, NewCredentials(user, DEFAULT_ADMIN_NAME, company, key, secret))


def signing_key(db: Database, override: str | None = None) -> bytes:
    if override:
        return override.encode()
    with db.read() as conn:
        value = repo.get_state(conn, SIGNING_KEY_STATE)
    if value is None:
        raise RuntimeError("the database has no signing key: run the server once to initialise it")
    return value.encode()


def create_company(db: Database, name: str) -> str:
    company = ids.new_id()
    with db.write() as conn:
        now = clock.now()
        repo.insert_company(conn, company, name, now)
        ensure_default_queue(conn, company, now)
    return company


def default_company(db: Database) -> str:
    with db.read() as conn:
        row = repo.first_company(conn)
    if row is None:
        raise RuntimeError("no company exists yet: start the server once to initialise it")
    return row["id"]


def add_user(
    db: Database, company: str, name: str, *, role: str = "user", label: str | None = None
) -> NewCredentials:
    """Create a user with one credential pair (``skiff users add``)."""
    if role not in ROLES:
        raise error("validation_error", f"role must be one of {', '.join(ROLES)}")
    if not name.strip():
        raise error("validation_error", "user name must not be empty")
    with db.write() as conn:
        if repo.find_user_by_name(conn, company, name) is not None:
            raise error("user_id_exists", name=name)
        user = ids.new_id()
        repo.insert_user(conn, id=user, company=company, name=name, role=role, created=clock.now())
        key, secret = _add_credentials(conn, company, user, label)
    return NewCredentials(user, name, company, key, secret)


def list_users(db: Database, company: str | None = None) -> list[dict]:
    with db.read() as conn:
        rows = repo.list_users(conn, company)
        for row in rows:
            row["credentials"] = [
                c["access_key"] for c in repo.list_credentials(conn, row["company"], row["id"])
            ]
    return rows


def revoke_any_credentials(db: Database, access_key: str) -> bool:
    """Operator-side revocation (``skiff credentials revoke``), across companies."""
    with db.write() as conn:
        return repo.delete_credentials(conn, access_key) > 0


# caller-side operations (the auth.* endpoints) ---------------------------------------------------
def create_credentials(db: Database, caller: Identity, label: str | None) -> NewCredentials:
    with db.write() as conn:
        key, secret = _add_credentials(conn, caller.company, caller.user, label)
    return NewCredentials(caller.user, caller.user_name, caller.company, key, secret)


def get_credentials(db: Database, caller: Identity) -> list[dict]:
    with db.read() as conn:
        return repo.list_credentials(conn, caller.company, caller.user)


def revoke_credentials(db: Database, caller: Identity, access_key: str) -> int:
    """Revoke one of the caller's own credentials; admins may revoke any in their company."""
    with db.write() as conn:
        return repo.delete_credentials(
            conn, access_key, company=caller.company, user=None if caller.is_admin else caller.user
        )


def edit_user(db: Database, caller: Identity, user: str | None, role: str | None) -> dict:
    target = user or caller.user
    fields: dict = {}
    if role is not None:
        if not caller.is_admin:
            raise error("role_not_allowed", "only an admin can change roles")
        if role not in ROLES:
            raise error("validation_error", f"role must be one of {', '.join(ROLES)}", role=role)
        fields["role"] = role
    with db.write() as conn:
        if repo.get_user(conn, caller.company, target) is None:
            raise error("invalid_user_id", id=target)
        updated = repo.update_user(conn, caller.company, target, **fields) if fields else 0
    return {"updated": 1 if updated else 0, "fields": fields}


def get_current_user(db: Database, caller: Identity) -> dict:
    with db.read() as conn:
        user = repo.get_user(conn, caller.company, caller.user)
        company = repo.get_company(conn, caller.company)
    if user is None or company is None:
        raise error("invalid_user_id", id=caller.user)
    return {"user": user, "company": company}


def install_id(db: Database) -> str:
    with db.read() as conn:
        return repo.get_state(conn, INSTALL_ID_STATE) or ""
