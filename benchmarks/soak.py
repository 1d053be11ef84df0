"""Soak benchmark (issue 8, not run in CI): a mixed workload over many connections for minutes.

Starts ``skiff serve`` on a throwaway database (SQLite by default; ``--pg-url postgresql://…`` for
a new database on that PostgreSQL server; ``--postgresql`` for a throwaway cluster started here
with initdb/pg_ctl, via ``runuser -u postgres`` when run as root), then drives it from
``--connections`` threads, each with its own keep-alive connection, with a mix of task creation
and edits, hyperparameters, queries, events batches (scalars and logs) and their reads, and
enqueue/pop. Per minute it prints requests, errors, p50/p99 latency and the server's RSS (all
its processes); at the end a summary line against the targets: 0 errors, RSS growth after the
warm-up minute at most 10%, and the exceptions in the server's log, if any.

    python benchmarks/soak.py [--minutes 10] [--connections 32] [--pg-url URL | --postgresql] [--workers N]
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from pathlib import Path

# the repository root instead of this directory, whose modules (http.py) would shadow the stdlib
sys.path[0] = str(Path(__file__).resolve().parents[1])

import httpx  # noqa: E402
import orjson  # noqa: E402

from tests.support import basic, free_port, live_server  # noqa: E402

PG_BIN = Path("/usr/lib/postgresql/15/bin")
KEY, SECRET = "SOAKKEY0123456789", "soak-secret-0123456789"


# --- the server and its database ----------------------------------------------------------------
@contextmanager
def throwaway_cluster(directory: Path) -> Iterator[str]:
    """A PostgreSQL cluster in ``directory`` on a free port, stopped at the end."""
    data, port = directory / "pgdata", free_port()
    as_postgres = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
    directory.mkdir(parents=True, exist_ok=True)
    if as_postgres:
        shutil.chown(directory, "postgres")
    quiet = {"check": True, "stdout": subprocess.DEVNULL}
    subprocess.run([*as_postgres, str(PG_BIN / "initdb"), "-D", str(data), "-A", "trust", "-U", "postgres"], **quiet)
    options = f"-p {port} -k {directory} -c listen_addresses=127.0.0.1 -c max_connections=200 -c fsync=on"
    pg_ctl = [*as_postgres, str(PG_BIN / "pg_ctl"), "-D", str(data), "-l", str(directory / "pg.log")]
    subprocess.run([*pg_ctl, "-o", options, "-w", "start"], **quiet)
    try:
        yield f"postgresql://postgres@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run([*pg_ctl, "-m", "fast", "-w", "stop"], **quiet)


def new_database(server_url: str) -> str:
    import psycopg

    name = f"skiff_soak_{int(time.time())}"
    with psycopg.connect(server_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = f"{server_url.rpartition('/')[0]}/{name}"
    subprocess.run([sys.executable, "-m", "skiff", "db", "upgrade", "--db", url], check=True, stdout=subprocess.DEVNULL)
    return url


def rss_bytes(pid: int) -> int:
    """Resident memory of a process and its descendants (``--workers`` children), from /proc."""
    total, pending = 0, [pid]
    while pending:
        current = pending.pop()
        try:
            with open(f"/proc/{current}/status") as status:
                total += next(int(line.split()[1]) * 1024 for line in status if line.startswith("VmRSS:"))
            for task in os.listdir(f"/proc/{current}/task"):
                with open(f"/proc/{current}/task/{task}/children") as children:
                    pending += [int(child) for child in children.read().split()]
        except (FileNotFoundError, ProcessLookupError, StopIteration):
            continue
    return total


# --- the workload -------------------------------------------------------------------------------
class Stats:
    """Latencies and errors per minute since the start."""

    def __init__(self) -> None:
        self.started = time.monotonic()
        self.lock = threading.Lock()
        self.latencies: dict[int, list[float]] = {}
        self.errors: dict[int, int] = {}
        self.error_samples: list[str] = []

    def minute(self) -> int:
        return int((time.monotonic() - self.started) // 60)

    def record(self, seconds: float, error: str | None) -> None:
        minute = self.minute()
        with self.lock:
            self.latencies.setdefault(minute, []).append(seconds)
            if error is not None:
                self.errors[minute] = self.errors.get(minute, 0) + 1
                if len(self.error_samples) < 10:
                    self.error_samples.append(error)


def _message(reply: httpx.Response) -> str:
    """The envelope's result code and message (a 500 names only the exception type: the server's
    log, whose exceptions are printed at the end, has the rest), else the start of the text."""
    try:
        meta = reply.json()["meta"]
        return f"{meta['result_code']}/{meta['result_subcode']} {meta['result_msg']}"
    except (ValueError, KeyError, TypeError):
        return reply.text[:300]


class Connection:
    """One client connection running a weighted random mix of calls."""

    def __init__(self, url: str, token: str, queue: str, number: int, stats: Stats) -> None:
        self.client = httpx.Client(base_url=url, timeout=120, headers={"Authorization": f"Bearer {token}"})
        self.queue, self.number, self.stats = queue, number, stats
        self.random = random.Random(number)
        self.tasks: list[str] = []
        self.events_task = ""
        self.batches = 0
        self.log_stamp = 1_700_000_000_000 + number * 10_000_000_000

    def call(self, endpoint: str, body: object = None, *, content: bytes | None = None) -> dict:
        payload = content if content is not None else orjson.dumps(body)
        ctype = "application/json-lines" if content is not None else "application/json"
        started = time.perf_counter()
        error = None
        data: dict = {}
        try:
            reply = self.client.post(f"/{endpoint}", content=payload, headers={"Content-Type": ctype})
            if reply.status_code != 200:
                error = f"{endpoint}: {reply.status_code} {_message(reply)}"
            else:
                data = reply.json()["data"]
        except httpx.HTTPError as exc:
            error = f"{endpoint}: {type(exc).__name__} {exc}"
        self.stats.record(time.perf_counter() - started, error)
        return data

    # the mix ---------------------------------------------------------------------------------
    def create_and_edit(self) -> None:
        task = self.call("tasks.create", {"name": f"soak {self.number}-{len(self.tasks)}", "type": "training",
                                          "tags": [f"c{self.number % 4}"]}).get("id")  # fmt: skip
        if task:
            self.tasks.append(task)
            self.call("tasks.edit", {"task": task, "comment": "soaked", "script": {"entry_point": "train.py"}})

    def hyperparams(self) -> None:
        if self.tasks:
            value = str(self.random.random())
            hyper = [{"section": "Args", "name": f"p{self.random.randrange(20)}", "value": value}]
            self.call("tasks.edit_hyper_params", {"task": self.random.choice(self.tasks), "hyperparams": hyper})

    def query(self) -> None:
        self.call("tasks.get_all", {"tags": [f"c{self.random.randrange(4)}"], "order_by": ["-last_update"],
                                    "page": 0, "page_size": 50, "only_fields": ["id", "name", "status", "last_metrics"]})  # fmt: skip

    def get_one(self) -> None:
        if self.tasks:
            self.call("tasks.get_by_id", {"task": self.random.choice(self.tasks)})

    def events_batch(self) -> None:
        if not self.events_task:
            self.events_task = self.call("tasks.create", {"name": f"soak events {self.number}", "type": "training"}).get("id", "")
            if not self.events_task:
                return
        first = self.batches * 400
        lines = [{"type": "training_stats_scalar", "task": self.events_task, "metric": "loss", "variant": f"v{i % 4}",
                  "iter": i // 4, "value": self.random.random()} for i in range(first, first + 400)]  # fmt: skip
        for _ in range(20):
            self.log_stamp += 1
            lines.append({"type": "log", "task": self.events_task, "level": "info", "worker": "soak",
                          "msg": "epoch done " * 8, "timestamp": self.log_stamp})  # fmt: skip
        self.batches += 1
        self.call("events.add_batch", content=b"\n".join(orjson.dumps(line) for line in lines))

    def read_events(self) -> None:
        if self.events_task:
            if self.random.random() < 0.5:
                self.call("events.scalar_metrics_iter_histogram", {"task": self.events_task, "key": "iter"})
            else:
                self.call("events.get_task_log", {"task": self.events_task, "batch_size": 100})

    def enqueue_and_pop(self) -> None:
        task = self.call("tasks.create", {"name": f"soak queued {self.number}", "type": "training"}).get("id")
        if task:
            self.call("tasks.enqueue", {"task": task, "queue": self.queue})
            self.call("queues.get_next_task", {"queue": self.queue})

    def run(self, until: float) -> None:
        mix: list[tuple[Callable[[], None], int]] = [
            (self.create_and_edit, 10), (self.hyperparams, 10), (self.query, 20), (self.get_one, 15),
            (self.events_batch, 25), (self.read_events, 10), (self.enqueue_and_pop, 10),
        ]  # fmt: skip
        actions, weights = zip(*mix, strict=True)
        while time.monotonic() < until:
            self.random.choices(actions, weights)[0]()
        self.client.close()


def server_exceptions(log: str, limit: int = 10) -> list[str]:
    """The exception that ends each traceback in the server's log (what a 500 was), the last few."""
    lines = log.splitlines()
    found = []
    for number, line in enumerate(lines):
        if line.startswith("Traceback"):
            end = number + 1
            while end < len(lines) and lines[end].startswith(" "):
                end += 1
            if end < len(lines):
                found.append(lines[end])
    return found[-limit:]


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else 0.0


def soak(url: str, pid: int, minutes: float, connections: int, label: str) -> bool:
    login = httpx.get(f"{url}/auth.login", headers={"Authorization": basic(KEY, SECRET)}, timeout=60)
    token = login.json()["data"]["token"]
    queue = httpx.post(f"{url}/queues.create", json={"name": "soak"}, headers={"Authorization": f"Bearer {token}"},
                       timeout=60).json()["data"]["id"]  # fmt: skip
    stats = Stats()
    until = stats.started + minutes * 60
    workers = [Connection(url, token, queue, n, stats) for n in range(connections)]
    threads = [threading.Thread(target=w.run, args=(until,), daemon=True) for w in workers]
    for thread in threads:
        thread.start()
    rss: dict[int, list[int]] = {}
    print(f"soak on {label}: {connections} connections for {minutes:g} min")
    print("minute  requests  errors   p50 ms   p99 ms   RSS MB")
    reported = 0

    def report(minute: int) -> None:
        with stats.lock:
            latencies = stats.latencies.get(minute, [])
            errors = stats.errors.get(minute, 0)
        memory = max(rss.get(minute, [0])) / 2**20
        print(f"{minute + 1:>6}  {len(latencies):>8}  {errors:>6}  {percentile(latencies, 0.5) * 1000:>7.1f}  "
              f"{percentile(latencies, 0.99) * 1000:>7.1f}  {memory:>7.1f}", flush=True)  # fmt: skip

    while any(t.is_alive() for t in threads):
        rss.setdefault(stats.minute(), []).append(rss_bytes(pid))
        while reported < stats.minute():
            report(reported)
            reported += 1
        time.sleep(5)
    for thread in threads:
        thread.join()
    for minute in range(reported, int(-(-minutes // 1))):
        report(minute)

    total = sum(len(v) for v in stats.latencies.values())
    errors = sum(stats.errors.values())
    p99 = max(percentile(v, 0.99) for v in stats.latencies.values()) * 1000
    per_minute = [max(rss[m]) for m in sorted(rss)]
    after_warmup = per_minute[1:] or per_minute
    growth = (after_warmup[-1] - after_warmup[0]) / after_warmup[0] * 100
    ok = errors == 0 and growth <= 10
    for sample in stats.error_samples:
        print(f"  error: {sample}")
    print(
        f"soak summary ({label}): {total} requests in {minutes:g} min over {connections} connections, "
        f"{errors} errors, worst per-minute p99 {p99:.0f} ms, RSS {after_warmup[0] / 2**20:.0f} -> "
        f"{after_warmup[-1] / 2**20:.0f} MB after warm-up ({growth:+.1f}%): {'PASS' if ok else 'FAIL'}"
    )
    return ok


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, default=10)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--workers", type=int, default=1, help="skiff serve --workers")
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--pg-url", help="a PostgreSQL server URL: the soak runs in a new database there")
    where.add_argument("--postgresql", action="store_true", help=f"start a throwaway cluster ({PG_BIN})")
    args = parser.parse_args()

    env = {"SKIFF_ACCESS_KEY": KEY, "SKIFF_SECRET_KEY": SECRET}
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp)
        directory.chmod(0o755)
        with throwaway_cluster(directory / "pg") if args.postgresql else nullcontext() as cluster:
            server_url = cluster or args.pg_url
            db_url = new_database(server_url) if server_url else None
            label = f"PostgreSQL ({db_url.rpartition('@')[2]})" if db_url else "SQLite"
            with live_server(directory / "data", db_url, "--workers", str(args.workers), env=env, timeout=120) as server:
                ok = soak(server.url, server.process.pid, args.minutes, args.connections, label)
                for line in server_exceptions(server.output):
                    print(f"  server: {line}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
