"""Authentication: turning Basic credentials or a Bearer token into an Identity, and logins.

Every authenticated call re-reads its credential, user and company from the database, so a
revoked credential or a changed role takes effect on the next call in every process.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict

from skiff.domain import clock
from skiff.domain.errors import error
from skiff.domain.identity import Identity
from skiff.domain.secrets_hash import verify_secret
from skiff.domain.tokens import issue_token, read_token
from skiff.storage.engine import Database
from skiff.storage.repos import accounts as repo


class _VerifiedSecrets:
    """Remembers (access key, secret digest) pairs that passed the slow hash check.

    A credential's stored hash never changes (a secret cannot be edited, only revoked), so a pair
    that verified once stays valid for as long as the credential row exists, which is still
    checked on every call.
    """

    def __init__(self, size: int = 4096) -> None:
        self._items: OrderedDict[tuple[str, bytes], None] = OrderedDict()
        self._size = size
        self._lock = threading.Lock()

    @staticmethod
    def _key(access_key: str, secret: str) -> tuple[str, bytes]:
        return access_key, hashlib.sha256(secret.encode()).digest()

    def __contains__(self, pair: tuple[str, str]) -> bool:
        key = self._key(*pair)
        with self._lock:
            if key in self._items:
                self._items.move_to_end(key)
                return True
        return False

    def add(self, access_key: str, secret: str) -> None:
        with self._lock:
            self._items[self._key(access_key, secret)] = None
            while len(self._items) > self._size:
                self._items.popitem(last=False)


_verified = _VerifiedSecrets()


def _identity(row: dict) -> Identity:
    return Identity(
        company=row["company"],
        company_name=row["company_name"],
        user=row["user"],
        user_name=row["user_name"],
        role=row["role"],
        access_key=row["access_key"],
    )


def authenticate_basic(db: Database, access_key: str, secret: str) -> Identity:
    with db.read() as conn:
        row = repo.find_credentials(conn, access_key)
    if row is None:
        raise error("invalid_credentials")
    if (access_key, secret) not in _verified:
        if not verify_secret(secret, row["secret_hash"]):
            raise error("invalid_credentials")
        _verified.add(access_key, secret)
    return _identity(row)


def authenticate_token(db: Database, key: bytes, token: str) -> Identity:
    claims = read_token(token, key)
    with db.read() as conn:
        row = repo.find_credentials(conn, claims.access_key)
    if row is None or row["user"] != claims.user or row["company"] != claims.company:
        raise error("invalid_token", "credentials revoked")
    return _identity(row)


def login(
    db: Database,
    key: bytes,
    identity: Identity,
    *,
    requested_lifetime: int | None,
    default_lifetime: int,
    max_lifetime: int,
    remote: str | None,
) -> str:
    lifetime = default_lifetime
    if requested_lifetime is not None and requested_lifetime > 0:
        lifetime = min(requested_lifetime, max_lifetime)
    now = clock.now()
    with db.write() as conn:
        repo.touch_credentials(conn, identity.access_key, now, remote)
    return issue_token(identity, key, now, lifetime)
