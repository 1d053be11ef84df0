"""Job: the non-responsive task watchdog (spec tasks-model §8).

Every ``SKIFF_WATCHDOG_INTERVAL_SEC`` (900) seconds, in_progress tasks whose last update is older
than ``SKIFF_WATCHDOG_THRESHOLD_SEC`` (7200) seconds are stopped ("Forced stop
(non-responsive)"); the use case is ``ops.task_watchdog.stop_non_responsive_tasks``.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from skiff.jobs.lease import Job
from skiff.ops.task_watchdog import stop_non_responsive_tasks
from skiff.settings import Settings
from skiff.storage.engine import Database

log = logging.getLogger("skiff.jobs")


def run(db: Database, settings: Settings, now: datetime) -> list[str]:
    """Stop the stale tasks now; returns their ids."""
    stopped = stop_non_responsive_tasks(db, now, timedelta(seconds=settings.watchdog_threshold_sec))
    if stopped:
        log.info("%d non-responsive tasks stopped", len(stopped))
    return stopped


JOB = Job(name="non_responsive_tasks", interval=lambda s: s.watchdog_interval_sec, body=run)
run_once = JOB.run_once
