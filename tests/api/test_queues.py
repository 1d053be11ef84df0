"""queues.* over HTTP: every endpoint's success path and refusals with their exact codes, queue
order under every move, the task side of add/pop/remove/clear/delete, metrics, metadata,
isolation between companies, and racing consumers of one queue."""

from __future__ import annotations

import re
import threading
import time
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from alembic import command
from alembic.config import Config
from sqlalchemy import insert, text

from skiff.domain import clock
from skiff.ops import accounts
from skiff.storage import schema
from skiff.storage.engine import Database
from skiff.storage.repos import queues as repo
from skiff.storage.repos import tasks as tasks_repo
from skiff.storage.tables import queue_metrics
from tests.support import Api, new_database_url

ISO = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{6})?\+00:00")
HEX_ID = re.compile(r"[0-9a-f]{32}")


# helpers ------------------------------------------------------------------------------------------
def create(api: Api, name: str, **fields: Any) -> str:
    return api("queues.create", {"name": name, **fields})["id"]


def get(api: Api, queue: str) -> dict[str, Any]:
    return api("queues.get_by_id", {"queue": queue})["queue"]


def entries(api: Api, queue: str) -> list[str]:
    return [e["task"] for e in get(api, queue)["entries"]]


def new_task(api: Api, name: str = "queued task") -> str:
    return api("tasks.create", {"name": name, "type": "training"})["id"]


def task(api: Api, task_id: str) -> dict[str, Any]:
    return api("tasks.get_by_id", {"task": task_id})["task"]


def add(api: Api, queue: str, task_id: str) -> None:
    assert api("queues.add_task", {"queue": queue, "task": task_id}) == {"added": 1}


def filled(api: Api, name: str, count: int) -> tuple[str, list[str]]:
    queue = create(api, name)
    tasks = [new_task(api, f"{name} task {i}") for i in range(count)]
    for t in tasks:
        add(api, queue, t)
    return queue, tasks


def company_of(api: Api) -> str:
    return api("users.get_current_user", {})["user"]["company"]["id"]


def mark_queued(db, company: str, task_id: str, queue: str, enqueue_status: str | None) -> None:  # type: ignore[no-untyped-def]
    """What tasks.enqueue leaves on the task (status queued, enqueue_status, execution.queue)."""
    with db.write() as conn:
        old = tasks_repo.get_task(conn, [company], task_id)
        assert old is not None
        new = dict(old, status="queued", enqueue_status=enqueue_status)
        new["execution"] = {**(old.get("execution") or {}), "queue": queue}
        tasks_repo.replace_task(conn, old, new)


@pytest.fixture
def other_api(client, db) -> Api:  # type: ignore[no-untyped-def]
    """The admin of a second, unrelated company."""
    company = accounts.create_company(db, "other company")
    admin = accounts.add_user(db, company, "other admin", role="admin")
    return Api(client, key=admin.access_key, secret=admin.secret_key)


# the default queue --------------------------------------------------------------------------------
def test_every_company_starts_with_a_default_queue(api: Api) -> None:
    default = api("queues.get_default", {})
    assert default["name"] == "default" and HEX_ID.fullmatch(default["id"])
    doc = get(api, default["id"])
    assert doc["system_tags"] == ["default"] and doc["entries"] == []
    assert api("queues.get_default", {}, version="2.5") == default  # as clearml-agent asks


def test_the_first_install_has_a_default_queue(db) -> None:  # type: ignore[no-untyped-def]
    company = accounts.default_company(db)
    with db.read() as conn:
        found = repo.default_queues(conn, company)
    assert [q["name"] for q in found] == ["default"]


def test_upgrading_gives_existing_companies_a_default_queue(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """Migration 0005 creates the default queue of companies that existed before queues did."""
    database = Database(new_database_url(tmp_path), pool_size=1)
    try:
        for target in ("0004", "head"):
            with database.engine.connect() as conn, conn.begin():
                config = Config()
                config.set_main_option("script_location", str(schema.MIGRATIONS))
                config.attributes["connection"] = conn
                command.upgrade(config, target)
                if target == "0004":
                    conn.execute(text("INSERT INTO companies (id, name, created) VALUES ('c1', 'old', '2024-01-01')"))
        with database.read() as conn:
            found = repo.default_queues(conn, "c1")
            assert [(q["name"], q["metadata"]) for q in found] == [("default", {})]
            assert repo.tags_of(conn, [found[0]["id"]])[found[0]["id"]] == {"tags": [], "system_tags": ["default"]}
    finally:
        database.dispose()


def test_get_default_refuses_none_707_and_several_708(api: Api) -> None:
    default = api("queues.get_default", {})["id"]
    api("queues.update", {"queue": default, "system_tags": []})
    reply = api.call("queues.get_default", {})
    assert reply.code == (400, 707)
    assert reply.msg == "No queue is tagged as the default queue for this company"
    assert reply.data == {}
    api("queues.update", {"queue": default, "system_tags": ["default"]})
    second = create(api, "second default", system_tags=["default"])
    reply = api.call("queues.get_default", {})
    assert reply.code == (400, 708)
    assert reply.msg == (
        "More than one queue is tagged as the default queue for this company: "
        f"queues=({default}, {second})"
    )


# create / get_by_id -------------------------------------------------------------------------------
def test_create_and_read_back(api: Api) -> None:
    queue = create(
        api, "  gpu queue  ", display_name="GPUs", tags=["b", "a", "b"], system_tags=["s"],
        metadata={"zone": {"key": "zone", "type": "str", "value": "eu"}},
    )  # fmt: skip
    assert HEX_ID.fullmatch(queue)
    doc = get(api, queue)
    assert set(doc) == {
        "id", "name", "display_name", "company", "created", "last_update", "tags", "system_tags",
        "entries", "metadata",
    }  # fmt: skip
    assert doc["id"] == queue
    assert doc["name"] == "gpu queue"  # stripped
    assert doc["display_name"] == "GPUs"
    assert doc["company"] == company_of(api)
    assert doc["tags"] == ["a", "b"] and doc["system_tags"] == ["s"]
    assert doc["entries"] == []
    assert doc["metadata"] == {"zone": {"key": "zone", "type": "str", "value": "eu"}}
    assert ISO.fullmatch(doc["created"]) and doc["last_update"] == doc["created"]


def test_create_refusals(api: Api) -> None:
    create(api, "taken")
    reply = api.call("queues.create", {"name": "taken"})
    assert reply.code == (400, 801)
    assert reply.msg.startswith("Value combination already exists")
    assert api.call("queues.create", {"name": " taken "}).code == (400, 801)
    assert api.call("queues.create", {"name": "ab"}).code == (400, 800)
    assert api.call("queues.create", {"name": "   "}).code == (400, 800)
    assert api.call("queues.create", {}).code == (400, 12)
    assert api.call("queues.create", {"name": "tagged", "tags": ["__$not"]}).code == (400, 16)
    assert api.call("queues.create", {"name": "bad meta", "metadata": [{"type": "x"}]}).code == (400, 12)
    assert [q["name"] for q in api("queues.get_all", {"name": "^taken$"})["queues"]] == ["taken"]


def test_racing_creators_get_one_queue(db, api: Api) -> None:  # type: ignore[no-untyped-def]
    start = threading.Barrier(6)
    outcomes: list[tuple[int, int]] = []

    def attempt() -> None:
        start.wait()
        outcomes.append(api.call("queues.create", {"name": "contended"}).code)

    threads = [threading.Thread(target=attempt) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes) == [(200, 0)] + [(400, 801)] * 5
    assert len(api("queues.get_all", {"name": "^contended$"})["queues"]) == 1


def test_get_by_id_refuses_unknown_ids_400_701_with_empty_data(api: Api) -> None:
    # Task.enqueue(queue_name=Q) first tries the name as an id and relies on data == {}.
    reply = api.call("queues.get_by_id", {"queue": "my queue"}, version="2.23")
    assert reply.code == (400, 701)
    assert reply.msg == f"Invalid queue id: id=my queue, company={company_of(api)}"
    assert reply.data == {}
    assert api.call("queues.get_by_id", {}).code == (400, 12)


def test_get_by_id_max_task_entries(api: Api) -> None:
    queue, tasks = filled(api, "limited", 3)
    assert entries(api, queue) == tasks
    limited = api("queues.get_by_id", {"queue": queue, "max_task_entries": 2})["queue"]
    assert [e["task"] for e in limited["entries"]] == tasks[:2]
    assert all(ISO.fullmatch(e["added"]) for e in limited["entries"])


# get_all / get_all_ex -----------------------------------------------------------------------------
def names(api: Api, endpoint: str = "queues.get_all", **query: Any) -> list[str]:
    return [q["name"] for q in api(endpoint, {"only_fields": ["name"], **query})["queues"]]


def test_get_all_filters(api: Api) -> None:
    a = create(api, "alpha-one", tags=["red"], system_tags=["x"])
    create(api, "alpha-two", tags=["blue"])
    create(api, "beta", tags=["red", "blue"])
    assert names(api) == ["default", "alpha-one", "alpha-two", "beta"]  # creation order
    assert names(api, name="^alpha") == ["alpha-one", "alpha-two"]
    assert names(api, name="ALPHA") == []  # case-sensitive
    assert names(api, id=[a]) == ["alpha-one"]
    assert names(api, id=a) == ["alpha-one"]  # a bare string
    assert names(api, tags=["red"]) == ["alpha-one", "beta"]
    assert names(api, tags=["-red"]) == ["default", "alpha-two"]
    assert names(api, tags=["blue", "-red"]) == ["alpha-two"]
    assert names(api, system_tags=["x"]) == ["alpha-one"]
    assert names(api, system_tags=["-default"]) == ["alpha-one", "alpha-two", "beta"]
    assert names(api, order_by=["-name"]) == ["default", "beta", "alpha-two", "alpha-one"]
    assert names(api, order_by=["name"], page=1, page_size=2) == ["beta", "default"]
    assert api.call("queues.get_all", {"name": "(unclosed"}).code == (400, 21)
    assert api.call("queues.get_all", {"tags": ["__$all"]}).code == (400, 16)
    assert api.call("queues.get_all", {"page_size": 0}).code == (400, 12)


def test_get_all_as_clearml_agent_and_the_sdk_send_it(api: Api) -> None:
    queue = create(api, "q-agent", tags=["gpu"])
    create(api, "my-q-agent-2")
    # agent startup: escaped but unanchored; the agent keeps the exact match itself
    found = api("queues.get_all", {"name": re.escape("q-agent"), "only_fields": ["name", "id"]}, version="2.5")
    assert sorted(q["name"] for q in found["queues"]) == ["my-q-agent-2", "q-agent"]
    assert all(set(q) == {"id", "name"} for q in found["queues"])
    # agent poll
    polled = api("queues.get_all", {"id": [queue], "only_fields": ["id", "tags"]}, version="2.5")["queues"]
    assert polled == [{"id": queue, "tags": ["gpu"]}]
    # SDK Task.enqueue(queue_name=...)
    sdk = api("queues.get_all", {"name": f"^{re.escape('q-agent')}$", "only_fields": ["id"], "search_hidden": False})
    assert sdk["queues"] == [{"id": queue}]


def test_get_all_documents_and_max_task_entries(api: Api) -> None:
    queue, tasks = filled(api, "listed", 3)
    doc = api("queues.get_all", {"id": [queue]})["queues"][0]
    assert doc == get(api, queue)
    assert [e["task"] for e in doc["entries"]] == tasks
    limited = api("queues.get_all", {"id": [queue], "max_task_entries": 2}, version="2.20")["queues"][0]
    assert [e["task"] for e in limited["entries"]] == tasks[:2]
    assert "entries" not in api("queues.get_all", {"id": [queue], "only_fields": ["-entries"]})["queues"][0]


def test_hidden_queues_need_search_hidden_an_id_or_a_name(api: Api) -> None:
    hidden = create(api, "glue queue", system_tags=["k8s-glue"])
    for endpoint in ("queues.get_all", "queues.get_all_ex"):
        assert "glue queue" not in names(api, endpoint)
        assert "glue queue" in names(api, endpoint, search_hidden=True)
        assert names(api, endpoint, name="^glue") == ["glue queue"]
        assert names(api, endpoint, id=[hidden]) == ["glue queue"]


def test_get_all_ex_shows_task_names_and_workers(api: Api) -> None:
    queue, tasks = filled(api, "shown", 2)
    doc = api("queues.get_all_ex", {"name": "^shown$"})["queues"][0]
    assert doc["id"] == queue and doc["name"] == "shown"
    assert [e["task"] for e in doc["entries"]] == [{"id": t, "name": f"shown task {i}"} for i, t in enumerate(tasks)]
    assert all(ISO.fullmatch(e["added"]) for e in doc["entries"])
    assert doc["workers"] == []
    assert doc["last_update"]
    limited = api("queues.get_all_ex", {"id": [queue], "max_task_entries": 1})["queues"][0]
    assert [e["task"]["id"] for e in limited["entries"]] == tasks[:1]


# update -------------------------------------------------------------------------------------------
def test_update(api: Api) -> None:
    queue = create(api, "to update", tags=["old"])
    before = get(api, queue)
    reply = api("queues.update", {"queue": queue, "tags": ["test", "b"], "name": " renamed ", "display_name": "R"})
    assert reply == {"updated": 1, "fields": {"tags": ["b", "test"], "name": "renamed", "display_name": "R"}}
    doc = get(api, queue)
    assert doc["name"] == "renamed" and doc["tags"] == ["b", "test"] and doc["display_name"] == "R"
    assert doc["last_update"] >= before["last_update"]
    meta = {"k": {"key": "k", "value": "v"}}
    assert api("queues.update", {"queue": queue, "metadata": meta})["fields"] == {"metadata": meta}
    assert get(api, queue)["metadata"] == meta
    assert api("queues.update", {"queue": queue}) == {"updated": 0, "fields": {}}
    assert api("queues.update", {"queue": queue, "name": "renamed"})["updated"] == 1  # same name


def test_update_refusals(api: Api) -> None:
    queue = create(api, "first name")
    create(api, "second name")
    assert api.call("queues.update", {"queue": queue, "name": "second name"}).code == (400, 801)
    assert api.call("queues.update", {"queue": queue, "name": "no"}).code == (400, 800)
    assert api.call("queues.update", {"queue": "nope", "tags": []}).code == (400, 701)
    assert api.call("queues.update", {"queue": queue, "system_tags": ["__$x"]}).code == (400, 16)
    assert get(api, queue)["name"] == "first name"


# delete -------------------------------------------------------------------------------------------
def test_delete_empty_queue(api: Api) -> None:
    queue = create(api, "short lived")
    assert api("queues.delete", {"queue": queue}) == {"deleted": 1}
    assert api.call("queues.get_by_id", {"queue": queue}).code == (400, 701)
    reply = api.call("queues.delete", {"queue": queue})
    assert reply.code == (400, 701)


def test_delete_non_empty_needs_force_and_releases_tasks(db, api: Api) -> None:  # type: ignore[no-untyped-def]
    company = company_of(api)
    queue, tasks = filled(api, "doomed", 2)
    mark_queued(db, company, tasks[0], queue, "stopped")
    mark_queued(db, company, tasks[1], queue, None)
    reply = api.call("queues.delete", {"queue": queue})
    assert reply.code == (400, 702)
    assert reply.msg == f"Queue is not empty (use force=true to delete): id={queue}"
    assert entries(api, queue) == tasks
    assert api("queues.delete", {"queue": queue, "force": True}) == {"deleted": 1}
    first, second = task(api, tasks[0]), task(api, tasks[1])
    assert first["status"] == "stopped" and second["status"] == "created"
    for doc in (first, second):
        assert doc["status_reason"] == f"Queue {queue} was deleted"
        assert "queue" not in doc["execution"]
        assert doc.get("enqueue_status") is None
    # the tasks are free to be queued again
    other = create(api, "next home")
    add(api, other, tasks[0])


# add_task -----------------------------------------------------------------------------------------
def test_add_task_points_execution_queue_and_keeps_the_status(api: Api) -> None:
    queue = create(api, "adding")
    t = new_task(api)
    assert api("queues.add_task", {"queue": queue, "task": t}, version="2.4") == {"added": 1}
    doc = task(api, t)
    assert doc["status"] == "created"
    assert doc["execution"]["queue"] == queue
    assert entries(api, queue) == [t]
    assert get(api, queue)["last_update"] >= get(api, queue)["created"]


def test_add_task_without_updating_execution_queue(api: Api) -> None:
    queue = create(api, "adding quietly")
    t = new_task(api)
    api("queues.add_task", {"queue": queue, "task": t, "update_execution_queue": False})
    assert "queue" not in task(api, t).get("execution", {})
    assert entries(api, queue) == [t]


def test_add_task_refusals(api: Api, other_api: Api) -> None:
    queue = create(api, "strict")
    elsewhere = create(api, "elsewhere")
    t = new_task(api)
    add(api, queue, t)
    reply = api.call("queues.add_task", {"queue": queue, "task": t})
    assert reply.code == (400, 706)
    assert reply.msg == f"Failed adding task to queue since task is already queued: task={t}"
    reply = api.call("queues.add_task", {"queue": elsewhere, "task": t})
    assert reply.code == (400, 706)  # a task is in at most one queue
    assert entries(api, elsewhere) == []
    assert api.call("queues.add_task", {"queue": queue, "task": "no such task"}).code == (400, 101)
    assert api.call("queues.add_task", {"queue": "no such queue", "task": new_task(api)}).code == (400, 701)
    foreign = new_task(other_api)
    assert api.call("queues.add_task", {"queue": queue, "task": foreign}).code == (400, 101)
    assert entries(api, queue) == [t]


# get_next_task ------------------------------------------------------------------------------------
def test_get_next_task_pops_in_order_then_answers_empty(api: Api) -> None:
    queue, tasks = filled(api, "fifo", 3)
    popped = []
    for _ in tasks:
        data = api("queues.get_next_task", {"queue": queue}, version="2.14")
        assert set(data) == {"entry"} and ISO.fullmatch(data["entry"]["added"])
        popped.append(data["entry"]["task"])
    assert popped == tasks
    assert api("queues.get_next_task", {"queue": queue}, version="2.14") == {}
    assert entries(api, queue) == []
    # the status is left to tasks.started
    assert task(api, tasks[0])["status"] == "created"


def test_get_next_task_task_info_and_the_stopped_guard(api: Api) -> None:
    queue = create(api, "guarded")
    t = new_task(api)
    add(api, queue, t)
    api("tasks.edit", {"task": t, "status": "stopped", "force": True})
    data = api("queues.get_next_task", {"queue": queue, "get_task_info": True})
    me = api("users.get_current_user", {})["user"]
    assert data["entry"]["task"] == t
    assert data["task_info"] == {"company": me["company"]["id"], "user": me["id"]}
    assert task(api, t)["status"] == "queued"  # an abort racing the enqueue is undone


def test_get_next_task_for_a_given_task(api: Api) -> None:
    queue, tasks = filled(api, "picky", 2)
    assert api("queues.get_next_task", {"queue": queue, "task": tasks[1]}) == {}
    assert entries(api, queue) == tasks
    assert api("queues.get_next_task", {"queue": queue, "task": tasks[0]})["entry"]["task"] == tasks[0]


def test_get_next_task_unknown_queue_400_701(api: Api) -> None:
    reply = api.call("queues.get_next_task", {"queue": "nope"})
    assert reply.code == (400, 701) and reply.data == {}
    assert api.call("queues.get_next_task", {}).code == (400, 12)


def test_racing_consumers_get_every_task_exactly_once(api: Api) -> None:
    """8 threads pop one queue of 200 tasks through the in-process app at once."""
    queue, tasks = filled(api, "contended queue", 200)
    api.token()
    start = threading.Barrier(8)
    taken: list[list[str]] = [[] for _ in range(8)]
    errors: list[Any] = []

    def consume(mine: list[str]) -> None:
        start.wait()
        while True:
            reply = api.call("queues.get_next_task", {"queue": queue}, version="2.14")
            if reply.status != 200:
                errors.append(reply.body)
                return
            if not reply.data:
                return
            mine.append(reply.data["entry"]["task"])

    threads = [threading.Thread(target=consume, args=(taken[i],)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    handed_out = [t for mine in taken for t in mine]
    assert len(handed_out) == len(set(handed_out)) == 200
    assert set(handed_out) == set(tasks)
    assert api("queues.get_num_entries", {"queue": queue}) == {"num": 0}
    for mine in taken:  # each consumer saw the queue in order
        assert mine == sorted(mine, key=tasks.index)


def test_consumers_producers_and_moves_interleave_without_errors(api: Api) -> None:
    """Pops race appends, moves and removals on one queue: no deadlock, no error, no task twice."""
    queue, initial = filled(api, "busy queue", 40)
    extra = [new_task(api, f"late {i}") for i in range(40)]
    api.token()
    stop = threading.Event()
    popped: list[str] = []
    removed: list[str] = []
    errors: list[Any] = []

    def check(reply) -> bool:  # type: ignore[no-untyped-def]
        if reply.status == 200 or reply.code == (400, 703):  # a move or removal lost its task to a pop
            return reply.status == 200
        errors.append(reply.body)
        return False

    def consume() -> None:
        while not stop.is_set():
            reply = api.call("queues.get_next_task", {"queue": queue})
            if check(reply) and reply.data:
                popped.append(reply.data["entry"]["task"])

    def produce() -> None:
        for t in extra:
            check(api.call("queues.add_task", {"queue": queue, "task": t}))

    def shuffle() -> None:
        for i, t in enumerate(initial + extra):
            how = ("to_front", "to_back", "forward", "backward")[i % 4]
            check(api.call(f"queues.move_task_{how}", {"queue": queue, "task": t}))
            if i % 10 == 5 and check(api.call("queues.remove_task", {"queue": queue, "task": t})):
                removed.append(t)

    workers = [threading.Thread(target=consume) for _ in range(4)]
    writers = [threading.Thread(target=produce), threading.Thread(target=shuffle)]
    for t in workers + writers:
        t.start()
    for t in writers:
        t.join()
    deadline = time.monotonic() + 60
    while api("queues.get_num_entries", {"queue": queue})["num"] and time.monotonic() < deadline:
        time.sleep(0.05)
    stop.set()
    for t in workers:
        t.join()
    assert errors == []
    assert len(popped) == len(set(popped))
    assert sorted(popped + removed) == sorted(initial + extra)


# remove_task / clear_queue ------------------------------------------------------------------------
def test_remove_task(db, api: Api) -> None:  # type: ignore[no-untyped-def]
    queue, tasks = filled(api, "removing", 3)
    assert api("queues.remove_task", {"queue": queue, "task": tasks[1]}) == {"removed": 1}
    assert entries(api, queue) == [tasks[0], tasks[2]]
    reply = api.call("queues.remove_task", {"queue": queue, "task": tasks[1]})
    assert reply.code == (400, 703)
    assert reply.msg == (
        f"Invalid queue id or task not in queue: task={tasks[1]}, id={queue}, company={company_of(api)}"
    )
    assert api.call("queues.remove_task", {"queue": "nope", "task": tasks[0]}).code == (400, 703)
    other = create(api, "other holder")
    assert api.call("queues.remove_task", {"queue": other, "task": tasks[0]}).code == (400, 703)
    assert entries(api, queue) == [tasks[0], tasks[2]]


def test_remove_task_with_update_task_status(db, api: Api) -> None:  # type: ignore[no-untyped-def]
    queue, tasks = filled(api, "removing with status", 2)
    mark_queued(db, company_of(api), tasks[0], queue, "failed")
    mark_queued(db, company_of(api), tasks[1], queue, "failed")
    api("queues.remove_task", {"queue": queue, "task": tasks[0], "update_task_status": True})
    api("queues.remove_task", {"queue": queue, "task": tasks[1]})
    released, untouched = task(api, tasks[0]), task(api, tasks[1])
    assert released["status"] == "failed"
    assert released["status_reason"] == f"Task was removed from the queue {queue}"
    assert "queue" not in released["execution"] and released.get("enqueue_status") is None
    assert untouched["status"] == "queued" and untouched["execution"]["queue"] == queue


def test_clear_queue(db, api: Api) -> None:  # type: ignore[no-untyped-def]
    company = company_of(api)
    queue, tasks = filled(api, "to clear", 3)
    mark_queued(db, company, tasks[0], queue, "stopped")
    mark_queued(db, company, tasks[1], queue, None)
    # tasks[2] was added with queues.add_task only: execution.queue points here, status created
    reply = api("queues.clear_queue", {"queue": queue}, version="2.31")
    assert reply == {"removed_tasks": tasks}
    assert entries(api, queue) == []
    statuses = [task(api, t)["status"] for t in tasks]
    assert statuses == ["stopped", "created", "created"]
    doc = task(api, tasks[0])
    assert doc["status_reason"] == f"Queue {queue} was cleared" and doc["status_message"] == ""
    assert "queue" not in doc["execution"]
    assert api("queues.clear_queue", {"queue": queue}) == {"removed_tasks": []}
    reply = api.call("queues.clear_queue", {"queue": "nope"})
    assert reply.code == (400, 701) and reply.msg == "Invalid queue id: queue=nope"
    assert api.call("queues.clear_queue", {"queue": queue}, version="2.30").code == (404, 0)


# moves --------------------------------------------------------------------------------------------
def move(api: Api, how: str, queue: str, task_id: str, **extra: Any) -> int:
    return api(f"queues.move_task_{how}", {"queue": queue, "task": task_id, **extra})["position"]


def test_move_task_forward(api: Api) -> None:
    queue, (a, b, c, d) = filled(api, "forward", 4)
    assert move(api, "forward", queue, d) == 2
    assert entries(api, queue) == [a, b, d, c]
    assert move(api, "forward", queue, d, count=2) == 0
    assert entries(api, queue) == [d, a, b, c]
    assert move(api, "forward", queue, c, count=10) == 0  # clamped at the front
    assert entries(api, queue) == [c, d, a, b]
    assert move(api, "forward", queue, c) == 0  # already first
    assert entries(api, queue) == [c, d, a, b]
    assert move(api, "forward", queue, a, count=-1) == 3  # a negative count moves back
    assert entries(api, queue) == [c, d, b, a]


def test_move_task_backward(api: Api) -> None:
    queue, (a, b, c, d) = filled(api, "backward", 4)
    assert move(api, "backward", queue, a) == 1
    assert entries(api, queue) == [b, a, c, d]
    assert move(api, "backward", queue, a, count=2) == 3
    assert entries(api, queue) == [b, c, d, a]
    assert move(api, "backward", queue, b, count=99) == 3  # clamped at the back
    assert entries(api, queue) == [c, d, a, b]
    assert move(api, "backward", queue, b) == 3
    assert move(api, "backward", queue, d, count=0) == 1
    assert entries(api, queue) == [c, d, a, b]


def test_move_task_to_front_and_to_back(api: Api) -> None:
    queue, (a, b, c, d) = filled(api, "front and back", 4)
    assert move(api, "to_front", queue, c) == 0
    assert entries(api, queue) == [c, a, b, d]
    assert move(api, "to_front", queue, c) == 0
    assert move(api, "to_back", queue, a) == 3
    assert entries(api, queue) == [c, b, d, a]
    assert move(api, "to_back", queue, a) == 3
    assert move(api, "to_front", queue, a) == 0
    assert entries(api, queue) == [a, c, b, d]
    # pops follow the new order
    assert [api("queues.get_next_task", {"queue": queue})["entry"]["task"] for _ in range(4)] == [a, c, b, d]


def test_moves_keep_order_when_positions_run_out(api: Api) -> None:
    """Repeated inserts between the same two neighbours exhaust the gap; the queue renumbers."""
    queue, tasks = filled(api, "crowded", 5)
    model = list(tasks)
    for _ in range(30):
        last = model[-1]
        assert move(api, "forward", queue, last, count=len(model) - 2) == 1
        model.remove(last)
        model.insert(1, last)
        assert entries(api, queue) == model
    t = new_task(api)
    add(api, queue, t)
    assert entries(api, queue) == [*model, t]


def test_move_refusals_400_703(api: Api) -> None:
    queue, (a,) = filled(api, "lonely", 1)
    stranger = new_task(api)
    for how in ("forward", "backward", "to_front", "to_back"):
        reply = api.call(f"queues.move_task_{how}", {"queue": queue, "task": stranger})
        assert reply.code == (400, 703), how
        assert api.call(f"queues.move_task_{how}", {"queue": "nope", "task": a}).code == (400, 703)
        assert api.call(f"queues.move_task_{how}", {"queue": queue}).code == (400, 12)
    assert move(api, "to_back", queue, a) == 0


# counts / peek ------------------------------------------------------------------------------------
def test_get_num_entries_and_peek_task(api: Api) -> None:
    queue, tasks = filled(api, "counted", 3)
    assert api("queues.get_num_entries", {"queue": queue}, version="2.23") == {"num": 3}
    assert api("queues.peek_task", {"queue": queue}, version="2.15") == {"task": tasks[0]}
    assert entries(api, queue) == tasks  # peek leaves it
    empty = create(api, "empty one")
    assert api("queues.get_num_entries", {"queue": empty}) == {"num": 0}
    assert api("queues.peek_task", {"queue": empty}) == {"task": None}
    reply = api.call("queues.get_num_entries", {"queue": "nope"})
    assert reply.code == (400, 701) and reply.msg == "Invalid queue id: queue_id=nope"
    assert api.call("queues.peek_task", {"queue": "nope"}).code == (400, 701)
    assert api.call("queues.get_num_entries", {"queue": queue}, version="2.14").code == (404, 0)


# metrics ------------------------------------------------------------------------------------------
def seconds(when: datetime) -> float:
    return when.replace(tzinfo=timezone.utc).timestamp()


def test_queue_metrics_are_sampled_when_entries_change(api: Api) -> None:
    queue, tasks = filled(api, "measured", 2)
    api("queues.get_next_task", {"queue": queue})
    api("queues.remove_task", {"queue": queue, "task": tasks[1]})
    now = datetime.now(timezone.utc)
    reply = api(
        "queues.get_queue_metrics",
        {"queue_ids": [queue], "from_date": (now - timedelta(hours=1)).timestamp(), "to_date": now.timestamp() + 1,
         "interval": 5},
    )  # fmt: skip
    (series,) = reply["queues"]
    assert series["queue"] == queue
    assert 1 <= len(series["dates"]) <= 2
    assert len(series["avg_waiting_times"]) == len(series["queue_lengths"]) == len(series["dates"])
    assert all(d % 5000 == 0 for d in series["dates"])
    assert series["dates"][0] / 1000 > now.timestamp() - 15  # milliseconds, as the reference
    assert max(series["queue_lengths"]) <= 2


def test_queue_metrics_buckets_and_the_company_total(db, api: Api) -> None:  # type: ignore[no-untyped-def]
    company = company_of(api)
    q1, q2 = create(api, "metrics one"), create(api, "metrics two")
    base = 1_700_000_000_000  # a multiple of 10 s, in ms
    samples = [
        (q1, base + 1_000, 2, 5.0),
        (q1, base + 3_000, 3, 9.0),  # the longest wait in its bucket wins
        (q1, base + 4_000, 1, 1.0),
        (q2, base + 2_000, 4, 2.0),
        (q1, base + 12_000, 6, 3.0),  # q2 has no sample here: its previous value carries over
        (q2, base + 25_000, 0, 0.0),
    ]
    with db.write() as conn:
        for queue, stamp, length, wait in samples:
            conn.execute(
                insert(queue_metrics).values(
                    company=company, queue=queue, timestamp=stamp, queue_length=length, avg_waiting_time=wait
                )
            )
    window = {"from_date": base / 1000 + 3600, "to_date": base / 1000 + 3630, "interval": 10}
    per_queue = api("queues.get_queue_metrics", {**window, "queue_ids": [q2, q1, "unknown"]})["queues"]
    assert per_queue == [
        {"queue": q2, "dates": [base, base + 20_000], "avg_waiting_times": [2.0, 0.0], "queue_lengths": [4, 0]},
        {"queue": q1, "dates": [base, base + 10_000], "avg_waiting_times": [9.0, 3.0], "queue_lengths": [3, 6]},
    ]
    (total,) = api("queues.get_queue_metrics", window)["queues"]
    assert total["queue"] == "total"
    assert total["dates"] == [base, base + 10_000, base + 20_000]
    assert total["queue_lengths"] == [7, 10, 6]
    assert total["avg_waiting_times"] == pytest.approx([(9 * 3 + 2 * 4) / 7, (3 * 6 + 2 * 4) / 10, 3.0])
    # outside the window (which reaches an hour before from_date) nothing is found
    later = {"from_date": base / 1000 + 7300, "to_date": base / 1000 + 7400, "interval": 10}
    assert api("queues.get_queue_metrics", {**later, "queue_ids": [q1]}) == {"queues": []}
    empty_total = api("queues.get_queue_metrics", later)["queues"]
    assert empty_total == [{"queue": "total", "dates": [], "avg_waiting_times": [], "queue_lengths": []}]


def test_queue_metrics_refresh_and_refusals(api: Api) -> None:
    queue = create(api, "refreshed")
    now = time.time()
    window = {"from_date": now - 10, "to_date": now + 10, "interval": 1, "queue_ids": [queue]}
    assert api("queues.get_queue_metrics", window) == {"queues": []}
    (series,) = api("queues.get_queue_metrics", {**window, "refresh": True})["queues"]
    assert series["queue_lengths"] == [0] and series["avg_waiting_times"] == [0.0]
    reply = api.call("queues.get_queue_metrics", {**window, "from_date": now + 10})
    assert reply.code == (400, 16) and reply.msg == "Invalid value for fields (from_date must be less than to_date)"
    assert api.call("queues.get_queue_metrics", {**window, "interval": 0}).code == (400, 12)
    assert api.call("queues.get_queue_metrics", {"from_date": now}).code == (400, 12)


def test_waiting_time_reflects_how_long_entries_waited(db, api: Api) -> None:  # type: ignore[no-untyped-def]
    queue = create(api, "patience")
    t = new_task(api)
    add(api, queue, t)
    company = company_of(api)
    later = clock.now() + timedelta(seconds=30)
    with db.write() as conn:
        repo.record_sample(conn, company, queue, later)
        points = repo.metric_points(conn, company, [queue], 0, 2**62, 1)
    last = points[queue][-1]
    assert last.queue_length == 1
    assert 29 <= last.avg_waiting_time <= 31


# metadata -----------------------------------------------------------------------------------------
def test_metadata(api: Api) -> None:
    queue = create(api, "described")
    item = {"key": "zone", "type": "str", "value": "eu"}
    assert api("queues.add_or_update_metadata", {"queue": queue, "metadata": [item]}, version="2.13") == {"updated": 1}
    api("queues.add_or_update_metadata", {"queue": queue, "metadata": [{"key": "gpu", "value": "A100"}]})
    assert get(api, queue)["metadata"] == {"zone": item, "gpu": {"key": "gpu", "value": "A100"}}
    api("queues.add_or_update_metadata", {"queue": queue, "metadata": [{"key": "zone", "value": "us"}]})
    assert get(api, queue)["metadata"]["zone"] == {"key": "zone", "value": "us"}
    api("queues.add_or_update_metadata", {"queue": queue, "metadata": [item], "replace_metadata": True})
    assert get(api, queue)["metadata"] == {"zone": item}
    assert api("queues.delete_metadata", {"queue": queue, "keys": ["zone", "missing"]}) == {"updated": 1}
    assert get(api, queue)["metadata"] == {}
    assert api.call("queues.add_or_update_metadata", {"queue": "nope", "metadata": [item]}).code == (400, 701)
    assert api.call("queues.delete_metadata", {"queue": "nope", "keys": ["a"]}).code == (400, 701)
    assert api.call("queues.add_or_update_metadata", {"queue": queue}).code == (400, 12)
    assert api.call("queues.add_or_update_metadata", {"queue": queue, "metadata": [{"value": "x"}]}).code == (400, 12)


# isolation ----------------------------------------------------------------------------------------
def test_companies_do_not_see_each_others_queues(api: Api, other_api: Api) -> None:
    queue, (t,) = filled(api, "private queue", 1)
    assert api("queues.get_default", {})["id"] != other_api("queues.get_default", {})["id"]
    assert "private queue" not in names(other_api)
    assert names(other_api, "queues.get_all", id=[queue]) == []
    assert other_api("queues.get_all_ex", {"id": [queue]})["queues"] == []
    refusals = {
        "queues.get_by_id": ({"queue": queue}, (400, 701)),
        "queues.update": ({"queue": queue, "name": "stolen"}, (400, 701)),
        "queues.delete": ({"queue": queue, "force": True}, (400, 701)),
        "queues.add_task": ({"queue": queue, "task": new_task(other_api)}, (400, 701)),
        "queues.get_next_task": ({"queue": queue}, (400, 701)),
        "queues.remove_task": ({"queue": queue, "task": t}, (400, 703)),
        "queues.clear_queue": ({"queue": queue}, (400, 701)),
        "queues.move_task_to_back": ({"queue": queue, "task": t}, (400, 703)),
        "queues.get_num_entries": ({"queue": queue}, (400, 701)),
        "queues.peek_task": ({"queue": queue}, (400, 701)),
        "queues.add_or_update_metadata": ({"queue": queue, "metadata": []}, (400, 701)),
    }
    for endpoint, (body, code) in refusals.items():
        assert other_api.call(endpoint, body).code == code, endpoint
    now = time.time()
    window = {"from_date": now - 60, "to_date": now + 1, "interval": 60}
    assert other_api("queues.get_queue_metrics", {**window, "queue_ids": [queue]}) == {"queues": []}
    assert other_api("queues.get_queue_metrics", window)["queues"][0]["dates"] == []
    # the other company can use the same name
    create(other_api, "private queue")
    doc = get(api, queue)
    assert doc["name"] == "private queue" and [e["task"] for e in doc["entries"]] == [t]
