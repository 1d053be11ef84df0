"""What a handler sees: the call (id, version, identity) and the application context."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

from skiff.api.registry import Endpoint, Registry
from skiff.domain.identity import Identity
from skiff.domain.versions import Version
from skiff.ops import accounts
from skiff.settings import Settings
from skiff.storage.engine import Database


class AppContext:
    """Process-wide handles: settings, the database, the registry. No state another process needs."""

    def __init__(self, settings: Settings, db: Database, registry: Registry) -> None:
        self.settings = settings
        self.db = db
        self.registry = registry
        self._signing_key: bytes | None = None
        self._lock = threading.Lock()

    @property
    def signing_key(self) -> bytes:
        if self._signing_key is None:
            with self._lock:
                if self._signing_key is None:
                    self._signing_key = accounts.signing_key(self.db, self.settings.auth_secret)
        return self._signing_key


@dataclass
class Call:
    id: str
    endpoint: Endpoint
    version: Version
    app: AppContext
    identity: Identity | None = None
    remote: str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    #: the call's own transaction, when the endpoint declares one (``Endpoint.transaction``)
    joined: Database | None = None

    @property
    def db(self) -> Database:
        """What the use case runs on: the database, or the call's transaction that it joins."""
        return self.joined if self.joined is not None else self.app.db

    @property
    def user(self) -> Identity:
        """The caller's identity (endpoints that authorize always have one)."""
        assert self.identity is not None, f"{self.endpoint.name} called without identity"
        return self.identity
