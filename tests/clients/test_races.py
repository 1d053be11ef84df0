"""Races through two real ``skiff serve`` processes on one database (issue 4):
8 threads popping one queue of 200 tasks hand out every task exactly once, and racing
``tasks.stop`` against ``tasks.started`` never leaves an impossible state."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from pathlib import Path

import httpx
import pytest

from tests.support import Api, live_server, new_database_url

pytestmark = pytest.mark.slow

KEY, SECRET = "RACEKEY0123456789", "race-secret-0123456789"


@pytest.fixture
def two_servers(tmp_path: Path):  # type: ignore[no-untyped-def]
    db_url = new_database_url(tmp_path)
    env = {"SKIFF_ACCESS_KEY": KEY, "SKIFF_SECRET_KEY": SECRET, "SKIFF_JOBS": "0"}
    with ExitStack() as stack:
        if db_url.startswith("postgresql"):
            import subprocess
            import sys

            subprocess.run([sys.executable, "-m", "skiff", "db", "upgrade", "--db", db_url], check=True, capture_output=True)
        first = stack.enter_context(live_server(tmp_path / "a", db_url, env=env))
        second = stack.enter_context(live_server(tmp_path / "b", db_url, env=env))
        clients = [stack.enter_context(httpx.Client(base_url=s.url, timeout=60)) for s in (first, second)]
        yield [Api(c, key=KEY, secret=SECRET) for c in clients]


def test_racing_pops_hand_out_every_task_once(two_servers: list[Api]) -> None:
    a, b = two_servers
    queue = a("queues.create", {"name": "race queue"})["id"]
    tasks = []
    for i in range(200):
        task = a("tasks.create", {"name": f"race {i:03d}", "type": "training"})["id"]
        a("tasks.enqueue", {"task": task, "queue": queue})
        tasks.append(task)
    # a token per thread, alternating servers
    callers = [Api(two_servers[i % 2].client, key=KEY, secret=SECRET) for i in range(8)]
    taken: list[str] = []
    lock = threading.Lock()
    failures: list[object] = []

    def worker(api: Api) -> None:
        while True:
            reply = api.call("queues.get_next_task", {"queue": queue})
            if reply.status != 200:
                failures.append(reply.body)
                return
            entry = reply.data.get("entry")
            if not entry:
                return
            with lock:
                taken.append(entry["task"])

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(worker, callers))
    assert failures == []
    assert sorted(taken) == sorted(tasks)
    assert len(set(taken)) == 200
    assert b("queues.get_num_entries", {"queue": queue})["num"] == 0


def test_stop_racing_started_leaves_a_possible_state(two_servers: list[Api]) -> None:
    a, b = two_servers
    queue = a("queues.create", {"name": "stop race"})["id"]
    tasks = []
    for i in range(40):
        task = a("tasks.create", {"name": f"stop race {i}", "type": "training"})["id"]
        a("tasks.enqueue", {"task": task, "queue": queue})
        tasks.append(task)
    unexpected: list[object] = []

    def started(task: str) -> None:
        reply = Api(a.client, key=KEY, secret=SECRET).call("tasks.started", {"task": task})
        if reply.status != 200 and reply.code not in ((400, 110), (400, 121)):
            unexpected.append(reply.body)

    def stop(task: str) -> None:
        reply = Api(b.client, key=KEY, secret=SECRET).call("tasks.stop", {"task": task})
        if reply.status != 200 and reply.code not in ((400, 110), (400, 121)):
            unexpected.append(reply.body)

    with ThreadPoolExecutor(8) as pool:
        futures = []
        for task in tasks:
            futures.append(pool.submit(started, task))
            futures.append(pool.submit(stop, task))
        for future in futures:
            future.result()
    assert unexpected == []
    for task in tasks:
        doc = a("tasks.get_by_id", {"task": task})["task"]
        # stop first: stopped (then started may restart it); started first: stop (no live worker)
        # stops it at once. Never queued, never anything else.
        assert doc["status"] in ("stopped", "in_progress"), doc["status"]
        assert doc["status_changed"] >= doc["created"]
