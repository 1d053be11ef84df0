"""Job: delete workers whose registration expired, and expired worker runtime properties.

Readers already ignore expired rows (``expires_at <= now``); this keeps the tables small. Runs
every ``SKIFF_WORKER_CLEANUP_INTERVAL_SEC`` (300) seconds.
"""

from __future__ import annotations

import logging
from datetime import datetime

from skiff.jobs.lease import Job
from skiff.ops.workers import expire_workers
from skiff.settings import Settings
from skiff.storage.engine import Database

log = logging.getLogger("skiff.jobs")


def run(db: Database, settings: Settings, now: datetime) -> tuple[int, int]:
    """Delete what expired at ``now``: (workers, runtime properties)."""
    workers, properties = expire_workers(db, now)
    if workers or properties:
        log.info("%d expired workers and %d expired runtime properties deleted", workers, properties)
    return workers, properties


JOB = Job(name="stale_workers", interval=lambda s: s.worker_cleanup_interval_sec, body=run)
run_once = JOB.run_once
