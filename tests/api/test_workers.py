"""The workers service over HTTP: what clearml-agent 3.0.3 sends (clients.md §4), every endpoint's
success and refusal codes, auto-registration, expiry (``now`` driven explicitly through the use
cases), the task's last_worker stamping (spec tasks-model §2.7) and company isolation."""

from __future__ import annotations

import re
import time
from datetime import datetime, timedelta
from typing import Any

import pytest

from skiff.domain import clock
from skiff.domain.identity import Identity
from skiff.ops import accounts
from skiff.ops import workers as ops
from tests.support import Api

ISO = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?\+00:00$")


@pytest.fixture
def me(admin) -> Identity:  # type: ignore[no-untyped-def]
    """The identity behind ``api`` (for driving the use cases with an explicit ``now``)."""
    return Identity(admin.company, "test company", admin.user, admin.user_name, "admin", admin.access_key)


@pytest.fixture
def outsider(client, db) -> Api:  # type: ignore[no-untyped-def]
    company = accounts.create_company(db, "outsiders")
    new = accounts.add_user(db, company, "outsider", role="admin")
    return Api(client, key=new.access_key, secret=new.secret_key)


def make_queue(api: Api, name: str) -> str:
    return api("queues.create", {"name": name})["id"]


def enqueue_entry(api: Api, queue: str, task: str) -> None:
    api("queues.add_task", {"queue": queue, "task": task})


def create_task(api: Api, name: str = "worker task", **fields: Any) -> str:
    return api("tasks.create", {"name": name, "type": "training", **fields})["id"]


def get_task(api: Api, task: str) -> dict[str, Any]:
    return api("tasks.get_by_id", {"task": task})["task"]


def workers(api: Api, **body: Any) -> dict[str, dict[str, Any]]:
    return {w["id"]: w for w in api("workers.get_all", body)["workers"]}


def report(api: Api, worker: str, **body: Any) -> Any:
    """A status report shaped like the agent's (machine_stats and tags null, is_daemon)."""
    payload = {
        "worker": worker,
        "timestamp": int(time.time() * 1000),
        "machine_stats": None,
        "tags": None,
        "is_daemon": True,
        **body,
    }
    return api.call("workers.status_report", payload)


def parse(value: str) -> datetime:
    return datetime.fromisoformat(value).replace(tzinfo=None)


# register ----------------------------------------------------------------------------------------
def test_register_then_get_all_shows_the_worker(api: Api, admin) -> None:  # type: ignore[no-untyped-def]
    queue = make_queue(api, "gpu-queue")
    before = clock.now()
    assert api("workers.register", {"worker": "host:0", "queues": [queue], "tags": ["t1"]}) == {}
    entry = workers(api)["host:0"]
    assert entry["key"] == f"worker_{admin.company}_{admin.user}_host:0"
    assert entry["user"] == {"id": admin.user, "name": "admin"}
    assert entry["company"] == {"id": admin.company, "name": "test company"}
    assert entry["ip"] == "testclient"
    assert entry["register_timeout"] == 600
    assert entry["queues"] == [{"id": queue, "name": "gpu-queue", "num_tasks": 0}]
    assert entry["tags"] == ["t1"] and entry["system_tags"] == []
    for key in ("register_time", "last_activity_time"):
        assert ISO.match(entry[key]), entry[key]
        assert parse(entry[key]) >= before
    # never reported, no task: these are left out, as the reference leaves them out
    assert not {"last_report_time", "task", "project", "queue"} & set(entry)


def test_register_again_replaces_the_entry(api: Api) -> None:
    queue = make_queue(api, "first-queue")
    api("workers.register", {"worker": "w", "queues": [queue], "timeout": 30, "tags": ["a"]})
    assert report(api, "w", queue=queue).status == 200
    api("workers.register", {"worker": "w"})
    entry = workers(api)["w"]
    assert entry["queues"] == [] and entry["tags"] == [] and entry["register_timeout"] == 600
    assert "last_report_time" not in entry


def test_register_refusals(api: Api) -> None:
    reply = api.call("workers.register", {"worker": "w", "timeout": -5})
    assert reply.code == (400, 1002)
    assert reply.msg == "Worker registration failed (invalid timeout): timeout=-5, worker=w"
    assert reply.data == {}

    reply = api.call("workers.register", {"worker": "w", "queues": ["nope", "nada"]})
    assert reply.code == (400, 701)
    assert reply.msg == "Invalid queue id: ids=(nope, nada)"

    assert api.call("workers.register", {}).code == (400, 12)
    assert api.call("workers.register", {"worker": ""}).code == (400, 12)
    assert api.call("workers.register", {"worker": "x" * 257}).code == (400, 12)
    assert workers(api) == {}


def test_register_with_timeout_zero_or_null_uses_the_default(api: Api) -> None:
    api("workers.register", {"worker": "zero", "timeout": 0})
    api("workers.register", {"worker": "null", "timeout": None})
    found = workers(api)
    assert found["zero"]["register_timeout"] == 600
    assert found["null"]["register_timeout"] == 600


def test_register_takes_the_forwarded_client_address(api: Api) -> None:
    api("workers.register", {"worker": "behind-proxy"}, headers={"X-Forwarded-For": "10.1.2.3, 10.0.0.1"})
    assert workers(api)["behind-proxy"]["ip"] == "10.1.2.3"


def test_worker_endpoints_start_at_api_2_4(api: Api) -> None:
    assert api.call("workers.register", {"worker": "old"}, version="2.3").code == (404, 0)
    assert api.call("workers.register", {"worker": "v24"}, version="2.4").code == (200, 0)
    assert api.call("workers.get_runtime_properties", {"worker": "v24"}, version="2.9").code == (404, 0)
    assert api.call("workers.get_count", {}, version="2.25").code == (404, 0)


# unregister --------------------------------------------------------------------------------------
def test_unregister_removes_the_worker_and_tolerates_unknown_ones(api: Api) -> None:
    api("workers.register", {"worker": "w"})
    # the agent's shutdown: two unregisters, the first with an empty queue list
    assert api("workers.unregister", {"worker": "w", "queues": []}) == {}
    assert api("workers.unregister", {"worker": "w", "queues": ["q"]}) == {}
    assert api("workers.unregister", {"worker": "never-registered"}) == {}
    assert workers(api) == {}
    assert api.call("workers.unregister", {}).code == (400, 12)


# status_report -----------------------------------------------------------------------------------
def test_status_report_auto_registers_an_unknown_worker(api: Api) -> None:
    queue = make_queue(api, "agent-queue")
    reply = report(api, "host:gpu0", queues=[queue])
    assert reply.code == (200, 0) and reply.data == {}
    entry = workers(api)["host:gpu0"]
    assert entry["register_timeout"] == 600
    assert entry["queues"][0]["id"] == queue
    assert entry["last_report_time"] == entry["last_activity_time"]
    assert "task" not in entry


def test_status_report_with_a_task_stamps_the_task(api: Api, admin) -> None:  # type: ignore[no-untyped-def]
    project = api("projects.create", {"name": "worker project"})["id"]
    task = create_task(api, "running task", project=project)
    queue = make_queue(api, "run-queue")
    api("workers.register", {"worker": "w1", "queues": [queue]})
    api("tasks.started", {"task": task, "force": True})
    before = get_task(api, task)
    time.sleep(0.01)

    assert report(api, "w1", task=task, queue=queue).status == 200

    after = get_task(api, task)
    assert after["last_worker"] == "w1"
    assert after["last_changed_by"] == admin.user
    stamp = after["last_worker_report"]
    assert after["last_update"] == stamp and after["last_change"] == stamp
    assert parse(stamp) > parse(before["last_update"])
    assert after["status"] == "in_progress" and after["status_changed"] == before["status_changed"]

    entry = workers(api)["w1"]
    assert entry["task"]["id"] == task and entry["task"]["name"] == "running task"
    assert isinstance(entry["task"]["running_time"], int)
    assert entry["project"] == {"id": project, "name": "worker project"}
    assert entry["queue"] == {"id": queue, "name": "run-queue", "num_tasks": 0}
    assert entry["last_report_time"] == stamp

    # the report after the run has no task: task, project and queue are cleared
    assert report(api, "w1").status == 200
    entry = workers(api)["w1"]
    assert not {"task", "project", "queue"} & set(entry)
    assert get_task(api, task)["last_worker"] == "w1"


def test_status_report_with_an_unknown_task_is_refused_but_kept(api: Api) -> None:
    assert report(api, "w2").status == 200
    first = workers(api)["w2"]
    time.sleep(0.01)
    reply = report(api, "w2", task="no-such-task", queues=["q-from-report"])
    assert reply.code == (400, 101)
    assert reply.msg.startswith("Invalid task id: id=no-such-task, company=")
    entry = workers(api)["w2"]
    # activity and queues recorded; the last *successful* report stays where it was
    assert parse(entry["last_activity_time"]) > parse(first["last_activity_time"])
    assert entry["last_report_time"] == first["last_report_time"]
    assert entry["queues"] == [{"id": "q-from-report"}]


def test_status_report_tags_null_keeps_tags_and_a_list_replaces_them(api: Api) -> None:
    api("workers.register", {"worker": "w", "tags": ["a", "b"], "system_tags": ["s"]})
    report(api, "w")
    assert workers(api)["w"]["tags"] == ["a", "b"]
    report(api, "w", tags=["c"], system_tags=[])
    entry = workers(api)["w"]
    assert entry["tags"] == ["c"] and entry["system_tags"] == []


def test_status_report_queues_null_or_empty_keeps_the_queue_list(api: Api) -> None:
    queue = make_queue(api, "kept-queue")
    api("workers.register", {"worker": "w", "queues": [queue]})
    report(api, "w", queues=None)
    report(api, "w", queues=[])
    assert [q["id"] for q in workers(api)["w"]["queues"]] == [queue]


def test_status_report_refusals(api: Api) -> None:
    reply = api.call("workers.status_report", {"worker": "w"})
    assert reply.code == (400, 12)
    assert "timestamp" in reply.msg
    assert api.call("workers.status_report", {"timestamp": 1}).code == (400, 12)
    assert workers(api) == {}


def test_get_all_shows_queue_length_and_next_task(api: Api) -> None:
    queue = make_queue(api, "busy-queue")
    first, second = create_task(api, "first in line"), create_task(api, "second in line")
    enqueue_entry(api, queue, first)
    enqueue_entry(api, queue, second)
    api("workers.register", {"worker": "w", "queues": [queue]})
    assert workers(api)["w"]["queues"] == [
        {"id": queue, "name": "busy-queue", "num_tasks": 2, "next_task": {"id": first, "name": "first in line"}}
    ]


# expiry and get_all filters ----------------------------------------------------------------------
def test_expired_workers_disappear_and_come_back_on_report(api: Api, db, me: Identity) -> None:  # type: ignore[no-untyped-def]
    now = clock.now()
    ops.register_worker(db, me, "short", timeout=60, now=now - timedelta(seconds=61))
    ops.register_worker(db, me, "long", timeout=60, now=now - timedelta(seconds=59))
    assert set(workers(api)) == {"long"}
    assert [w["id"] for w in ops.list_workers(db, me, now=now + timedelta(seconds=2))] == []
    with db.read() as conn:
        assert not ops.worker_alive(conn, me.company, "short", now)
        assert ops.worker_alive(conn, me.company, "long", now)

    # an expired worker that reports is registered afresh
    assert report(api, "short").status == 200
    entry = workers(api)["short"]
    assert entry["register_timeout"] == 600
    assert parse(entry["register_time"]) >= now


def test_get_all_last_seen_and_get_count(api: Api, db, me: Identity) -> None:  # type: ignore[no-untyped-def]
    now = clock.now()
    ops.register_worker(db, me, "quiet", timeout=100_000, now=now - timedelta(hours=2))
    ops.register_worker(db, me, "busy", now=now)
    assert set(workers(api)) == {"busy"}  # last_seen defaults to one hour
    assert set(workers(api, last_seen=0)) == {"quiet", "busy"}
    assert set(workers(api, last_seen=None)) == {"quiet", "busy"}
    assert set(workers(api, last_seen=3 * 3600)) == {"quiet", "busy"}
    assert api("workers.get_count", {}) == {"count": 2}  # get_count: no activity filter by default
    assert api("workers.get_count", {"last_seen": 60}) == {"count": 1}


def test_get_all_tag_filters_and_worker_pattern(api: Api) -> None:
    api("workers.register", {"worker": "gpu-1", "tags": ["gpu", "a100"]})
    api("workers.register", {"worker": "gpu-2", "tags": ["gpu"], "system_tags": ["spot"]})
    api("workers.register", {"worker": "cpu-1", "tags": ["cpu"]})
    assert set(workers(api, tags=["gpu"])) == {"gpu-1", "gpu-2"}
    assert set(workers(api, tags=["gpu", "cpu"])) == {"gpu-1", "gpu-2", "cpu-1"}
    assert set(workers(api, tags=["-gpu"])) == {"cpu-1"}
    assert set(workers(api, tags=["gpu", "-a100"])) == {"gpu-2"}
    assert set(workers(api, tags=["gpu"], system_tags=["-spot"])) == {"gpu-1"}
    assert set(workers(api, worker_pattern="gpu-*")) == {"gpu-1", "gpu-2"}
    assert set(workers(api, worker_pattern="?pu-1")) == {"gpu-1", "cpu-1"}
    assert api("workers.get_count", {"tags": ["gpu"], "worker_pattern": "*-2"}) == {"count": 1}


# runtime properties ------------------------------------------------------------------------------
def test_runtime_properties(api: Api, db, me: Identity) -> None:  # type: ignore[no-untyped-def]
    # the agent polls this for a worker that may not be registered: an empty list
    assert api("workers.get_runtime_properties", {"worker": "w"}) == {"runtime_properties": []}
    reply = api(
        "workers.set_runtime_properties",
        {
            "worker": "w",
            "runtime_properties": [
                {"key": "available_gpus", "value": "0_5,1_5"},
                {"key": "force", "value": "on", "expiry": 3600},
            ],
        },
    )
    assert reply == {"added": ["available_gpus", "force"], "removed": [], "errors": []}
    props = api("workers.get_runtime_properties", {"worker": "w"})["runtime_properties"]
    assert props[0] == {"key": "available_gpus", "value": "0_5,1_5", "expiry": None}
    assert props[1]["key"] == "force" and props[1]["value"] == "on"
    assert 3590 <= props[1]["expiry"] <= 3600

    # expired properties are not shown
    later = clock.now() + timedelta(seconds=3601)
    assert [p["key"] for p in ops.get_runtime_properties(db, me, "w", now=later)] == ["available_gpus"]

    # expiry 0 removes
    reply = api(
        "workers.set_runtime_properties",
        {"worker": "w", "runtime_properties": [{"key": "available_gpus", "value": "", "expiry": 0}]},
    )
    assert reply == {"added": [], "removed": ["available_gpus"], "errors": []}
    assert [p["key"] for p in api("workers.get_runtime_properties", {"worker": "w"})["runtime_properties"]] == ["force"]

    bad = {"worker": "w", "runtime_properties": [{"key": "k", "value": "v", "expiry": -1}]}
    assert api.call("workers.set_runtime_properties", bad).code == (400, 12)
    assert api.call("workers.set_runtime_properties", {"worker": "w"}).code == (400, 12)
    assert api.call("workers.get_runtime_properties", {}).code == (400, 12)


# watched queues ----------------------------------------------------------------------------------
def test_watched_queues_are_those_of_live_workers(api: Api, db, me: Identity) -> None:  # type: ignore[no-untyped-def]
    q1, q2, q3 = (make_queue(api, name) for name in ("wq-one", "wq-two", "wq-three"))
    now = clock.now()
    ops.register_worker(db, me, "alive", queues=[q1, q2], now=now)
    ops.register_worker(db, me, "expired", queues=[q3], timeout=10, now=now - timedelta(seconds=20))
    with db.read() as conn:
        assert ops.watched_queues(conn, me.company, now) == {q1, q2}
        assert ops.watched_queues(conn, me.company, now + timedelta(seconds=601)) == set()
        assert ops.watched_queues(conn, "another company", now) == set()
        serving = ops.workers_by_queue(conn, me.company, now)
    assert set(serving) == {q1, q2}
    assert serving[q1] == serving[q2] == [
        {"name": "alive", "ip": "", "key": f"worker_{me.company}_{me.user}_alive", "task": None}
    ]


# isolation ---------------------------------------------------------------------------------------
def test_companies_do_not_see_or_touch_each_others_workers(api: Api, outsider: Api) -> None:
    task = create_task(api)
    api("workers.register", {"worker": "shared-name", "tags": ["mine"]})
    api(
        "workers.set_runtime_properties",
        {"worker": "shared-name", "runtime_properties": [{"key": "k", "value": "mine"}]},
    )

    assert workers(outsider) == {}
    assert outsider("workers.get_count", {}) == {"count": 0}
    assert outsider("workers.get_runtime_properties", {"worker": "shared-name"}) == {"runtime_properties": []}
    # reporting the other company's task is refused and leaves the task alone
    reply = report(outsider, "outsider-worker", task=task)
    assert reply.code == (400, 101)
    assert "last_worker" not in get_task(api, task)
    # the same worker name in another company is another worker
    outsider("workers.register", {"worker": "shared-name"})
    outsider("workers.unregister", {"worker": "shared-name"})
    assert workers(api)["shared-name"]["tags"] == ["mine"]
    assert set(workers(outsider)) == {"outsider-worker"}


def test_users_of_one_company_have_separate_workers_of_one_name(api: Api, user_api: Api) -> None:
    api("workers.register", {"worker": "same", "tags": ["admin's"]})
    user_api("workers.register", {"worker": "same", "tags": ["user's"]})
    listed = api("workers.get_all", {})["workers"]
    assert sorted(w["tags"][0] for w in listed if w["id"] == "same") == ["admin's", "user's"]
    user_api("workers.unregister", {"worker": "same"})
    assert workers(api)["same"]["tags"] == ["admin's"]


# the agent's whole conversation ------------------------------------------------------------------
def test_the_agent_daemon_sequence(api: Api) -> None:
    """clients.md §4: register, poll (runtime properties, reports), run a task, shut down."""
    queue = make_queue(api, "agent-daemon-queue")
    task = create_task(api, "agent run")
    worker = "agent-host:0"
    assert api.call("workers.register", {"worker": worker, "queues": [queue]}).status == 200
    assert api("workers.get_runtime_properties", {"worker": worker}) == {"runtime_properties": []}
    assert report(api, worker, queues=[queue]).status == 200
    api("tasks.started", {"task": task, "force": True, "status_message": "pulled by agent"}, version="2.5")
    assert report(api, worker, task=task, queue=queue, queues=[queue]).status == 200
    assert get_task(api, task)["last_worker"] == worker
    assert workers(api)[worker]["task"]["id"] == task
    api("tasks.completed", {"task": task, "force": False, "status_reason": "worker execution done"}, version="2.5")
    assert report(api, worker, queues=[queue]).status == 200
    assert "task" not in workers(api)[worker]
    api("workers.unregister", {"worker": worker, "queues": []})
    api("workers.unregister", {"worker": worker, "queues": [queue]})
    assert workers(api) == {}
