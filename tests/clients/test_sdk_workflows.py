"""The real ``clearml`` SDK (pinned 2.1.12) drives the user workflows of spec clients.md (a)-(c), (e), (f).

Each SDK run is a subprocess with a private HOME and only the ``CLEARML_*`` settings that
``skiff serve`` printed; results are checked by reading back through the HTTP API. One server
serves the whole module (credentials pinned with ``SKIFF_ACCESS_KEY``/``SKIFF_SECRET_KEY``); each
test works in its own projects. SDK starts cost seconds, so checks are combined per script and
independent scripts run concurrently.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import sys
import textwrap
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from skiff.ops.install import open_database, upgrade_database
from skiff.settings import Settings
from tests.support import DIALECT, Api, LiveServer, live_server, new_database_url

pytestmark = [pytest.mark.slow, pytest.mark.filterwarnings("ignore:.parseAll. argument is deprecated")]

SDK_TIMEOUT = 150
MARKER = "SKIFF-SDK-RESULT "
ACCESS_KEY = "SKIFFWORKFLOWKEY0001"
SECRET_KEY = "skiff-workflow-secret-0123456789abcdefghijklmnopqrstuv"
SINGLE_VALUE_ITER = -(2**31)

# On Linux the SDK reports from a child it forks (sdk.development.report_use_subprocess), and that
# child has races of its own, whatever the server does. It inherits the parent's pooled keep-alive
# connections, and at exit both may write to the same one: in two CI runs the server received the
# child's events.add_batch interleaved with the parent's tasks.failed (a 400 for the batch,
# "Invalid HTTP request received" for the rest). And the parent checks the child with psutil on
# each log line and, when it takes it for gone, switches to a reporting thread mid-run, where the
# SDK's own source says "HANGS IF RACE HOLDS!": once in CI (SQLite, 2026-11-29) a reused task's
# script printed its result and then hung at exit. So scripts here report from a thread, as the
# SDK does by default off Linux; the reporting fixture keeps the Linux default (its run reports
# every kind of event through the child), and so do the agent's and the artifact tests.
REPORT_IN_PROCESS = "sdk { development { report_use_subprocess: false } }\n"
LINUX_DEFAULT = ""

# Prepended to every script: quiet, short runs (no framework hooks, no resource monitor) and a
# helper that prints one JSON result line the test picks out of stdout.
PRELUDE = f"""
import json, sys, time
from clearml import Task

INIT = dict(auto_connect_frameworks=False, auto_resource_monitoring=False)

def emit(**values):
    sys.stdout.write({MARKER!r} + json.dumps(values) + "\\n")
    sys.stdout.flush()
"""


@dataclass
class Sdk:
    """The server under test, an API client on it and the settings the SDK gets."""

    server: LiveServer
    api: Api
    settings: dict[str, str]
    root: Path

    def start(self, script: str, *, home: str, conf: str = REPORT_IN_PROCESS, **params: Any) -> subprocess.Popen:
        """Start ``script`` (with ``P`` bound to ``params``) in the SDK with HOME ``root/home``,
        where ``conf`` is the SDK's ``~/clearml.conf`` (none if empty)."""
        home_dir = self.root / home
        home_dir.mkdir(exist_ok=True)
        conf_file = home_dir / "clearml.conf"
        if conf:
            conf_file.write_text(conf)
        else:
            conf_file.unlink(missing_ok=True)
        work = self.root / f"work-{uuid.uuid4().hex[:6]}"
        work.mkdir()
        path = work / "script.py"
        source = PRELUDE + f"P = {params!r}\n" + textwrap.dedent(script)
        path.write_text(source)
        env = {k: v for k, v in os.environ.items() if not k.startswith(("CLEARML_", "TRAINS_", "SKIFF_"))}
        env.update(self.settings, HOME=str(home_dir), PYTHONUNBUFFERED="1")
        return subprocess.Popen(
            [sys.executable, str(path)],
            env=env,
            cwd=work,  # outside any git repository: the SDK stores the script itself
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            stdin=subprocess.DEVNULL,
            text=True,
        )

    def finish(self, process: subprocess.Popen, *, expect_ok: bool = True) -> Run:
        try:
            stdout, stderr = process.communicate(timeout=SDK_TIMEOUT)
        except subprocess.TimeoutExpired:
            process.kill()
            stdout, stderr = process.communicate()
            pytest.fail(f"SDK script ran over {SDK_TIMEOUT}s:\n{stdout}\n{stderr}")
        run = Run(process.returncode, stdout, stderr)
        Path(process.args[1]).with_name("output.txt").write_text(run.describe())
        if expect_ok:
            assert run.returncode == 0, run.describe()
        return run

    def run(
        self, script: str, *, home: str, conf: str = REPORT_IN_PROCESS, expect_ok: bool = True, **params: Any
    ) -> Run:
        return self.finish(self.start(script, home=home, conf=conf, **params), expect_ok=expect_ok)


@dataclass
class Run:
    returncode: int
    stdout: str
    stderr: str

    def describe(self) -> str:
        return f"exit {self.returncode}\n--- stdout\n{self.stdout}\n--- stderr\n{self.stderr}"

    @property
    def result(self) -> dict[str, Any]:
        lines = [line for line in self.stdout.splitlines() if line.startswith(MARKER)]
        assert lines, self.describe()
        return json.loads(lines[-1][len(MARKER) :])


@pytest.fixture(scope="module")
def sdk(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sdk]:
    root = tmp_path_factory.mktemp("sdk-workflows")
    data_dir = root / "data"
    db_url = new_database_url(root)
    if DIALECT == "postgresql":  # skiff serve never changes a PostgreSQL schema by itself
        settings = Settings(data_dir=data_dir, db_url=db_url)
        database = open_database(settings)
        upgrade_database(database, settings)
        database.dispose()
    server_home = root / "server-home"
    server_home.mkdir()
    env = {
        "HOME": str(server_home),
        "SKIFF_DATA_DIR": str(data_dir),
        "SKIFF_ACCESS_KEY": ACCESS_KEY,
        "SKIFF_SECRET_KEY": SECRET_KEY,
    }
    with live_server(data_dir, db_url, env=env) as server:
        printed = dict(re.findall(r"^\s*export (CLEARML_[A-Z_]+)=(\S+)\s*$", server.output, re.M))
        assert printed["CLEARML_API_HOST"] == server.url, server.output
        assert printed["CLEARML_API_ACCESS_KEY"] == ACCESS_KEY, server.output
        assert printed["CLEARML_API_SECRET_KEY"] == SECRET_KEY, server.output
        assert {"CLEARML_WEB_HOST", "CLEARML_FILES_HOST"} <= set(printed), server.output
        with httpx.Client(base_url=server.url, timeout=60, trust_env=False) as http:
            yield Sdk(server, Api(http, key=ACCESS_KEY, secret=SECRET_KEY), printed, root)


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def md5(text: str) -> str:
    return hashlib.md5(text.encode()).hexdigest()


def get_task(api: Api, task_id: str) -> dict[str, Any]:
    return api("tasks.get_by_id", {"task": task_id})["task"]


def projects_named(api: Api, name: str) -> list[dict[str, Any]]:
    found = api("projects.get_all", {"name": f"^{re.escape(name)}$", "search_hidden": True})["projects"]
    return [p for p in found if p["name"] == name]


def log_messages(api: Api, task_id: str) -> list[str]:
    data = api("events.get_task_log", {"task": task_id, "batch_size": 10000, "navigate_earlier": False})
    return [event["msg"] for event in data["events"]]


def scalar_series(api: Api, task_id: str) -> dict[str, dict[str, dict[str, list[Any]]]]:
    data = api("events.scalar_metrics_iter_histogram", {"task": task_id, "key": "iter"})
    return {
        metric: {variant: {"x": v["x"], "y": v["y"]} for variant, v in variants.items()}
        for metric, variants in data.items()
    }


# --- (a)-(c): Task.init, connect, report, close; read back in a fresh process; reuse -----------

REPORT_SCRIPT = """
task = Task.init(project_name=P["project"], task_name=P["name"], **INIT)
task.connect({"lr": 0.01, "epochs": 3, "name": "abc", "flag": True, "nested": {"a": 1, "b": "x"}})
task.connect_configuration({"layers": 4, "act": "relu", "sizes": [1, 2]}, name="model_cfg")
logger = task.get_logger()
for i in range(5):
    logger.report_scalar("loss", "train", value=10.0 - i, iteration=i)
logger.report_scalar("loss", "val", value=3.5, iteration=2)
logger.report_text("hello from report_text")
print("hello from print")
logger.report_single_value("best", 0.93)
task.flush(wait_for_uploads=True)
emit(id=task.id, project_id=task.project, report_subprocess=bool(task._report_subprocess_enabled))
task.close()
print("after close")
"""


@pytest.fixture(scope="module")
def reported(sdk: Sdk) -> dict[str, Any]:
    """Run the reporting script once; the tests below read what it left."""
    project, name = unique("wf-report"), "wf-main"
    run = sdk.run(REPORT_SCRIPT, home="home-report", conf=LINUX_DEFAULT, project=project, name=name)
    assert run.result["report_subprocess"] is (sys.platform == "linux"), run.describe()
    return {"project": project, "name": name, "run": run, **run.result}


def test_init_connect_report_close(sdk: Sdk, reported: dict[str, Any]) -> None:
    api, task_id = sdk.api, reported["id"]
    projects = projects_named(api, reported["project"])
    assert [p["id"] for p in projects] == [reported["project_id"]]
    task = get_task(api, task_id)
    assert task["name"] == reported["name"]
    assert task["project"] == projects[0]["id"]
    assert task["type"] == "training"
    assert "development" in task["system_tags"]
    assert task["status"] == "completed", task
    assert "Task.init" in task["script"]["diff"]  # outside git the SDK stores the script itself
    assert task["script"]["repository"] == ""
    assert "clearml" in task["script"]["requirements"]["pip"]  # tasks.set_requirements
    assert task["runtime"]["progress"] == "100"  # close(): tasks.edit runtime, then completed
    assert task["started"] <= task["completed"] <= task["last_update"]

    # connect: values are strings, nested dicts flattened with "/", types are Python type names.
    general = task["hyperparams"]["General"]
    assert {k: (v["value"], v["type"]) for k, v in general.items()} == {
        "lr": ("0.01", "float"),
        "epochs": ("3", "int"),
        "name": ("abc", "str"),
        "flag": ("True", "bool"),
        "nested/a": ("1", "int"),
        "nested/b": ("x", "str"),
    }
    assert all(v["section"] == "General" and v["name"] == k for k, v in general.items())
    # connect_configuration: one HOCON text of type "dictionary" under the given name.
    config = task["configuration"]
    assert set(config) == {"model_cfg"}
    assert config["model_cfg"]["name"] == "model_cfg"
    assert config["model_cfg"]["type"] == "dictionary"
    from clearml.utilities.pyhocon import ConfigFactory  # the SDK vendors pyhocon

    assert ConfigFactory.parse_string(config["model_cfg"]["value"]).as_plain_ordered_dict() == {
        "layers": 4, "act": "relu", "sizes": [1, 2],
    }  # fmt: skip

    # Scalars land in events and in last_metrics (md5-keyed); the single value does not move
    # last_iteration.
    assert task["last_iteration"] == 4
    loss = task["last_metrics"][md5("loss")]
    assert loss[md5("train")]["metric"] == "loss" and loss[md5("train")]["variant"] == "train"
    assert loss[md5("train")]["value"] == 6.0
    assert loss[md5("train")]["min_value"] == 6.0 and loss[md5("train")]["max_value"] == 10.0
    assert loss[md5("val")]["value"] == 3.5
    summary = task["last_metrics"][md5("Summary")][md5("best")]
    assert summary["value"] == 0.93
    series = scalar_series(api, task_id)
    assert series["loss"]["train"] == {"x": [0, 1, 2, 3, 4], "y": [10.0, 9.0, 8.0, 7.0, 6.0]}
    assert series["loss"]["val"] == {"x": [2], "y": [3.5]}
    singles = api("events.get_task_single_value_metrics", {"tasks": [task_id]})["tasks"]
    values = [(v["metric"], v["variant"], v["value"]) for v in singles[0]["values"]]
    assert values == [("Summary", "best", 0.93)]

    # report_text and print() both become log events.
    text = "\n".join(log_messages(api, task_id))
    assert "hello from report_text" in text
    assert "hello from print" in text


READ_BACK_SCRIPT = """
task = Task.get_task(task_id=P["id"])
scalars = task.get_reported_scalars()
console = task.get_reported_console_output(number_of_reports=100)
latest = task.get_reported_console_output(number_of_reports=2)
emit(
    status=task.get_status(),
    scalars=scalars,
    console=console,
    latest=latest,
    singles=task.get_reported_single_values(),
    last=task.get_last_scalar_metrics(),
    last_iteration=task.get_last_iteration(),
    parameters=task.get_parameters(),
    config=task.get_configuration_object_as_dict("model_cfg"),
)
"""

REUSE_SCRIPT = """
task = Task.init(project_name=P["project"], task_name=P["name"], **INIT)
task.set_parameters({"Args/x": 1, "Args/y": "two", "Custom/z": 0.5})
task.get_logger().report_scalar("second", "s", value=1.5, iteration=7)
print("second run output")
task.flush(wait_for_uploads=True)
emit(id=task.id)
"""


def test_read_back_in_a_fresh_process_then_reuse(sdk: Sdk, reported: dict[str, Any]) -> None:
    api, task_id = sdk.api, reported["id"]
    found = sdk.run(READ_BACK_SCRIPT, home="home-read", id=task_id).result
    assert found["status"] == "completed"
    assert found["scalars"]["loss"]["train"]["x"] == [0, 1, 2, 3, 4]
    assert found["scalars"]["loss"]["train"]["y"] == [10.0, 9.0, 8.0, 7.0, 6.0]
    assert found["scalars"]["loss"]["val"]["y"] == [3.5]
    console = "\n".join(found["console"])
    assert "hello from print" in console and "hello from report_text" in console
    # navigate_earlier from the end: the most recent reports, oldest first.
    assert len(found["console"]) >= 2 and found["latest"] == found["console"][-2:]
    assert found["singles"] == {"best": 0.93}
    assert found["last"]["loss"]["train"] == {"last": 6.0, "min": 6.0, "max": 10.0}
    assert found["last_iteration"] == 4
    assert found["parameters"]["General/lr"] == "0.01"
    assert found["parameters"]["General/nested/b"] == "x"
    assert found["config"] == {"layers": 4, "act": "relu", "sizes": [1, 2]}

    # A second Task.init with the same names from the same HOME reuses the task: tasks.reset
    # (events gone) + tasks.edit; set_parameters replaces every section; a normal exit completes.
    run = sdk.run(REUSE_SCRIPT, home="home-report", project=reported["project"], name=reported["name"])
    assert run.result["id"] == task_id, run.describe()
    assert len(projects_named(api, reported["project"])) == 1
    project_id = get_task(api, task_id)["project"]
    tasks = api("tasks.get_all", {"name": f"^{reported['name']}$", "project": [project_id]})
    assert [t["id"] for t in tasks["tasks"]] == [task_id]
    task = get_task(api, task_id)
    assert task["status"] == "completed", task
    sections = task["hyperparams"]
    assert {s: {k: (v["value"], v["type"]) for k, v in p.items()} for s, p in sections.items()} == {
        "Args": {"x": ("1", "int"), "y": ("two", "str")},
        "Custom": {"z": ("0.5", "float")},
    }
    assert task.get("configuration") in (None, {})
    assert task["comment"].startswith("Auto-generated at")
    assert task.get("output", {}).get("destination") in (None, "")
    assert set(scalar_series(api, task_id)) == {"second"}
    assert set(task["last_metrics"]) == {md5("second")}
    assert task["last_iteration"] == 7
    text = "\n".join(log_messages(api, task_id))
    assert "second run output" in text
    assert "hello from print" not in text and "hello from report_text" not in text


# --- (e): close / mark_completed / mark_failed / uncaught exception ------------------------

MARK_FAILED_SCRIPT = """
task = Task.init(project_name=P["project"], task_name="wf-mark-failed", **INIT)
task.mark_failed(status_reason="marked by the test")
emit(id=task.id)
"""

# get_requirements() waits for the SDK's repository detection thread. Raised right after
# Task.init, the exception would reach the exit hook while that thread still runs, and the hook
# kills it with an asynchronous SystemExit: once in CI (SQLite, 2026-11-28) the server then got
# an unparsable request and no tasks.failed, and the task stayed in_progress.
EXCEPTION_SCRIPT = """
task = Task.init(project_name=P["project"], task_name="wf-exception", **INIT)
task.get_requirements()
emit(id=task.id, report_subprocess=bool(task._report_subprocess_enabled))
raise RuntimeError("boom from the workflow test")
"""

MARK_COMPLETED_SCRIPT = """
task = Task.init(project_name=P["project"], task_name="wf-mark-completed", **INIT)
emit(id=task.id)
task.mark_completed()
time.sleep(20)  # the stop-signal poll ends the process before this returns
emit(id=task.id, slept=True)
"""


def test_exit_statuses(sdk: Sdk) -> None:
    project = unique("wf-status")
    processes = {
        name: sdk.start(script, home=f"home-{name}", project=project)
        for name, script in [
            ("failed", MARK_FAILED_SCRIPT),
            ("exception", EXCEPTION_SCRIPT),
            ("completed", MARK_COMPLETED_SCRIPT),
        ]
    }
    runs = {name: sdk.finish(p, expect_ok=False) for name, p in processes.items()}

    failed = get_task(sdk.api, runs["failed"].result["id"])
    assert runs["failed"].returncode == 0, runs["failed"].describe()
    # The exit hook's tasks.completed is refused: the task stays failed.
    assert failed["status"] == "failed", (failed, runs["failed"].describe())
    assert failed["status_reason"] == "marked by the test"

    crashed = get_task(sdk.api, runs["exception"].result["id"])
    assert runs["exception"].returncode != 0
    assert "RuntimeError" in runs["exception"].stderr
    assert runs["exception"].result["report_subprocess"] is False, runs["exception"].describe()
    assert crashed["status"] == "failed", (crashed, runs["exception"].describe())
    assert "boom from the workflow test" in crashed["status_reason"]

    done = get_task(sdk.api, runs["completed"].result["id"])
    assert "slept" not in runs["completed"].result, runs["completed"].describe()
    assert done["status"] == "completed", (done, runs["completed"].describe())
    assert len(projects_named(sdk.api, project)) == 1


# --- (f): get_task, get_tasks (partial name, tags, status, paging), clone, enqueue, dequeue --

QUERY_SCRIPT = """
by_name = Task.get_task(project_name=P["project"], task_name="wf-main")
duplicate = Task.get_task(project_name=P["project"], task_name="wf-dup")
partial = Task.get_tasks(project_name=P["project"], task_name="wf-q")
tagged = Task.get_tasks(project_name=P["project"], task_name="wf-q", tags=["red"])
completed = Task.get_tasks(project_name=P["project"], task_filter={"status": ["completed"]})
first_page = Task.get_tasks(project_name=P["paging"])  # 2.1.12: one page of 500 and a warning
everything = Task.query_tasks(project_name=P["paging"])  # pages while a page is full
clone = Task.clone(source_task=by_name, name="wf-clone")
enqueued = Task.enqueue(clone, queue_name=P["queue"])
queued_status = Task.get_task(task_id=clone.id).get_status()
num = Task.get_num_enqueued_tasks(queue_name=P["queue"])
dequeued = Task.dequeue(clone)
emit(
    by_name=by_name.id,
    duplicate=duplicate.id,
    partial=sorted(t.name for t in partial),
    tagged=sorted(t.name for t in tagged),
    completed=sorted(t.id for t in completed),
    first_page=[t.id for t in first_page],
    everything=everything,
    clone=clone.id,
    clone_parent=clone.parent,
    queued_status=queued_status,
    enqueued={k: getattr(enqueued, k, None) for k in ("updated", "queued", "fields")},
    dequeued={k: getattr(dequeued, k, None) for k in ("updated", "dequeued", "fields")},
    parameters=Task.get_task(task_id=by_name.id).get_parameters_as_dict(cast=True),
    num=num,
    num_after=Task.get_num_enqueued_tasks(queue_name=P["queue"]),
)
"""

PAGING_TASKS = 503


def test_queries_clone_enqueue_dequeue(sdk: Sdk) -> None:
    api = sdk.api
    project = unique("wf-query")
    paging = unique("wf-paging")
    queue = unique("wf-queue")
    run = sdk.run(REPORT_SCRIPT, home="home-query-source", project=project, name="wf-main")
    source_id = run.result["id"]
    project_id = get_task(api, source_id)["project"]
    for name, tags in [("wf-qa-1", ["red"]), ("wf-qb-2", ["blue"]), ("other-wf-3", ["red"])]:
        api("tasks.create", {"name": name, "type": "training", "project": project_id, "tags": tags})
    # Same name three times: get_task picks the newest last_update that is not archived.
    dup = {"name": "wf-dup", "type": "training", "project": project_id}
    dups = [api("tasks.create", dup)["id"] for _ in range(3)]
    api("tasks.edit", {"task": dups[0], "runtime": {"touched": "1"}})  # moves last_update
    api("tasks.edit", {"task": dups[1], "runtime": {"touched": "2"}, "system_tags": ["archived"]})
    listed = api("tasks.get_all", {"id": dups, "only_fields": ["id", "last_update"]})["tasks"]
    newest = {t["id"]: t["last_update"] for t in listed}
    assert max(newest, key=newest.__getitem__) == dups[1]
    paging_id = api("projects.create", {"name": paging, "description": ""})["id"]
    many = sorted(
        api("tasks.create", {"name": f"bulk-{i}", "type": "testing", "project": paging_id})["id"]
        for i in range(PAGING_TASKS)
    )
    queue_id = api("queues.create", {"name": queue})["id"]

    found = sdk.run(QUERY_SCRIPT, home="home-query", project=project, paging=paging, queue=queue).result
    assert found["by_name"] == source_id
    assert found["duplicate"] == dups[0]
    assert found["partial"] == ["wf-qa-1", "wf-qb-2"]  # a partial name is an unanchored regex
    assert found["tagged"] == ["wf-qa-1"]
    assert found["completed"] == [source_id]
    # get_tasks asks for page 0 only (and loads every hit); query_tasks pages past 500.
    assert len(found["first_page"]) == 500 == len(set(found["first_page"]))
    assert set(found["first_page"]) < set(many)
    assert sorted(found["everything"]) == many

    clone = get_task(api, found["clone"])
    assert found["clone_parent"] == source_id == clone["parent"]
    assert clone["name"] == "wf-clone" and clone["project"] == project_id
    source = get_task(api, source_id)
    assert clone["hyperparams"] == source["hyperparams"]
    assert clone["configuration"] == source["configuration"]
    assert "development" not in clone.get("system_tags", [])
    assert not clone.get("last_metrics")

    assert found["queued_status"] == "queued"
    assert found["enqueued"]["updated"] == 1 and found["enqueued"]["queued"] == 1, found["enqueued"]
    assert found["enqueued"]["fields"]["status"] == "queued", found["enqueued"]
    assert found["dequeued"]["updated"] == 1 and found["dequeued"]["dequeued"] == 1, found["dequeued"]
    assert found["dequeued"]["fields"]["status"] == "created", found["dequeued"]
    # connect() values read back with their types in another process
    assert found["parameters"]["General"] == {
        "lr": 0.01, "epochs": 3, "name": "abc", "flag": True, "nested": {"a": 1, "b": "x"},
    }  # fmt: skip
    assert found["num"] == 1 and found["num_after"] == 0
    assert clone["status"] == "created", clone
    assert api("queues.get_by_id", {"queue": queue_id})["queue"]["entries"] == []
