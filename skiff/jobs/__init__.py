"""Background jobs: periodic maintenance that runs inside ``skiff serve`` processes.

Jobs (one module each, each exposing ``JOB``):

    non_responsive_tasks   stop in_progress tasks not updated for a while (spec tasks-model §8)
    stale_workers          delete workers and runtime properties past their timeout
    text_index             merge the segments of SQLite's full-text index

Leader election. Every process of a deployment runs the same loops (``runner.JobRunner``, started
and stopped by the ASGI lifespan), yet each job must run once per interval, not once per process.
A job run is gated by a lease row in the database (``storage/repos/leases.py``): a process runs the
job only if it moves the lease's ``expires_at`` from the past to ``now + interval`` with a
compare-and-set ``UPDATE … WHERE name = ? AND expires_at <= now``; the losers sleep until the new
expiry. Chosen over PostgreSQL advisory locks because it is one mechanism for both dialects and
for processes on several hosts, needs no connection held for the lock's lifetime (advisory locks
belong to a session, which the pool recycles), and recovers by itself: a process that dies
mid-run simply lets the lease expire. The lease holds no state a job needs: a job finds its work
in the tables it cleans up.

On a fresh database the leases are created expiring one interval after the first start, so a
job first runs one interval after the server first starts (as the reference's threads sleep
first); after a restart an overdue job runs at once.

Tests run a job synchronously with ``run_once(db, now=...)`` (lease included) or call the
job's use case directly; ``SKIFF_JOBS=0`` keeps a server from starting the loops at all.
"""

from __future__ import annotations

from skiff.jobs import non_responsive_tasks, stale_workers, text_index
from skiff.jobs.lease import Job

#: Every background job, in start order.
JOBS: tuple[Job, ...] = (non_responsive_tasks.JOB, stale_workers.JOB, text_index.JOB)

__all__ = ["JOBS", "Job"]
