"""tasks.clone, delete(_many), archive(_many), unarchive_many, move, make_public/private
(spec tasks-model §5.3, §5.9–5.15, §6)."""

from __future__ import annotations

from typing import Any

import pytest

from skiff.ops import accounts
from tests.support import Api


def create(api: Api, **fields: Any) -> str:
    body = {"name": "source task", "type": "training", **fields}
    return api("tasks.create", body)["id"]


def get(api: Api, task: str) -> dict[str, Any]:
    return api("tasks.get_by_id", {"task": task})["task"]


def set_status(api: Api, task: str, status: str) -> None:
    api("tasks.edit", {"task": task, "status": status, "force": True})


@pytest.fixture
def outsider(client, db) -> Api:  # type: ignore[no-untyped-def]
    company = accounts.create_company(db, "outsiders")
    new = accounts.add_user(db, company, "outsider", role="admin")
    return Api(client, key=new.access_key, secret=new.secret_key)


# clone -------------------------------------------------------------------------------------------
FULL = {
    "comment": "source comment",
    "tags": ["b", "a"],
    "system_tags": ["development", "archived", "keep"],
    "output_dest": "s3://bucket/out",
    "script": {"repository": "https://x/y.git", "entry_point": "train.py", "diff": "d"},
    "execution": {
        "framework": "pytorch",
        "model_labels": {"cat": 1},
        "artifacts": [
            {"key": "in", "type": "dataset", "mode": "input", "uri": "s3://in"},
            {"key": "out", "type": "model", "mode": "output", "uri": "s3://out"},
        ],
    },
    "hyperparams": {"Args": {"lr": {"section": "Args", "name": "lr", "value": "0.1"}}},
    "configuration": {"General": {"name": "General", "value": "{}"}},
    "models": {"input": [{"name": "backbone", "model": "m1"}], "output": [{"name": "out", "model": "m2"}]},
    "container": {"image": "img", "arguments": "--x"},
    "runtime": {"gpu": "A100"},
}


def a_model(api: Api, name: str) -> str:
    """A real model: tasks.create/clone validate input models (spec §5.1, §5.3)."""
    return api("models.create", {"name": name, "uri": f"file:///tmp/{name}"})["id"]


def full(api: Api) -> dict[str, Any]:
    """FULL with a real input model in place of ``m1``."""
    inputs = [{"name": "backbone", "model": a_model(api, "backbone")}]
    return {**FULL, "models": {**FULL["models"], "input": inputs}}


def test_clone_copies_exactly_what_the_spec_says(api: Api) -> None:
    fields = full(api)
    source_id = create(api, **fields)
    api("tasks.edit", {"task": source_id, "execution": {**FULL["execution"], "queue": "q1"}})
    set_status(api, source_id, "completed")
    source = get(api, source_id)
    clone_id = api("tasks.clone", {"task": source_id})["id"]
    assert clone_id != source_id
    clone = get(api, clone_id)
    assert clone["status"] == "created"
    assert clone["name"] == source["name"]
    assert clone["comment"] == "source comment"
    assert clone["tags"] == ["a", "b"]
    assert clone["system_tags"] == ["keep"]  # development and archived dropped
    assert clone["parent"] == source_id  # no parent on the source: the source itself
    assert clone["type"] == "training"
    assert clone["script"] == source["script"]
    assert clone["output"] == {"destination": "s3://bucket/out"}
    assert [a["key"] for a in clone["execution"]["artifacts"]] == ["in"]  # output artifacts dropped
    assert "queue" not in clone["execution"]
    assert clone["execution"]["framework"] == "pytorch"
    assert clone["execution"]["model_labels"] == {"cat": 1}
    assert clone["hyperparams"] == source["hyperparams"]
    assert clone["configuration"] == source["configuration"]
    assert [m["model"] for m in clone["models"]["input"]] == [fields["models"]["input"][0]["model"]]
    assert clone["models"]["output"] == []
    assert clone["container"] == {"image": "img", "arguments": "--x"}
    assert clone["runtime"] == {}
    assert clone["last_iteration"] == 0
    for absent in ("started", "completed", "published", "last_worker", "status_changed"):
        assert absent not in clone


def test_clone_overrides(api: Api) -> None:
    source_id = create(api, **full(api))
    m9 = a_model(api, "override model")
    parent = create(api, name="another parent")
    reply = api(
        "tasks.clone",
        {
            "task": source_id,
            "new_task_name": "cloned",
            "new_task_comment": "new comment",
            "new_task_tags": ["t"],
            "new_task_system_tags": ["s"],
            "new_task_parent": parent,
            "new_task_hyperparams": {"New": {"x": {"section": "New", "name": "x", "value": "1"}}},
            "new_task_configuration": {"c": {"name": "c", "value": "v"}},
            "new_task_container": {"image": "other"},
            "new_task_input_models": [{"name": "n", "model": m9}],
            "execution_overrides": {"framework": "tf"},
        },
    )
    clone = get(api, reply["id"])
    assert clone["name"] == "cloned" and clone["comment"] == "new comment"
    assert clone["tags"] == ["t"] and clone["system_tags"] == ["s"]
    assert clone["parent"] == parent
    assert list(clone["hyperparams"]) == ["New"]
    assert list(clone["configuration"]) == ["c"]
    assert clone["container"] == {"image": "other"}
    assert [m["model"] for m in clone["models"]["input"]] == [m9]
    assert clone["execution"]["framework"] == "tf"


def test_clone_keeps_a_live_parent_and_skips_a_deleted_one(api: Api) -> None:
    grand = create(api, name="grand parent")
    middle = create(api, name="middle", parent=grand)
    assert get(api, api("tasks.clone", {"task": middle})["id"])["parent"] == grand
    api("tasks.delete", {"task": grand})
    assert get(api, middle)["parent"] == f"__DELETED__{grand}"
    assert get(api, api("tasks.clone", {"task": middle})["id"])["parent"] == middle


def test_clone_into_new_project_name(api: Api) -> None:
    source_id = create(api)
    reply = api("tasks.clone", {"task": source_id, "new_project_name": "clones/deep"})
    assert reply["new_project"]["name"] == "clones/deep"
    assert get(api, reply["id"])["project"] == reply["new_project"]["id"]
    again = api("tasks.clone", {"task": source_id, "new_project_name": "clones/deep"})
    assert again["new_project"]["id"] == reply["new_project"]["id"]


def test_clone_errors(api: Api, outsider: Api) -> None:
    missing = api.call("tasks.clone", {"task": "nope"})
    assert missing.code == (400, 101)
    assert missing.msg == "Invalid task id: id=nope"
    source_id = create(api)
    assert outsider.call("tasks.clone", {"task": source_id}).code == (400, 101)
    assert api.call("tasks.clone", {"task": source_id, "new_task_project": "nope"}).code == (400, 16)
    theirs = outsider("projects.create", {"name": "their project"})["id"]
    assert api.call("tasks.clone", {"task": source_id, "new_task_project": theirs}).code == (400, 401)
    bad_parent = api.call("tasks.clone", {"task": source_id, "new_task_parent": "nope"})
    assert bad_parent.code == (400, 16)
    assert api.call("tasks.clone", {"task": source_id, "new_task_tags": ["__$x"]}).code == (400, 16)


# delete --------------------------------------------------------------------------------------------
def test_delete_draft(api: Api) -> None:
    task = create(api, execution={"artifacts": [{"key": "o", "type": "t", "uri": "s3://o"}]})
    child = create(api, name="child task", parent=task)
    reply = api("tasks.delete", {"task": task, "return_file_urls": True})
    assert reply == {
        "deleted": True,
        "updated_children": 1,
        "updated_models": 0,
        "deleted_models": 0,
        "urls": {"model_urls": [], "artifact_urls": ["s3://o"], "event_urls": []},
    }
    assert api.call("tasks.get_by_id", {"task": task}).code == (400, 101)
    assert get(api, child)["parent"] == f"__DELETED__{task}"
    assert api("tasks.delete", {"task": child})["urls"] is None


def test_delete_status_rule(api: Api) -> None:
    task = create(api)
    set_status(api, task, "completed")
    reply = api.call("tasks.delete", {"task": task})
    assert reply.code == (400, 123)
    assert reply.msg == (
        f"Task cannot be deleted (due to status, use force=True): task={task}, expected=created, current=completed"
    )
    assert api("tasks.delete", {"task": task, "force": True})["deleted"] is True


def test_archived_task_deletes_without_force(api: Api) -> None:
    task = create(api)
    set_status(api, task, "completed")
    api("tasks.archive", {"tasks": [task]})
    assert api("tasks.delete", {"task": task})["deleted"] is True


def test_delete_refuses_published_children_without_force(api: Api) -> None:
    task = create(api)
    child = create(api, name="child task", parent=task)
    set_status(api, child, "published")
    reply = api.call("tasks.delete", {"task": task})
    assert reply.code == (400, 123)
    assert reply.msg == f"Task cannot be deleted (has children, use force=True): task={task}, children=1"
    assert api("tasks.delete", {"task": task, "force": True})["updated_children"] == 1


def test_delete_many_batch_shape(api: Api, outsider: Api) -> None:
    ok = create(api)
    running = create(api)
    set_status(api, running, "in_progress")
    foreign = create(outsider)
    reply = api("tasks.delete_many", {"ids": [ok, "missing", running, foreign]})
    assert [s["id"] for s in reply["succeeded"]] == [ok]
    assert reply["succeeded"][0] == {
        "id": ok, "deleted": True, "updated_children": 0, "updated_models": 0, "deleted_models": 0, "urls": None,
    }  # fmt: skip
    failed = {f["id"]: f["error"] for f in reply["failed"]}
    assert failed["missing"]["codes"] == [400, 101]
    assert failed["missing"]["data"] == {"id": "missing", "company": api("users.get_current_user", {})["user"]["company"]["id"]}
    assert failed[running]["codes"] == [400, 123]
    assert failed[foreign]["codes"] == [400, 101]
    assert get(outsider, foreign)["id"] == foreign
    assert api.call("tasks.delete_many", {"ids": []}).code == (400, 12)


# archive -------------------------------------------------------------------------------------------
def test_archive_all_or_nothing(api: Api) -> None:
    a, b = create(api), create(api)
    reply = api.call("tasks.archive", {"tasks": [a, "missing", b]})
    assert reply.code == (400, 101)
    assert reply.msg == "Invalid task id: ids=(missing)"
    assert "archived" not in get(api, a)["system_tags"]
    assert api("tasks.archive", {"tasks": [a, b], "status_message": "bye"}) == {"archived": 2}
    task = get(api, a)
    assert "archived" in task["system_tags"]
    assert task["status_message"] == "bye" and task["status_reason"] == ""


def test_archive_stops_a_running_task(api: Api) -> None:
    task = create(api)
    set_status(api, task, "in_progress")
    api("tasks.archive", {"tasks": [task]})
    doc = get(api, task)
    assert doc["status"] == "stopped"
    assert "status_changed" in doc


def test_archive_many_and_unarchive_many(api: Api) -> None:
    a = create(api)
    reply = api("tasks.archive_many", {"ids": [a, "missing"]})
    assert reply["succeeded"] == [{"id": a, "archived": True}]
    assert reply["failed"][0]["error"]["codes"] == [400, 101]
    api("tasks.update", {"task": a, "status_message": "was set"})
    reply = api("tasks.unarchive_many", {"ids": [a]})
    assert reply["succeeded"] == [{"id": a, "unarchived": True}]
    doc = get(api, a)
    assert "archived" not in doc["system_tags"]
    assert doc["status_message"] == ""


# move ------------------------------------------------------------------------------------------------
def test_move(api: Api) -> None:
    a, b = create(api), create(api)
    project = api("projects.create", {"name": "move target"})["id"]
    assert api("tasks.move", {"ids": [a, b], "project": project}) == {"project_id": project}
    assert get(api, a)["project"] == project
    by_name = api("tasks.move", {"ids": [a], "project_name": "made/by move"})["project_id"]
    assert get(api, a)["project"] == by_name
    assert api("tasks.move", {"ids": [a], "project": None}) == {"project_id": None}
    assert "project" not in get(api, a)


def test_move_errors(api: Api) -> None:
    a = create(api)
    reply = api.call("tasks.move", {"ids": [a]})
    assert reply.code == (400, 11)
    assert reply.msg == "Missing required fields (project or project_name is required)"
    assert api.call("tasks.move", {"ids": [a], "project": "nope"}).code == (400, 401)  # move: 401 only (§5.14)
    assert api.call("tasks.move", {"ids": [a, "nope"], "project": None}).code == (400, 101)


# public / private ------------------------------------------------------------------------------------
def test_public_tasks_are_readable_by_all_and_writable_by_none(api: Api, outsider: Api) -> None:
    task = create(api)
    assert api("tasks.make_public", {"ids": [task]}) == {"updated": 1}
    assert get(outsider, task)["id"] == task
    reply = outsider.call("tasks.update", {"task": task, "comment": "mine now"})
    assert reply.code == (403, 21)
    assert reply.msg == f"Forbidden (modification not allowed) (cannot modify public task(s), ids=('{task}',))"
    assert api.call("tasks.update", {"task": task, "comment": "x"}).code == (403, 21)
    # anyone may clone it into their own company
    clone = outsider("tasks.clone", {"task": task})["id"]
    assert get(outsider, clone)["parent"] == task
    assert outsider.call("tasks.make_private", {"ids": [task]}).code == (400, 101)
    assert api("tasks.make_private", {"ids": [task]}) == {"updated": 1}
    assert outsider.call("tasks.get_by_id", {"task": task}).code == (400, 101)
    assert api("tasks.update", {"task": task, "comment": "x"})["updated"] == 1


def test_make_public_all_or_nothing(api: Api) -> None:
    task = create(api)
    assert api.call("tasks.make_public", {"ids": [task, "nope"]}).code == (400, 101)
    assert api("tasks.make_private", {"ids": [task]}) if False else True
    assert api.call("tasks.make_private", {"ids": [task]}).code == (400, 101)
