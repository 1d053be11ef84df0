"""models.* over HTTP: every endpoint's success path, each refusal with its exact code and message,
``force``, isolation between companies, public models, and the task <-> model links both ways
(tasks.create/edit/clone input-model validation, tasks.delete with output models, models.delete
rewriting task references, tasks.publish publishing the output model, projects counting models)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from skiff.ops import accounts
from tests.support import Api

ISO = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{6})?\+00:00")
HEX_ID = re.compile(r"[0-9a-f]{32}")


def model(api: Api, name: str = "a model", **fields: Any) -> str:
    reply = api("models.create", {"name": name, "uri": f"file:///tmp/{name.replace(' ', '_')}", **fields})
    assert reply["created"] is True
    return reply["id"]


def get(api: Api, model_id: str) -> dict[str, Any]:
    return api("models.get_by_id", {"model": model_id})["model"]


def task(api: Api, name: str = "a task", **fields: Any) -> str:
    return api("tasks.create", {"name": name, "type": "training", **fields})["id"]


def get_task(api: Api, task_id: str) -> dict[str, Any]:
    return api("tasks.get_by_id", {"task": task_id})["task"]


def set_status(api: Api, task_id: str, status: str) -> None:
    api("tasks.edit", {"task": task_id, "status": status, "force": True})


def company_of(api: Api) -> str:
    return api("users.get_current_user", {})["user"]["company"]["id"]


def names(api: Api, **query: Any) -> list[str]:
    found = api("models.get_all", {"only_fields": ["name"], "order_by": ["name"], **query})["models"]
    return [m["name"] for m in found]


def refused(reply: Any, code: tuple[int, int], msg: str | None = None) -> None:
    assert reply.code == code, reply.body
    assert reply.status == code[0]
    assert reply.data == {}
    if msg is not None:
        assert reply.msg == msg


@pytest.fixture
def outsider(client, db) -> Api:  # type: ignore[no-untyped-def]
    """The admin of a second, unrelated company."""
    company = accounts.create_company(db, "model outsiders")
    admin = accounts.add_user(db, company, "outsider", role="admin")
    return Api(client, key=admin.access_key, secret=admin.secret_key)


@contextmanager
def made_public(api: Api, *model_ids: str) -> Iterator[None]:
    """Public models show in every company's reads and the database is shared by the session:
    make them private again afterwards."""
    assert api("models.make_public", {"ids": list(model_ids)}) == {"updated": len(model_ids)}
    try:
        yield
    finally:
        api("models.make_private", {"ids": list(model_ids)})


# create / get_by_id --------------------------------------------------------------------------------
def test_create_and_read_back(api: Api) -> None:
    me = api("users.get_current_user", {})["user"]
    project = api("projects.create", {"name": "model home"})["id"]
    creator = task(api)
    parent = model(api, "parent model")
    reply = api(
        "models.create",
        {
            "name": "  full model  ",
            "uri": "  s3://bucket/model.pt ",
            "comment": "c",
            "tags": ["b", "a", "b"],
            "system_tags": ["s"],
            "framework": "PyTorch",
            "design": {"design": "net"},
            "labels": {"cat": 1, "dog": 2},
            "project": project,
            "parent": parent,
            "task": creator,
            "ready": False,
            "metadata": [{"key": "acc", "type": "float", "value": "0.9"}],
        },
    )
    assert reply["created"] is True and HEX_ID.fullmatch(reply["id"])
    doc = get(api, reply["id"])
    assert doc == {
        "id": reply["id"],
        "name": "full model",
        "user": me["id"],
        "company": me["company"]["id"],
        "created": doc["created"],
        "last_update": doc["created"],
        "last_change": doc["created"],
        "last_changed_by": me["id"],
        "uri": "s3://bucket/model.pt",
        "comment": "c",
        "tags": ["a", "b"],
        "system_tags": ["s"],
        "framework": "PyTorch",
        "design": {"design": "net"},
        "labels": {"cat": 1, "dog": 2},
        "project": project,
        "parent": parent,
        "task": creator,
        "ready": False,
        "metadata": {"acc": {"key": "acc", "type": "float", "value": "0.9"}},
        "last_iteration": 0,
    }
    assert ISO.fullmatch(doc["created"])


def test_create_defaults(api: Api) -> None:
    doc = get(api, model(api, "bare model"))
    # the reference's request model makes a model ready unless the client says otherwise
    assert doc["ready"] is True
    assert doc["tags"] == [] and doc["system_tags"] == [] and doc["last_iteration"] == 0
    for absent in ("task", "project", "parent", "comment", "framework", "design", "labels", "metadata"):
        assert absent not in doc


def test_create_refusals(api: Api, outsider: Api) -> None:
    me = company_of(api)
    refused(api.call("models.create", {"uri": "x"}), (400, 12), "Validation error (error for field 'name'. field is required!)")
    refused(api.call("models.create", {"name": "no uri"}), (400, 12))
    refused(
        api.call("models.create", {"name": " ab ", "uri": "x"}),
        (400, 800),
        "Data validation error: name=String value is too short",
    )
    refused(
        api.call("models.create", {"name": "abc", "uri": "x", "project": "nope"}),
        (400, 12),
        "Validation error (Invalid project ids): project=nope",
    )
    foreign_project = outsider("projects.create", {"name": "theirs"})["id"]
    refused(api.call("models.create", {"name": "abc", "uri": "x", "project": foreign_project}), (400, 12))
    refused(
        api.call("models.create", {"name": "abc", "uri": "x", "task": "nope"}),
        (400, 101),
        f"Invalid task id: id=nope, company={me}",
    )
    refused(api.call("models.create", {"name": "abc", "uri": "x", "task": task(outsider)}), (400, 101))
    refused(
        api.call("models.create", {"name": "abc", "uri": "x", "tags": ["__$x"]}),
        (400, 16),
        "Invalid value for fields (unsupported tag prefix): values=(__$x)",
    )
    refused(
        api.call("models.create", {"name": "abc", "uri": "x", "labels": {"a": "x"}}),
        (400, 12),
        "Validation error (labels values must be integers): values=(x)",
    )
    refused(api.call("models.create", {"name": "abc", "uri": "x", "design": "text"}), (400, 16))
    refused(api.call("models.create", {"name": "abc", "uri": "x", "metadata": [{"value": "v"}]}), (400, 12))
    assert names(api) == []


def test_get_by_id_refusals(api: Api, outsider: Api) -> None:
    refused(
        api.call("models.get_by_id", {"model": "nope"}),
        (400, 201),
        f"Invalid model id (no such public or company model): id=nope, company={company_of(api)}",
    )
    theirs = model(outsider, "their model")
    refused(api.call("models.get_by_id", {"model": theirs}), (400, 201))
    refused(api.call("models.get_by_id", {}), (400, 12))


# the SDK's OutputModel workflow (clients.md (d)) ---------------------------------------------------
def test_sdk_output_model_workflow(api: Api) -> None:
    project = api("projects.create", {"name": "sdk models"})["id"]
    t = task(api, "training run", project=project)
    set_status(api, t, "in_progress")
    sdk = {"method": "get"}  # every SDK body carries it
    created = api(
        "models.create",
        {**sdk, "uri": "file:///out/uploading_file", "name": "Anonymous model 2024", "labels": {}, "ready": False,
         "public": False, "project": project},
        version="2.23",
        method="GET",
    )  # fmt: skip
    m = created["id"]
    doc = api("models.get_by_id", {**sdk, "model": m}, version="2.23", method="GET")["model"]
    assert doc["ready"] is False and doc["uri"] == "file:///out/uploading_file" and doc["project"] == project
    edited = api(
        "models.edit",
        {**sdk, "model": m, "uri": "file:///out/uploading_file", "name": "training run - model",
         "comment": f"Created by task id: {t}", "design": {"design": ""}, "labels": {}, "project": project,
         "task": t, "framework": None, "tags": None},
        version="2.23",
    )  # fmt: skip
    assert edited["updated"] == 1
    assert edited["fields"]["task"] == t and edited["fields"]["name"] == "training run - model"
    assert api("tasks.add_or_update_model", {"task": t, "name": "model", "model": m, "type": "output"}, version="2.23")
    final = api("models.edit", {**sdk, "model": m, "uri": "file:///out/model.pt", "iteration": 7}, version="2.23")
    assert set(final["fields"]) == {"uri", "ui_cache", "last_change", "last_changed_by", "last_update"}
    doc = get(api, m)
    assert doc["uri"] == "file:///out/model.pt" and doc["task"] == t and doc["design"] == {"design": ""}
    linked = get_task(api, t)
    assert linked["last_iteration"] == 7
    assert [(i["name"], i["model"]) for i in linked["models"]["output"]] == [("model", m)]
    found = api("models.get_all", {"task": [t], "only_fields": ["id", "uri"]}, version="2.23")["models"]
    assert found == [{"id": m, "uri": "file:///out/model.pt"}]


# edit / update -------------------------------------------------------------------------------------
def test_edit_fields_and_stamps(api: Api, user_api: Api) -> None:
    m = model(api, "editable", ready=False)
    before = get(api, m)
    reply = user_api("models.edit", {"model": m, "name": "renamed", "comment": "new"})
    someone = user_api("users.get_current_user", {})["user"]["id"]
    assert reply["updated"] == 1
    assert reply["fields"]["name"] == "renamed" and reply["fields"]["last_changed_by"] == someone
    assert "last_update" not in reply["fields"]  # name and comment do not move last_update
    after = get(api, m)
    assert after["last_update"] == before["last_update"] and after["last_change"] > before["last_change"]
    reply = api(
        "models.edit",
        {"model": m, "tags": ["z", "y"], "labels": {"a": 1}, "framework": "tf", "ready": True,
         "metadata": [{"key": "k", "value": "v"}]},
    )  # fmt: skip
    assert reply["fields"]["tags"] == ["y", "z"] and "last_update" in reply["fields"]
    doc = get(api, m)
    assert (doc["tags"], doc["labels"], doc["framework"], doc["ready"]) == (["y", "z"], {"a": 1}, "tf", True)
    assert doc["metadata"] == {"k": {"key": "k", "value": "v"}}
    assert api("models.edit", {"model": m}) == {"updated": 0, "fields": {}}
    # a deleted creating task in the request is dropped, as the reference does
    assert api("models.edit", {"model": m, "task": "__DELETED__abc"}) == {"updated": 0, "fields": {}}


def test_edit_refusals(api: Api, outsider: Api) -> None:
    me = company_of(api)
    m = model(api, "guarded")
    refused(api.call("models.edit", {"model": "nope", "name": "xyz"}), (400, 201), f"Invalid model id: company={me}, id=nope")
    refused(
        outsider.call("models.edit", {"model": m, "name": "stolen"}),
        (400, 201),
        f"Invalid model id: company={company_of(outsider)}, id={m}",
    )
    refused(
        api.call("models.edit", {"model": m, "task": "nope"}),
        (400, 16),
        "Invalid value for fields (expecting Task id): id=nope, field=task",
    )
    foreign = task(outsider)
    refused(
        api.call("models.edit", {"model": m, "task": foreign}),
        (400, 101),
        f"Invalid task id: id={foreign}, company={me}",
    )
    refused(
        api.call("models.edit", {"model": m, "project": "nope"}),
        (400, 16),
        "Invalid value for fields (expecting Project id): id=nope, field=project",
    )
    refused(
        api.call("models.edit", {"model": m, "parent": "nope"}),
        (400, 16),
        "Invalid value for fields (expecting Model id): id=nope, field=parent",
    )
    refused(api.call("models.edit", {"model": m, "name": "no"}), (400, 800))
    refused(api.call("models.edit", {"model": m, "labels": {"a": 1.5}}), (400, 12))
    assert get(api, m)["name"] == "guarded"


def test_update(api: Api, outsider: Api) -> None:
    t = task(api)
    m = model(api, "updatable", ready=True)
    project = api("projects.create", {"name": "update target"})["id"]
    # the SDK's UpdateRequest always sends ready=false: update must not unpublish
    reply = api(
        "models.update",
        {"model": m, "name": "updated", "comment": "cc", "tags": ["t"], "project": project, "ready": False,
         "task": t, "iteration": 4},
    )  # fmt: skip
    assert reply["updated"] == 1
    assert {k for k in reply["fields"]} == {"name", "comment", "tags", "project", "last_change", "last_changed_by", "last_update"}
    doc = get(api, m)
    assert (doc["name"], doc["comment"], doc["tags"], doc["project"], doc["ready"]) == ("updated", "cc", ["t"], project, True)
    assert "task" not in doc  # the creating task is not set through update
    assert get_task(api, t)["last_iteration"] == 4
    assert api("models.update", {"model": m}) == {"updated": 0, "fields": {}}
    refused(outsider.call("models.update", {"model": m, "name": "stolen"}), (400, 201))
    refused(api.call("models.update", {"model": m, "task": "nope"}), (400, 16))
    refused(api.call("models.update", {"model": m, "tags": ["__$x"]}), (400, 16))


# get_all -------------------------------------------------------------------------------------------
def test_get_all_filters(api: Api, outsider: Api) -> None:
    project = api("projects.create", {"name": "zoo"})["id"]
    sub = api("projects.create", {"name": "zoo/sub"})["id"]
    t = task(api)
    a = model(api, "m-alpha", project=project, framework="tf", tags=["x"], task=t, ready=False,
              metadata=[{"key": "stage", "value": "prod"}])  # fmt: skip
    b = model(api, "m-beta", project=sub, framework="torch", tags=["y"], system_tags=["archived"])
    c = model(api, "m-gamma", uri="s3://c")
    model(api, "m-hidden", system_tags=["hidden"])
    model(outsider, "m-foreign")
    assert names(api) == ["m-alpha", "m-beta", "m-gamma"]
    assert names(api, search_hidden=True) == ["m-alpha", "m-beta", "m-gamma", "m-hidden"]
    assert names(api, id=[a, c]) == ["m-alpha", "m-gamma"]
    assert names(api, name="^m-(a|b)") == ["m-alpha", "m-beta"]
    assert names(api, name="ALPHA") == []
    assert names(api, project=[project]) == ["m-alpha"]
    assert names(api, project=[project], include_subprojects=True) == ["m-alpha", "m-beta"]
    assert names(api, task=[t]) == ["m-alpha"]
    assert names(api, framework=["tf", "torch"]) == ["m-alpha", "m-beta"]
    assert names(api, ready=False) == ["m-alpha"]
    assert names(api, ready=True) == ["m-beta", "m-gamma"]
    assert names(api, tags=["x"]) == ["m-alpha"]
    assert names(api, tags=["-x"]) == ["m-beta", "m-gamma"]
    assert names(api, tags=[None]) == ["m-gamma"]
    assert names(api, system_tags=["-archived"]) == ["m-alpha", "m-gamma"]
    assert names(api, uri=["s3://c"]) == ["m-gamma"]
    assert names(api, **{"metadata.stage.value": ["prod"]}) == ["m-alpha"]
    assert names(api, **{"metadata.stage.value": "dev"}) == []
    me = api("users.get_current_user", {})["user"]["id"]
    assert names(api, user=[me]) == ["m-alpha", "m-beta", "m-gamma"]
    assert names(outsider) == ["m-foreign"]
    refused(api.call("models.get_all", {"name": "(unclosed"}), (400, 21))
    refused(api.call("models.get_all", {"tags": ["__$bogus"]}), (400, 16))
    assert b


def test_get_all_projection_order_and_paging(api: Api) -> None:
    for i in range(5):
        model(api, f"page-{i}", metadata=[{"key": "i", "value": str(i)}])
    first = api("models.get_all", {"order_by": ["-created", "-name"], "page": 0, "page_size": 2,
                                   "only_fields": ["name", "metadata.i.value"]})["models"]  # fmt: skip
    assert [m["name"] for m in first] == ["page-4", "page-3"]
    assert set(first[0]) == {"id", "name", "metadata"} and first[0]["metadata"] == {"i": {"value": "4"}}
    last = api("models.get_all", {"order_by": ["-created", "-name"], "page": 2, "page_size": 2})["models"]
    assert [m["name"] for m in last] == ["page-0"]
    excluded = api("models.get_all", {"only_fields": ["-metadata", "-uri"], "name": "^page-0$"})["models"][0]
    assert "metadata" not in excluded and "uri" not in excluded and excluded["name"] == "page-0"
    assert names(api, order_by=["-name"])[:2] == ["page-4", "page-3"]
    refused(api.call("models.get_all", {"page": -1}), (400, 12))


def test_get_frameworks(api: Api) -> None:
    project = api("projects.create", {"name": "framework home"})["id"]
    model(api, "fw-a", framework="tf", project=project)
    model(api, "fw-b", framework="keras")
    model(api, "fw-c")
    assert api("models.get_frameworks", {})["frameworks"] == ["keras", "tf"]
    assert api("models.get_frameworks", {"projects": [project]})["frameworks"] == ["tf"]


# set_ready / publish -------------------------------------------------------------------------------
def test_set_ready_publishes_the_model_and_its_task(api: Api) -> None:
    me = company_of(api)
    t = task(api)
    set_status(api, t, "completed")
    m = model(api, "to publish", task=t, ready=False)
    reply = api("models.set_ready", {"model": m})
    assert reply["updated"] == 1
    published = reply["published_task"]
    assert published["id"] == t and published["data"]["updated"] == 1
    assert published["data"]["fields"]["status"] == "published"
    assert ISO.fullmatch(published["data"]["fields"]["published"])
    assert get(api, m)["ready"] is True
    assert get_task(api, t)["status"] == "published"
    refused(api.call("models.set_ready", {"model": m}), (400, 203), f"Model is ready: company={me}, model={m}")


def test_set_ready_without_the_task_and_with_force(api: Api) -> None:
    t = task(api)  # created: cannot be published without force
    m = model(api, "draft of a draft", task=t, ready=False)
    refused(
        api.call("models.set_ready", {"model": m}),
        (400, 110),
        "Invalid task status (Invalid status change): current_status=created, new_status=published",
    )
    assert get(api, m)["ready"] is False  # nothing happened
    assert api("models.set_ready", {"model": m, "publish_task": False}) == {"updated": 1}
    assert get_task(api, t)["status"] == "created"
    other = model(api, "forced", task=t, ready=False)
    assert api("models.set_ready", {"model": other, "force_publish_task": True})["published_task"]["id"] == t
    assert get_task(api, t)["status"] == "published"


def test_publish_many(api: Api, outsider: Api) -> None:
    a = model(api, "pm-a", ready=False)
    b = model(api, "pm-b", ready=True)
    reply = api("models.publish_many", {"ids": [a, b, "nope"]})
    assert reply["succeeded"] == [{"id": a, "updated": True, "published_task": None}]
    failed = {f["id"]: f["error"]["codes"] for f in reply["failed"]}
    assert failed == {b: [400, 203], "nope": [400, 201]}
    refused(api.call("models.publish_many", {"ids": []}), (400, 12))


def test_tasks_publish_publishes_its_last_output_model(api: Api) -> None:
    t = task(api)
    first, last = model(api, "first out", ready=False), model(api, "last out", ready=False)
    for name, m in (("a", first), ("b", last)):
        api("tasks.add_or_update_model", {"task": t, "name": name, "model": m, "type": "output"})
    set_status(api, t, "completed")
    api("tasks.publish", {"task": t})
    assert get(api, last)["ready"] is True and get(api, first)["ready"] is False


# delete ----------------------------------------------------------------------------------------------
def test_delete(api: Api, outsider: Api) -> None:
    me = company_of(api)
    m = model(api, "doomed", uri="s3://b/doomed.pt")
    refused(outsider.call("models.delete", {"model": m}), (400, 201))
    assert api("models.delete", {"model": m}) == {"deleted": True, "url": "s3://b/doomed.pt"}
    refused(api.call("models.get_by_id", {"model": m}), (400, 201))
    refused(api.call("models.delete", {"model": m}), (400, 201), f"Invalid model id: company={me}, id={m}")


def test_delete_a_model_used_as_input(api: Api) -> None:
    m = model(api, "shared input")
    users = [task(api, f"user {i}", models={"input": [{"name": "in", "model": m}]}) for i in range(2)]
    refused(
        api.call("models.delete", {"model": m}),
        (400, 205),
        "Model is used by tasks (as execution model, use force=True to delete): num_tasks=2",
    )
    assert api("models.delete", {"model": m, "force": True})["deleted"] is True
    for t in users:
        assert get_task(api, t)["models"]["input"][0]["model"] == f"__DELETED__{m}"


def test_delete_a_model_of_a_published_task(api: Api) -> None:
    t = task(api)
    m = model(api, "published output", task=t, ready=False)
    api("tasks.add_or_update_model", {"task": t, "name": "out", "model": m, "type": "output"})
    set_status(api, t, "published")
    refused(
        api.call("models.delete", {"model": m}),
        (400, 206),
        f"Task that created this model exists (and published, use force=True to delete): task={t}",
    )
    api("models.delete", {"model": m, "force": True})
    doc = get_task(api, t)
    assert doc["models"]["output"][0]["model"] == f"__DELETED__{m}"
    assert doc["output"]["error"].startswith("model deleted on ")


def test_delete_a_model_of_a_draft_task_unlinks_it(api: Api) -> None:
    t = task(api)
    m = model(api, "draft output", task=t, ready=False)
    keep = model(api, "kept output", ready=False)
    api("tasks.add_or_update_model", {"task": t, "name": "out", "model": m, "type": "output"})
    api("tasks.add_or_update_model", {"task": t, "name": "other", "model": keep, "type": "output"})
    api("models.delete", {"model": m})
    assert [i["model"] for i in get_task(api, t)["models"]["output"]] == [keep]


def test_delete_many_archive_many_unarchive_many(api: Api) -> None:
    a, b = model(api, "batch-a"), model(api, "batch-b")
    reply = api("models.archive_many", {"ids": [a, "nope"]})
    assert reply["succeeded"] == [{"id": a, "archived": True}]
    assert reply["failed"][0]["id"] == "nope" and reply["failed"][0]["error"]["codes"] == [400, 201]
    assert get(api, a)["system_tags"] == ["archived"]
    assert api("models.unarchive_many", {"ids": [a]})["succeeded"] == [{"id": a, "unarchived": True}]
    assert get(api, a)["system_tags"] == []
    reply = api("models.delete_many", {"ids": [a, b, a]})
    assert [s["id"] for s in reply["succeeded"]] == [a, b]
    assert reply["succeeded"][0] == {"id": a, "deleted": True, "url": "file:///tmp/batch-a"}
    assert reply["failed"][0]["id"] == a and reply["failed"][0]["error"]["codes"] == [400, 201]


# public models -----------------------------------------------------------------------------------
def test_public_models_are_readable_by_all_and_writable_by_none(api: Api, outsider: Api) -> None:
    m = model(api, "shared model", ready=False)
    with made_public(api, m):
        assert get(outsider, m)["company"] == ""
        assert "shared model" in names(outsider)
        # a public model is usable as an input model by any company
        assert task(outsider, models={"input": [{"name": "in", "model": m}]})
        for caller in (api, outsider):
            refused(caller.call("models.edit", {"model": m, "name": "stolen"}), (400, 201))
            refused(caller.call("models.update", {"model": m, "name": "stolen"}), (400, 201))
            refused(caller.call("models.set_ready", {"model": m}), (400, 201))
            refused(caller.call("models.delete", {"model": m, "force": True}), (400, 201))
            refused(caller.call("models.add_or_update_metadata", {"model": m, "metadata": [{"key": "k"}]}), (400, 201))
        refused(outsider.call("models.make_private", {"ids": [m]}), (400, 201), f"Invalid model id: ids=({m})")
    assert get(api, m)["company"] == company_of(api)
    refused(outsider.call("models.get_by_id", {"model": m}), (400, 201))
    refused(api.call("models.make_public", {"ids": [m, "nope"]}), (400, 201), "Invalid model id: ids=(nope)")
    assert get(api, m)["company"] == company_of(api)


def test_create_public(api: Api, outsider: Api) -> None:
    m = api("models.create", {"name": "born public", "uri": "x", "public": True})["id"]
    try:
        assert get(outsider, m)["company"] == ""
    finally:
        api("models.make_private", {"ids": [m]})
    refused(outsider.call("models.get_by_id", {"model": m}), (400, 201))


# metadata ------------------------------------------------------------------------------------------
def test_metadata(api: Api, outsider: Api) -> None:
    m = model(api, "with metadata", metadata=[{"key": "a", "type": "int", "value": "1"}])
    assert api("models.add_or_update_metadata", {"model": m, "metadata": [{"key": "b", "type": "str", "value": "x"}]}) == {"updated": 1}
    assert set(get(api, m)["metadata"]) == {"a", "b"}
    api("models.add_or_update_metadata", {"model": m, "metadata": [{"key": "a", "value": "2"}]})
    assert get(api, m)["metadata"]["a"] == {"key": "a", "value": "2"}
    api("models.add_or_update_metadata", {"model": m, "metadata": [{"key": "c", "value": "3"}], "replace_metadata": True})
    assert list(get(api, m)["metadata"]) == ["c"]
    assert api("models.delete_metadata", {"model": m, "keys": ["c", "missing"]}) == {"updated": 1}
    assert get(api, m)["metadata"] == {}
    refused(api.call("models.add_or_update_metadata", {"model": m, "metadata": []}), (400, 12))
    refused(api.call("models.add_or_update_metadata", {"model": m, "metadata": [{"value": "no key"}]}), (400, 12))
    refused(api.call("models.delete_metadata", {"model": m, "keys": []}), (400, 12))
    refused(outsider.call("models.delete_metadata", {"model": m, "keys": ["a"]}), (400, 201))
    refused(api.call("models.add_or_update_metadata", {"model": m, "metadata": [{"key": "k"}]}, version="2.12"), (404, 0))


# legacy endpoints ----------------------------------------------------------------------------------
def test_update_for_task_creates_then_updates_the_output_model(api: Api) -> None:
    project = api("projects.create", {"name": "legacy"})["id"]
    source = model(api, "input one")
    t = task(api, "legacy run", project=project, execution={"framework": "caffe", "model_labels": {"a": 1}},
             models={"input": [{"name": "in", "model": source}]})  # fmt: skip
    reply = api("models.update_for_task", {"task": t, "uri": "s3://first", "iteration": 3}, version="2.8")
    assert reply == {"id": reply["id"], "created": True}
    doc = get(api, reply["id"])
    assert doc["name"] == "legacy run" and doc["comment"] == f"Created by task `legacy run` ({t})"
    assert (doc["task"], doc["project"], doc["framework"], doc["parent"], doc["labels"]) == (t, project, "caffe", source, {"a": 1})
    assert doc["ready"] is False and doc["uri"] == "s3://first"
    linked = get_task(api, t)
    assert [(i["name"], i["model"]) for i in linked["models"]["output"]] == [("Output Model", reply["id"])]
    assert linked["last_iteration"] == 3
    assert api("models.get_by_task_id", {"task": t}, version="2.8")["model"]["id"] == reply["id"]
    again = api("models.update_for_task", {"task": t, "uri": "s3://second", "name": "renamed"}, version="2.8")
    assert again["id"] == reply["id"] and again["created"] is False and again["updated"] == 1
    assert again["fields"]["uri"] == "s3://second"
    assert get(api, reply["id"])["name"] == "renamed"
    other = model(api, "override")
    assert api("models.update_for_task", {"task": t, "override_model_id": other}) == {"id": other, "created": True}
    assert [i["model"] for i in get_task(api, t)["models"]["output"]] == [other]


def test_update_for_task_refusals(api: Api, outsider: Api) -> None:
    me = company_of(api)
    t = task(api)
    both = api.call("models.update_for_task", {"task": t, "uri": "x", "override_model_id": "y"})
    refused(both, (400, 11), "Missing required fields (exactly one field is required): fields=(uri, override_model_id)")
    refused(api.call("models.update_for_task", {"task": t}), (400, 11))
    refused(api.call("models.update_for_task", {"task": "nope", "uri": "x"}), (400, 101), f"Invalid task id: id=nope, company={me}")
    refused(outsider.call("models.update_for_task", {"task": t, "uri": "x"}), (400, 101))
    refused(api.call("models.update_for_task", {"task": t, "override_model_id": "nope"}), (400, 201))
    set_status(api, t, "completed")
    refused(
        api.call("models.update_for_task", {"task": t, "uri": "x"}),
        (400, 110),
        f"Invalid task status (model can only be updated for tasks in the ['created', 'in_progress'] states): id={t}, company={me}",
    )
    refused(api.call("models.get_by_task_id", {"task": t}), (400, 122), "Task is missing expected fields: field=models.output")
    refused(api.call("models.get_by_task_id", {"task": "nope"}), (400, 101))


# task side: input models ---------------------------------------------------------------------------
def test_tasks_create_and_edit_validate_input_models(api: Api, outsider: Api) -> None:
    mine, theirs = model(api, "my input"), model(outsider, "their input")
    t = task(api, models={"input": [{"name": "in", "model": mine}], "output": [{"name": "out", "model": "never checked"}]})
    inputs = [{"name": "a", "model": "nope"}, {"name": "b", "model": mine}, {"name": "c", "model": theirs}]
    refused(
        api.call("tasks.create", {"name": "bad", "type": "training", "models": {"input": inputs}}),
        (400, 201),
        f"Invalid model id: models=(nope, {theirs})",
    )
    refused(api.call("tasks.validate", {"name": "bad", "type": "training", "models": {"input": [{"name": "a", "model": "nope"}]}}), (400, 201))
    refused(api.call("tasks.edit", {"task": t, "models": {"input": [{"name": "a", "model": "nope"}]}}), (400, 201), "Invalid model id: models=(nope)")
    # legacy execution.model (< 2.13) is an input model too
    refused(api.call("tasks.edit", {"task": t, "execution": {"model": "nope"}}, version="2.12"), (400, 201))
    # editing only the output models does not re-check the inputs
    assert api("tasks.edit", {"task": t, "models": {"output": [{"name": "o", "model": "whatever"}]}})["updated"] == 1
    assert [i["model"] for i in get_task(api, t)["models"]["input"]] == [mine]


def test_tasks_clone_validates_input_models_only_when_asked(api: Api) -> None:
    m = model(api, "soon gone")
    source = task(api, models={"input": [{"name": "in", "model": m}]})
    api("models.delete", {"model": m, "force": True})  # the source now points at __DELETED__<m>
    assert api("tasks.clone", {"task": source})["id"]
    refused(api.call("tasks.clone", {"task": source, "validate_references": True}), (400, 201), f"Invalid model id: models=(__DELETED__{m})")
    refused(api.call("tasks.clone", {"task": source, "new_task_input_models": [{"name": "x", "model": "nope"}]}), (400, 201))
    refused(api.call("tasks.clone", {"task": source, "execution_overrides": {"model": "nope"}}), (400, 201))
    fresh = model(api, "fresh input")
    clone = api("tasks.clone", {"task": source, "new_task_input_models": [{"name": "x", "model": fresh}]})["id"]
    assert get_task(api, clone)["models"]["input"][0]["model"] == fresh


# task side: tasks.delete with output models (B6) ---------------------------------------------------
def test_task_delete_removes_its_draft_models(api: Api) -> None:
    t = task(api)
    created = model(api, "created by task", task=t, ready=False, uri="s3://b/created")
    listed = model(api, "listed output", ready=False, uri="s3://b/listed")
    api("tasks.add_or_update_model", {"task": t, "name": "out", "model": listed, "type": "output"})
    reply = api("tasks.delete", {"task": t, "return_file_urls": True})
    assert reply["deleted"] is True and reply["deleted_models"] == 2 and reply["updated_models"] == 0
    assert sorted(reply["urls"]["model_urls"]) == ["s3://b/created", "s3://b/listed"]
    for m in (created, listed):
        refused(api.call("models.get_by_id", {"model": m}), (400, 201))


def test_task_delete_keeps_draft_models_other_tasks_use(api: Api) -> None:
    t = task(api)
    used = model(api, "used elsewhere", task=t, ready=False, uri="s3://b/used")
    consumer = task(api, "consumer", models={"input": [{"name": "in", "model": used}]})
    reply = api("tasks.delete", {"task": t, "return_file_urls": True})
    assert (reply["deleted_models"], reply["updated_models"], reply["urls"]["model_urls"]) == (0, 0, [])
    doc = get(api, used)
    assert "task" not in doc  # the link to the deleted task is cleared
    assert get_task(api, consumer)["models"]["input"][0]["model"] == used


def test_task_delete_without_deleting_output_models(api: Api) -> None:
    t = task(api)
    m = model(api, "left behind", task=t, ready=False)
    reply = api("tasks.delete", {"task": t, "delete_output_models": False})
    assert (reply["deleted_models"], reply["updated_models"]) == (0, 1)
    assert get(api, m)["task"] == f"__DELETED__{t}"


def test_task_delete_refuses_published_models_without_force(api: Api) -> None:
    t = task(api)
    m = model(api, "published by task", task=t, ready=True)
    refused(
        api.call("tasks.delete", {"task": t}),
        (400, 123),
        f"Task cannot be deleted (has output models, use force=True): task={t}, models=1",
    )
    reply = api("tasks.delete", {"task": t, "force": True})
    assert (reply["deleted_models"], reply["updated_models"]) == (0, 1)
    assert get(api, m)["task"] == f"__DELETED__{t}"


def test_task_delete_refuses_a_published_output_model_without_force(api: Api) -> None:
    t = task(api)
    m = model(api, "published elsewhere", ready=True)
    api("tasks.add_or_update_model", {"task": t, "name": "out", "model": m, "type": "output"})
    refused(
        api.call("tasks.delete", {"task": t}),
        (400, 123),
        f"Task cannot be deleted (has output model, use force=True): task={t}, model={m}",
    )
    reply = api("tasks.delete_many", {"ids": [t], "force": True})
    assert reply["succeeded"][0]["updated_models"] == 1
    assert get(api, m)["task"] == f"__DELETED__{t}"


# projects count and carry models ---------------------------------------------------------------------
def test_projects_count_detach_and_delete_models(api: Api) -> None:
    project = api("projects.create", {"name": "model shelf"})["id"]
    live = model(api, "live model", project=project)
    archived = model(api, "archived model", project=project, system_tags=["archived"])
    counts = api("projects.validate_delete", {"project": project})
    assert (counts["models"], counts["non_archived_models"]) == (2, 1)
    refused(api.call("projects.delete", {"project": project}), (400, 405))
    api("models.archive_many", {"ids": [live]})
    assert api("projects.delete", {"project": project})["deleted"] == 1
    assert "project" not in get(api, live) and "project" not in get(api, archived)
    doomed = api("projects.create", {"name": "model bin"})["id"]
    gone = model(api, "binned model", project=doomed, uri="s3://bin/m")
    reply = api("projects.delete", {"project": doomed, "force": True, "delete_contents": True})
    assert reply["deleted_models"] == 1 and reply["urls"]["model_urls"] == ["s3://bin/m"]
    refused(api.call("models.get_by_id", {"model": gone}), (400, 201))
