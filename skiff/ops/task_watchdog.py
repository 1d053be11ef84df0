"""The non-responsive task watchdog's use case (spec tasks-model §8).

Tasks ``in_progress`` whose ``last_update`` is older than the threshold are stopped with
status_reason and status_message ``Forced stop (non-responsive)`` by ``__apiserver__``, through the
common status change (``task_lifecycle.apply_change``: compare-and-set, timestamps, project
touched). A task is kept alive by anything that stamps ``last_update``: ``tasks.ping``, events,
worker status reports.

One transaction per task: the candidate is locked and checked again (still in_progress, still
stale) before it is stopped, so a ping or status change racing the watchdog wins.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from skiff.domain.errors import ApiError
from skiff.domain.identity import Identity
from skiff.ops.task_lifecycle import apply_change
from skiff.storage.engine import Database
from skiff.storage.repos import tasks as tasks_repo

log = logging.getLogger("skiff.jobs")

#: Who the watchdog's changes are attributed to (``last_changed_by``), as in the reference.
SERVER_USER = "__apiserver__"
REASON = "Forced stop (non-responsive)"


def _server_identity(company: str) -> Identity:
    return Identity(
        company=company, company_name="", user=SERVER_USER, user_name=SERVER_USER, role="system", access_key=""
    )


def _stop_one(db: Database, task: str, company: str, before: datetime, now: datetime) -> bool:
    with db.write() as conn:
        doc = tasks_repo.get_task(conn, [company], task, for_update=True)
        if doc is None or doc.get("status") != "in_progress":
            return False
        last_update = doc.get("last_update")
        if last_update is None or last_update >= before:
            return False
        apply_change(
            conn, _server_identity(company), doc, "stopped", force=True, reason=REASON, message=REASON, now=now
        )
    return True


def stop_non_responsive_tasks(db: Database, now: datetime, threshold: timedelta) -> list[str]:
    """Stop every in_progress task (of every company) not updated since ``now - threshold``;
    returns the ids stopped."""
    before = now - threshold
    with db.read() as conn:
        candidates = tasks_repo.not_updated_since(conn, "in_progress", before)
    stopped = []
    for task, company in candidates:
        try:
            if _stop_one(db, task, company, before, now):
                stopped.append(task)
        except ApiError as exc:  # lost a race with another writer: the task is no longer stale
            log.info("watchdog left task %s alone: %s", task, exc.message)
    return stopped
