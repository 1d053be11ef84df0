"""The task document over HTTP: create, validate, get_by_id, edit, update, update_batch,
update_tags and set_requirements (spec tasks-model §2, §4 B1–B3, §5.1–5.8, §7; tasks-queries §6, §7).

Every test runs as the admin of a fresh company. Tasks in other statuses are made with the
undocumented ``status`` key of ``tasks.edit`` plus ``force`` (spec §5.4). Timestamps are compared
after a short sleep: the server keeps milliseconds, so a few of them are enough to tell "moved"
from "kept".
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Any

import orjson
import pytest

from skiff.ops import accounts
from skiff.storage.repos import tasks as tasks_repo
from tests.support import Api

ISO = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{3}000)?\+00:00")
HEX_ID = re.compile(r"[0-9a-f]{32}")
JSON_LINES = {"Content-Type": "application/json-lines"}

#: Spec tasks-queries §6.2: what get_by_id returns for a task created with only name and type.
FRESH_DEFAULTS: dict[str, Any] = {
    "status": "created",
    "tags": [],
    "system_tags": [],
    "report_assets": [],
    "last_iteration": 0,
    "hyperparams": {},
    "configuration": {},
    "runtime": {},
    "container": {},
    "last_metrics": {},
    "metric_stats": {},
    "models": {"input": [], "output": []},
    "output": {},
    "execution": {"test_split": 0, "parameters": {}, "model_desc": {}, "model_labels": {}, "artifacts": []},
    "script": {"binary": "python", "repository": "", "entry_point": "", "requirements": {}},
}
FRESH_STAMPED = {"id", "company", "user", "name", "type", "created", "last_update", "last_change", "last_changed_by"}
#: Scalars with no default are omitted, not null (tasks-queries §6.2).
OMITTED_WHEN_UNSET = (
    "comment", "report", "parent", "project", "started", "completed", "published", "status_reason",
    "status_message", "status_changed", "last_worker", "last_worker_report", "active_duration", "duration",
    "company_origin", "enqueue_status",
)  # fmt: skip


# helpers ------------------------------------------------------------------------------------------
def create(api: Api, name: str = "my task", type: str = "training", **fields: Any) -> str:
    return api("tasks.create", {"name": name, "type": type, **fields})["id"]


def get(api: Api, task: str, version: str | None = None) -> dict[str, Any]:
    return api("tasks.get_by_id", {"task": task}, version=version)["task"]


def set_status(api: Api, task: str, status: str) -> None:
    api("tasks.edit", {"task": task, "status": status, "force": True})


def user_id(api: Api) -> str:
    return api("users.get_current_user", {})["user"]["id"]


def company_id(api: Api) -> str:
    return api("users.get_current_user", {})["user"]["company"]["id"]


def when(text: str) -> datetime:
    return datetime.fromisoformat(text)


def later() -> None:
    """Let the (millisecond) clock move on."""
    time.sleep(0.005)


def batch(*lines: dict[str, Any]) -> bytes:
    return b"\n".join(orjson.dumps(line) for line in lines)


def a_model(api: Api, name: str) -> str:
    """An input-model id create/edit will accept: a real model once models.create answers, else a
    made-up id (input models are validated against the models service, spec §5.1)."""
    reply = api.call("models.create", {"name": f"model {name}", "uri": f"file:///tmp/{name}"})
    return reply.data["id"] if reply.status == 200 else f"model-{name}"


def refused(reply: Any, code: tuple[int, int], msg: str | None = None) -> None:
    assert reply.code == code, reply.body
    assert reply.status == code[0]
    assert reply.data == {}
    if msg is not None:
        assert reply.msg == msg


@pytest.fixture
def other_api(client, db) -> Api:  # type: ignore[no-untyped-def]
    """The admin of a second, unrelated company."""
    company = accounts.create_company(db, "other company")
    admin = accounts.add_user(db, company, "other admin", role="admin")
    return Api(client, key=admin.access_key, secret=admin.secret_key)


def count_tasks(db, company: str) -> int:  # type: ignore[no-untyped-def]
    with db.read() as conn:
        return tasks_repo.count_tasks(conn, [company])


# create -------------------------------------------------------------------------------------------
def test_create_then_get_by_id_shows_every_default(api: Api, admin) -> None:  # type: ignore[no-untyped-def]
    task = create(api, "fresh one")
    assert HEX_ID.fullmatch(task)
    doc = get(api, task)
    # unique_metrics may appear as [] in get_by_id (tasks-queries §6.2: "harmless")
    assert doc.pop("unique_metrics", []) == []
    assert set(doc) == FRESH_STAMPED | set(FRESH_DEFAULTS), set(doc) ^ (FRESH_STAMPED | set(FRESH_DEFAULTS))
    for key, value in FRESH_DEFAULTS.items():
        assert doc[key] == value, key
    assert doc["id"] == task
    assert doc["name"] == "fresh one"
    assert doc["type"] == "training"
    assert doc["user"] == doc["last_changed_by"] == admin.user
    assert doc["company"] == admin.company
    for key in ("created", "last_update", "last_change"):
        assert ISO.fullmatch(doc[key]), doc[key]
    assert doc["created"] == doc["last_update"] == doc["last_change"]
    for key in OMITTED_WHEN_UNSET:
        assert key not in doc, key


def test_create_with_every_field_round_trips(api: Api, admin) -> None:  # type: ignore[no-untyped-def]
    project = api("projects.create", {"name": "proj for tasks", "description": ""})["id"]
    parent = create(api, "the parent")
    body = {
        "name": "  train resnet  ", "type": "training", "project": project, "comment": "c",
        "tags": ["b", "a", "b"], "system_tags": ["development"], "parent": parent,
        "output_dest": " s3://bucket/out ",
        "script": {"repository": " https://x/y.git ", "branch": "main", "entry_point": "train.py",
                   "working_dir": ".", "requirements": {"pip": "torch\n"}, "diff": " keep me "},
        "execution": {"framework": "pytorch", "model_labels": {"cat": 1, "dog": 2, "none": None},
                      "artifacts": [{"key": "data", "type": "dataset", "mode": "input", "uri": "s3://d"},
                                    {"key": "a-first", "type": "t", "content_size": 12, "timestamp": 1700000000}]},
        "hyperparams": {"Args": {"lr": {"section": "Args", "name": "lr", "value": "0.1", "type": "float"}}},
        "configuration": {"General": {"name": "General", "value": "{...}", "type": "dictionary"}},
        "models": {"output": [{"name": "best", "model": "m-out"}]},
        "container": {"image": "nvidia/cuda:12", "arguments": "--ipc=host", "setup_shell_script": None},
        "runtime": {"gpu_type": "A100", "n": 2},
    }  # fmt: skip
    task = api("tasks.create", body)["id"]
    doc = get(api, task)
    assert doc["name"] == "train resnet"  # stripped
    assert doc["project"] == project
    assert doc["comment"] == "c"
    assert doc["tags"] == ["a", "b"]  # sorted, deduplicated
    assert doc["system_tags"] == ["development"]
    assert doc["parent"] == parent
    assert doc["output"] == {"destination": "s3://bucket/out"}
    assert doc["script"] == {
        "binary": "python", "repository": "https://x/y.git", "branch": "main", "entry_point": "train.py",
        "working_dir": ".", "requirements": {"pip": "torch\n"}, "diff": " keep me ",  # diff is not stripped
    }  # fmt: skip
    execution = doc["execution"]
    assert execution["framework"] == "pytorch"
    assert execution["model_labels"] == {"cat": 1, "dog": 2, "none": None}
    assert execution["artifacts"] == [  # a list sorted by key; mode defaults to output
        {"key": "a-first", "type": "t", "mode": "output", "content_size": 12, "timestamp": 1700000000},
        {"key": "data", "type": "dataset", "mode": "input", "uri": "s3://d"},
    ]
    assert execution["test_split"] == 0 and execution["parameters"] == {} and execution["model_desc"] == {}
    assert doc["hyperparams"] == body["hyperparams"]
    assert doc["configuration"] == body["configuration"]
    assert doc["models"]["input"] == []
    [out] = doc["models"]["output"]
    assert out["name"] == "best" and out["model"] == "m-out"
    assert out["updated"] == doc["created"]  # every model item gets updated=now
    assert doc["container"] == {"image": "nvidia/cuda:12", "arguments": "--ipc=host", "setup_shell_script": None}
    assert doc["runtime"] == {"gpu_type": "A100", "n": 2}
    assert doc["status"] == "created"
    assert doc["user"] == admin.user


def test_create_strips_map_keys(api: Api) -> None:
    # spec §2.4 rule 1 also covers container keys and execution.model_labels keys
    task = create(api, container={" image ": "i"}, execution={"model_labels": {" cat ": 1}})
    doc = get(api, task)
    assert doc["container"] == {"image": "i"}
    assert doc["execution"]["model_labels"] == {"cat": 1}
    for field, value in (("container", {" ": "i"}), ("execution", {"model_labels": {"": 1}})):
        refused(api.call("tasks.create", {"name": "empty key", "type": "training", field: value}), (400, 12))


def test_create_touches_the_project(api: Api) -> None:
    project = api("projects.create", {"name": "touched", "description": ""})["id"]
    before = api("projects.get_by_id", {"project": project})["project"]["last_update"]
    later()
    task = create(api, project=project)
    after = api("projects.get_by_id", {"project": project})["project"]["last_update"]
    assert when(after) > when(before)
    assert after == get(api, task)["created"]


def test_names_are_not_unique_and_report_type_is_accepted(api: Api) -> None:
    first, second = create(api, "same name"), create(api, "same name", type="report")
    assert first != second
    assert get(api, second)["type"] == "report"


def test_null_values_mean_not_provided(api: Api) -> None:
    task = create(
        api, comment=None, parent=None, project=None, tags=None, system_tags=None, hyperparams=None,
        configuration=None, execution=None, script=None, models=None, container=None, runtime=None,
        output_dest=None,
    )  # fmt: skip
    doc = get(api, task)
    for key, value in FRESH_DEFAULTS.items():
        assert doc[key] == value, key
    for key in ("comment", "parent", "project"):
        assert key not in doc


@pytest.mark.parametrize("name", ["ab", "  ab  ", "   ", ""])
def test_create_name_shorter_than_three_characters(api: Api, name: str) -> None:
    refused(
        api.call("tasks.create", {"name": name, "type": "training"}),
        (400, 800),
        "Data validation error: name=String value is too short",
    )


@pytest.mark.parametrize(
    "body",
    [
        {"type": "training"},
        {"name": "no type"},
        {"name": "bad type", "type": "nope"},
        {"name": 5, "type": "training"},
        {"name": "x" * 5, "type": 3},
        {"name": "tags not a list", "type": "training", "tags": "a"},
        {"name": "tags of numbers", "type": "training", "tags": [1, 2]},
        {"name": "comment number", "type": "training", "comment": 7},
    ],
)
def test_create_request_model_refusals(api: Api, body: dict) -> None:
    reply = api.call("tasks.create", body)
    refused(reply, (400, 12))
    assert reply.msg.startswith("Validation error (")


@pytest.mark.parametrize("field", ["tags", "system_tags"])
def test_create_reserved_tag_prefix(api: Api, field: str) -> None:
    refused(
        api.call("tasks.create", {"name": "tagged", "type": "training", field: ["ok", "__$x"]}),
        (400, 16),
        "Invalid value for fields (unsupported tag prefix): values=(__$x)",
    )


@pytest.mark.parametrize("field", ["hyperparams", "configuration", "container", "runtime"])
@pytest.mark.parametrize("value", [[1], "text", 5])
def test_create_non_dict_maps(api: Api, field: str, value: Any) -> None:
    reply = api.call("tasks.create", {"name": "bad map", "type": "training", field: value})
    refused(reply, (400, 16))
    assert reply.msg.startswith("Invalid value for fields (expecting dict)")


def test_create_non_dict_hyperparam_section(api: Api) -> None:
    # the spec names no code for a section that is not an object; any refusal will do
    reply = api.call("tasks.create", {"name": "bad map", "type": "training", "hyperparams": {"Args": [1]}})
    assert reply.status == 400 and reply.data == {}


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("hyperparams", {"  ": {}}, "Empty section name is not allowed"),
        ("hyperparams", {"Args": {" ": {"section": "Args", "name": " ", "value": "1"}}}, "Empty parameter name is not allowed"),
        ("configuration", {"": {"name": "", "value": "x"}}, "Empty configuration name is not allowed"),
    ],
)  # fmt: skip
def test_create_empty_keys(api: Api, field: str, value: dict, message: str) -> None:
    refused(api.call("tasks.create", {"name": "empty key", "type": "training", field: value}), (400, 12), f"Validation error ({message})")


@pytest.mark.parametrize(
    "fields",
    [
        {"hyperparams": {"Args": {"lr": {"section": "Args", "name": "lr", "value": 0.1}}}},
        {"hyperparams": {"Args": {"lr": {"section": "Args", "name": "lr"}}}},
        {"execution": {"artifacts": [{"key": "a", "type": "t", "mode": "sideways"}]}},
        {"execution": {"model_labels": {"cat": 1, "dog": 1}}},
    ],
)
def test_create_storage_validation(api: Api, fields: dict) -> None:
    reply = api.call("tasks.create", {"name": "storage check", "type": "training", **fields})
    refused(reply, (400, 800))
    assert reply.msg.startswith("Data validation error: ")


def test_create_duplicate_artifact_key_and_mode_last_wins(api: Api) -> None:
    artifacts = [
        {"key": "a", "type": "first"},
        {"key": "a", "type": "input one", "mode": "input"},
        {"key": "a", "type": "second", "mode": "output"},
    ]
    task = create(api, execution={"artifacts": artifacts})
    # only the order by key is specified; artifacts sharing a key are compared by mode here
    assert sorted(get(api, task)["execution"]["artifacts"], key=lambda a: a["mode"]) == [
        {"key": "a", "type": "input one", "mode": "input"},
        {"key": "a", "type": "second", "mode": "output"},
    ]


def test_create_empty_hyperparam_section_is_kept(api: Api) -> None:
    task = create(api, hyperparams={"empty": {}, "Args": {"x": {"section": "Args", "name": "x", "value": "1"}}})
    assert get(api, task)["hyperparams"] == {"empty": {}, "Args": {"x": {"section": "Args", "name": "x", "value": "1"}}}
    assert api("tasks.get_hyper_params", {"tasks": [task]})["params"][0]["hyperparams"] == [
        {"section": "Args", "name": "x", "value": "1"}
    ]


def test_create_parent_rules(api: Api, other_api: Api) -> None:
    done = create(api, "completed parent")
    set_status(api, done, "completed")
    child = create(api, "child", parent=done)  # the parent need not be completed, nor in any status
    assert get(api, child)["parent"] == done
    refused(
        api.call("tasks.create", {"name": "orphan", "type": "training", "parent": "nope"}),
        (400, 16),
        "Invalid value for fields (expecting Task id): id=nope, field=parent",
    )
    foreign = create(other_api, "not yours")
    refused(
        api.call("tasks.create", {"name": "orphan", "type": "training", "parent": foreign}),
        (400, 101),
        f"Invalid task id (invalid parent): parent={foreign}",
    )


def test_create_project_of_another_company(api: Api, other_api: Api) -> None:
    foreign = other_api("projects.create", {"name": "theirs", "description": ""})["id"]
    refused(
        api.call("tasks.create", {"name": "misplaced", "type": "training", "project": foreign}),
        (400, 401),
        f"Invalid project id: id={foreign}",
    )


def test_create_project_that_exists_nowhere(api: Api) -> None:
    refused(
        api.call("tasks.create", {"name": "misplaced", "type": "training", "project": "nope"}),
        (400, 16),
        "Invalid value for fields (expecting Project id): id=nope, field=project",
    )


# validate -----------------------------------------------------------------------------------------
def test_validate_answers_empty_and_saves_nothing(api: Api, admin, db) -> None:  # type: ignore[no-untyped-def]
    before = count_tasks(db, admin.company)
    reply = api.call("tasks.validate", {"name": "only checking", "type": "training", "tags": ["a"]})
    assert reply.status == 200 and reply.data == {}
    assert count_tasks(db, admin.company) == before


def test_validate_refuses_like_create(api: Api, other_api: Api) -> None:
    refused(api.call("tasks.validate", {"name": "x" * 4}), (400, 12))
    refused(api.call("tasks.validate", {"name": "xxxx", "type": "training", "tags": ["__$a"]}), (400, 16))
    refused(api.call("tasks.validate", {"name": "xxxx", "type": "training", "hyperparams": [1]}), (400, 16))
    refused(
        api.call("tasks.validate", {"name": "xxxx", "type": "training", "parent": "nope"}),
        (400, 16),
        "Invalid value for fields (expecting Task id): id=nope, field=parent",
    )
    foreign = create(other_api, "not yours")
    refused(
        api.call("tasks.validate", {"name": "xxxx", "type": "training", "parent": foreign}),
        (400, 101),
        f"Invalid task id (invalid parent): parent={foreign}",
    )


def test_validate_drops_a_deleted_parent_and_skips_storage_checks(api: Api) -> None:
    assert api("tasks.validate", {"name": "xxxx", "type": "training", "parent": "__DELETED__abc"}) == {}
    # spec §5.2: storage-level checks (the name length among them) are not run by validate
    assert api("tasks.validate", {"name": "ab", "type": "training"}) == {}


# get_by_id ----------------------------------------------------------------------------------------
def test_get_by_id_refusals(api: Api) -> None:
    refused(api.call("tasks.get_by_id", {"task": "nope"}), (400, 101), "Invalid task id: ids=(nope)")
    refused(api.call("tasks.get_by_id", {}), (400, 12))


def test_all_datetimes_are_iso_with_utc_offset(api: Api) -> None:
    task = create(api, models={"input": [], "output": [{"name": "o", "model": "m"}]})
    set_status(api, task, "in_progress")
    api("tasks.add_or_update_model", {"task": task, "name": "i", "model": "m2", "type": "input"})
    doc = get(api, task)
    stamps = [doc[k] for k in ("created", "last_update", "last_change")]
    stamps += [m["updated"] for kind in ("input", "output") for m in doc["models"][kind]]
    assert len(stamps) == 5
    for value in stamps:
        assert isinstance(value, str) and ISO.fullmatch(value), value
        assert when(value).utcoffset().total_seconds() == 0


# edit ---------------------------------------------------------------------------------------------
def test_edit_cosmetic_fields(api: Api, admin) -> None:  # type: ignore[no-untyped-def]
    task = create(api)
    before = get(api, task)
    later()
    reply = api("tasks.edit", {"task": task, "name": "  renamed ", "comment": "hello", "tags": ["z", "a"], "system_tags": ["s"]})
    after = get(api, task)
    assert reply == {
        "updated": 1,
        "fields": {
            "name": "renamed", "comment": "hello", "tags": ["a", "z"], "system_tags": ["s"],
            "last_change": after["last_change"], "last_changed_by": admin.user,
        },
    }  # fmt: skip
    assert (after["name"], after["comment"], after["tags"], after["system_tags"]) == ("renamed", "hello", ["a", "z"], ["s"])
    assert when(after["last_change"]) > when(before["last_change"])
    assert after["last_update"] == before["last_update"]  # §2.7: only cosmetic fields were sent
    assert after["created"] == before["created"]


def test_edit_other_fields_bump_last_update(api: Api) -> None:
    task = create(api)
    before = get(api, task)
    later()
    reply = api("tasks.edit", {"task": task, "script": {"repository": " r "}})
    after = get(api, task)
    assert reply["updated"] == 1
    assert set(reply["fields"]) == {"script", "last_change", "last_changed_by", "last_update"}
    assert reply["fields"]["script"] == after["script"]
    assert after["script"]["repository"] == "r"
    assert after["last_update"] == after["last_change"] == reply["fields"]["last_update"]
    assert when(after["last_update"]) > when(before["last_update"])


def test_edit_output_dest_bumps_last_update_and_keeps_output_error(api: Api) -> None:
    task = create(api, output_dest="s3://old")
    api("tasks.update", {"task": task, "output__error": "it broke"})
    before = get(api, task)
    later()
    reply = api("tasks.edit", {"task": task, "output_dest": "s3://new"})
    after = get(api, task)
    assert after["output"] == {"destination": "s3://new", "error": "it broke"}
    assert reply["fields"]["output"] == after["output"]
    # output.destination is not among the fields that spare last_update (spec §2.7)
    assert when(after["last_update"]) > when(before["last_update"])


def test_edit_merges_objects_one_level(api: Api) -> None:
    task = create(
        api,
        script={"repository": "r", "branch": "b", "entry_point": "e.py"},
        execution={"framework": "f", "artifacts": [{"key": "a", "type": "t"}, {"key": "b", "type": "t"}]},
        models={"input": [{"name": "in", "model": a_model(api, "in")}], "output": [{"name": "out", "model": "m2"}]},
    )
    api("tasks.edit", {"task": task, "script": {"branch": "dev"}, "models": {"input": []}})
    doc = get(api, task)
    assert doc["script"] == {"binary": "python", "repository": "r", "branch": "dev", "entry_point": "e.py", "requirements": {}}
    assert doc["models"]["input"] == [] and [m["name"] for m in doc["models"]["output"]] == ["out"]
    # sending execution.artifacts replaces all artifacts; other execution keys are kept
    api("tasks.edit", {"task": task, "execution": {"artifacts": [{"key": "c", "type": "t"}]}})
    execution = get(api, task)["execution"]
    assert execution["framework"] == "f"
    assert execution["artifacts"] == [{"key": "c", "type": "t", "mode": "output"}]


def test_edit_replaces_maps_wholesale(api: Api) -> None:
    task = create(
        api, tags=["a"], system_tags=["s"],
        hyperparams={"A": {"x": {"section": "A", "name": "x", "value": "1"}}},
        configuration={"c1": {"name": "c1", "value": "v"}},
        container={"image": "i", "arguments": "a"}, runtime={"k": 1},
    )  # fmt: skip
    new = {
        "tags": ["b"], "system_tags": [],
        "hyperparams": {"B": {"y": {"section": "B", "name": "y", "value": "2"}}},
        "configuration": {"c2": {"name": "c2", "value": "w"}},
        "container": {"image": "j"}, "runtime": {"other": "x"},
    }  # fmt: skip
    reply = api("tasks.edit", {"task": task, **new})
    doc = get(api, task)
    for key, value in new.items():
        assert doc[key] == value, key
        assert reply["fields"][key] == value, key


@pytest.mark.parametrize("body", [{}, {"name": None, "comment": None, "project": None, "parent": None, "hyperparams": None}])
def test_edit_nothing_to_change(api: Api, body: dict) -> None:
    task = create(api, comment="kept")
    before = get(api, task)
    later()
    assert api("tasks.edit", {"task": task, **body}) == {"updated": 0, "fields": {}}
    assert get(api, task) == before  # null does not clear, and nothing is stamped


@pytest.mark.parametrize("status", ["in_progress", "completed", "published", "stopped", "queued", "failed"])
def test_edit_needs_a_draft_unless_forced(api: Api, status: str) -> None:
    task = create(api)
    set_status(api, task, status)
    refused(
        api.call("tasks.edit", {"task": task, "name": "new name"}),
        (400, 110),
        f"Invalid task status: expected=created, status={status}",
    )
    assert get(api, task)["name"] == "my task"
    # spec §5.4: status must be created *unless force* (any status then)
    assert api("tasks.edit", {"task": task, "name": "new name", "force": True})["updated"] == 1
    assert get(api, task)["name"] == "new name"


def test_edit_status_is_settable_with_force(api: Api) -> None:
    task = create(api)
    before = get(api, task)
    later()
    reply = api("tasks.edit", {"task": task, "status": "completed", "force": True})
    after = get(api, task)
    assert reply["fields"]["status"] == "completed" == after["status"]
    assert "last_update" in reply["fields"]  # status is not one of the fields that spare last_update
    assert when(after["last_update"]) > when(before["last_update"])
    set_status(api, task, "created")
    assert get(api, task)["status"] == "created"


def test_edit_refusals(api: Api, other_api: Api) -> None:
    task = create(api)
    refused(api.call("tasks.edit", {"task": task, "name": "ab"}), (400, 800), "Data validation error: name=String value is too short")
    refused(api.call("tasks.edit", {"task": task, "tags": ["__$x"]}), (400, 16))
    refused(api.call("tasks.edit", {"task": task, "hyperparams": "x"}), (400, 16))
    refused(api.call("tasks.edit", {"task": task, "parent": "nope"}), (400, 16), "Invalid value for fields (expecting Task id): id=nope, field=parent")
    foreign = create(other_api, "theirs")
    refused(api.call("tasks.edit", {"task": task, "parent": foreign}), (400, 101), f"Invalid task id (invalid parent): parent={foreign}")
    foreign_project = other_api("projects.create", {"name": "their project", "description": ""})["id"]
    refused(api.call("tasks.edit", {"task": task, "project": foreign_project}), (400, 401), f"Invalid project id: id={foreign_project}")
    # spec §2.6 recommends validating what the reference does not: type and status enums
    refused(api.call("tasks.edit", {"task": task, "type": "nope"}), (400, 800))
    refused(api.call("tasks.edit", {"task": task, "status": "nope", "force": True}), (400, 800))
    refused(api.call("tasks.edit", {"name": "no task"}), (400, 12))
    assert get(api, task)["name"] == "my task"


def test_edit_project_touches_it(api: Api) -> None:
    project = api("projects.create", {"name": "edit target", "description": ""})["id"]
    task = create(api)
    later()
    reply = api("tasks.edit", {"task": task, "project": project})
    assert reply["fields"]["project"] == project
    assert "last_update" not in reply["fields"]
    assert api("projects.get_by_id", {"project": project})["project"]["last_update"] == reply["fields"]["last_change"]


def test_edit_by_another_user_of_the_company(api: Api, user_api: Api, admin) -> None:  # type: ignore[no-untyped-def]
    task = create(api)
    reply = user_api("tasks.edit", {"task": task, "comment": "mine now"})
    someone = user_id(user_api)
    assert reply["fields"]["last_changed_by"] == someone
    doc = get(api, task)
    assert doc["last_changed_by"] == someone
    assert doc["user"] == admin.user  # the creator never changes


# update -------------------------------------------------------------------------------------------
def test_update_fields_and_response(api: Api, admin) -> None:  # type: ignore[no-untyped-def]
    project = api("projects.create", {"name": "update target", "description": ""})["id"]
    task = create(api)
    set_status(api, task, "published")  # update has no status precondition
    before = get(api, task)
    later()
    reply = api(
        "tasks.update",
        {
            "task": task, "name": " updated name ", "tags": ["y", "x"], "system_tags": ["s"], "comment": "cc",
            "project": project, "status_message": "msg", "output__error": "boom",
            # ignored: created, status, status_reason, and anything unknown
            "created": "2020-01-01T00:00:00", "status": "created", "status_reason": "r", "type": "testing",
        },
    )  # fmt: skip
    after = get(api, task)
    assert reply == {
        "updated": 1,
        "fields": {
            "name": "updated name", "tags": ["x", "y"], "system_tags": ["s"], "comment": "cc", "project": project,
            "status_message": "msg", "output.error": "boom",
            "last_change": after["last_change"], "last_changed_by": admin.user,
        },
    }  # fmt: skip
    assert after["name"] == "updated name"
    assert after["tags"] == ["x", "y"] and after["system_tags"] == ["s"]
    assert after["comment"] == "cc" and after["project"] == project
    assert after["status_message"] == "msg"
    assert after["output"] == {"error": "boom"}
    assert after["status"] == "published" and after["type"] == "training"
    assert after["created"] == before["created"] and "status_reason" not in after
    assert after["last_update"] == before["last_update"]  # update never moves last_update
    assert when(after["last_change"]) > when(before["last_change"])
    assert api("projects.get_by_id", {"project": project})["project"]["last_update"] == after["last_change"]


@pytest.mark.parametrize("body", [{}, {"name": None, "comment": None, "tags": None}, {"status": "completed", "created": "x"}])
def test_update_nothing_to_change(api: Api, body: dict) -> None:
    task = create(api, comment="kept")
    before = get(api, task)
    later()
    assert api("tasks.update", {"task": task, **body}) == {"updated": 0, "fields": {}}
    assert get(api, task) == before


def test_update_refusals(api: Api, other_api: Api) -> None:
    task = create(api)
    refused(api.call("tasks.update", {"task": task, "name": "ab"}), (400, 800), "Data validation error: name=String value is too short")
    refused(api.call("tasks.update", {"task": task, "tags": ["__$x"]}), (400, 16), "Invalid value for fields (unsupported tag prefix): values=(__$x)")
    refused(api.call("tasks.update", {"task": task, "name": 12}), (400, 12))
    refused(api.call("tasks.update", {"name": "no task"}), (400, 12))
    # spec §5.5 [QUIRK]: the reference accepts a project of any company; skiff follows the
    # recommendation and requires the caller's company
    foreign_project = other_api("projects.create", {"name": "their project", "description": ""})["id"]
    refused(api.call("tasks.update", {"task": task, "project": foreign_project}), (400, 401), f"Invalid project id: id={foreign_project}")
    assert get(api, task)["name"] == "my task"


# update_batch -------------------------------------------------------------------------------------
def test_update_batch_json_lines(api: Api, admin) -> None:  # type: ignore[no-untyped-def]
    first, second = create(api, "first"), create(api, "second")
    set_status(api, second, "completed")
    before = {t: get(api, t) for t in (first, second)}
    later()
    reply = api(
        "tasks.update_batch",
        content=batch({"task": first, "name": "first renamed", "tags": ["b", "a"]}, {"task": second, "comment": "c2", "output__error": "e"}),
        headers=JSON_LINES,
    )
    assert reply == {"updated": 2}
    one, two = get(api, first), get(api, second)
    assert one["name"] == "first renamed" and one["tags"] == ["a", "b"]
    assert two["comment"] == "c2" and two["output"] == {"error": "e"}
    for doc in (one, two):
        assert doc["last_update"] == before[doc["id"]]["last_update"]
        assert when(doc["last_change"]) > when(before[doc["id"]]["last_change"])
        assert doc["last_changed_by"] == admin.user


def test_update_batch_last_line_wins_and_plain_object_body(api: Api) -> None:
    task = create(api)
    reply = api(
        "tasks.update_batch",
        content=batch({"task": task, "name": "first try"}, {"task": task, "name": "second try"}),
        headers=JSON_LINES,
    )
    assert reply == {"updated": 1}
    assert get(api, task)["name"] == "second try"
    # a plain JSON object is a one-line batch
    assert api("tasks.update_batch", {"task": task, "comment": "plain"}) == {"updated": 1}
    assert get(api, task)["comment"] == "plain"


def test_update_batch_empty_body(api: Api) -> None:
    assert api("tasks.update_batch", content=b"", headers=JSON_LINES) == {"updated": 0}


def test_update_batch_is_all_or_nothing(api: Api, other_api: Api) -> None:
    task = create(api)
    foreign = create(other_api, "theirs")
    before = get(api, task)
    refused(
        api.call("tasks.update_batch", content=batch({"task": task, "name": "changed"}, {"task": "nope", "name": "x" * 3}), headers=JSON_LINES),
        (400, 101),
        "Invalid task id: ids=(nope)",
    )
    refused(
        api.call("tasks.update_batch", content=batch({"task": task, "name": "changed"}, {"task": foreign, "name": "xyz"}), headers=JSON_LINES),
        (400, 101),
        f"Invalid task id: ids=({foreign})",
    )
    refused(
        api.call("tasks.update_batch", content=batch({"task": task, "name": "changed"}, {"task": task, "tags": ["__$t"]}), headers=JSON_LINES),
        (400, 16),
    )
    refused(
        api.call("tasks.update_batch", content=batch({"task": task, "name": "changed"}, {"task": task, "name": "ab"}), headers=JSON_LINES),
        (400, 800),
    )
    assert get(api, task) == before
    assert get(other_api, foreign)["name"] == "theirs"


def test_update_batch_malformed_lines(api: Api) -> None:
    task = create(api)
    reply = api.call("tasks.update_batch", content=b'{"task": "%s"}\n[1]' % task.encode(), headers=JSON_LINES)
    assert reply.status == 400
    # the reference answers 500 for an item without ``task`` (spec §5.6); a validation error is the
    # deliberate, friendlier answer
    refused(api.call("tasks.update_batch", content=batch({"name": "no task"}), headers=JSON_LINES), (400, 12))
    assert get(api, task)["name"] == "my task"


# update_tags --------------------------------------------------------------------------------------
def test_update_tags(api: Api, admin) -> None:  # type: ignore[no-untyped-def]
    first, second = create(api, tags=["keep", "old"]), create(api, tags=["old"])
    set_status(api, second, "published")  # no status precondition
    before = {t: get(api, t) for t in (first, second)}
    later()
    # spec §5.7 [QUIRK]: matched count of the add op plus matched count of the remove op
    assert api("tasks.update_tags", {"ids": [first, second], "add_tags": ["new", "a"], "remove_tags": ["old"]}) == {"updated": 4}
    assert get(api, first)["tags"] == ["a", "keep", "new"]
    assert get(api, second)["tags"] == ["a", "new"]
    for task in (first, second):
        doc = get(api, task)
        assert doc["last_update"] == before[task]["last_update"]
        assert when(doc["last_change"]) > when(before[task]["last_change"])
        assert doc["last_changed_by"] == admin.user
    assert api("tasks.update_tags", {"ids": [first, second], "remove_tags": ["a"]}) == {"updated": 2}
    assert api("tasks.update_tags", {"ids": [first], "add_tags": ["z"]}) == {"updated": 1}
    assert get(api, first)["tags"] == ["keep", "new", "z"]
    assert get(api, second)["system_tags"] == []  # user tags only


def test_update_tags_is_available_at_old_versions(api: Api) -> None:
    task = create(api)
    # handler min_version is 1.0 although the schema says 2.27 (spec §1.1)
    assert api("tasks.update_tags", {"ids": [task], "add_tags": ["t"]}, version="2.1") == {"updated": 1}


def test_update_tags_refusals(api: Api, other_api: Api) -> None:
    task = create(api, tags=["t"])
    foreign = create(other_api, "theirs")
    refused(api.call("tasks.update_tags", {"ids": [task]}), (400, 12), "Validation error (Either add tags or remove tags should be provided)")
    refused(api.call("tasks.update_tags", {"ids": [task], "add_tags": [], "remove_tags": []}), (400, 12))
    refused(api.call("tasks.update_tags", {"ids": [], "add_tags": ["a"]}), (400, 12))
    refused(api.call("tasks.update_tags", {"add_tags": ["a"]}), (400, 12))
    refused(api.call("tasks.update_tags", {"ids": [task, "nope", "nada"], "add_tags": ["a"]}), (400, 101), "Invalid task id: ids=(nope, nada)")
    refused(api.call("tasks.update_tags", {"ids": [task, foreign], "add_tags": ["a"]}), (400, 101), f"Invalid task id: ids=({foreign})")
    assert get(api, task)["tags"] == ["t"]
    assert get(other_api, foreign)["tags"] == []


# set_requirements ---------------------------------------------------------------------------------
def test_set_requirements(api: Api) -> None:
    task = create(api, script={"repository": "r", "requirements": {"pip": "old", "conda": "c"}})
    set_status(api, task, "completed")  # B1 only: no status check
    before = get(api, task)
    later()
    assert api("tasks.set_requirements", {"task": task, "requirements": {"pip": "torch==2\n"}})["updated"] == 1
    after = get(api, task)
    assert after["script"]["requirements"] == {"pip": "torch==2\n"}  # replaced, not merged
    assert after["script"]["repository"] == "r"
    assert when(after["last_update"]) > when(before["last_update"])
    assert after["last_change"] == after["last_update"]


def test_set_requirements_response(api: Api) -> None:
    task = create(api)
    assert api("tasks.set_requirements", {"task": task, "requirements": {"pip": "x"}}) == {
        "updated": 1,
        "fields": {"script.requirements": {"pip": "x"}},
    }


def test_set_requirements_refusals(api: Api) -> None:
    task = create(api)
    refused(api.call("tasks.set_requirements", {"task": task}), (400, 12))
    refused(api.call("tasks.set_requirements", {"task": task, "requirements": "pip"}), (400, 12))
    refused(api.call("tasks.set_requirements", {"requirements": {}}), (400, 12))


# legacy versions (§2.8) ---------------------------------------------------------------------------
def test_v2_5_parameters_become_legacy_hyperparams(api: Api) -> None:
    execution = {"parameters": {"lr": 0.1, "TF_DEFINE/batch": 32, "name": "x"}, "model_desc": {"net": "resnet"}}
    task = api("tasks.create", {"name": "old client", "type": "training", "execution": execution}, version="2.5")["id"]
    modern = get(api, task)
    assert modern["hyperparams"] == {
        "Args": {
            "lr": {"section": "Args", "name": "lr", "value": "0.1", "type": "legacy"},
            "name": {"section": "Args", "name": "name", "value": "x", "type": "legacy"},
        },
        "TF_DEFINE": {"batch": {"section": "TF_DEFINE", "name": "batch", "value": "32", "type": "legacy"}},
    }
    assert modern["configuration"] == {"net": {"name": "net", "value": "resnet", "type": "legacy"}}
    assert modern["execution"]["parameters"] == {} and modern["execution"]["model_desc"] == {}
    old = get(api, task, version="2.5")
    assert old["execution"]["parameters"] == {"lr": "0.1", "TF_DEFINE/batch": "32", "name": "x"}
    assert old["execution"]["model_desc"] == {"net": "resnet"}
    assert old["hyperparams"] == modern["hyperparams"]  # modern maps are returned as well
    # from 2.9 on reads carry no legacy keys
    assert get(api, task, version="2.9")["execution"]["parameters"] == {}


def test_legacy_parameters_are_converted_at_every_version(api: Api) -> None:
    task = create(api, execution={"parameters": {"p": "1"}, "framework": "f"})
    doc = get(api, task)
    assert doc["hyperparams"] == {"Args": {"p": {"section": "Args", "name": "p", "value": "1", "type": "legacy"}}}
    assert doc["execution"]["parameters"] == {} and doc["execution"]["framework"] == "f"


def test_legacy_parameter_with_empty_tf_define_name(api: Api) -> None:
    reply = api.call("tasks.create", {"name": "old", "type": "training", "execution": {"parameters": {"TF_DEFINE/": 1}}}, version="2.5")
    refused(reply, (400, 12), "Validation error (Parameter name cannot be empty)")


def test_v2_5_edit_replaces_legacy_parameters_and_keeps_modern_ones(api: Api) -> None:
    task = create(
        api,
        hyperparams={"Args": {"modern": {"section": "Args", "name": "modern", "value": "m"}}},
        execution={"parameters": {"old1": 1, "old2": 2}},
    )
    reply = api("tasks.edit", {"task": task, "execution": {"parameters": {"new": 3}}}, version="2.5")
    expected = {
        "Args": {
            "modern": {"section": "Args", "name": "modern", "value": "m"},
            "new": {"section": "Args", "name": "new", "value": "3", "type": "legacy"},
        }
    }
    assert reply["fields"]["hyperparams"] == expected
    assert get(api, task)["hyperparams"] == expected
    assert get(api, task, version="2.5")["execution"]["parameters"] == {"new": "3"}


def test_v2_12_execution_model_and_docker_cmd(api: Api) -> None:
    model = a_model(api, "legacy input")
    body = {"name": "pre 2.13", "type": "training", "execution": {"model": model, "docker_cmd": "img:1 --ipc=host -e A=1"}}
    task = api("tasks.create", body, version="2.12")["id"]
    doc = get(api, task)
    [item] = doc["models"]["input"]
    assert (item["name"], item["model"]) == ("Input Model", model) and ISO.fullmatch(item["updated"])
    assert doc["container"] == {"image": "img:1", "arguments": "--ipc=host -e A=1"}
    assert "model" not in doc["execution"] and "docker_cmd" not in doc["execution"]
    api("tasks.add_or_update_model", {"task": task, "name": "o1", "model": "m-out1", "type": "output"})
    api("tasks.add_or_update_model", {"task": task, "name": "o2", "model": "m-out2", "type": "output"})
    old = get(api, task, version="2.12")
    assert old["execution"]["model"] == model
    assert old["execution"]["docker_cmd"] == "img:1 --ipc=host -e A=1"
    assert old["output"]["model"] == "m-out2"  # the last output model
    # an empty model clears the input models
    reply = api("tasks.edit", {"task": task, "container": {"image": "other"}}, version="2.12")
    assert reply["fields"]["container"] == {"image": "other"}
    assert get(api, task, version="2.12")["execution"]["docker_cmd"] == "other"
    api("tasks.edit", {"task": task, "execution": {"model": ""}}, version="2.12")
    assert get(api, task)["models"]["input"] == []
    assert "model" not in get(api, task, version="2.12")["execution"]


def test_from_v2_13_legacy_execution_keys_are_dropped(api: Api) -> None:
    task = create(api, execution={"model": "m-in", "docker_cmd": "img args", "framework": "f"})
    doc = get(api, task)
    assert doc["models"]["input"] == [] and doc["container"] == {}
    assert doc["execution"] == {**FRESH_DEFAULTS["execution"], "framework": "f"}
    assert "docker_cmd" not in get(api, task, version="2.13")["execution"]


def test_v2_1_tags_split_and_merge(api: Api) -> None:
    body = {"name": "tagged", "type": "training", "tags": ["archived", "mine", "-development", "Annotated", "active"]}
    task = api("tasks.create", body, version="2.1")["id"]
    doc = get(api, task)
    assert doc["tags"] == ["mine"]
    assert doc["system_tags"] == sorted(["archived", "-development", "Annotated", "active"])
    assert get(api, task, version="2.1")["tags"] == sorted(["archived", "mine", "-development", "Annotated", "active"])
    # with system_tags given, nothing is moved
    other = api("tasks.create", {**body, "system_tags": ["x"]}, version="2.1")["id"]
    assert get(api, other)["tags"] == sorted(body["tags"]) and get(api, other)["system_tags"] == ["x"]


# who touched it (§2.7) ----------------------------------------------------------------------------
Operation = Callable[[Api, str], Any]
STAMPING: list[tuple[str, Operation, bool]] = [
    ("edit name", lambda a, t: a("tasks.edit", {"task": t, "name": "other name"}), False),
    ("edit comment+tags", lambda a, t: a("tasks.edit", {"task": t, "comment": "c", "tags": ["x"], "system_tags": ["y"]}), False),
    ("edit script", lambda a, t: a("tasks.edit", {"task": t, "script": {"branch": "b"}}), True),
    ("edit hyperparams", lambda a, t: a("tasks.edit", {"task": t, "hyperparams": {}}), True),
    ("edit output_dest", lambda a, t: a("tasks.edit", {"task": t, "output_dest": "s3://x"}), True),
    ("update", lambda a, t: a("tasks.update", {"task": t, "name": "other name", "status_message": "m"}), False),
    ("update_batch", lambda a, t: a("tasks.update_batch", content=batch({"task": t, "comment": "b"}), headers=JSON_LINES), False),
    ("update_tags", lambda a, t: a("tasks.update_tags", {"ids": [t], "add_tags": ["n"]}), False),
    ("set_requirements", lambda a, t: a("tasks.set_requirements", {"task": t, "requirements": {"pip": "x"}}), True),
    ("edit_hyper_params", lambda a, t: a("tasks.edit_hyper_params", {"task": t, "hyperparams": [{"section": "Args", "name": "n", "value": "v"}]}), True),
    ("edit_hyper_params properties", lambda a, t: a("tasks.edit_hyper_params", {"task": t, "hyperparams": [{"section": "Properties", "name": "n", "value": "v"}]}), False),
    ("delete_hyper_params", lambda a, t: a("tasks.delete_hyper_params", {"task": t, "hyperparams": [{"section": "Args", "name": "lr"}]}), True),
    ("delete_hyper_params properties", lambda a, t: a("tasks.delete_hyper_params", {"task": t, "hyperparams": [{"section": "properties"}]}), False),
    ("edit_configuration", lambda a, t: a("tasks.edit_configuration", {"task": t, "configuration": [{"name": "c", "value": "v"}]}), True),
    ("delete_configuration", lambda a, t: a("tasks.delete_configuration", {"task": t, "configuration": ["cfg"]}), True),
    ("add_or_update_artifacts", lambda a, t: a("tasks.add_or_update_artifacts", {"task": t, "artifacts": [{"key": "k", "type": "t"}]}), True),
    ("delete_artifacts", lambda a, t: a("tasks.delete_artifacts", {"task": t, "artifacts": [{"key": "art"}]}), True),
    ("add_or_update_model", lambda a, t: a("tasks.add_or_update_model", {"task": t, "name": "n", "model": "m", "type": "input"}), True),
    ("delete_models", lambda a, t: a("tasks.delete_models", {"task": t, "models": [{"name": "out", "type": "output"}]}), False),
]  # fmt: skip


@pytest.mark.parametrize(("operation", "bumps_last_update"), [s[1:] for s in STAMPING], ids=[s[0] for s in STAMPING])
def test_who_touched_it(api: Api, user_api: Api, admin, operation: Operation, bumps_last_update: bool) -> None:  # type: ignore[no-untyped-def]
    task = create(
        api,
        hyperparams={
            "Args": {"lr": {"section": "Args", "name": "lr", "value": "1"}},
            "properties": {"p": {"section": "properties", "name": "p", "value": "1"}},
        },
        configuration={"cfg": {"name": "cfg", "value": "x"}},
        execution={"artifacts": [{"key": "art", "type": "t"}]},
        models={"output": [{"name": "out", "model": "m"}]},
    )
    before = get(api, task)
    later()
    operation(user_api, task)
    after = get(api, task)
    assert when(after["last_change"]) > when(before["last_change"])
    assert after["last_changed_by"] == user_id(user_api)
    assert after["user"] == admin.user
    assert after["created"] == before["created"]
    if bumps_last_update:
        assert after["last_update"] == after["last_change"]
    else:
        assert after["last_update"] == before["last_update"]


# isolation between companies (§2.9, B1, B3) ---------------------------------------------------------
WRITES: list[tuple[str, dict[str, Any]]] = [
    ("tasks.edit", {"name": "stolen"}),
    ("tasks.edit", {"name": "stolen", "force": True}),
    ("tasks.update", {"name": "stolen"}),
    ("tasks.set_requirements", {"requirements": {"pip": "x"}}),
    ("tasks.edit_hyper_params", {"hyperparams": [{"section": "Args", "name": "lr", "value": "9"}], "force": True}),
    ("tasks.edit_hyper_params", {"hyperparams": [{"section": "properties", "name": "p", "value": "9"}]}),
    ("tasks.delete_hyper_params", {"hyperparams": [{"section": "Args"}], "force": True}),
    ("tasks.delete_hyper_params", {"hyperparams": [{"section": "properties"}]}),
    ("tasks.edit_configuration", {"configuration": [{"name": "cfg", "value": "9"}], "force": True}),
    ("tasks.delete_configuration", {"configuration": ["cfg"], "force": True}),
    ("tasks.add_or_update_artifacts", {"artifacts": [{"key": "art", "type": "stolen"}]}),
    ("tasks.delete_artifacts", {"artifacts": [{"key": "art"}]}),
    ("tasks.add_or_update_model", {"name": "out", "model": "stolen", "type": "output"}),
    ("tasks.delete_models", {"models": [{"name": "out", "type": "output"}]}),
]


@pytest.fixture
def owned(api: Api) -> str:
    """A task of ``api``'s company with something in every slot."""
    return create(
        api,
        "owned task",
        hyperparams={
            "Args": {"lr": {"section": "Args", "name": "lr", "value": "1"}},
            "properties": {"p": {"section": "properties", "name": "p", "value": "1"}},
        },
        configuration={"cfg": {"name": "cfg", "value": "x"}},
        execution={"artifacts": [{"key": "art", "type": "t"}]},
        models={"output": [{"name": "out", "model": "m"}]},
    )


@pytest.mark.parametrize(("endpoint", "body"), WRITES, ids=[f"{e}-{i}" for i, (e, _) in enumerate(WRITES)])
def test_writes_cannot_see_another_companys_task(api: Api, other_api: Api, owned: str, endpoint: str, body: dict) -> None:
    before = get(api, owned)
    refused(
        other_api.call(endpoint, {"task": owned, **body}),
        (400, 101),
        f"Invalid task id: id={owned}, company={company_id(other_api)}",
    )
    assert get(api, owned) == before
    # get_configuration_names has no existence check: a foreign task is simply not listed
    assert other_api("tasks.get_configuration_names", {"tasks": [owned]}) == {"configurations": []}


@pytest.mark.parametrize(
    ("endpoint", "body"),
    [
        ("tasks.update_tags", lambda t: {"ids": [t], "add_tags": ["x"]}),
        ("tasks.get_by_id", lambda t: {"task": t}),
        ("tasks.get_hyper_params", lambda t: {"tasks": [t]}),
        ("tasks.get_configurations", lambda t: {"tasks": [t]}),
    ],
)
def test_lists_and_reads_cannot_see_another_companys_task(api: Api, other_api: Api, owned: str, endpoint: str, body: Callable) -> None:  # type: ignore[type-arg]
    before = get(api, owned)
    refused(other_api.call(endpoint, body(owned)), (400, 101), f"Invalid task id: ids=({owned})")
    refused(
        other_api.call("tasks.update_batch", content=batch({"task": owned, "name": "stolen"}), headers=JSON_LINES),
        (400, 101),
        f"Invalid task id: ids=({owned})",
    )
    assert get(api, owned) == before


@pytest.fixture
def public(api: Api, owned: str) -> Iterator[str]:
    """``owned``, made public for the test only: public tasks show in every company's reads, and
    the database is shared by the whole session."""
    assert api("tasks.make_public", {"ids": [owned]}) == {"updated": 1}
    yield owned
    api("tasks.make_private", {"ids": [owned]})


@pytest.mark.parametrize(("endpoint", "body"), WRITES, ids=[f"{e}-{i}" for i, (e, _) in enumerate(WRITES)])
def test_public_tasks_are_readable_by_all_and_writable_by_none(
    api: Api, other_api: Api, public: str, endpoint: str, body: dict
) -> None:
    owned = public
    before = get(api, owned)
    assert get(other_api, owned) == before
    assert other_api("tasks.get_hyper_params", {"tasks": [owned]})["params"][0]["task"] == owned
    forbidden = f"Forbidden (modification not allowed) (cannot modify public task(s), ids=('{owned}',))"
    for caller in (api, other_api):  # the company that made it public cannot write it either
        refused(caller.call(endpoint, {"task": owned, **body}), (403, 21), forbidden)
    assert get(api, owned) == before


def test_public_tasks_refuse_multi_id_writes(api: Api, other_api: Api, public: str) -> None:
    owned = public
    mine = create(api, "still mine")
    before = get(api, mine)
    for caller in (api, other_api):
        refused(caller.call("tasks.update_tags", {"ids": [owned], "add_tags": ["x"]}), (403, 21))
        refused(caller.call("tasks.update_batch", content=batch({"task": owned, "name": "xyz"}), headers=JSON_LINES), (403, 21))
    # all or nothing: the caller's own task in the same request is left alone
    refused(api.call("tasks.update_tags", {"ids": [mine, owned], "add_tags": ["x"]}), (403, 21))
    assert get(api, mine) == before


def test_tag_and_batch_updates_touch_the_project(api: Api) -> None:
    project = api("projects.create", {"name": "touched by tags", "description": ""})["id"]
    task = create(api, project=project)
    for operation in (
        lambda: api("tasks.update_tags", {"ids": [task], "add_tags": ["t"]}),
        lambda: api("tasks.update_batch", content=batch({"task": task, "comment": "c"}), headers=JSON_LINES),
    ):
        later()
        operation()
        assert api("projects.get_by_id", {"project": project})["project"]["last_update"] == get(api, task)["last_change"]
