"""Job: merge the segments of SQLite's full-text index (``ops.text_index``), which every write
transaction adds to, so that ``search_text`` looks a term up in a few B-trees instead of a dozen.
Runs every ``SKIFF_TEXT_INDEX_INTERVAL_SEC`` (600) seconds; does nothing on PostgreSQL.
"""

from __future__ import annotations

import logging
from datetime import datetime

from skiff.jobs.lease import Job
from skiff.ops.text_index import compact_text_index
from skiff.settings import Settings
from skiff.storage.engine import Database

log = logging.getLogger("skiff.jobs")


def run(db: Database, settings: Settings, now: datetime) -> int:
    """Merge the index if it needs it: the merge steps run."""
    steps = compact_text_index(db)
    if steps:
        log.info("full-text index segments merged in %d steps", steps)
    return steps


JOB = Job(name="text_index", interval=lambda s: s.text_index_interval_sec, body=run)
run_once = JOB.run_once
