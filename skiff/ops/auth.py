"""Authentication: turning Basic credentials or a Bearer token into an Identity, and logins.

Every authenticated call re-reads its credential, user and company from the database, so a
revoked credential or a changed role takes effect on the next call in every process. That read
runs either in a transaction of its own (``authenticate``) or, for endpoints whose use case is
one declared transaction, first thing in that transaction (``authenticated``), which the use
case then joins: one pool checkout and one BEGIN/COMMIT per call instead of two.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from collections.abc import Hashable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection

from skiff.domain import clock
from skiff.domain.errors import error
from skiff.domain.identity import Identity
from skiff.domain.secrets_hash import verify_secret
from skiff.domain.tokens import TokenClaims, issue_token, read_token
from skiff.storage.engine import Database
from skiff.storage.repos import accounts as repo


class _Recent:
    """A bounded, thread-safe map that forgets its least recently used entries."""

    def __init__(self, size: int) -> None:
        self._items: OrderedDict[Hashable, Any] = OrderedDict()
        self._size = size
        self._lock = threading.Lock()

    def get(self, key: Hashable) -> Any:
        with self._lock:
            value = self._items.get(key)
            if value is not None:
                self._items.move_to_end(key)
            return value

    def put(self, key: Hashable, value: Any) -> None:
        with self._lock:
            self._items[key] = value
            self._items.move_to_end(key)
            while len(self._items) > self._size:
                self._items.popitem(last=False)

    def discard(self, key: Hashable) -> None:
        with self._lock:
            self._items.pop(key, None)


#: (access key, secret digest) pairs that passed the slow hash check. A credential's stored hash
#: never changes (a secret cannot be edited, only revoked), so a pair that verified once stays
#: valid for as long as the credential row exists, which is still checked on every call.
_verified_secrets = _Recent(4096)

#: Tokens whose signature verified, by (signing key, token): the signature of a given token under
#: a given key cannot change, so only the expiry is checked again (PyJWT's check costs a third of
#: a get-by-id). Revocation is unaffected: the credential row is still read on every call.
_verified_tokens = _Recent(4096)


@dataclass(frozen=True)
class BasicCredentials:
    access_key: str
    secret: str

    @property
    def pair(self) -> tuple[str, bytes]:
        """(access key, secret digest): how ``_verified_secrets`` knows them."""
        return self.access_key, hashlib.sha256(self.secret.encode()).digest()


#: What an Authorization header carries once parsed: a key and secret, or a verified token.
Credentials = BasicCredentials | TokenClaims


def verify_token(key: bytes, token: str) -> TokenClaims:
    """The claims of a token signed with ``key`` and not expired (no database access)."""
    claims: TokenClaims | None = _verified_tokens.get((key, token))
    if claims is None:
        claims = read_token(token, key)
        _verified_tokens.put((key, token), claims)
    elif claims.expires <= clock.now():  # PyJWT's rule: expired once exp <= now
        _verified_tokens.discard((key, token))
        raise error("invalid_token", "token expired")
    return claims


def _identity(row: dict[str, Any]) -> Identity:
    return Identity(
        company=row["company"],
        company_name=row["company_name"],
        user=row["user"],
        user_name=row["user_name"],
        role=row["role"],
        access_key=row["access_key"],
    )


def _check(row: dict[str, Any] | None, credentials: Credentials) -> Identity:
    """The identity behind ``credentials`` given their stored row (None: no such credential)."""
    if isinstance(credentials, TokenClaims):
        if row is None or row["user"] != credentials.user or row["company"] != credentials.company:
            raise error("invalid_token", "credentials revoked")
        return _identity(row)
    if row is None:
        raise error("invalid_credentials")
    verified = credentials.pair
    if _verified_secrets.get(verified) is None:
        if not verify_secret(credentials.secret, row["secret_hash"]):
            raise error("invalid_credentials")
        _verified_secrets.put(verified, True)
    return _identity(row)


def authenticate(db: Database, credentials: Credentials) -> Identity:
    """Check ``credentials`` against the database in a read transaction of their own."""
    with db.read() as conn:
        row = repo.find_credentials(conn, credentials.access_key)
    return _check(row, credentials)  # the slow hash check (first use only) outside the transaction


@contextmanager
def authenticated(db: Database, credentials: Credentials, *, write: bool) -> Iterator[tuple[Identity, Database]]:
    """Open the transaction of a use case (a write one with ``write``), check ``credentials`` in
    it first and yield the identity with a database whose ``read()``/``write()`` join that
    transaction. The use case must be one transaction: see ``_JoinedDatabase``."""
    if isinstance(credentials, BasicCredentials) and _verified_secrets.get(credentials.pair) is None:
        authenticate(db, credentials)  # the slow hash check, not while holding the write lock
    with db.write() if write else db.read() as conn:
        identity = _check(repo.find_credentials(conn, credentials.access_key), credentials)
        joined = _JoinedDatabase(db, conn, writable=write)
        yield identity, joined
        if joined.escaped is not None:
            raise RuntimeError("a use case went on after its joined transaction failed") from joined.escaped


class _JoinedDatabase(Database):
    """``db`` as the use case of an authenticated call sees it: ``read()`` and ``write()`` yield
    the connection of the call's transaction instead of opening one (no BEGIN/COMMIT of their
    own). A use case that writes in a read transaction, or that goes on after an exception left
    one of its blocks (which on its own transaction would have rolled back only that block),
    is a bug in the endpoint's declaration: the first raises here, the second in
    ``authenticated``, both before anything is committed."""

    def __init__(self, db: Database, conn: Connection, *, writable: bool) -> None:
        # not Database.__init__: no engine of its own, db's is shared
        self.url, self.dialect, self.engine = db.url, db.dialect, db.engine
        self._conn = conn
        self._writable = writable
        self.escaped: BaseException | None = None

    @contextmanager
    def read(self) -> Iterator[Connection]:
        yield from self._join()

    @contextmanager
    def write(self, *, bulk: bool = False) -> Iterator[Connection]:  # joins the call's transaction, bulk or not
        if not self._writable:
            raise RuntimeError("a use case declared as a read transaction asked to write")
        yield from self._join()

    def _join(self) -> Iterator[Connection]:
        try:
            yield self._conn
        except BaseException as exc:
            self.escaped = exc
            raise

    def dispose(self) -> None:
        raise RuntimeError("a joined transaction does not own the engine")


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
