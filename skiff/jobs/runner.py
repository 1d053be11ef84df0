"""The job loops of one server process: cancellable asyncio tasks that run each (synchronous)
job in a worker thread whenever this process wins the job's lease.

``JobRunner.start()`` is called from the ASGI lifespan startup, ``await JobRunner.stop()`` from its
shutdown: cancelling a loop while its job runs waits for the job's thread to finish (a job is one
or more short transactions), so the database is disposed only after the last job returned.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime, timedelta

import anyio

from skiff.domain import clock
from skiff.jobs import JOBS
from skiff.jobs.lease import Job, due, reserve
from skiff.settings import Settings
from skiff.storage.engine import Database

log = logging.getLogger("skiff.jobs")

#: After an unexpected error (database unreachable …), wait this long before trying again.
RETRY_SECONDS = 60.0


class JobRunner:
    def __init__(
        self,
        db: Database,
        settings: Settings,
        jobs: Sequence[Job] = JOBS,
        *,
        now: Callable[[], datetime] = clock.now,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.db = db
        self.settings = settings
        self.jobs = [job for job in jobs if job.interval(settings) > 0] if settings.jobs else []
        self._now = now
        self._sleep = sleep
        self._tasks: list[asyncio.Task[None]] = []

    def start(self) -> None:
        for job in self.jobs:
            self._tasks.append(asyncio.create_task(self._loop(job), name=f"skiff-job-{job.name}"))

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks.clear()

    async def _loop(self, job: Job) -> None:
        period = job.interval(self.settings)
        first = True
        while True:
            try:
                if first:
                    await anyio.to_thread.run_sync(
                        lambda: reserve(self.db, job.name, self._now() + timedelta(seconds=period))
                    )
                    first = False
                await self._sleep(self._delay(await anyio.to_thread.run_sync(due, self.db, job.name), period))
                await anyio.to_thread.run_sync(lambda: job.run_once(self.db, now=self._now(), settings=self.settings))
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("background job %s failed; retrying in %ss", job.name, RETRY_SECONDS)
                await self._sleep(RETRY_SECONDS)

    def _delay(self, expires: datetime | None, period: int) -> float:
        """Seconds until the lease expires (at most one period), plus a little jitter so that the
        processes of a deployment do not all hit the lease at the same instant."""
        left = period if expires is None else (expires - self._now()).total_seconds()
        return min(max(left, 0.0), float(period)) + random.uniform(0, min(5.0, period / 10))
