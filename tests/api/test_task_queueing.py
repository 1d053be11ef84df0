"""tasks.enqueue / dequeue / stop / reset and their *_many forms (spec tasks-model §5.20,
§5.24, §5.25, §5.27): status, execution.queue, enqueue_status and queue entries kept in step."""

from __future__ import annotations

from typing import Any

import pytest

from tests.api.test_task_status import GRID, STATUSES
from tests.support import Api


def new_task(api: Api, status: str = "created", **fields: Any) -> str:
    task = api("tasks.create", {"name": "queueing", "type": "training", **fields})["id"]
    if status != "created":
        api("tasks.edit", {"task": task, "status": status, "force": True})
    return task


def doc(api: Api, task: str) -> dict[str, Any]:
    return api("tasks.get_by_id", {"task": task})["task"]


def new_queue(api: Api, name: str) -> str:
    return api("queues.create", {"name": name})["id"]


def entries(api: Api, queue: str) -> list[str]:
    return [e["task"] for e in api("queues.get_by_id", {"queue": queue})["queue"]["entries"]]


@pytest.mark.parametrize("force", [False, True], ids=["plain", "force"])
@pytest.mark.parametrize("current", STATUSES)
def test_enqueue_transition(api: Api, current: str, force: bool) -> None:
    queue = new_queue(api, f"q-{current}-{force}")
    task = new_task(api, current)
    reply = api.call("tasks.enqueue", {"task": task, "queue": queue, "force": force})
    if force or GRID[current]["queued"]:
        assert reply.status == 200, reply.body
        assert doc(api, task)["status"] == "queued"
        assert entries(api, queue) == [task]
    else:
        assert reply.code == (400, 110)
        assert doc(api, task)["status"] == current
        assert entries(api, queue) == []


def test_enqueue_response_and_effects(api: Api) -> None:
    queue = new_queue(api, "enqueue effects")
    task = new_task(api, system_tags=["development", "keep"])
    reply = api("tasks.enqueue", {"task": task, "queue": queue, "status_reason": "r"})
    assert reply["queued"] == 1 and reply["updated"] == 1
    fields = reply["fields"]
    assert fields["status"] == "queued" and fields["status_reason"] == "r"
    assert fields["enqueue_status"] == "created"
    assert fields["execution.queue"] == queue
    task_doc = doc(api, task)
    assert task_doc["execution"]["queue"] == queue
    assert task_doc["system_tags"] == ["keep"]  # entering queued drops development
    assert "queue_watched" not in reply


def test_enqueue_by_name_creates_the_queue_and_default_queue(api: Api) -> None:
    task = new_task(api)
    reply = api("tasks.enqueue", {"task": task, "queue_name": "made by enqueue"})
    made = api("queues.get_all", {"name": "^made by enqueue$"})["queues"]
    assert len(made) == 1 and reply["fields"]["execution.queue"] == made[0]["id"]
    other = new_task(api)
    default = api("queues.get_default", {})["id"]
    assert api("tasks.enqueue", {"task": other})["fields"]["execution.queue"] == default


def test_enqueue_errors(api: Api) -> None:
    queue = new_queue(api, "enqueue errors")
    task = new_task(api)
    both = api.call("tasks.enqueue", {"task": task, "queue": queue, "queue_name": "x"})
    assert both.code == (400, 12)
    assert both.msg == "Validation error (Either queue id or queue name should be provided)"
    missing = api.call("tasks.enqueue", {"task": task, "queue": "no-such-queue"})
    assert missing.code == (400, 701)
    assert doc(api, task)["status"] == "created"  # nothing changed
    api("tasks.enqueue", {"task": task, "queue": queue})
    again = api.call("tasks.enqueue", {"task": task, "queue": queue})
    assert again.code == (400, 706)
    assert doc(api, task)["status"] == "queued" and entries(api, queue) == [task]
    skip = api.call("tasks.enqueue", {"task": new_task(api), "queue": queue, "update_execution_queue": False})
    assert skip.code == (400, 12)
    verify = api.call("tasks.enqueue", {"task": task, "queue": queue, "verify_watched_queue": True, "update_execution_queue": False})
    assert verify.code == (400, 12)


def test_enqueue_moves_between_queues(api: Api) -> None:
    first, second = new_queue(api, "move first"), new_queue(api, "move second")
    task = new_task(api)
    api("tasks.enqueue", {"task": task, "queue": first})
    reply = api("tasks.enqueue", {"task": task, "queue": second})
    assert reply["fields"]["enqueue_status"] == "created"  # kept from the first enqueue
    assert entries(api, first) == [] and entries(api, second) == [task]


def test_verify_watched_queue(api: Api) -> None:
    queue = new_queue(api, "watched or not")
    task = new_task(api)
    assert api("tasks.enqueue", {"task": task, "queue": queue, "verify_watched_queue": True})["queue_watched"] is False
    api("workers.register", {"worker": "w-1", "queues": [queue]})
    other = new_task(api)
    assert api("tasks.enqueue", {"task": other, "queue": queue, "verify_watched_queue": True})["queue_watched"] is True


def test_dequeue(api: Api) -> None:
    queue = new_queue(api, "dequeue")
    task = new_task(api, "stopped")
    api("tasks.enqueue", {"task": task, "queue": queue})
    reply = api("tasks.dequeue", {"task": task})
    assert reply["dequeued"] == 1 and reply["updated"] == 1
    assert reply["fields"]["status"] == "stopped" and reply["fields"]["enqueue_status"] is None
    assert entries(api, queue) == []
    after = doc(api, task)
    assert after["status"] == "stopped" and after["execution"]["queue"] == queue  # left as is
    # not queued: no change, no error
    assert api("tasks.dequeue", {"task": task}) == {"dequeued": 1, "updated": 0, "fields": {}}
    # unknown task: "succeeds"
    assert api("tasks.dequeue", {"task": "no-such-task"}) == {"dequeued": 1, "updated": 0, "fields": {}}
    assert api.call("tasks.dequeue", {"task": task, "new_status": "bogus"}).code == (400, 12)


def test_dequeue_reverts_a_running_task(api: Api) -> None:
    task = new_task(api)
    api("tasks.enqueue", {"task": task, "queue_name": "dq running"})
    api("tasks.started", {"task": task})
    reply = api("tasks.dequeue", {"task": task})
    assert reply["updated"] == 1 and reply["fields"]["status"] == "created"
    task2 = new_task(api)
    api("tasks.enqueue", {"task": task2, "queue_name": "dq running"})
    assert api("tasks.dequeue", {"task": task2, "new_status": "in_progress"})["fields"]["status"] == "in_progress"


def test_stop_decisions(api: Api) -> None:
    queued = new_task(api)
    api("tasks.enqueue", {"task": queued, "queue_name": "stop q"})
    fields = api("tasks.stop", {"task": queued})["fields"]
    assert fields["status"] == "stopped" and fields["status_message"] == "Stopped by admin"
    assert entries(api, api("queues.get_all", {"name": "^stop q$"})["queues"][0]["id"]) == []
    # a development run stops at once
    dev = new_task(api, system_tags=["development"])
    api("tasks.started", {"task": dev})
    assert api("tasks.stop", {"task": dev})["fields"]["status"] == "stopped"
    # a task run by a live worker is asked to stop
    run = new_task(api)
    api("tasks.started", {"task": run})
    api("workers.status_report", {"worker": "w-stop", "task": run, "timestamp": 0})
    fields = api("tasks.stop", {"task": run})["fields"]
    assert fields["status"] == "in_progress" and fields["status_message"] == "stopping"
    assert api("tasks.stopped", {"task": run})["fields"]["status"] == "stopped"
    # created cannot be stopped without force
    assert api.call("tasks.stop", {"task": new_task(api)}).code == (400, 110)
    many = api("tasks.stop_many", {"ids": [new_task(api, "in_progress"), "missing"]})
    assert len(many["succeeded"]) == 1 and many["succeeded"][0]["updated"] == 1
    assert many["failed"][0]["error"]["codes"] == [400, 101]


def test_reset(api: Api) -> None:
    task = new_task(
        api,
        execution={"artifacts": [{"key": "in", "type": "t", "mode": "input"}, {"key": "out", "type": "t", "uri": "s3://o"}]},
        runtime={"x": 1},
        hyperparams={"A": {"b": {"section": "A", "name": "b", "value": "1"}}},
    )
    api("tasks.enqueue", {"task": task, "queue_name": "reset q"})
    api("tasks.started", {"task": task})
    api("events.add_batch", content=b'{"type": "training_stats_scalar", "task": "' + task.encode() + b'", "metric": "m", "variant": "v", "iter": 3, "value": 1}', headers={"Content-Type": "application/json-lines"})
    api("tasks.completed", {"task": task})
    reply = api("tasks.reset", {"task": task, "return_file_urls": True})
    assert reply["fields"]["status"] == "created"
    assert reply["fields"]["status_reason"] == "reset" and reply["fields"]["status_message"] == "reset"
    assert reply["events"] == {} and reply["urls"]["artifact_urls"] == ["s3://o"]
    after = doc(api, task)
    assert after["status"] == "created" and after["last_iteration"] == 0 and after["last_metrics"] == {}
    assert [a["key"] for a in after["execution"]["artifacts"]] == ["in"]
    assert "queue" not in after["execution"] and after["runtime"] == {}
    for gone in ("started", "completed", "last_worker", "enqueue_status"):
        assert gone not in after
    assert after["hyperparams"]["A"]["b"]["value"] == "1"
    assert api("events.get_task_log", {"task": task})["total"] == 0
    assert api("tasks.reset", {"task": task})["urls"] == {}


def test_reset_refuses_published_and_clear_all(api: Api) -> None:
    task = new_task(api, "published")
    reply = api.call("tasks.reset", {"task": task})
    assert reply.code == (400, 110)
    assert reply.msg == f"Invalid task status: task_id={task}, status=published"
    assert api("tasks.reset", {"task": task, "force": True})["fields"]["status"] == "created"
    other = new_task(api, "completed", script={"repository": "r", "entry_point": "x.py"}, execution={"framework": "f"})
    api("tasks.reset", {"task": other, "clear_all": True})
    after = doc(api, other)
    assert after["script"] == {"binary": "python", "repository": "", "entry_point": "", "requirements": {}}
    assert "framework" not in after["execution"]
    many = api("tasks.reset_many", {"ids": [other, "missing"]})
    assert many["succeeded"][0]["dequeued"] is False and "events" not in many["succeeded"][0]


def test_enqueue_many_and_dequeue_many(api: Api) -> None:
    queue = new_queue(api, "many")
    a, b = new_task(api), new_task(api, "published")
    reply = api("tasks.enqueue_many", {"ids": [a, b], "queue": queue, "verify_watched_queue": True})
    assert [s["id"] for s in reply["succeeded"]] == [a]
    assert reply["succeeded"][0]["queued"] is True
    assert reply["failed"][0]["error"]["codes"] == [400, 110]
    assert reply["queue_watched"] is False
    out = api("tasks.dequeue_many", {"ids": [a]})
    assert out["succeeded"][0]["dequeued"] is True and out["succeeded"][0]["updated"] == 1


def test_delete_leaves_the_queue(api: Api) -> None:
    queue = new_queue(api, "delete q")
    task = new_task(api)
    api("tasks.enqueue", {"task": task, "queue": queue})
    api("tasks.delete", {"task": task, "force": True})
    assert entries(api, queue) == []


def test_archive_dequeues(api: Api) -> None:
    queue = new_queue(api, "archive q")
    task = new_task(api)
    api("tasks.enqueue", {"task": task, "queue": queue})
    api("tasks.archive", {"tasks": [task]})
    assert entries(api, queue) == []
    assert doc(api, task)["status"] == "created"


def test_get_all_ex_lists_the_workers_of_a_queue(api: Api) -> None:
    queue = new_queue(api, "served queue")
    api("workers.register", {"worker": "w-served", "queues": [queue]})
    found = api("queues.get_all_ex", {"id": [queue]})["queues"][0]
    assert [w["name"] for w in found["workers"]] == ["w-served"]
    api("workers.unregister", {"worker": "w-served"})
    assert api("queues.get_all_ex", {"id": [queue]})["queues"][0]["workers"] == []
