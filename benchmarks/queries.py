"""Task query benchmark: tasks.get_all latency at 10k, 100k and 1M tasks.

For each size, populates a throwaway database (SQLite by default; ``--dialect postgresql`` starts
a throwaway cluster with initdb/pg_ctl, or use ``--pg-url``) in-process through skiff's own
domain and storage functions (``new_task``, the event fold, the tasks repository's bulk
``insert_tasks``, 5k tasks per transaction), so the rows and side tables are exactly what the API
writes (``--check`` verifies that on 1k tasks populated both ways): realistic documents with ~40
hyperparameters, 10 metric series folded into last_metrics, tags, system tags and 50 projects.
Then it runs the server's background upkeep (the ``text_index`` job's merge, ANALYZE).
Then it times, through the ASGI app in-process, p50/p99 of:

  * project + status, ordered by -last_update (page of 50)
  * project, ordered by a hyperparameter (page of 50)
  * tag filter with an exclusion (page of 50)
  * ``_any_`` pattern over hyperparameters (page of 50)
  * ``search_text`` (page of 50)
  * a scroll through 10k rows (``scroll_id: null`` + ``size``, repeated)

Queries the server refuses are reported as ``n/a (unsupported: <error>)``. It prints a table per
size, the ratio of the largest to the smallest size per query, and one EXPLAIN line per query
(whether the plan scans the whole tasks table).

    python benchmarks/queries.py [--sizes 10000,100000,1000000] [--dialect sqlite|postgresql]
                                 [--pg-url URL] [--repeat 20] [--keep DIR] [--check]
"""

from __future__ import annotations

import argparse
import itertools
import os
import random
import re
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import orjson
from sqlalchemy import event, func, select, text

# the repository root instead of this directory (whose http.py would shadow the standard library)
HERE = Path(__file__).resolve().parent
sys.path[:] = [str(HERE.parent)] + [p for p in sys.path if Path(p or ".").resolve() != HERE]

from skiff.app import create_app  # noqa: E402
from skiff.domain import clock, ids  # noqa: E402
from skiff.domain import events as ev  # noqa: E402
from skiff.domain.identity import Identity  # noqa: E402
from skiff.domain.task_document import new_task  # noqa: E402
from skiff.domain.versions import Version  # noqa: E402
from skiff.ops import accounts  # noqa: E402
from skiff.ops.install import open_database, prepare, upgrade_database  # noqa: E402
from skiff.ops.projects import create_project  # noqa: E402
from skiff.ops.text_index import compact_text_index  # noqa: E402
from skiff.settings import Settings  # noqa: E402
from skiff.storage.repos import events as events_repo  # noqa: E402
from skiff.storage.repos import tasks as tasks_repo  # noqa: E402
from skiff.storage.tables import companies, task_hyperparams, task_metrics, task_search, task_tags, tasks  # noqa: E402
from skiff.storage.tables import projects as project_rows  # noqa: E402
from tests.support import Api, free_port  # noqa: E402

PG_BIN = Path("/usr/lib/postgresql/15/bin")
PROJECTS = 50
BENCH_COMPANY = "bench"
PAGE = 50
SCROLL_ROWS = 10_000
SCROLL_SIZE = 500
#: tasks per transaction when populating
BATCH = 5_000
SQLITE_CACHE_KIB = 1 << 20
#: creation time between consecutive tasks
STEP = timedelta(milliseconds=7)
VERSION = Version.parse("2.31")
STATUSES = ("completed",) * 5 + ("failed", "stopped", "published", "created", "in_progress")
OPTIMIZERS = ("adam", "sgd", "adamw", "rmsprop", "lamb")
ARCHS = ("resnet", "vit", "unet", "bert", "gpt", "efficientnet", "mobilenet")
#: the scalars' timestamps (milliseconds): 2023-11-14 plus the task's number
POINTS_EPOCH_MS = 1_700_000_000_000
METRICS = [(m, v) for m in ("loss", "accuracy", "precision", "recall", "f1") for v in ("train", "val")]


# populating ----------------------------------------------------------------------------------------
def _hyperparams(rng: random.Random, n: int) -> dict[str, dict[str, dict[str, Any]]]:
    """~40 parameters in 4 sections, numeric and non-numeric string values, as the SDK sends them."""
    params: dict[str, dict[str, dict[str, Any]]] = {"Args": {}, "General": {}, "Data": {}, "Model": {}}

    def put(section: str, name: str, value: str) -> None:
        params[section][name] = {"section": section, "name": name, "value": value, "type": "str"}

    put("Args", "lr", str(rng.choice((0.1, 0.01, 0.001, 0.0003, 3e-4, 1))))
    put("Args", "batch_size", str(rng.choice((16, 32, 64, 128, 256))))
    put("Args", "epochs", str(rng.randint(1, 300)))
    put("Args", "optimizer", rng.choice(OPTIMIZERS))
    put("Model", "arch", f"{rng.choice(ARCHS)}{rng.randint(10, 200)}")
    put("Data", "dataset", f"ds-{n % 97}")
    for i in range(34):
        section = ("General", "Data", "Model", "Args")[i % 4]
        value = str(rng.randint(0, 1000)) if i % 3 else rng.choice(("true", "false", "none", f"v{i}"))
        put(section, f"param_{i}", value)
    return params


def _metric_points(rng: random.Random, timestamp: int) -> list[dict[str, Any]]:
    """10 scalar series of 3 points each, as events.add_batch receives them (without the task)."""
    return [
        {"type": "training_stats_scalar", "metric": m, "variant": v, "iter": it, "value": rng.random(),
         "timestamp": timestamp}
        for m, v in METRICS
        for it in range(0, 30, 10)
    ]  # fmt: skip


@dataclass
class Spec:
    """One generated task: what a client would create, the status it ends in and its scalars."""

    n: int
    fields: dict[str, Any]
    status: str
    points: list[dict[str, Any]]


def task_specs(projects: list[str], start: int, count: int, seed: int) -> Iterator[Spec]:
    """Tasks ``start`` … ``start+count-1``, the same for the same arguments."""
    rng = random.Random(seed + start)
    for n in range(start, start + count):
        tags = [f"tag{rng.randint(0, 19)}" for _ in range(rng.randint(0, 3))]
        fields = {
            "name": f"{rng.choice(ARCHS)} experiment {n}",
            "type": "training",
            "comment": f"run {n} of a {rng.choice(ARCHS)} sweep",
            "project": projects[n % len(projects)],
            "tags": tags,
            "system_tags": ["archived"] if rng.random() < 0.1 else [],
            "hyperparams": _hyperparams(rng, n),
            "script": {"repository": "https://example.com/team/models.git", "entry_point": "train.py"},
        }
        yield Spec(n, fields, STATUSES[n % len(STATUSES)], _metric_points(rng, POINTS_EPOCH_MS + n))


def populate(db: Any, caller: Any, specs: Iterable[Spec]) -> None:
    """Insert the tasks ``BATCH`` per transaction with the repository's bulk insert (task rows,
    tag, hyperparameter and text side tables) and their metric summaries folded as
    events.add_batch does."""
    base = clock.now()
    specs = iter(specs)
    while batch := list(itertools.islice(specs, BATCH)):
        docs, folded = [], []
        for spec in batch:
            when = base + spec.n * STEP
            doc = new_task(spec.fields, id=ids.new_id(), user=caller.user, company=caller.company, now=when, version=VERSION)
            doc["status"] = spec.status
            if spec.status != "created":
                doc["started"] = doc["status_changed"] = when
            update = ev.fold([ev.parse_event({**p, "task": doc["id"]}, 0, None) for p in spec.points], {})
            doc["last_metrics"] = ev.last_metrics_document(update.summaries)
            doc["last_iteration"] = update.last_iteration
            docs.append(doc)
            folded.append(update.summaries)
        if batch[0].n and batch[0].n % 100_000 == 0:
            print(f"  … {batch[0].n:,} tasks", file=sys.stderr, flush=True)
        with db.write() as conn:
            if db.dialect == "sqlite":  # the connection's page cache: index pages of 1M tasks
                conn.exec_driver_sql(f"PRAGMA cache_size = -{SQLITE_CACHE_KIB}")
            tasks_repo.insert_tasks(conn, docs)
            events_repo.insert_summaries(conn, caller.company, [(doc["id"], s) for doc, s in zip(docs, folded)])


# databases ---------------------------------------------------------------------------------------
@contextmanager
def throwaway_cluster() -> Iterator[str]:
    """A PostgreSQL cluster in a temporary directory, run as the postgres user."""
    root = Path(tempfile.mkdtemp(prefix="skiff-bench-pg-"))
    os.chmod(root, 0o777)
    data = root / "data"
    port = free_port()
    as_pg = ["runuser", "-u", "postgres", "--"]
    subprocess.run([*as_pg, str(PG_BIN / "initdb"), "-D", str(data), "-A", "trust", "-U", "postgres"],
                   check=True, stdout=subprocess.DEVNULL)  # fmt: skip
    options = f"-p {port} -k {root} -c fsync=off -c shared_buffers=256MB -c max_connections=50"
    subprocess.run([*as_pg, str(PG_BIN / "pg_ctl"), "-D", str(data), "-o", options, "-l", str(root / "log"), "-w", "start"],
                   check=True, stdout=subprocess.DEVNULL)  # fmt: skip
    try:
        yield f"postgresql://postgres@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run([*as_pg, str(PG_BIN / "pg_ctl"), "-D", str(data), "-m", "fast", "stop"], stdout=subprocess.DEVNULL)
        subprocess.run(["rm", "-rf", str(root)])


def new_database(dialect: str, pg_url: str | None, directory: Path, size: int, keep: bool) -> str:
    """A new database, or with ``keep`` the one named after ``size`` (created if missing)."""
    suffix = str(size) if keep else uuid.uuid4().hex[:8]
    if dialect == "sqlite":
        return f"sqlite:///{directory / f'skiff-bench-{suffix}.db'}"
    import psycopg

    name = f"skiff_bench_{suffix}"
    with psycopg.connect(pg_url, autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone():
            conn.execute(f'CREATE DATABASE "{name}"')
    return f"{pg_url.rpartition('/')[0]}/{name}"


@dataclass
class Caller:
    identity: Identity
    access_key: str
    secret_key: str

    @property
    def user(self) -> str:
        return self.identity.user

    @property
    def company(self) -> str:
        return self.identity.company


def bench_company(db: Any) -> tuple[Caller, list[str], int]:
    """The benchmark's company, projects and task count: new, or found in a kept database."""
    with db.read() as conn:
        found = conn.execute(select(companies.c.id).where(companies.c.name == BENCH_COMPANY)).scalar()
    company = found or accounts.create_company(db, BENCH_COMPANY)
    admin = accounts.add_user(db, company, f"bench-{uuid.uuid4().hex[:6]}", role="admin")
    identity = Identity(company, BENCH_COMPANY, admin.user, admin.user_name, "admin", admin.access_key)
    caller = Caller(identity, admin.access_key, admin.secret_key)
    if not found:
        projects = [create_project(db, identity, name=f"project {i:02d}") for i in range(PROJECTS)]
        return caller, projects, 0
    with db.read() as conn:
        projects = list(conn.execute(select(project_rows.c.id).where(project_rows.c.company == company)
                                     .order_by(project_rows.c.name)).scalars())  # fmt: skip
        have = conn.execute(select(func.count()).select_from(tasks).where(tasks.c.company == company)).scalar_one()
    return caller, projects, have


# timing ------------------------------------------------------------------------------------------
@dataclass
class Result:
    label: str
    p50: float | None = None  # milliseconds
    p99: float | None = None
    unsupported: str | None = None
    plan: str = ""

    def cell(self) -> str:
        if self.unsupported:
            return f"n/a (unsupported: {self.unsupported})"
        return f"p50 {self.p50:8.1f} ms   p99 {self.p99:8.1f} ms"


class StatementLog:
    """The SELECTs on tasks that the server runs, to EXPLAIN them afterwards."""

    def __init__(self, engine: Any) -> None:
        self.engine = engine
        self.statements: list[tuple[str, Any]] = []
        self.on = False
        event.listen(engine, "before_cursor_execute", self._record)

    def _record(self, conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, executemany: bool) -> None:
        if self.on and statement.lstrip().upper().startswith("SELECT") and re.search(r"\btasks\b", statement):
            self.statements.append((statement, parameters))


def explain(db: Any, statement: str, parameters: Any) -> str:
    with db.engine.connect() as conn:
        raw = conn.connection.driver_connection
        cursor = raw.cursor()
        if db.dialect == "sqlite":
            cursor.execute("EXPLAIN QUERY PLAN " + statement, parameters)
            steps = [row[3] for row in cursor.fetchall()]
            scans = [s for s in steps if s.startswith("SCAN tasks")]
            verdict = _verdict(scans, ordered=all("USING" in s for s in scans))
        else:
            cursor.execute("EXPLAIN " + statement, parameters)
            lines = [row[0].strip().removeprefix("->").strip() for row in cursor.fetchall()]
            nodes = [(line.split("  (")[0], lines[i + 1] if i + 1 < len(lines) else "") for i, line in enumerate(lines)]
            steps = [node for node, _ in nodes if "Scan" in node or "Join" in node or "Limit" in node or "Sort" in node]
            seq = [node for node, _ in nodes if "Seq Scan on tasks" in node]
            walks = [node for node, after in nodes if "Index" in node and node.endswith(" on tasks") and "Cond" not in after]
            verdict = _verdict(seq + walks, ordered=not seq)
        cursor.close()
    return f"{verdict}: " + "; ".join(dict.fromkeys(steps))


def explain_all(db: Any, statements: list[tuple[str, Any]]) -> str:
    """The plans of every statement one request ran (the selection, then the documents by id),
    the worst verdict first."""
    if not statements:
        return "(no statement captured)"
    plans = list(dict.fromkeys(explain(db, statement, parameters) for statement, parameters in statements))
    rank = ("FULL SCAN", "index-ordered", "no scan")
    return " | ".join(sorted(plans, key=lambda plan: next(i for i, verdict in enumerate(rank) if plan.startswith(verdict))))


def _verdict(scans: list[str], *, ordered: bool) -> str:
    if not scans:
        return "no scan of tasks"
    # an index-ordered walk reads rows in ORDER BY order and stops once the page is full, but
    # a selective filter can make it read most of the table
    return "index-ordered walk of tasks (stops at LIMIT)" if ordered else "FULL SCAN of tasks"


def time_query(api: Api, body: dict[str, Any], repeat: int, log: StatementLog, db: Any) -> Result:
    reply = api.call("tasks.get_all", body)
    if reply.status != 200:
        return Result("", unsupported=f"{reply.code[0]}/{reply.code[1]} {reply.msg}")
    timings = []
    for _ in range(repeat):
        started = time.perf_counter()
        api("tasks.get_all", body)
        timings.append((time.perf_counter() - started) * 1000)
    log.statements.clear()
    log.on = True
    api("tasks.get_all", body)
    log.on = False
    return Result("", statistics.median(timings), percentile(timings, 99), plan=explain_all(db, log.statements))


def time_scroll(api: Api, body: dict[str, Any], repeat: int) -> Result:
    first = api.call("tasks.get_all", {**body, "scroll_id": None, "size": SCROLL_SIZE})
    if first.status != 200 or "scroll_id" not in first.data:
        why = f"{first.code[0]}/{first.code[1]} {first.msg}" if first.status != 200 else "no scroll_id in the answer"
        return Result("", unsupported=why)
    timings = []
    for _ in range(max(1, repeat // 5)):
        started = time.perf_counter()
        scroll_id, seen = None, 0
        while seen < SCROLL_ROWS:
            data = api("tasks.get_all", {**body, "scroll_id": scroll_id, "size": SCROLL_SIZE})
            if not data["tasks"]:
                break
            scroll_id, seen = data["scroll_id"], seen + len(data["tasks"])
        timings.append((time.perf_counter() - started) * 1000)
    return Result("", statistics.median(timings), percentile(timings, 99), plan=f"{seen} rows in pages of {SCROLL_SIZE}")


def percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(pct / 100 * (len(ordered) - 1)))]


UI_FIELDS = ["id", "name", "status", "type", "tags", "system_tags", "project", "user", "started", "last_update",
             "last_iteration", "comment"]  # fmt: skip


#: status and project both follow the task's number (modulo 10 and 50), so each project holds
#: tasks of one status: the project's own keeps every task of the project, the worst case for
#: sorting (project 7: n % 10 == 7)
PROJECT_STATUS = STATUSES[7]


def queries(projects: list[str]) -> list[tuple[str, dict[str, Any]]]:
    project = projects[7]
    page = {"page": 0, "page_size": PAGE, "only_fields": UI_FIELDS}
    return [
        ("project + status, -last_update",
         {"project": [project], "status": [PROJECT_STATUS], "order_by": ["-last_update"], **page}),
        ("project, by hyperparameter",
         {"project": [project], "system_tags": ["-archived"], "order_by": ["hyperparams.Args.lr.value"], **page}),
        ("tag with exclusion", {"tags": ["tag3", "-tag7"], "system_tags": ["-archived"], "order_by": ["-last_update"], **page}),
        ("_any_ pattern over hyperparams",
         {"_any_": {"pattern": "^adamw$", "fields": ["hyperparams.Args.optimizer.value", "hyperparams.Model.arch.value"]},
          "project": [project], "order_by": ["-last_update"], **page}),
        ("search_text", {"search_text": "vit", "project": [project], "order_by": ["-last_update"], **page}),
    ]  # fmt: skip


# checking the bulk path against the API -----------------------------------------------------------
CHECK_SIZE = 1_000
#: the calls that bring a new task to each benchmark status
STATUS_CALLS = {
    "created": (),
    "in_progress": ("tasks.started",),
    "completed": ("tasks.started", "tasks.completed"),
    "failed": ("tasks.started", "tasks.failed"),
    "stopped": ("tasks.started", "tasks.stopped"),
    "published": ("tasks.started", "tasks.completed", "tasks.publish"),
}
#: what the two paths must store alike (timestamps and ids differ)
CHECKED_FIELDS = ("name", "type", "comment", "tags", "system_tags", "hyperparams", "script", "status",
                  "last_metrics", "last_iteration")  # fmt: skip


def populate_via_api(api: Api, specs: Iterable[Spec]) -> None:
    """The same tasks through the endpoints a client calls: create, report the scalars, change
    the status."""
    for spec in specs:
        task = api("tasks.create", spec.fields)["id"]
        body = b"\n".join(orjson.dumps({**p, "task": task}) for p in spec.points)
        api("events.add_batch", content=body, headers={"Content-Type": "application/json-lines"})
        for call in STATUS_CALLS[spec.status]:
            api(call, {"task": task})


def query_answers(api: Api, projects: list[str]) -> dict[str, list[str]]:
    """Task names per benchmark query (the hyperparameter order as its values plus the sorted
    names, since ties fall back to the ids, which differ); the scroll's names, all pages."""
    answers = {}
    for label, body in queries(projects):
        found = api("tasks.get_all", {**body, "only_fields": ["name", "hyperparams"]})["tasks"]
        names = [t["name"] for t in found]
        if "hyperparameter" in label:
            names = [t["hyperparams"]["Args"]["lr"]["value"] for t in found] + sorted(names)
        answers[label] = names
    body, scroll_id, names = {"system_tags": ["-archived"], "order_by": ["-last_update"], "only_fields": ["name"]}, None, []
    while page := api("tasks.get_all", {**body, "scroll_id": scroll_id, "size": SCROLL_SIZE}):
        if not page["tasks"]:
            break
        scroll_id, names = page["scroll_id"], names + [t["name"] for t in page["tasks"]]
    answers["scroll"] = names
    return answers


def stored_rows(db: Any, api: Api, projects: list[str], names: list[str]) -> dict[str, Any]:
    """Per task name: its document's checked fields and its rows in the side tables, without
    the task id, the company, the project id (as its position) and the text row's docid."""
    found = api("tasks.get_all", {"name": "^(" + "|".join(names) + ")$", "only_fields": ["id", "project", *CHECKED_FIELDS]})
    side = {
        task_tags: ("kind", "tag"),
        task_hyperparams: ("section", "name", "value", "sort_key"),
        task_search: tuple(c.name for c in task_search.c if c.name not in ("docid", "task")),
        task_metrics: tuple(c.name for c in task_metrics.c if c.name not in ("task", "company")),
    }
    result = {}
    with db.read() as conn:
        for task in found["tasks"]:
            rows = {
                table.name: sorted(tuple(r) for r in conn.execute(select(*[table.c[c] for c in columns])
                                                                  .where(table.c.task == task["id"])))
                for table, columns in side.items()
            }  # fmt: skip
            fields = {k: task.get(k) for k in CHECKED_FIELDS}
            result[task["name"]] = {"project": projects.index(task["project"]), **fields, **rows}
    return result


def check_bulk_against_api(dialect: str, pg_url: str | None, directory: Path) -> None:
    """Populate ``CHECK_SIZE`` tasks once in bulk and once through the API, then require the
    same answers to the benchmark queries and the same stored rows for a sample of tasks."""
    answers, stored = [], []
    for bulk in (True, False):
        settings, db = open_bench_database(new_database(dialect, pg_url, directory, CHECK_SIZE, False), directory)
        caller, projects, _ = bench_company(db)
        specs = list(task_specs(projects, 0, CHECK_SIZE, seed=CHECK_SIZE))
        started = time.perf_counter()
        with api_client(settings, db, caller) as api:
            if bulk:
                populate(db, caller, specs)
            else:
                populate_via_api(api, specs)
            elapsed = time.perf_counter() - started
            analyze(db)
            answers.append(query_answers(api, projects))
            stored.append(stored_rows(db, api, projects, [s.fields["name"] for s in specs[:: CHECK_SIZE // 7]]))
        db.dispose()
        print(f"{CHECK_SIZE:,} tasks {'in bulk' if bulk else 'through the API'} on {dialect}: {elapsed:.1f} s")
    for label in answers[0]:
        assert answers[0][label] == answers[1][label], f"{label}: {answers[0][label]} != {answers[1][label]}"
        print(f"  {label}: same {len(answers[0][label])} answers")
    for name, rows in stored[0].items():
        for key, value in rows.items():
            assert value == stored[1][name][key], f"{name} {key}: in bulk {value}, through the API {stored[1][name][key]}"
    sizes = {name: {t: len(rows[t]) for t in ("task_tags", "task_hyperparams", "task_metrics")} for name, rows in stored[0].items()}
    print(f"  same documents and side-table rows for {len(stored[0])} tasks: {sizes}")


# main --------------------------------------------------------------------------------------------
def open_bench_database(url: str, data_dir: Path) -> tuple[Settings, Any]:
    """Settings and the migrated database at ``url``."""
    settings = Settings(data_dir=data_dir, db_url=url, jobs=False)
    if url.startswith("postgresql"):
        database = open_database(settings)
        upgrade_database(database, settings)
        database.dispose()
    return settings, prepare(settings).db


@contextmanager
def api_client(settings: Settings, db: Any, caller: Caller) -> Iterator[Api]:
    """The ASGI app in-process, called as ``caller``."""
    from starlette.testclient import TestClient

    with TestClient(create_app(settings, db), base_url="http://bench") as client:
        yield Api(client, key=caller.access_key, secret=caller.secret_key)


def analyze(db: Any) -> None:
    with db.engine.connect() as conn:
        if db.dialect == "postgresql":
            conn.execution_options(isolation_level="AUTOCOMMIT").execute(text("ANALYZE"))
        else:
            conn.execute(text("ANALYZE"))
            conn.commit()


def run_size(size: int, url: str, data_dir: Path, repeat: int) -> list[Result]:
    settings, db = open_bench_database(url, data_dir)
    caller, projects, have = bench_company(db)
    started = time.perf_counter()
    if have != size:
        populate(db, caller, task_specs(projects, have, size - have, seed=size))
    analyze(db)
    # what the server's text_index job does in the background (SQLite: FTS5 segments into one)
    merged = compact_text_index(db)
    print(f"\n{size:,} tasks on {db.dialect}: populated {size - have:,} in {time.perf_counter() - started:.0f} s"
          + (f", text index merged in {merged} steps" if merged else ""))
    log = StatementLog(db.engine)
    results = []
    with api_client(settings, db, caller) as api:
        for label, body in queries(projects):
            result = time_query(api, body, repeat, log, db)
            result.label = label
            results.append(result)
        scroll = time_scroll(api, {"system_tags": ["-archived"], "order_by": ["-last_update"], "only_fields": UI_FIELDS}, repeat)
        scroll.label = f"scroll {SCROLL_ROWS:,} rows"
        results.append(scroll)
    db.dispose()
    width = max(len(r.label) for r in results)
    for r in results:
        print(f"  {r.label:<{width}}  {r.cell()}")
    print("  plans:")
    for r in results:
        if r.plan:
            print(f"    {r.label:<{width}}  {r.plan}")
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="10000,100000,1000000", help="comma-separated task counts")
    parser.add_argument("--dialect", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--pg-url", default=None, help="a PostgreSQL server URL (default: a throwaway cluster)")
    parser.add_argument("--repeat", type=int, default=20, help="timed calls per query")
    parser.add_argument("--keep", type=Path, default=None,
                        help="keep the SQLite files in this directory (PostgreSQL: databases skiff_bench_<size>) "
                             "and reuse them on later runs instead of populating again")  # fmt: skip
    parser.add_argument("--check", action="store_true",
                        help=f"only check that {CHECK_SIZE:,} tasks populated in bulk and through the API store and "
                             "answer alike")  # fmt: skip
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",") if s]

    with tempfile.TemporaryDirectory() as tmp, _server(args) as pg_url:
        if args.check:
            check_bulk_against_api(args.dialect, pg_url, Path(tmp))
            return
        directory = args.keep or Path(tmp)
        directory.mkdir(parents=True, exist_ok=True)
        by_size = {}
        for size in sizes:
            url = new_database(args.dialect, pg_url, directory, size, args.keep is not None)
            by_size[size] = run_size(size, url, directory, args.repeat)
    if len(sizes) > 1:
        small, large = min(sizes), max(sizes)
        print(f"\nratio p50 {large:,} / {small:,} tasks:")
        for a, b in zip(by_size[small], by_size[large]):
            ratio = f"{b.p50 / a.p50:5.2f}x" if a.p50 and b.p50 else "n/a"
            print(f"  {a.label:<34} {ratio}")


@contextmanager
def _server(args: argparse.Namespace) -> Iterator[str | None]:
    if args.dialect == "sqlite":
        yield None
    elif args.pg_url:
        yield args.pg_url
    else:
        with throwaway_cluster() as url:
            yield url


if __name__ == "__main__":
    main()
