"""Nothing acknowledged is lost (issue 8): concurrent writers against ``skiff serve --workers 2``,
SIGKILL of its whole process group mid-load, a restart on the same database, then every write
that was answered 200 is read back and the database passes its integrity checks.

The writers stop on the first transport error (the kill): a request in flight at that moment
may or may not have committed, so only answered writes are checked, and the queue check allows
one unanswered pop per popper."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import orjson
import pytest
from sqlalchemy import and_, exists, func, select, text

from skiff.storage.engine import Database
from skiff.storage.tables import metadata, queue_entries, scalar_events, task_metrics, tasks
from tests.support import Api, live_server, new_database_url

pytestmark = pytest.mark.slow

KEY, SECRET = "CRASHKEY0123456789", "crash-secret-0123456789"
ENV = {"SKIFF_ACCESS_KEY": KEY, "SKIFF_SECRET_KEY": SECRET, "SKIFF_JOBS": "0"}
SCALARS_PER_BATCH, LOGS_PER_BATCH = 200, 10
#: answered writes to reach before the kill (counts, not time: the machine may be slow); "batches"
#: counts those of the event writer with the fewest, so that every writer has some to check (one
#: writer once had none: the other server process's writers held SQLite's lock for the whole load)
ENOUGH = {"edited": 30, "batches": 15, "enqueued": 60, "popped": 30}
BACKLOG = 40  # tasks queued before the load starts


@dataclass
class Ledger:
    """What the server answered 200 to, filled by the writer threads."""

    created: set[str] = field(default_factory=set)
    comments: dict[str, str] = field(default_factory=dict)
    lr: dict[str, str] = field(default_factory=dict)
    batches: dict[str, list[int]] = field(default_factory=dict)  # events task -> answered batch numbers
    enqueued: set[str] = field(default_factory=set)
    popped: list[str] = field(default_factory=list)
    unanswered_pops: int = 0
    failures: list[object] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def counts(self) -> dict[str, int]:
        with self.lock:
            return {
                "edited": len(self.lr),
                "batches": min((len(b) for b in self.batches.values()), default=0),
                "enqueued": len(self.enqueued),
                "popped": len(self.popped),
            }


def _log_timestamp(writer: int, batch: int, line: int) -> int:
    return 1_700_000_000_000 + writer * 1_000_000_000 + batch * 1_000 + line


def _events_batch(task: str, writer: int, batch: int) -> bytes:
    first = batch * SCALARS_PER_BATCH
    lines = [
        {"type": "training_stats_scalar", "task": task, "metric": "loss", "variant": "train",
         "iter": i, "value": i / 2, "timestamp": 1_700_000_000_000 + i}
        for i in range(first, first + SCALARS_PER_BATCH)
    ] + [
        {"type": "log", "task": task, "level": "info", "worker": "crash", "msg": f"batch {batch} line {j}",
         "timestamp": _log_timestamp(writer, batch, j)}
        for j in range(LOGS_PER_BATCH)
    ]  # fmt: skip
    return b"\n".join(orjson.dumps(line) for line in lines)


def _run_until_killed(api: Api, ledger: Ledger, step: Callable[[Api, Ledger, int], None]) -> None:
    """Repeat ``step`` until the server goes away; any answer but 200 is a failure."""
    i = 0
    try:
        while True:
            step(api, ledger, i)
            i += 1
    except httpx.TransportError:
        pass
    except AssertionError as exc:
        ledger.failures.append(str(exc))


def _ok(reply) -> dict:  # type: ignore[no-untyped-def]
    assert reply.status == 200, f"{reply.status}: {reply.body}"
    return reply.data


def _creator(writer: int) -> Callable[[Api, Ledger, int], None]:
    def step(api: Api, ledger: Ledger, i: int) -> None:
        task = _ok(api.call("tasks.create", {"name": f"crash {writer}-{i}", "type": "training"}))["id"]
        with ledger.lock:
            ledger.created.add(task)
        _ok(api.call("tasks.edit", {"task": task, "comment": f"edited {writer}-{i}"}))
        with ledger.lock:
            ledger.comments[task] = f"edited {writer}-{i}"
        hyper = [{"section": "Args", "name": "lr", "value": f"0.{writer}{i}", "type": "float"}]
        _ok(api.call("tasks.edit_hyper_params", {"task": task, "hyperparams": hyper}))
        with ledger.lock:
            ledger.lr[task] = f"0.{writer}{i}"

    return step


def _event_writer(task: str, writer: int) -> Callable[[Api, Ledger, int], None]:
    def step(api: Api, ledger: Ledger, batch: int) -> None:
        reply = api.call(
            "events.add_batch", content=_events_batch(task, writer, batch),
            headers={"Content-Type": "application/json-lines"},
        )  # fmt: skip
        assert _ok(reply)["added"] == SCALARS_PER_BATCH + LOGS_PER_BATCH, reply.body
        with ledger.lock:
            ledger.batches[task].append(batch)

    return step


def _enqueuer(queue: str) -> Callable[[Api, Ledger, int], None]:
    def step(api: Api, ledger: Ledger, i: int) -> None:
        task = _ok(api.call("tasks.create", {"name": f"queued {i}", "type": "training"}))["id"]
        with ledger.lock:
            ledger.created.add(task)
        _ok(api.call("tasks.enqueue", {"task": task, "queue": queue}))
        with ledger.lock:
            ledger.enqueued.add(task)

    return step


def _popper(queue: str) -> Callable[[Api, Ledger, int], None]:
    def step(api: Api, ledger: Ledger, i: int) -> None:
        try:
            entry = _ok(api.call("queues.get_next_task", {"queue": queue})).get("entry")
        except httpx.TransportError:
            with ledger.lock:
                ledger.unanswered_pops += 1  # it may have been taken off the queue: nobody knows
            raise
        if entry:
            with ledger.lock:
                ledger.popped.append(entry["task"])

    return step


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


def _upgrade_if_postgresql(db_url: str) -> None:
    if db_url.startswith("postgresql"):
        command = [sys.executable, "-m", "skiff", "db", "upgrade", "--db", db_url]
        subprocess.run(command, check=True, capture_output=True)


def _integrity_problems(db_url: str) -> list[str]:
    """The database's own checks plus the invariants the schema cannot state."""
    problems: list[str] = []
    if db_url.startswith("sqlite"):
        with sqlite3.connect(db_url[len("sqlite:///") :]) as conn:
            result = [r[0] for r in conn.execute("PRAGMA integrity_check")]
            if result != ["ok"]:
                problems.append(f"integrity_check: {result}")
            problems += [f"foreign_key_check: {r}" for r in conn.execute("PRAGMA foreign_key_check")]
    db = Database(db_url)
    try:
        with db.read() as conn:
            if conn.dialect.name == "postgresql":
                problems += _amcheck(conn)
            for table in metadata.sorted_tables:
                for fk in table.foreign_key_constraints:
                    parent = fk.referred_table
                    pairs = [(e.parent, parent.c[e.column.name]) for e in fk.elements]
                    orphans = conn.execute(
                        select(func.count()).select_from(table).where(
                            *[child.isnot(None) for child, _ in pairs],
                            ~exists().where(and_(*[child == referred for child, referred in pairs])),
                        )
                    ).scalar_one()  # fmt: skip
                    if orphans:
                        problems.append(f"{orphans} rows of {table.name} point to no {parent.name}")
            not_queued = conn.execute(
                select(func.count()).select_from(queue_entries.join(tasks, tasks.c.id == queue_entries.c.task))
                .where(tasks.c.status != "queued")
            ).scalar_one()  # fmt: skip
            if not_queued:
                problems.append(f"{not_queued} queue entries of tasks that are not queued")
            points = {
                (t, m, v): n
                for t, m, v, n in conn.execute(
                    select(scalar_events.c.task, scalar_events.c.metric, scalar_events.c.variant, func.count())
                    .group_by(scalar_events.c.task, scalar_events.c.metric, scalar_events.c.variant)
                )
            }  # fmt: skip
            summaries = {
                (t, m, v): n
                for t, m, v, n in conn.execute(
                    select(task_metrics.c.task, task_metrics.c.metric, task_metrics.c.variant, task_metrics.c["count"])
                )
            }  # fmt: skip
            if points != summaries:
                problems.append(f"scalar points {points} disagree with the series summaries {summaries}")
    finally:
        db.dispose()
    return problems


def _amcheck(conn) -> list[str]:  # type: ignore[no-untyped-def]
    """B-tree and heap verification (contrib amcheck); errors and corrupt pages become problems."""
    try:
        conn.execute(text("CREATE EXTENSION IF NOT EXISTS amcheck"))
    except Exception as exc:  # noqa: BLE001 - no superuser or no contrib: the queries above still run
        return [] if "permission" in str(exc).lower() or "not available" in str(exc).lower() else [str(exc)]
    problems = []
    indexes = conn.execute(
        text(
            "SELECT c.oid, c.relname FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid "
            "JOIN pg_am a ON a.oid = c.relam JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE a.amname = 'btree' AND n.nspname = 'public'"
        )
    ).all()
    for oid, name in indexes:
        try:
            conn.execute(text("SELECT bt_index_check(:oid, true)"), {"oid": oid})
        except Exception as exc:  # noqa: BLE001 - amcheck reports corruption as an error
            problems.append(f"index {name}: {exc}")
    for (table,) in conn.execute(text("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")):
        corrupt = conn.execute(text("SELECT count(*) FROM verify_heapam(:t)"), {"t": f'public."{table}"'}).scalar_one()
        if corrupt:
            problems.append(f"table {table}: {corrupt} corrupt tuples")
    assert indexes, "amcheck found no index to check"
    return problems


def _all_log_messages(api: Api, task: str) -> set[str]:
    messages: set[str] = set()
    after: int | None = 0
    while True:
        body = {"task": task, "batch_size": 1000, "navigate_earlier": False, "from_timestamp": after}
        events = api("events.get_task_log", body)["events"]
        if not events:
            return messages
        messages |= {e["msg"] for e in events}
        after = max(e["timestamp"] for e in events)


def test_acknowledged_writes_survive_sigkill(tmp_path: Path) -> None:
    db_url = new_database_url(tmp_path)
    _upgrade_if_postgresql(db_url)
    ledger = Ledger()
    with live_server(tmp_path / "first", db_url, "--workers", "2", env=ENV, new_session=True) as server:
        setup = Api(httpx.Client(base_url=server.url, timeout=60), key=KEY, secret=SECRET)
        queue = setup("queues.create", {"name": "crash queue"})["id"]
        event_tasks = [setup("tasks.create", {"name": f"events {w}", "type": "training"})["id"] for w in range(2)]
        ledger.batches = {t: [] for t in event_tasks}
        for i in range(BACKLOG):  # so that pops find a queue to work through, before and after the kill
            _enqueuer(queue)(setup, ledger, -1 - i)
        steps = [_creator(0), _creator(1), *(_event_writer(t, w) for w, t in enumerate(event_tasks)),
                 _enqueuer(queue), _popper(queue), _popper(queue)]  # fmt: skip
        threads = [
            threading.Thread(
                target=_run_until_killed,
                args=(Api(httpx.Client(base_url=server.url, timeout=60), key=KEY, secret=SECRET), ledger, step),
            )
            for step in steps
        ]
        for thread in threads:
            thread.start()
        deadline = time.monotonic() + 120  # a bound on a stuck server, not a timing assertion
        while any(ledger.counts()[kind] < n for kind, n in ENOUGH.items()) and not ledger.failures:
            assert time.monotonic() < deadline, f"load did not get going: {ledger.counts()}"
            assert all(t.is_alive() for t in threads), ledger.failures
            time.sleep(0.05)
        os.killpg(server.process.pid, signal.SIGKILL)  # the parent and its --workers children
        server.process.wait()
        while _group_alive(server.process.pid):  # the workers, reparented, are reaped by init
            assert time.monotonic() < deadline, "a server worker survived SIGKILL"
            time.sleep(0.05)
        for thread in threads:
            thread.join(60)
            assert not thread.is_alive()
    assert ledger.failures == []
    problems = _integrity_problems(db_url)  # as the kill left it, before any restart recovers it
    assert problems == []

    with live_server(tmp_path / "second", db_url, env=ENV) as server:
        api = Api(httpx.Client(base_url=server.url, timeout=60), key=KEY, secret=SECRET)
        found = {
            t["id"]: t
            for t in api("tasks.get_all", {"id": sorted(ledger.created), "only_fields": ["id", "comment", "hyperparams"], "page_size": 10_000})["tasks"]
        }  # fmt: skip
        assert ledger.created <= set(found)
        assert {t: found[t].get("comment") for t in ledger.comments} == ledger.comments
        assert {t: found[t]["hyperparams"]["Args"]["lr"]["value"] for t in ledger.lr} == ledger.lr

        for writer, (task, batches) in enumerate(ledger.batches.items()):
            body = {"task": task, "samples": 0, "metrics": [{"metric": "loss", "variants": ["train"]}]}
            histogram = api("events.scalar_metrics_iter_histogram", body)
            assert "loss" in histogram, f"event writer {writer}: {len(batches)} answered batches, no scalar stored"
            series = histogram["loss"]["train"]
            stored = dict(zip(series["x"], series["y"], strict=True))
            wanted = {i: i / 2 for b in batches for i in range(b * SCALARS_PER_BATCH, (b + 1) * SCALARS_PER_BATCH)}
            assert {i: stored.get(i) for i in wanted} == wanted
            messages = _all_log_messages(api, task)
            assert {f"batch {b} line {j}" for b in batches for j in range(LOGS_PER_BATCH)} <= messages
            last = api("tasks.get_by_id", {"task": task})["task"]["last_iteration"]
            assert last >= max(wanted)

        popped_before = ledger.popped
        assert len(popped_before) == len(set(popped_before)), "a task was handed out twice"
        popped_after = []
        while entry := api("queues.get_next_task", {"queue": queue}).get("entry"):
            popped_after.append(entry["task"])
        assert not set(popped_after) & set(popped_before), "a task popped before the kill came back"
        unaccounted = ledger.enqueued - set(popped_before) - set(popped_after)
        assert len(unaccounted) <= ledger.unanswered_pops, "an answered enqueue was lost from the queue"
    print(
        f"crash test ({db_url.split(':')[0]}): verified {len(ledger.created)} creates, {len(ledger.comments)} edits, "
        f"{len(ledger.lr)} hyperparameter edits, {sum(len(b) for b in ledger.batches.values())} event batches "
        f"({SCALARS_PER_BATCH} scalars + {LOGS_PER_BATCH} logs each), {len(ledger.enqueued)} enqueues, "
        f"{len(popped_before)} pops before the kill and {len(popped_after)} after"
    )
