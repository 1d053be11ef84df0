"""The real ``clearml-agent`` (pinned 3.0.3) executes tasks from a live ``skiff serve``.

Tasks are created through the API with their whole program in ``script.diff`` and an empty
repository (the agent's "literal script" path), so nothing is cloned; the agent runs with
``CLEARML_AGENT_SKIP_PYTHON_ENV_INSTALL=1`` and ``CLEARML_AGENT_SKIP_PIP_VENV_INSTALL=<this
python>``, so no venv is built and nothing is installed. Everything is asserted through the API.
The agent polls its queue every ~5 s, so one daemon runs several tasks.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import psutil
import pytest

from skiff.ops.install import open_database, upgrade_database
from skiff.settings import Settings
from tests.support import DIALECT, Api, LiveServer, live_server, new_database_url

pytestmark = pytest.mark.slow

ACCESS_KEY = "AGENTTESTKEY0000000000"
SECRET_KEY = "agent-test-secret-0123456789abcdefghijklmnopqrstuv"
POLL = 0.5
TIMEOUT = 120
STOP_TIMEOUT = 30

SDK_PROGRAM = """
from clearml import Task

task = Task.init()
print("SKIFF-AGENT-HELLO from the child process")
print("SKIFF-AGENT-PARAM", task.get_parameter("Args/greeting"))
config = {"greeting": "default-value"}
task.connect(config, name="General")
print("SKIFF-AGENT-CONNECTED", config["greeting"])
for i in range(3):
    task.get_logger().report_scalar("loss", "train", value=1.0 / (i + 1), iteration=i)
task.flush(wait_for_uploads=True)
print("SKIFF-AGENT-DONE")
"""

FAILING_PROGRAM = """
import sys
print("SKIFF-AGENT-ABOUT-TO-FAIL")
sys.exit(3)
"""

SLEEPER_PROGRAM = """
import time
print("SKIFF-AGENT-SLEEPING", flush=True)
for _ in range(600):
    time.sleep(0.5)
"""

QUICK_PROGRAM = """
print("SKIFF-AGENT-QUICK")
"""


# ---------------------------------------------------------------------------------------- helpers


def wait_for(what: str, check: Callable[[], Any], timeout: float = TIMEOUT, debug: Callable[[], str] = str) -> Any:
    """Poll ``check`` every ``POLL`` seconds until it returns something truthy."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout}s waiting for {what}\n{debug()}")
        time.sleep(POLL)


def clean_env(home: Path, url: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CLEARML_", "TRAINS_", "SKIFF_"))}
    env.update(
        HOME=str(home),
        PYTHONUNBUFFERED="1",
        CLEARML_API_HOST=url,
        CLEARML_WEB_HOST=url,
        CLEARML_FILES_HOST=f"{url}/files",
        CLEARML_API_ACCESS_KEY=ACCESS_KEY,
        CLEARML_API_SECRET_KEY=SECRET_KEY,
        CLEARML_AGENT_SKIP_PYTHON_ENV_INSTALL="1",
        CLEARML_AGENT_SKIP_PIP_VENV_INSTALL=sys.executable,
    )
    return env


class Agent:
    """One ``clearml-agent`` process (daemon or execute) with a private HOME and its own log file."""

    def __init__(self, tmp: Path, url: str, worker_id: str, args: list[str]) -> None:
        self.worker_id = worker_id
        name = worker_id.replace(":", "_")
        home = tmp / f"agent-home-{name}"
        home.mkdir(parents=True, exist_ok=True)
        env = clean_env(home, url)
        env["CLEARML_WORKER_ID"] = worker_id
        self.log_path = tmp / f"agent-{name}.log"
        with open(self.log_path, "wb") as out:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "clearml_agent", *args],
                env=env,
                cwd=home,
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )

    @property
    def output(self) -> str:
        return self.log_path.read_text(errors="replace")

    def interrupt(self) -> int:
        """SIGINT, then wait; kill the whole session on timeout."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.kill()
        return self.process.returncode

    def kill(self) -> None:
        try:
            os.killpg(self.process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.process.wait()


@contextmanager
def daemon(tmp: Path, server: LiveServer, queue_name: str, worker_id: str) -> Iterator[Agent]:
    agent = Agent(tmp, server.url, worker_id, ["daemon", "--queue", queue_name, "--foreground"])
    try:
        yield agent
    finally:
        agent.interrupt()
        if agent.process.poll() is None:
            agent.kill()


def new_task(api: Api, project: str, name: str, program: str, *, entry_point: str = "x.py", **fields: Any) -> str:
    script = {
        "binary": "python3",
        "repository": "",
        "entry_point": entry_point,
        "working_dir": ".",
        "diff": textwrap.dedent(program).lstrip(),
    }
    return api("tasks.create", {"name": name, "type": "training", "project": project, "script": script, **fields})["id"]


def task_of(api: Api, task_id: str) -> dict[str, Any]:
    return api("tasks.get_by_id", {"task": task_id})["task"]


def status_of(api: Api, task_id: str) -> str:
    return task_of(api, task_id)["status"]


def wait_status(api: Api, task_id: str, wanted: set[str], debug: Callable[[], str], timeout: float = TIMEOUT) -> dict:
    final = {"completed", "failed", "stopped", "published"}

    def check() -> dict | None:
        task = task_of(api, task_id)
        if task["status"] in wanted:
            return task
        if task["status"] in final - wanted:
            pytest.fail(f"task {task_id} ended {task['status']} ({task.get('status_reason')}), not {wanted}\n"
                        f"{log_text(api, task_id)}\n{debug()}")  # fmt: skip
        return None

    return wait_for(f"task {task_id} to be {wanted}", check, timeout, debug)


def log_lines(api: Api, task_id: str) -> list[str]:
    data = api("events.get_task_log", {"task": task_id, "batch_size": 10000, "navigate_earlier": False})
    return [event.get("msg", "") for event in data["events"]]


def log_text(api: Api, task_id: str) -> str:
    return "\n".join(log_lines(api, task_id))


def worker_entry(api: Api, worker_id: str) -> dict | None:
    return next((w for w in api("workers.get_all", {})["workers"] if w["id"] == worker_id), None)


def marker_processes(marker: str) -> list[psutil.Process]:
    found = []
    for proc in psutil.process_iter(["cmdline"]):
        try:
            if any(marker in part for part in proc.info["cmdline"] or []):
                found.append(proc)
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
    return found


# --------------------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    tmp = tmp_path_factory.mktemp("agent-server")
    data_dir = tmp / "data"
    db_url = new_database_url(tmp)
    if DIALECT == "postgresql":  # skiff serve never changes a PostgreSQL schema by itself
        settings = Settings(data_dir=data_dir, db_url=db_url)
        database = open_database(settings)
        upgrade_database(database, settings)
        database.dispose()
    home = tmp / "server-home"
    home.mkdir()
    env = {"HOME": str(home), "SKIFF_DATA_DIR": str(data_dir), "SKIFF_ACCESS_KEY": ACCESS_KEY, "SKIFF_SECRET_KEY": SECRET_KEY}
    with live_server(data_dir, db_url, env=env) as running:
        yield running


@pytest.fixture
def api(server: LiveServer) -> Iterator[Api]:
    with httpx.Client(base_url=server.url, timeout=30, trust_env=False) as http:
        yield Api(http, key=ACCESS_KEY, secret=SECRET_KEY)


@pytest.fixture
def project(api: Api) -> str:
    return api("projects.create", {"name": f"agent-{uuid.uuid4().hex[:8]}", "description": ""})["id"]


def new_queue(api: Api) -> tuple[str, str]:
    name = f"agent-q-{uuid.uuid4().hex[:8]}"
    return api("queues.create", {"name": name})["id"], name


# ------------------------------------------------------------------------------------------ tests


def test_daemon_runs_completes_fails_and_aborts_tasks(tmp_path: Path, server: LiveServer, api: Api, project: str) -> None:
    queue_id, queue_name = new_queue(api)
    # the agent looks its queue up by an escaped, unanchored name and keeps the exact match
    api("queues.create", {"name": f"{queue_name}-decoy"})
    worker_id = f"skiff-test-worker-{uuid.uuid4().hex[:6]}:0"
    marker = f"skiff_sleeper_{uuid.uuid4().hex[:10]}"
    hyperparams = {
        "Args": {"greeting": {"section": "Args", "name": "greeting", "value": "hello-from-args", "type": "str"}},
        "General": {"greeting": {"section": "General", "name": "greeting", "value": "hello-from-general"}},
    }
    good = new_task(api, project, "sdk task", SDK_PROGRAM, hyperparams=hyperparams)
    bad = new_task(api, project, "failing task", FAILING_PROGRAM)
    sleeper = new_task(api, project, "sleeper", SLEEPER_PROGRAM, entry_point=f"{marker}.py")
    for task_id in (good, bad, sleeper):
        api("tasks.enqueue", {"task": task_id, "queue": queue_id})
    assert api("queues.get_num_entries", {"queue": queue_id})["num"] == 3
    pending = api("queues.get_all_ex", {"id": [queue_id]})["queues"][0]
    assert [e["task"]["id"] for e in pending["entries"]] == [good, bad, sleeper], pending

    with daemon(tmp_path, server, queue_name, worker_id) as agent:
        debug = lambda: f"--- agent log:\n{agent.output}\n--- server log:\n{server.output[-5000:]}"  # noqa: E731

        # the worker registers with its queue
        registered = wait_for("the worker to register", lambda: worker_entry(api, worker_id), debug=debug)
        assert [q["id"] for q in registered["queues"]] == [queue_id], registered
        probe = new_task(api, project, "watched probe", QUICK_PROGRAM)
        unwatched_id, _ = new_queue(api)
        enqueued = api("tasks.enqueue", {"task": probe, "queue": unwatched_id, "verify_watched_queue": True})
        assert enqueued["queue_watched"] is False, enqueued
        api("tasks.dequeue", {"task": probe})

        # a task that prints, reads its hyperparameters and reports scalars through the SDK
        done = wait_status(api, good, {"completed"}, debug)
        assert done["last_worker"] == worker_id
        log = log_text(api, good)
        assert "SKIFF-AGENT-HELLO from the child process" in log, log
        assert "SKIFF-AGENT-PARAM hello-from-args" in log, log
        assert "SKIFF-AGENT-CONNECTED hello-from-general" in log, log
        assert "SKIFF-AGENT-DONE" in log, log
        assert "ClearML results page:" in log, log  # the SDK's own output, captured by the agent
        assert f"pulled from {queue_id} by worker {worker_id}" in log, log
        metrics = done.get("last_metrics") or {}
        values = [v for variants in metrics.values() for v in variants.values()]
        assert any(v.get("metric") == "loss" and v.get("variant") == "train" for v in values), metrics
        loss = next(v for v in values if v.get("metric") == "loss")
        assert loss["value"] == pytest.approx(1 / 3) and loss["max_value"] == 1.0, loss
        assert done["last_iteration"] == 2

        # a task exiting non-zero
        failed = wait_status(api, bad, {"failed"}, debug)
        assert "SKIFF-AGENT-ABOUT-TO-FAIL" in log_text(api, bad)
        assert failed["last_worker"] == worker_id
        assert "3" in (failed.get("status_reason") or ""), failed

        # a long-running task aborted with tasks.stop
        wait_status(api, sleeper, {"in_progress"}, debug)
        wait_for("the sleeper's output", lambda: "SKIFF-AGENT-SLEEPING" in log_text(api, sleeper), debug=debug)
        assert marker_processes(marker), "the sleeper process is not running"
        running = wait_for(
            "workers.get_all to show the running task",
            lambda: (w := worker_entry(api, worker_id)) and (w.get("task") or {}).get("id") == sleeper and w,
            debug=debug,
        )
        assert [q["id"] for q in running["queues"]] == [queue_id], running
        assert api("queues.get_num_entries", {"queue": queue_id})["num"] == 0
        enqueued = api("tasks.enqueue", {"task": probe, "queue": queue_id, "verify_watched_queue": True})
        assert enqueued["queue_watched"] is True, enqueued
        api("tasks.dequeue", {"task": probe})
        served = api("queues.get_all_ex", {"id": [queue_id]})["queues"][0]
        assert [w["name"] for w in served["workers"]] == [worker_id], served
        assert (served["workers"][0].get("task") or {}).get("id") == sleeper, served
        api("tasks.stop", {"task": sleeper})
        stopped = wait_status(api, sleeper, {"stopped"}, debug)
        assert stopped["last_worker"] == worker_id
        wait_for("the sleeper process to end", lambda: not marker_processes(marker), timeout=30, debug=debug)

        # the worker is idle again, still registered
        idle = wait_for(
            "the worker to report no task",
            lambda: (w := worker_entry(api, worker_id)) and not (w.get("task") or {}).get("id") and w,
            debug=debug,
        )
        assert [q["id"] for q in idle["queues"]] == [queue_id], idle

        assert agent.interrupt() is not None
        assert agent.process.poll() is not None
    assert worker_entry(api, worker_id) is None, api("workers.get_all", {})
    assert api("queues.get_num_entries", {"queue": queue_id})["num"] == 0
    assert {status_of(api, t) for t in (good, bad, sleeper)} == {"completed", "failed", "stopped"}
    assert "Traceback" not in server.output, server.output


def test_execute_runs_a_task_that_was_never_enqueued(tmp_path: Path, server: LiveServer, api: Api, project: str) -> None:
    task_id = new_task(api, project, "executed directly", QUICK_PROGRAM)
    assert status_of(api, task_id) == "created"
    # the first run starts from created; the second from the completed status the first one left
    for run in (1, 2):
        worker_id = f"skiff-exec-{uuid.uuid4().hex[:6]}:{run}"
        agent = run_execute(tmp_path, server, worker_id, task_id)
        task = task_of(api, task_id)
        assert task["status"] == "completed", f"{task['status']} {task.get('status_reason')}\n{agent.output}"
        assert agent.process.returncode == 0, agent.output
        assert task["last_worker"] == worker_id
        assert worker_entry(api, worker_id) is None
        assert sum("SKIFF-AGENT-QUICK" in line for line in log_lines(api, task_id)) == run


def run_execute(tmp: Path, server: LiveServer, worker_id: str, task_id: str) -> Agent:
    agent = Agent(tmp, server.url, worker_id, ["execute", "--id", task_id])
    try:
        agent.process.wait(TIMEOUT)
    except subprocess.TimeoutExpired:
        agent.kill()
        pytest.fail(f"clearml-agent execute did not end in {TIMEOUT}s\n{agent.output}")
    return agent


def test_execute_takes_a_queued_task_off_its_queue(tmp_path: Path, server: LiveServer, api: Api, project: str) -> None:
    queue_id, _ = new_queue(api)
    task_id = new_task(api, project, "queued, then executed directly", QUICK_PROGRAM)
    api("tasks.enqueue", {"task": task_id, "queue": queue_id})
    agent = run_execute(tmp_path, server, f"skiff-exec-{uuid.uuid4().hex[:6]}:0", task_id)
    task = task_of(api, task_id)
    assert task["status"] == "completed", f"{task['status']} {task.get('status_reason')}\n{agent.output}"
    assert api("queues.get_num_entries", {"queue": queue_id})["num"] == 0
    assert "SKIFF-AGENT-QUICK" in log_text(api, task_id)


def test_two_agents_run_each_task_exactly_once(tmp_path: Path, server: LiveServer, api: Api, project: str) -> None:
    queue_id, queue_name = new_queue(api)
    tasks = [new_task(api, project, f"quick {i}", QUICK_PROGRAM) for i in range(20)]
    for task_id in tasks:
        api("tasks.enqueue", {"task": task_id, "queue": queue_id})
    workers = [f"skiff-twin-{uuid.uuid4().hex[:6]}:{n}" for n in (1, 2)]
    with daemon(tmp_path, server, queue_name, workers[0]) as one, daemon(tmp_path, server, queue_name, workers[1]) as two:
        debug = lambda: f"--- agent 1:\n{one.output[-4000:]}\n--- agent 2:\n{two.output[-4000:]}"  # noqa: E731

        def all_done() -> bool:
            found = api("tasks.get_all", {"id": tasks, "only_fields": ["status"]})["tasks"]
            return all(t["status"] in {"completed", "failed", "stopped"} for t in found)

        wait_for("20 tasks to end", all_done, timeout=240, debug=debug)
        both_registered = {w["id"] for w in api("workers.get_all", {})["workers"]} >= set(workers)
    assert both_registered
    only = ["id", "status", "last_worker"]
    found = {t["id"]: t for t in api("tasks.get_all", {"id": tasks, "only_fields": only})["tasks"]}
    assert {t["status"] for t in found.values()} == {"completed"}, found
    assert {t["last_worker"] for t in found.values()} <= set(workers)
    for task_id in tasks:
        log = log_lines(api, task_id)
        pulls = [line for line in log if f"pulled from {queue_id} by worker" in line]
        assert len(pulls) == 1, (task_id, log)
        assert workers.count(pulls[0].rsplit("by worker ", 1)[1].strip()) == 1, pulls
        assert sum("SKIFF-AGENT-QUICK" in line for line in log) == 1, (task_id, log)
    # each daemon says which tasks it pulled and ran; together they ran every task once
    outputs = one.output + two.output
    for task_id in tasks:
        assert outputs.count(f"task {task_id} pulled from") == 1, task_id
        assert outputs.count(f"DONE: Running task '{task_id}', exit status 0") == 1, task_id
    assert all("pulled from" in agent.output for agent in (one, two)), "one agent ran every task"
    assert api("queues.get_num_entries", {"queue": queue_id})["num"] == 0
    assert not {w["id"] for w in api("workers.get_all", {})["workers"]} & set(workers)


def test_sigint_while_running_stops_the_task(tmp_path: Path, server: LiveServer, api: Api, project: str) -> None:
    queue_id, queue_name = new_queue(api)
    worker_id = f"skiff-interrupted-{uuid.uuid4().hex[:6]}:0"
    marker = f"skiff_sleeper_{uuid.uuid4().hex[:10]}"
    sleeper = new_task(api, project, "interrupted sleeper", SLEEPER_PROGRAM, entry_point=f"{marker}.py")
    api("tasks.enqueue", {"task": sleeper, "queue": queue_id})
    with daemon(tmp_path, server, queue_name, worker_id) as agent:
        debug = lambda: f"--- agent log:\n{agent.output}"  # noqa: E731
        wait_for("the sleeper's output", lambda: "SKIFF-AGENT-SLEEPING" in log_text(api, sleeper), debug=debug)
        assert marker_processes(marker)
        # the first SIGINT reaches the daemon's task loop: it kills the task, sends tasks.stopped
        # for it and goes back to polling; the second one ends the daemon (workers.unregister)
        agent.process.send_signal(signal.SIGINT)
        wait_status(api, sleeper, {"stopped"}, debug, timeout=60)
        wait_for("the sleeper process to end", lambda: not marker_processes(marker), timeout=30, debug=debug)
        assert agent.process.poll() is None, agent.output
        agent.interrupt()
        assert agent.process.poll() is not None
    assert worker_entry(api, worker_id) is None
    assert api("queues.get_num_entries", {"queue": queue_id})["num"] == 0
