"""Background jobs (``skiff.jobs``): the non-responsive task watchdog (spec tasks-model §8), the
stale-workers cleanup, the merge of SQLite's full-text index, the lease that lets one of N processes run a job per interval, and the
asyncio loops the ASGI lifespan starts. Time is injected (``now=``, a fake clock), never slept.

Each test gets its own database: the jobs work across companies, so a shared one would let one
test's tasks leak into another's counts.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from starlette.testclient import TestClient

from skiff.app import create_app
from skiff.domain import clock
from skiff.domain.identity import Identity
from skiff.domain.versions import Version
from skiff.jobs import JOBS, non_responsive_tasks, stale_workers, text_index
from skiff.jobs.runner import JobRunner
from skiff.ops import accounts, projects, task_lifecycle, task_queries, workers
from skiff.ops import tasks as task_ops
from skiff.ops.task_watchdog import REASON, stop_non_responsive_tasks
from skiff.ops.text_index import compact_text_index
from skiff.settings import Settings
from skiff.storage import schema
from skiff.storage.engine import Database
from skiff.storage.repos import projects as projects_repo
from skiff.storage.repos import tasks as tasks_repo
from skiff.storage.tables import companies, leases, worker_runtime_properties
from skiff.storage.tables import workers as workers_table
from skiff.storage.repos import text_index as text_index_repo
from tests.support import DIALECT, fts5_levels, new_database_url

SETTINGS = Settings(jobs=True)  # the defaults: watchdog every 900 s, threshold 7200 s
THRESHOLD = timedelta(seconds=7200)


@pytest.fixture
def url(tmp_path: Path) -> str:
    url = new_database_url(tmp_path)
    db = Database(url, pool_size=2)
    schema.upgrade(db)
    db.dispose()
    return url


@pytest.fixture
def db(url: str) -> Iterator[Database]:
    database = Database(url, pool_size=4)
    yield database
    database.dispose()


def identity(db: Database, company_name: str = "jobs company") -> Identity:
    company = accounts.create_company(db, company_name)
    user = accounts.add_user(db, company, "runner", role="admin")
    return Identity(company, company_name, user.user, user.user_name, "admin", user.access_key)


def new_task(db: Database, caller: Identity, status: str = "in_progress", *, project: str | None = None) -> str:
    fields: dict[str, Any] = {"name": f"{status} task", "type": "training"}
    if project:
        fields["project"] = project
    task = task_ops.create_task(db, caller, fields, Version.parse("2.31"))
    if status != "created":
        task_lifecycle.started(db, caller, task, force=True, reason="", message="")
    if status not in ("created", "in_progress"):
        task_lifecycle.change_status(db, caller, task, status, force=True)
    return task


def backdate(db: Database, task: str, last_update: datetime | None) -> None:
    with db.write() as conn:
        tasks_repo.update_columns(conn, [task], last_update=last_update)


def read(db: Database, task: str) -> dict[str, Any]:
    with db.read() as conn:
        every_company = list(conn.execute(select(companies.c.id)).scalars())
        return tasks_repo.get_tasks(conn, every_company, [task])[task]


# the watchdog --------------------------------------------------------------------------------------
def test_watchdog_stops_exactly_the_stale_in_progress_tasks(db: Database) -> None:
    caller = identity(db)
    other = identity(db, "another company")
    project = projects.create_project(db, caller, name="watched project")
    now = clock.now() + timedelta(hours=1)
    stale = new_task(db, caller, project=project)
    stale_elsewhere = new_task(db, other)
    fresh = new_task(db, caller)
    never_updated = new_task(db, caller)
    old_but_not_running = {s: new_task(db, caller, s) for s in ("created", "queued", "stopped", "completed", "failed")}
    backdate(db, stale, now - THRESHOLD - timedelta(seconds=1))
    backdate(db, stale_elsewhere, now - THRESHOLD - timedelta(days=3))
    backdate(db, fresh, now - THRESHOLD)  # exactly at the threshold: not older than it
    backdate(db, never_updated, None)
    for task in old_but_not_running.values():
        backdate(db, task, now - timedelta(days=30))
    untouched = [fresh, never_updated, *old_but_not_running.values()]
    before = {task: read(db, task) for task in untouched}

    stopped = non_responsive_tasks.run_once(db, now=now, settings=SETTINGS)

    assert stopped == [stale_elsewhere, stale]  # oldest first
    for task in stopped:
        doc = read(db, task)
        assert doc["status"] == "stopped"
        assert doc["status_reason"] == REASON == "Forced stop (non-responsive)"
        assert doc["status_message"] == REASON
        assert doc["last_changed_by"] == "__apiserver__"
        assert doc["status_changed"] == doc["last_update"] == doc["last_change"] == now
        assert "completed" not in doc  # a forced stop is not a completion
    with db.read() as conn:
        assert projects_repo.get_project(conn, caller.company, project)["last_update"] == now
    assert {task: read(db, task) for task in untouched} == before


def test_watchdog_threshold_and_interval_come_from_the_settings(db: Database) -> None:
    caller = identity(db)
    task = new_task(db, caller)
    now = clock.now()
    backdate(db, task, now - timedelta(seconds=61))
    assert non_responsive_tasks.run_once(db, now=now, settings=Settings(watchdog_interval_sec=0)) is None
    assert non_responsive_tasks.run_once(db, now=now, settings=SETTINGS) == []
    short = Settings(watchdog_threshold_sec=60, watchdog_interval_sec=900)
    assert non_responsive_tasks.run_once(db, now=now + timedelta(seconds=900), settings=short) == [task]


def test_a_ping_racing_the_watchdog_wins(db: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    """The candidate is checked again under its lock: a task updated since the scan stays."""
    caller = identity(db)
    task = new_task(db, caller)
    now = clock.now()
    backdate(db, task, now - THRESHOLD - timedelta(minutes=1))
    scan = tasks_repo.not_updated_since

    def scan_then_ping(conn, status, before):  # type: ignore[no-untyped-def]
        found = scan(conn, status, before)
        assert [t for t, _ in found] == [task]
        pinger = threading.Thread(target=task_lifecycle.ping, args=(db, caller, task))
        pinger.start()  # another request, in its own transaction
        pinger.join()
        return found

    monkeypatch.setattr(tasks_repo, "not_updated_since", scan_then_ping)
    assert stop_non_responsive_tasks(db, now, THRESHOLD) == []
    assert read(db, task)["status"] == "in_progress"


# the lease ---------------------------------------------------------------------------------------
def test_a_job_runs_once_per_interval(db: Database) -> None:
    now = clock.now()
    assert non_responsive_tasks.run_once(db, now=now, settings=SETTINGS) == []
    assert non_responsive_tasks.run_once(db, now=now, settings=SETTINGS) is None
    assert non_responsive_tasks.run_once(db, now=now + timedelta(seconds=899), settings=SETTINGS) is None
    assert non_responsive_tasks.run_once(db, now=now + timedelta(seconds=900), settings=SETTINGS) == []
    # each job has its own lease
    assert stale_workers.run_once(db, now=now + timedelta(seconds=900), settings=SETTINGS) == (0, 0)


def test_two_processes_racing_for_the_lease_run_the_job_once(db: Database, url: str) -> None:
    caller = identity(db)
    now = clock.now() + timedelta(hours=3)
    stale = [new_task(db, caller) for _ in range(3)]
    for task in stale:
        backdate(db, task, now - THRESHOLD - timedelta(hours=1))
    second = Database(url, pool_size=4)  # another "process": its own engine and pool
    try:
        handles = [db, second] * 4
        barrier = threading.Barrier(len(handles))
        results: list[Any] = [None] * len(handles)

        def contend(i: int) -> None:
            barrier.wait()
            results[i] = non_responsive_tasks.run_once(
                handles[i], now=now, settings=SETTINGS, holder=f"process-{i % 2}-thread-{i}"
            )

        threads = [threading.Thread(target=contend, args=(i,)) for i in range(len(handles))]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        second.dispose()
    ran = [r for r in results if r is not None]
    assert len(ran) == 1
    assert sorted(ran[0]) == sorted(stale)
    assert all(read(db, task)["status"] == "stopped" for task in stale)


def test_watchdogs_running_at_once_stop_each_task_once(db: Database, url: str) -> None:
    """Even without the lease (two runs at once), the per-task compare-and-set stops a task once."""
    caller = identity(db)
    now = clock.now() + timedelta(hours=3)
    stale = [new_task(db, caller) for _ in range(6)]
    for task in stale:
        backdate(db, task, now - THRESHOLD - timedelta(hours=1))
    second = Database(url, pool_size=4)
    try:
        barrier = threading.Barrier(2)
        results: list[list[str]] = [[], []]

        def run(i: int, handle: Database) -> None:
            barrier.wait()
            results[i] = stop_non_responsive_tasks(handle, now, THRESHOLD)

        threads = [threading.Thread(target=run, args=(i, h)) for i, h in enumerate((db, second))]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        second.dispose()
    assert sorted(results[0] + results[1]) == sorted(stale)


# stale workers -----------------------------------------------------------------------------------
def test_stale_workers_job_deletes_expired_workers_and_properties(db: Database) -> None:
    caller = identity(db)
    now = clock.now()
    workers.register_worker(db, caller, "expired", timeout=60, now=now - timedelta(seconds=60))
    workers.register_worker(db, caller, "alive", timeout=60, now=now - timedelta(seconds=59))
    short = [{"key": "short", "value": "1", "expiry": 5}]
    workers.set_runtime_properties(db, caller, "alive", short, now=now - timedelta(seconds=5))
    workers.set_runtime_properties(db, caller, "alive", [{"key": "lasting", "value": "2"}], now=now)

    assert stale_workers.run_once(db, now=now, settings=SETTINGS) == (1, 1)

    with db.read() as conn:
        assert list(conn.execute(select(workers_table.c.id)).scalars()) == ["alive"]
        assert list(conn.execute(select(worker_runtime_properties.c.key)).scalars()) == ["lasting"]


# the full-text index ------------------------------------------------------------------------------
def _search(db: Database, caller: Identity, term: str) -> list[str]:
    body = {"search_text": term, "order_by": ["-last_update"], "page_size": 500}
    return [t["id"] for t in task_queries.list_tasks(db, caller, body).docs]


@pytest.mark.skipif(DIALECT != "sqlite", reason="PostgreSQL's GIN index is kept by autovacuum")
def test_the_text_index_job_merges_the_segments_of_many_small_writes(db: Database) -> None:
    caller = identity(db)
    for i in range(60):  # one transaction each: a segment each, partly merged by FTS5 itself
        task_ops.create_task(db, caller, {"name": f"resnet run {i}" if i % 3 else f"vit run {i}", "type": "training"},
                             Version.parse("2.31"))  # fmt: skip
    with db.read() as conn:
        before = text_index_repo.segments(conn)
    assert before > 1
    found = {term: _search(db, caller, term) for term in ("resnet", "vit", "run")}
    assert [len(found[t]) for t in ("resnet", "vit", "run")] == [40, 20, 60]

    assert compact_text_index(db, threshold=before) == 0  # not past the threshold: untouched
    assert compact_text_index(db, threshold=1, pages=4) > 1  # small steps: several transactions
    with db.read() as conn:
        after = text_index_repo.segments(conn)
        assert after < before and after <= fts5_levels(conn)  # at most one per level
    assert {term: _search(db, caller, term) for term in found} == found
    assert compact_text_index(db, threshold=0) == 1  # a step that finds no level to merge


@pytest.mark.skipif(DIALECT != "sqlite", reason="PostgreSQL's GIN index is kept by autovacuum")
def test_merging_the_text_index_again_and_again_keeps_its_structure_small(db: Database) -> None:
    """SQLite 3.40 adds a level to the FTS5 structure at every full merge and reads 2,000 levels
    as a corrupt index; the job merges within levels, so the levels follow the size of the index,
    not the number of merges (full merges here: 100 levels after 50 rounds)."""
    caller = identity(db)
    version = Version.parse("2.31")
    for batch in range(50):
        for i in range(5):
            task_ops.create_task(db, caller, {"name": f"round {batch} run {i}", "type": "training"}, version)
        compact_text_index(db, threshold=0)
    with db.read() as conn:
        assert fts5_levels(conn) <= 8
    task_ops.create_task(db, caller, {"name": "after the merges", "type": "training"}, version)
    assert len(_search(db, caller, "round")) == 250


def test_the_text_index_job_runs_under_its_lease(db: Database) -> None:
    caller = identity(db)
    for i in range(3):
        task_ops.create_task(db, caller, {"name": f"resnet {i}", "type": "training"}, Version.parse("2.31"))
    now = clock.now()
    # three segments are below the threshold: the job runs and merges nothing
    assert text_index.run_once(db, now=now, settings=SETTINGS) == 0
    assert text_index.run_once(db, now=now, settings=SETTINGS) is None  # the lease holds until the next interval
    assert text_index.run_once(db, now=now + timedelta(seconds=600), settings=SETTINGS) == 0
    assert text_index.run_once(db, now=now, settings=Settings(text_index_interval_sec=0)) is None


# the loops ---------------------------------------------------------------------------------------
class FakeTime:
    """A clock that moves only when the runner sleeps."""

    def __init__(self, start: datetime) -> None:
        self.current = start
        self.slept: list[float] = []

    def now(self) -> datetime:
        return self.current

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.current += timedelta(seconds=seconds)
        await asyncio.sleep(0.005)  # yield (and keep a spinning loop cheap)


def test_the_runner_runs_a_job_one_interval_after_start(db: Database) -> None:
    caller = identity(db)
    start = clock.now()
    task = new_task(db, caller)
    backdate(db, task, start - THRESHOLD)
    fake = FakeTime(start)
    settings = Settings(jobs=True, worker_cleanup_interval_sec=0, text_index_interval_sec=0)

    async def scenario() -> datetime:
        runner = JobRunner(db, settings, now=fake.now, sleep=fake.sleep)
        assert [job.name for job in runner.jobs] == ["non_responsive_tasks"]
        runner.start()
        try:
            for _ in range(1000):
                if read(db, task)["status"] == "stopped":
                    break
                await asyncio.sleep(0.01)
        finally:
            await runner.stop()
        return read(db, task)["status_changed"]

    stopped_at = asyncio.run(scenario())
    # not at start: the first run waits one interval (plus jitter of at most 5 s)
    assert timedelta(seconds=900) <= stopped_at - start <= timedelta(seconds=905)
    assert fake.slept[0] >= 900


def test_the_runner_starts_nothing_when_jobs_are_off(db: Database) -> None:
    async def scenario() -> int:
        runner = JobRunner(db, Settings(jobs=False))
        runner.start()
        count = len(runner._tasks)
        await runner.stop()
        return count

    assert asyncio.run(scenario()) == 0
    assert [job.name for job in JOBS] == ["non_responsive_tasks", "stale_workers", "text_index"]


def test_the_lifespan_starts_and_stops_the_jobs(url: str, tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, db_url=url, jobs=True)
    database = Database(url, pool_size=2)
    before = clock.now()
    with TestClient(create_app(settings, database)) as client:
        assert client.post("/debug.ping", json={}).status_code == 200
        deadline = time.monotonic() + 10
        while True:  # the loops reserve their leases first thing
            with database.read() as conn:
                found = dict(conn.execute(select(leases.c.name, leases.c.expires_at)).all())
            if len(found) == 3 or time.monotonic() > deadline:
                break
            time.sleep(0.01)
    assert set(found) == {"non_responsive_tasks", "stale_workers", "text_index"}
    assert found["non_responsive_tasks"] - before >= timedelta(seconds=900)
    assert found["stale_workers"] - before >= timedelta(seconds=300)


def test_settings_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SKIFF_JOBS", "0")
    monkeypatch.setenv("SKIFF_WATCHDOG_INTERVAL_SEC", "60")
    monkeypatch.setenv("SKIFF_WATCHDOG_THRESHOLD_SEC", "120")
    monkeypatch.setenv("SKIFF_WORKER_CLEANUP_INTERVAL_SEC", "30")
    monkeypatch.setenv("SKIFF_TEXT_INDEX_INTERVAL_SEC", "45")
    settings = Settings.from_env()
    assert (settings.jobs, settings.watchdog_interval_sec, settings.watchdog_threshold_sec) == (False, 60, 120)
    assert (settings.worker_cleanup_interval_sec, settings.text_index_interval_sec) == (30, 45)
    env = settings.to_env()
    assert env["SKIFF_JOBS"] == "0" and env["SKIFF_WATCHDOG_THRESHOLD_SEC"] == "120"
    assert env["SKIFF_TEXT_INDEX_INTERVAL_SEC"] == "45" and Settings().text_index_interval_sec == 600
    assert Settings().jobs and Settings().watchdog_interval_sec == 900 and Settings().watchdog_threshold_sec == 7200
