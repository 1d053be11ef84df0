"""HTTP benchmark: skiff against the MLflow tracking server and a bare ASGI ceiling (issue 9).

For each database (SQLite, then PostgreSQL on throwaway clusters) it starts skiff and MLflow on
127.0.0.1, fills both with the same N tasks/runs through their own HTTP APIs (40 hyperparameters,
10 metrics, tags each), pins every server process (and its database cluster) to one core, and
drives them with wrk from the other core:

  W1 create a task/run          W2 set 20 hyperparameters / log-batch 20 params
  W3 get by id                  W4 hyperparameter filter, order by a metric, first page of 50
  W5 mix: 50% W3, 20% W4, 20% W2, 10% W1
  ceiling: a bare ASGI app answering fixed JSON under the same uvicorn setup

at 8 and 32 connections, targets interleaved A B B A over the repetitions. It also times the same
operations through skiff's use cases in-process (no HTTP) on the same database. Prints a table per
database and a headline; ``--json`` keeps every cell. See benchmarks/README.md.

    python benchmarks/http.py                 # N=10k, both databases
    python benchmarks/http.py --n 100000
    python benchmarks/http.py --quick         # smoke run: N=1000, 5 s cells, 2 repetitions
    python benchmarks/http.py --quick --db sqlite --profile W3,W1,W4
"""

from __future__ import annotations

import os
import sys

# This file is named like the standard library's ``http`` package: keep its folder off the import
# path, so that ``import http`` (httpx, uvicorn) finds the real one.
if sys.path and os.path.abspath(sys.path[0]) == os.path.dirname(os.path.abspath(__file__)):
    del sys.path[0]
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # this checkout's skiff

import argparse  # noqa: E402
import hashlib  # noqa: E402
import itertools  # noqa: E402
import json  # noqa: E402
import math  # noqa: E402
import random  # noqa: E402
import shutil  # noqa: E402
import signal  # noqa: E402
import socket  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
import tomllib  # noqa: E402
from collections import defaultdict  # noqa: E402
from concurrent.futures import ThreadPoolExecutor  # noqa: E402
from contextlib import ExitStack, contextmanager  # noqa: E402
from dataclasses import asdict, dataclass, field  # noqa: E402
from importlib.metadata import version as package_version  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any, Callable, Iterator  # noqa: E402

import httpx  # noqa: E402
import orjson  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
BENCH = ROOT / "benchmarks"
WRK_SCRIPT = BENCH / "http_wrk.lua"
CEILING_APP = BENCH / "http_ceiling.py"
DEFAULT_MLFLOW_VENV = BENCH / ".venv-mlflow"
PG_BIN = Path("/usr/lib/postgresql/15/bin")
SERVER_CORE, LOAD_CORE = 0, 1
CLK_TCK = os.sysconf("SC_CLK_TCK")
#: Every wrk run gets its own seed, so the values W1/W2 write ({u}) never repeat.
SEEDS = itertools.count(1)

WORKLOADS = ("W1", "W2", "W3", "W4", "W5")
MIX = {"W3": 50, "W4": 20, "W2": 20, "W1": 10}
N_PARAMS, N_METRICS, N_W2_PARAMS = 40, 10, 20
#: ``p00`` takes this many values, so a W4 filter matches 1% of the tasks/runs.
GROUPS = 100
METRIC_TITLE = "metrics"
ORDER_METRIC = "m0"
PROFILE_RATE = 500
BENCH_KEY, BENCH_SECRET = "BENCHKEY", "benchsecret-not-a-real-secret"


# --- the shared logical data ------------------------------------------------------------------


@dataclass
class RunSpec:
    """One task/run as both servers receive it."""

    name: str
    tags: list[str]
    params: list[tuple[str, str]]
    metrics: list[tuple[str, float]]


def run_spec(i: int) -> RunSpec:
    rng = random.Random(i)
    params = [("p00", f"g{i % GROUPS}")]
    for k in range(1, N_PARAMS):
        kind = k % 3
        value = (f"{rng.random():.6f}", str(rng.randint(1, 1024)), rng.choice(["adam", "sgd", "rmsprop"]))[kind]
        params.append((f"p{k:02d}", value))
    metrics = [(f"m{j}", rng.random()) for j in range(N_METRICS)]
    return RunSpec(f"run-{i:06d}", ["bench", f"t{i % 10}"], params, metrics)


def md5(text: str) -> str:
    return hashlib.md5(text.encode()).hexdigest()


# --- processes: start, pin, account ------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _stat(pid: int) -> list[str] | None:
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return text.rsplit(")", 1)[1].split()


def process_tree(roots: list[int]) -> list[int]:
    """The roots and all their descendants (workers, database backends)."""
    children: dict[int, list[int]] = defaultdict(list)
    for entry in os.listdir("/proc"):
        if entry.isdigit() and (fields := _stat(int(entry))):
            children[int(fields[1])].append(int(entry))
    found, todo = [], list(roots)
    while todo:
        pid = todo.pop()
        found.append(pid)
        todo.extend(children.get(pid, []))
    return found


def cpu_seconds(pids: list[int]) -> float:
    """utime + stime of each process, plus that of its reaped children (cutime + cstime)."""
    ticks = 0
    for pid in pids:
        if fields := _stat(pid):
            ticks += sum(int(v) for v in fields[11:15])
    return ticks / CLK_TCK


def memory_mb(pids: list[int]) -> float:
    """Proportional set size summed over the tree: RSS without counting shared pages twice."""
    total = 0
    for pid in pids:
        try:
            for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
                if line.startswith("Pss:"):
                    total += int(line.split()[1])
        except OSError:
            pass
    return total / 1024


def pin(pids: list[int], core: int) -> None:
    """Pin every thread of the processes; threads and processes they start later inherit it."""
    for pid in pids:
        try:
            for tid in os.listdir(f"/proc/{pid}/task"):
                os.sched_setaffinity(int(tid), {core})
        except OSError:
            pass


@contextmanager
def pinned_self(core: int) -> Iterator[None]:
    before = os.sched_getaffinity(0)
    os.sched_setaffinity(0, {core})
    try:
        yield
    finally:
        os.sched_setaffinity(0, before)


@contextmanager
def server_process(command: list[str], log: Path, ready_url: str, env: dict[str, str] | None = None, timeout: float = 180) -> Iterator[subprocess.Popen]:
    """Run a server in its own process group until the block ends; wait until ``ready_url`` answers 200."""
    with open(log, "wb") as out:
        process = subprocess.Popen(
            command, stdout=out, stderr=subprocess.STDOUT, env={**os.environ, **(env or {})}, cwd=ROOT, start_new_session=True
        )
    try:
        deadline = time.monotonic() + timeout
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"{command[0]} exited with {process.returncode}:\n{log.read_text()[-3000:]}")
            try:
                if httpx.get(ready_url, timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"{command[0]} did not answer in {timeout}s:\n{log.read_text()[-3000:]}")
            time.sleep(0.2)
        yield process
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()


class PgCluster:
    """A throwaway PostgreSQL 15 cluster (trust auth, 127.0.0.1, a free port)."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.port = free_port()
        self.url = f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def _run(self, *args: str) -> None:
        command = [str(PG_BIN / args[0]), *args[1:]]
        if os.geteuid() == 0:
            command = ["runuser", "-u", "postgres", "--", *command]
        subprocess.run(command, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)

    def start(self) -> None:
        self.directory.mkdir(parents=True)
        if os.geteuid() == 0:
            shutil.chown(self.directory, "postgres", "postgres")
        data = self.directory / "data"
        self._run("initdb", "-D", str(data), "-A", "trust", "-U", "postgres", "--no-sync")
        options = f"-p {self.port} -k {self.directory} -c listen_addresses=127.0.0.1"
        self._run("pg_ctl", "-D", str(data), "-o", options, "-l", str(self.directory / "log"), "-w", "start")

    @property
    def pid(self) -> int:
        return int((self.directory / "data" / "postmaster.pid").read_text().split()[0])

    def stop(self) -> None:
        self._run("pg_ctl", "-D", str(self.directory / "data"), "-m", "fast", "-w", "stop")


# --- setup: wrk and the MLflow environment ------------------------------------------------------


def ensure_wrk() -> str:
    found = shutil.which("wrk")
    if found:
        return found
    print("setup: installing Debian wrk", flush=True)
    if subprocess.run(["apt-get", "install", "-y", "wrk"], stdout=subprocess.DEVNULL).returncode != 0:
        subprocess.run(["apt-get", "update"], check=True, stdout=subprocess.DEVNULL)
        subprocess.run(["apt-get", "install", "-y", "wrk"], check=True, stdout=subprocess.DEVNULL)
    return shutil.which("wrk") or "wrk"


def bench_pins() -> list[str]:
    """The ``bench`` extra of pyproject.toml: what the MLflow environment installs."""
    with open(ROOT / "pyproject.toml", "rb") as f:
        return tomllib.load(f)["project"]["optional-dependencies"]["bench"]


def ensure_mlflow(venv: Path) -> Path:
    """A separate venv for the MLflow server, created once and reused (see README: mlflow's
    ~50 dependencies stay out of the environment the tests run in)."""
    python = venv / "bin" / "python"
    pins = bench_pins()
    wanted = [(pin.split("==")[0].split("[")[0], pin.split("==")[1]) for pin in pins]
    probe = f"import importlib.metadata as m; print(all(m.version(n) == v for n, v in {wanted!r}))"
    if python.exists():
        found = subprocess.run([str(python), "-c", probe], capture_output=True, text=True).stdout.strip()
        if found == "True":
            return venv / "bin" / "mlflow"
    print(f"setup: creating {venv} with {' '.join(pins)}", flush=True)
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    subprocess.run([str(python), "-m", "pip", "install", "-q", *pins], check=True)
    return venv / "bin" / "mlflow"


# --- targets -------------------------------------------------------------------------------------

Template = tuple[int, str, str, str]  # weight, method, path, body


@dataclass
class Target:
    """A server under test: where it answers, which processes are its stack, what to send."""

    name: str
    url: str
    roots: Callable[[], list[int]]
    headers: dict[str, str] = field(default_factory=dict)
    ids: list[str] = field(default_factory=list)
    templates: dict[str, list[Template]] = field(default_factory=dict)

    def pids(self) -> list[int]:
        return process_tree(self.roots())

    def answers_quickly(self, probes: int = 16, timeout: float = 5.0) -> bool:
        """``probes`` concurrent W3 requests (or the ceiling's), each on a connection of its own so
        that every worker process of the server gets some, all answered with 200 within ``timeout``."""
        if not self.ids:  # not populated yet: nothing to get
            return True
        _, method, path, body = (self.templates.get("W3") or next(iter(self.templates.values())))[0]
        fill = {"{id}": self.ids[0], "{g}": "0", "{r}": "0.5", "{u}": "probe"}
        for key, value in fill.items():
            path, body = path.replace(key, value), body.replace(key, value)

        def probe(_: int) -> bool:
            try:
                reply = httpx.request(method, self.url + path, content=body or None, headers=self.headers, timeout=timeout)
            except httpx.TransportError:
                return False
            return reply.status_code == 200

        return all(_parallel(probes, list(range(probes)), probe))

    def plan(self, workload: str) -> list[Template]:
        if workload == "W5":
            return [(weight, *self.templates[w][0][1:]) for w, weight in MIX.items()]  # type: ignore[misc]
        return self.templates[workload]


def _parallel(workers: int, items: list[Any], fn: Callable[[Any], Any]) -> list[Any]:
    with ThreadPoolExecutor(workers) as pool:
        return list(pool.map(fn, items))


def _check(reply: httpx.Response) -> Any:
    if reply.status_code != 200:
        raise RuntimeError(f"{reply.request.method} {reply.request.url}: {reply.status_code} {reply.text[:500]}")
    return reply.json()


def skiff_target(url: str, roots: Callable[[], list[int]]) -> Target:
    token = _check(httpx.post(f"{url}/auth.login", auth=(BENCH_KEY, BENCH_SECRET)))["data"]["token"]
    order_key = f"last_metrics.{md5(METRIC_TITLE)}.{md5(ORDER_METRIC)}.value"
    hyper = ",".join(f'{{"section":"W2","name":"k{k:02d}","value":"{{u}}"}}' for k in range(N_W2_PARAMS))
    templates = {
        "W1": [(1, "POST", "/tasks.create", '{"name":"w1-{u}","type":"training","tags":["bench","w1"]}')],
        "W2": [(1, "POST", "/tasks.edit_hyper_params", f'{{"task":"{{id}}","hyperparams":[{hyper}]}}')],
        "W3": [(1, "POST", "/tasks.get_by_id", '{"task":"{id}"}')],
        "W4": [(1, "POST", "/tasks.get_all_ex", orjson.dumps({
            "hyperparams.Args.p00.value": ["g{g}"], "order_by": [f"-{order_key}"], "page": 0, "page_size": 50,
        }).decode())],  # fmt: skip
    }
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    return Target("skiff", url, roots, headers, [], templates)


def populate_skiff(target: Target, n: int, workers: int) -> None:
    client = httpx.Client(base_url=target.url, headers=target.headers, timeout=600, limits=httpx.Limits(max_connections=workers * 2))

    def call(endpoint: str, body: Any) -> Any:
        return _check(client.post(f"/{endpoint}", content=orjson.dumps(body)))["data"]

    def one(i: int) -> str:
        spec = run_spec(i)
        task = call("tasks.create", {"name": spec.name, "type": "training", "tags": spec.tags})["id"]
        items = [{"section": "Args", "name": k, "value": v} for k, v in spec.params]
        call("tasks.edit_hyper_params", {"task": task, "hyperparams": items})
        return task

    def scalars(chunk: list[tuple[int, str]]) -> None:
        lines = [
            orjson.dumps({"type": "training_stats_scalar", "task": task, "metric": METRIC_TITLE, "variant": name,
                          "iter": 0, "value": value, "timestamp": 1_700_000_000_000 + i})
            for i, task in chunk for name, value in run_spec(i).metrics
        ]  # fmt: skip
        reply = client.post("/events.add_batch", content=b"\n".join(lines), headers={"Content-Type": "application/json-lines"})
        assert _check(reply)["data"]["added"] == len(lines)

    target.ids = _parallel(workers, list(range(n)), one)
    numbered = list(enumerate(target.ids))
    chunks = [numbered[s : s + 100] for s in range(0, n, 100)]
    _parallel(workers, chunks, scalars)
    client.close()


def mlflow_target(url: str, roots: Callable[[], list[int]]) -> Target:
    api = f"{url}/api/2.0/mlflow"
    experiment = _check(httpx.post(f"{api}/experiments/create", json={"name": "bench"}))["experiment_id"]
    params = ",".join(f'{{"key":"k{{u}}-{k:02d}","value":"{{r}}"}}' for k in range(N_W2_PARAMS))
    start = 1_700_000_000_000
    templates = {
        "W1": [(1, "POST", "/api/2.0/mlflow/runs/create", orjson.dumps({
            "experiment_id": experiment, "run_name": "w1-{u}", "start_time": start,
            "tags": [{"key": "bench", "value": "w1"}],
        }).decode())],  # fmt: skip
        "W2": [(1, "POST", "/api/2.0/mlflow/runs/log-batch", f'{{"run_id":"{{id}}","params":[{params}]}}')],
        "W3": [(1, "GET", "/api/2.0/mlflow/runs/get?run_id={id}", "")],
        "W4": [(1, "POST", "/api/2.0/mlflow/runs/search", orjson.dumps({
            "experiment_ids": [experiment], "filter": "params.p00 = 'g{g}'",
            "order_by": [f"metrics.{ORDER_METRIC} DESC"], "max_results": 50,
        }).decode())],  # fmt: skip
    }
    target = Target("mlflow", url, roots, {"Content-Type": "application/json"}, [], templates)
    target.experiment = experiment  # type: ignore[attr-defined]
    return target


def populate_mlflow(target: Target, n: int, workers: int) -> None:
    api = f"{target.url}/api/2.0/mlflow"
    client = httpx.Client(timeout=600, limits=httpx.Limits(max_connections=workers * 2))

    def one(i: int) -> str:
        spec = run_spec(i)
        tags = [{"key": "bench", "value": "1"}, {"key": "shard", "value": spec.tags[1]}]
        created = _check(client.post(f"{api}/runs/create", json={
            "experiment_id": target.experiment, "run_name": spec.name,  # type: ignore[attr-defined]
            "start_time": 1_700_000_000_000 + i, "tags": tags,
        }))  # fmt: skip
        run = created["run"]["info"]["run_id"]
        _check(client.post(f"{api}/runs/log-batch", json={
            "run_id": run,
            "params": [{"key": k, "value": v} for k, v in spec.params],
            "metrics": [{"key": k, "value": v, "timestamp": 1_700_000_000_000 + i, "step": 0} for k, v in spec.metrics],
        }))  # fmt: skip
        return run

    target.ids = _parallel(workers, list(range(n)), one)
    client.close()


def ceiling_target(url: str, roots: Callable[[], list[int]]) -> Target:
    return Target("ceiling", url, roots, {"Content-Type": "application/json"}, ["x"], {"C": [(1, "POST", "/debug.ping", "{}")]})


# --- in-process timing of skiff's use cases -----------------------------------------------------


def time_in_process(db_url: str, data_dir: Path, ids: list[str], seconds: float, cluster: Callable[[], list[int]]) -> dict[str, float]:
    """CPU milliseconds per operation through skiff.ops on the server's own database (this process
    plus the database cluster's processes, if any), single-threaded on the server core. CPU rather
    than wall time, so that other load on the machine does not count; what the HTTP path costs
    beyond this is overhead."""
    from skiff import API_VERSION
    from skiff.app import freeze_heap
    from skiff.domain.task_document import read_form
    from skiff.domain.versions import Version
    from skiff.ops import auth, task_queries
    from skiff.ops import tasks as task_ops
    from skiff.ops.install import open_database
    from skiff.schemas.tasks import GetAllExRequest
    from skiff.settings import Settings, normalize_db_url

    settings = Settings(data_dir=data_dir, db_url=normalize_db_url(db_url))
    db = open_database(settings)
    freeze_heap()  # as a server process does once its app is built
    version = Version.parse(API_VERSION)
    caller = auth.authenticate(db, auth.BasicCredentials(BENCH_KEY, BENCH_SECRET))
    rng = random.Random(7)
    counter = iter(range(10**9))
    order_key = f"-last_metrics.{md5(METRIC_TITLE)}.{md5(ORDER_METRIC)}.value"

    def w1() -> None:
        task_ops.create_task(db, caller, {"name": f"inproc-{next(counter)}", "type": "training", "tags": ["bench", "w1"]}, version)

    def w2() -> None:
        value = str(next(counter))
        items = [{"section": "W2", "name": f"k{k:02d}", "value": value} for k in range(N_W2_PARAMS)]
        task_ops.edit_hyper_params(db, caller, rng.choice(ids), items, "none", False)

    def w3() -> None:
        read_form(task_ops.get_task(db, caller, rng.choice(ids)), version)

    def w4() -> None:
        body = {"hyperparams.Args.p00.value": [f"g{rng.randrange(GROUPS)}"], "order_by": [order_key], "page": 0, "page_size": 50}
        request = GetAllExRequest.model_validate(body).model_dump(exclude_unset=True)
        task_queries.list_tasks_ex(db, caller, request, version, by_id=False)

    ops = {"W1": w1, "W2": w2, "W3": w3, "W4": w4}
    population = [w for w, weight in MIX.items() for _ in range(weight)]

    def w5() -> None:
        ops[rng.choice(population)]()

    ops["W5"] = w5
    timings = {}
    with pinned_self(SERVER_CORE):
        for name, op in ops.items():
            op()  # warm caches and statements
            done, started = 0, time.perf_counter()
            cpu_before = time.process_time() + cpu_seconds(process_tree(cluster()))
            while time.perf_counter() - started < seconds or done < 5:
                op()
                done += 1
            used = time.process_time() + cpu_seconds(process_tree(cluster())) - cpu_before
            timings[name] = used / done * 1000
    db.dispose()
    return timings


# --- cells ---------------------------------------------------------------------------------------


@dataclass
class Cell:
    database: str
    target: str
    workload: str
    connections: int
    repetition: int
    requests: int
    rps: float
    p50_ms: float
    p99_ms: float
    cpu_ms_per_request: float
    rss_mb: float
    errors: int


def settle(target: Target, limit: float = 900) -> None:
    """Wait until the server stack is idle and promptly answers 16 concurrent get-by-ids: requests
    still running after wrk stopped finish first, including those that wait without using CPU
    (MLflow's workers can hold every pooled connection while each waits for a second one, until
    the pool's 30 s timeout)."""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        pids = target.pids()
        before = cpu_seconds(pids)
        time.sleep(0.5)
        if cpu_seconds(pids) - before < 0.05 and target.answers_quickly():
            return


def run_wrk(target: Target, workload: str, connections: int, seconds: float, work: Path) -> dict[str, Any]:
    """One wrk run; ``work`` is the database's own directory (plans carry that server's token and ids)."""
    plan = work / f"{target.name}-{workload}.plan"
    ids = work / f"{target.name}.ids"
    if not plan.exists():
        lines = [f"H {k}: {v}" for k, v in target.headers.items()]
        lines += [f"R {w} {method} {path} {body}".rstrip() for w, method, path, body in target.plan(workload)]
        plan.write_text("\n".join(lines) + "\n")
        ids.write_text("\n".join(target.ids) + "\n")
    command = [
        "taskset", "-c", str(LOAD_CORE), "wrk", "-t1", f"-c{connections}", f"-d{max(1, round(seconds))}s",
        "--timeout", "300s", "-s", str(WRK_SCRIPT), target.url, "--", str(plan), str(ids), str(GROUPS), str(next(SEEDS)),
    ]  # fmt: skip
    out = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    line = next((ln for ln in out.splitlines() if ln.startswith("WRKJSON ")), None)
    if line is None:
        raise RuntimeError(f"wrk printed no summary:\n{out}")
    return json.loads(line[len("WRKJSON ") :])


def run_cell(
    database: str, target: Target, workload: str, connections: int, rep: int, args: argparse.Namespace, work: Path,
    stacks: list[Target],
) -> Cell:
    """One measured cell. Every server stack on the server core (``stacks``) is let settle first:
    requests the previous cell's target is still working on after wrk stopped (MLflow's W4 at
    100k runs for minutes) would otherwise share the core with this cell's target."""
    for stack in stacks:
        settle(stack)
    if rep == 0 and args.warmup > 0:
        run_wrk(target, workload, connections, args.warmup, work)
        settle(target)
    pids = target.pids()
    before = cpu_seconds(pids)
    result = run_wrk(target, workload, connections, args.duration, work)
    used = cpu_seconds(target.pids()) - before
    done = result["requests"]
    errors = sum(result[k] for k in ("connect", "read", "write", "status", "timeout"))
    cell = Cell(
        database, target.name, workload, connections, rep, done, done / (result["duration_us"] / 1e6),
        result["p50"] / 1000, result["p99"] / 1000, used / done * 1000 if done else float("nan"),
        memory_mb(target.pids()), errors,
    )  # fmt: skip
    flag = f"  ERRORS {errors}" if errors else ""
    print(
        f"  {database:<10} {target.name:<7} {workload} c{connections:<2} rep{rep}: {cell.rps:>9,.1f} req/s  "
        f"p50 {cell.p50_ms:>8.1f} ms  p99 {cell.p99_ms:>8.1f} ms  cpu {cell.cpu_ms_per_request:>7.2f} ms/req  "
        f"rss {cell.rss_mb:>6.0f} MB{flag}",
        flush=True,
    )
    return cell


# --- one database ----------------------------------------------------------------------------------


@dataclass
class DatabaseRun:
    database: str
    n: int
    cells: list[Cell] = field(default_factory=list)
    idle_rss_mb: dict[str, float] = field(default_factory=dict)
    populated_rss_mb: dict[str, float] = field(default_factory=dict)
    populate_seconds: dict[str, float] = field(default_factory=dict)
    in_process_ms: dict[str, float] = field(default_factory=dict)
    profile: dict[str, list[str]] = field(default_factory=dict)


def run_database(database: str, args: argparse.Namespace, work: Path, ceiling: Target | None, mlflow_bin: Path | None) -> DatabaseRun:
    result = DatabaseRun(database, args.n)
    base = work / database
    base.mkdir()
    with ExitStack() as stack:
        clusters: dict[str, PgCluster] = {}
        if database == "postgresql":
            for name in args.targets:
                cluster = clusters[name] = PgCluster(base / f"pg-{name}")
                cluster.start()
                stack.callback(cluster.stop)
        targets: list[Target] = []

        def roots_for(process: subprocess.Popen, name: str) -> Callable[[], list[int]]:
            cluster = clusters.get(name)
            return lambda: [process.pid] + ([cluster.pid] if cluster else [])

        if "skiff" in args.targets:
            port = free_port()
            data = base / "skiff"
            db_url = clusters["skiff"].url if "skiff" in clusters else ""
            if db_url:
                subprocess.run([sys.executable, "-m", "skiff", "db", "upgrade", "--db", db_url], check=True, stdout=subprocess.DEVNULL)
            command = [sys.executable, "-m", "skiff", "serve", "--host", "127.0.0.1", "--port", str(port), "--data-dir", str(data)]
            command += ["--db", db_url] if db_url else []
            env = {"SKIFF_ACCESS_KEY": BENCH_KEY, "SKIFF_SECRET_KEY": BENCH_SECRET, "PYTHONUNBUFFERED": "1"}
            process = stack.enter_context(server_process(command, base / "skiff.log", f"http://127.0.0.1:{port}/debug.ping", env))
            skiff = skiff_target(f"http://127.0.0.1:{port}", roots_for(process, "skiff"))
            skiff.db_url, skiff.data_dir = db_url, data  # type: ignore[attr-defined]
            targets.append(skiff)
        if "mlflow" in args.targets:
            assert mlflow_bin is not None
            port = free_port()
            store = clusters["mlflow"].url if "mlflow" in clusters else f"sqlite:///{base / 'mlflow.db'}"
            command = [
                str(mlflow_bin), "server", "--backend-store-uri", store, "--default-artifact-root", str(base / "mlartifacts"),
                "--host", "127.0.0.1", "--port", str(port),
            ]  # fmt: skip
            env = {"MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}
            process = stack.enter_context(server_process(command, base / "mlflow.log", f"http://127.0.0.1:{port}/health", env))
            targets.append(mlflow_target(f"http://127.0.0.1:{port}", roots_for(process, "mlflow")))

        for target in targets:
            settle(target, limit=60)
            result.idle_rss_mb[target.name] = memory_mb(target.pids())
            started = time.perf_counter()
            (populate_skiff if target.name == "skiff" else populate_mlflow)(target, args.n, args.populate_workers)
            result.populate_seconds[target.name] = time.perf_counter() - started
            settle(target)
            result.populated_rss_mb[target.name] = memory_mb(target.pids())
            print(
                f"{database}: {target.name} populated with {args.n:,} in {result.populate_seconds[target.name]:.0f} s "
                f"(idle RSS {result.idle_rss_mb[target.name]:.0f} MB, after {result.populated_rss_mb[target.name]:.0f} MB)",
                flush=True,
            )
        for target in targets + ([ceiling] if ceiling else []):
            pin(target.pids(), SERVER_CORE)

        skiff = next((t for t in targets if t.name == "skiff"), None)
        if skiff is not None and args.in_process_seconds > 0:
            settle(skiff)
            cluster = [clusters["skiff"].pid] if "skiff" in clusters else []
            result.in_process_ms = time_in_process(skiff.db_url, skiff.data_dir, skiff.ids, args.in_process_seconds, lambda: cluster)  # type: ignore[attr-defined]
            shown = "  ".join(f"{w} {ms:.3f} ms" for w, ms in result.in_process_ms.items())
            print(f"{database}: skiff in-process (ops layer, no HTTP): {shown}", flush=True)

        stacks = targets + ([ceiling] if ceiling else [])
        for rep in range(args.reps):
            order = targets if rep % 2 == 0 else targets[::-1]  # A B, B A, A B ...
            for connections in args.connections:
                if ceiling is not None:
                    result.cells.append(run_cell(database, ceiling, "C", connections, rep, args, base, stacks))
                for workload in args.workloads:
                    for target in order:
                        result.cells.append(run_cell(database, target, workload, connections, rep, args, base, stacks))

        if skiff is not None and args.profile:
            for workload in args.profile:
                result.profile[workload] = profile_skiff(skiff, workload, args, base)
    return result


# --- profiling -------------------------------------------------------------------------------------


def profile_skiff(target: Target, workload: str, args: argparse.Namespace, work: Path) -> list[str]:
    """Sample skiff with py-spy while wrk drives one workload at 8 connections; the functions with
    the most samples, by own time and with callees. Only the thread holding the GIL is sampled
    (py-spy cannot tell idle threads apart here), so this is where the Python time goes; time in
    C with the GIL released (SQLite steps, socket I/O) shows as the gap to PROFILE_RATE samples a second."""
    pid = target.roots()[0]
    raw = work / f"profile-{workload}.txt"
    seconds = max(args.duration, 10)
    settle(target)
    spy = subprocess.Popen(
        ["py-spy", "record", "--pid", str(pid), "--rate", str(PROFILE_RATE), "--format", "raw", "--output", str(raw),
         "--duration", str(round(seconds) + 1), "--gil", "--nonblocking"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    time.sleep(0.5)
    result = run_wrk(target, workload, 8, seconds, work)
    spy.wait()
    own: dict[str, int] = defaultdict(int)
    packages: dict[str, int] = defaultdict(int)
    skiff_total: dict[str, int] = defaultdict(int)
    samples = 0
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        frames = [_frame(f) for f in stack.split(";") if " (" in f]
        if not frames:
            continue
        n = int(count)
        samples += n
        own[frames[-1][0]] += n
        packages[frames[-1][1]] += n
        for name in {name for name, package in frames if package == "skiff"}:
            skiff_total[name] += n
    rps = result["requests"] / (result["duration_us"] / 1e6)
    seconds = result["duration_us"] / 1e6
    top = args.profile_top

    def ranked(counts: dict[str, int], limit: int) -> list[str]:
        return [f"    {n / samples:6.1%}  {name}" for name, n in sorted(counts.items(), key=lambda kv: -kv[1])[:limit]]

    lines = [
        f"{workload}: {samples} samples with the GIL held at {PROFILE_RATE} Hz over {seconds:.1f} s "
        f"({samples / (PROFILE_RATE * seconds):.0%} of the time) under {rps:,.0f} req/s (8 connections)",
        "  own time by package:", *ranked(packages, 10),
        "  own time by function:", *ranked(own, top),
        "  skiff functions with their callees:", *ranked(skiff_total, top),
    ]  # fmt: skip
    print("\n".join(lines), flush=True)
    return lines


def _frame(frame: str) -> tuple[str, str]:
    """A py-spy frame ``fn (pkg/mod.py:12)`` (py-spy already shortens paths to their import root)
    as (``fn (pkg/mod.py)``, ``pkg``); standard library modules count as ``stdlib``."""
    name, _, where = frame.partition(" (")
    where = where.rstrip(")").rsplit(":", 1)[0]
    for marker in ("site-packages/", "lib/python3.11/", str(ROOT) + "/"):  # in case a path is not shortened
        where = where.split(marker, 1)[-1]
    top = where.split("/", 1)[0].removesuffix(".py")
    return f"{name} ({where})", "stdlib" if top in sys.stdlib_module_names or top.startswith("<") else top


# --- report ----------------------------------------------------------------------------------------


def ratio(a: float, b: float) -> float:
    """a / b; infinite when only b is 0 (a target completed no request in the cell), else NaN."""
    if math.isnan(a) or math.isnan(b):
        return math.nan
    if b == 0:
        return math.inf if a > 0 else math.nan
    return a / b


def _pick(values: list[float], pick: Callable[[list[float]], float] = min) -> float:
    """min (or max) of the values that are known; NaN when none is."""
    known = [v for v in values if not math.isnan(v)]
    return pick(known) if known else math.nan


def _median(cells: list[Cell], attr: str) -> float:
    """Median over the repetitions, leaving out undefined values (CPU per request of a cell that
    completed no request)."""
    values = [v for c in cells if not math.isnan(v := getattr(c, attr))]
    return statistics.median(values) if values else math.nan


def report(run: DatabaseRun, args: argparse.Namespace) -> list[str]:
    by: dict[tuple[str, str, int], list[Cell]] = defaultdict(list)
    for cell in run.cells:
        by[(cell.target, cell.workload, cell.connections)].append(cell)

    def med(target: str, workload: str, conns: int, attr: str) -> float:
        return _median(by.get((target, workload, conns), []), attr)

    out = [
        f"{run.database}: N={run.n:,} tasks/runs, {args.duration:g} s cells, {args.reps} repetitions (medians), "
        f"server stack on core {SERVER_CORE}, wrk on core {LOAD_CORE}",
        f"{'':8}{'':>4} | {'skiff':>41} | {'MLflow':>41} | {'skiff/':>7} {'skiff/':>8} | {'in-proc':>8} {'HTTP/':>7}",
        f"{'load':<8}{'conn':>4} | {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'CPU ms':>7} {'RSS MB':>6} | "
        f"{'req/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'CPU ms':>7} {'RSS MB':>6} | {'MLflow':>7} {'ceiling':>8} | "
        f"{'ms/op':>8} {'in-proc':>7}",
    ]
    for conns in args.connections:
        ceiling = med("ceiling", "C", conns, "rps")
        if not math.isnan(ceiling):
            out.append(f"{'ceiling':<8}{conns:>4} | {ceiling:>9,.0f} {med('ceiling', 'C', conns, 'p50_ms'):>8.2f} "
                       f"{med('ceiling', 'C', conns, 'p99_ms'):>8.2f} {med('ceiling', 'C', conns, 'cpu_ms_per_request'):>7.3f} "
                       f"{med('ceiling', 'C', conns, 'rss_mb'):>6.0f} |")  # fmt: skip
        for workload in args.workloads:
            s = {a: med("skiff", workload, conns, a) for a in ("rps", "p50_ms", "p99_ms", "cpu_ms_per_request", "rss_mb", "errors")}
            m = {a: med("mlflow", workload, conns, a) for a in ("rps", "p50_ms", "p99_ms", "cpu_ms_per_request", "rss_mb", "errors")}
            inproc = run.in_process_ms.get(workload, float("nan"))
            factor = ratio(s["cpu_ms_per_request"], inproc)
            errs = " errors" if (s["errors"] or 0) > 0 or (m["errors"] or 0) > 0 else ""
            out.append(
                f"{workload:<8}{conns:>4} | {s['rps']:>9,.1f} {s['p50_ms']:>8.2f} {s['p99_ms']:>8.2f} {s['cpu_ms_per_request']:>7.3f} "
                f"{s['rss_mb']:>6.0f} | {m['rps']:>9,.1f} {m['p50_ms']:>8.1f} {m['p99_ms']:>8.1f} {m['cpu_ms_per_request']:>7.2f} "
                f"{m['rss_mb']:>6.0f} | {ratio(s['rps'], m['rps']):>6.1f}x {ratio(s['rps'], ceiling):>7.1%} | {inproc:>8.3f} {factor:>6.1f}x{errs}"
            )
    idle = "  ".join(f"{t} {mb:.0f} MB" for t, mb in run.idle_rss_mb.items())
    populated = "  ".join(f"{t} {mb:.0f} MB" for t, mb in run.populated_rss_mb.items())
    filled = "  ".join(f"{t} {s:.0f} s" for t, s in run.populate_seconds.items())
    out.append(f"idle RSS: {idle}; after population: {populated}; population time: {filled}")
    out.append(headline(run, args, med))
    return out


def headline(run: DatabaseRun, args: argparse.Namespace, med: Callable[[str, str, int, str], float]) -> str:
    """The run's figures against the issue's targets, for the targets that ran."""
    conns = "/".join(map(str, args.connections))
    mlflow, parts = "mlflow" in args.targets, []
    if mlflow:
        ratios = []
        for workload in args.workloads:
            values = [ratio(med("skiff", workload, c, "rps"), med("mlflow", workload, c, "rps")) for c in args.connections]
            ratios.append(f"{workload} x{_pick(values):,.1f}")
        parts.append(f"skiff/MLflow req/s (worst of {conns} conns) {', '.join(ratios)}")
    if "ceiling" in args.targets:
        ceiling = []
        for workload in ("W3", "W1", "W2"):
            if workload in args.workloads:
                best = _pick([ratio(med("skiff", workload, c, "rps"), med("ceiling", "C", c, "rps")) for c in args.connections], max)
                ceiling.append(f"{workload} {best:.1%}")
        parts.append(f"skiff/ceiling {', '.join(ceiling)}")
    if mlflow:  # (after the ceiling's shares, as the issue lists its targets)
        cpu = [ratio(med("mlflow", w, c, "cpu_ms_per_request"), med("skiff", w, c, "cpu_ms_per_request")) for w in args.workloads for c in args.connections]
        rss = ratio(run.idle_rss_mb.get("skiff", math.nan), run.idle_rss_mb.get("mlflow", math.nan))
        parts.append(f"CPU per request 1/{_pick(cpu):.0f} of MLflow's or better; idle RSS {rss:.1%} of MLflow's")
    return f"HEADLINE {run.database} N={run.n:,}: " + ("; ".join(parts) or "skiff alone (no MLflow, no ceiling in this run)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=10_000, help="tasks/runs to populate (default 10k; the issue also asks 100k)")
    parser.add_argument("--quick", action="store_true", help="smoke run: N=1000, 5 s cells, 2 repetitions, 1 s warm-up")
    parser.add_argument("--duration", type=float, default=15, help="seconds per cell")
    parser.add_argument("--warmup", type=float, default=3, help="unrecorded seconds before each cell of the first repetition")
    parser.add_argument("--reps", type=int, default=3, help="repetitions (targets alternate A B, B A, ...)")
    parser.add_argument("--connections", default="8,32")
    parser.add_argument("--workloads", default=",".join(WORKLOADS))
    parser.add_argument("--db", default="sqlite,postgresql", help="sqlite, postgresql or both")
    parser.add_argument("--targets", default="skiff,mlflow,ceiling")
    parser.add_argument("--populate-workers", type=int, default=8)
    parser.add_argument("--in-process-seconds", type=float, default=3, help="per operation; 0 skips the in-process timing")
    parser.add_argument("--profile", default="", help="workloads to sample skiff under with py-spy after the cells, e.g. W3,W1,W4")
    parser.add_argument("--profile-top", type=int, default=12)
    parser.add_argument("--mlflow-venv", type=Path, default=DEFAULT_MLFLOW_VENV)
    parser.add_argument("--json", type=Path, help="write every cell and summary here")
    parser.add_argument("--keep", action="store_true", help="keep the working directory (databases, logs)")
    args = parser.parse_args()
    explicit = {a.split("=")[0] for a in sys.argv[1:]}
    if args.quick:
        for flag, value in (("--n", 1000), ("--duration", 5), ("--reps", 2), ("--warmup", 1), ("--in-process-seconds", 1)):
            if flag not in explicit:
                setattr(args, flag[2:].replace("-", "_"), value)
    args.connections = [int(c) for c in args.connections.split(",")]
    args.workloads = [w for w in args.workloads.split(",") if w]
    args.targets = [t for t in args.targets.split(",") if t]
    args.profile = [w for w in args.profile.split(",") if w]
    if os.cpu_count() is None or os.cpu_count() < 2:  # type: ignore[operator]
        raise SystemExit("needs two cores: one for the servers, one for wrk")

    ensure_wrk()
    mlflow_bin = ensure_mlflow(args.mlflow_venv) if "mlflow" in args.targets else None
    if args.profile and not shutil.which("py-spy"):
        raise SystemExit("--profile needs py-spy on PATH (pip install py-spy; it is not a project dependency)")
    print(versions(mlflow_bin), flush=True)

    work = Path(tempfile.mkdtemp(prefix="skiff-http-bench-"))
    work.chmod(0o755)  # the PostgreSQL clusters run as the postgres user
    runs: list[DatabaseRun] = []
    try:
        with ExitStack() as stack:
            ceiling = None
            if "ceiling" in args.targets:
                port = free_port()
                process = stack.enter_context(server_process([sys.executable, "-P", str(CEILING_APP), str(port)], work / "ceiling.log", f"http://127.0.0.1:{port}/"))
                ceiling = ceiling_target(f"http://127.0.0.1:{port}", lambda p=process: [p.pid])  # type: ignore[misc]
                pin(ceiling.pids(), SERVER_CORE)
            for database in args.db.split(","):
                runs.append(run_database(database, args, work, ceiling, mlflow_bin))
                print("\n".join(report(runs[-1], args)), flush=True)
    finally:
        if args.keep:
            print(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    print()
    for run in runs:
        print("\n".join(report(run, args)))
        for lines in run.profile.values():
            print("\n".join(lines))
    if args.json:
        args.json.write_text(json.dumps({"versions": versions(mlflow_bin), "args": {k: str(v) for k, v in vars(args).items()},
                                         "runs": [asdict(r) for r in runs]}, indent=1))  # fmt: skip


def versions(mlflow_bin: Path | None) -> str:
    from skiff import __version__

    parts = [f"skiff {__version__}", f"python {sys.version.split()[0]}"]
    for module in ("uvicorn", "starlette", "sqlalchemy"):
        parts.append(f"{module} {package_version(module)}")
    if mlflow_bin is not None:
        found = subprocess.run([str(mlflow_bin.parent / "python"), "-c", "import mlflow; print(mlflow.__version__)"], capture_output=True, text=True)
        parts.append(f"mlflow {found.stdout.strip()}")
    wrk = subprocess.run(["wrk", "--version"], capture_output=True, text=True)
    parts.append((wrk.stdout or wrk.stderr).split(" Copyright")[0])
    pg = subprocess.run([str(PG_BIN / "postgres"), "--version"], capture_output=True, text=True)
    parts.append(pg.stdout.strip())
    cpu = next((ln.split(":", 1)[1].strip() for ln in subprocess.run(["lscpu"], capture_output=True, text=True).stdout.splitlines() if ln.startswith("Model name")), "?")
    return f"versions: {', '.join(parts)}; machine: nproc {os.cpu_count()}, {cpu}"


if __name__ == "__main__":
    main()
