"""A job as data, and running it once under its lease (see ``skiff.jobs``)."""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from skiff.domain import clock
from skiff.settings import Settings
from skiff.storage.engine import Database
from skiff.storage.repos import leases

#: Who holds a lease, for people reading the table: host, pid and a per-process nonce.
HOLDER = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


@dataclass(frozen=True)
class Job:
    name: str  # the lease name
    #: Seconds between runs for these settings; 0 or less: the job is off.
    interval: Callable[[Settings], int]
    #: The work: ``body(db, settings, now)``; its result is what ``run_once`` returns.
    body: Callable[[Database, Settings, datetime], Any]

    def run_once(
        self,
        db: Database,
        *,
        now: datetime | None = None,
        settings: Settings | None = None,
        holder: str = HOLDER,
    ) -> Any:
        """Claim this interval's lease and run the job; None (job not run) if another process
        holds the lease or the job is off."""
        settings = settings or Settings()
        period = self.interval(settings)
        if period <= 0:
            return None
        now = now or clock.now()
        if not claim(db, self.name, now, timedelta(seconds=period), holder=holder):
            return None
        return self.body(db, settings, now)


def claim(db: Database, name: str, now: datetime, period: timedelta, *, holder: str = HOLDER) -> bool:
    """Take the lease ``name`` for ``period`` if it is free at ``now``."""
    with db.write() as conn:
        return leases.claim(conn, name, holder, now, now + period)


def reserve(db: Database, name: str, until: datetime, *, holder: str = HOLDER) -> None:
    """Create the lease expiring at ``until`` unless it exists (the first run waits until then)."""
    with db.write() as conn:
        leases.reserve(conn, name, holder, until)


def due(db: Database, name: str) -> datetime | None:
    """When the lease expires, that is when the job may run next."""
    with db.read() as conn:
        return leases.expiry(conn, name)
