"""Everything stored on a task by key, over HTTP: hyperparameters, configuration, artifacts and
model slots (spec tasks-model §2.2, §2.4, §5.16–5.19; tasks-queries appendix: get_hyper_params,
get_configurations, get_configuration_names), plus property-based round trips of arbitrary names.

Timestamp and cross-company rules for these endpoints are tested in test_tasks_document.py.
"""

from __future__ import annotations

import time
from datetime import datetime
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.support import Api

STATUSES_REFUSED = ["completed", "published", "stopped", "queued", "failed", "closed"]


# helpers ------------------------------------------------------------------------------------------
def create(api: Api, name: str = "params task", **fields: Any) -> str:
    return api("tasks.create", {"name": name, "type": "training", **fields})["id"]


def get(api: Api, task: str) -> dict[str, Any]:
    return api("tasks.get_by_id", {"task": task})["task"]


def set_status(api: Api, task: str, status: str) -> None:
    api("tasks.edit", {"task": task, "status": status, "force": True})


def hp(section: str, name: str, value: str, **extra: str) -> dict[str, str]:
    return {"section": section, "name": name, "value": value, **extra}


def params_of(api: Api, task: str) -> list[dict[str, Any]]:
    [entry] = api("tasks.get_hyper_params", {"tasks": [task]})["params"]
    assert entry["task"] == task
    return entry["hyperparams"]


def configs_of(api: Api, task: str, **query: Any) -> list[dict[str, Any]]:
    [entry] = api("tasks.get_configurations", {"tasks": [task], **query})["configurations"]
    assert entry["task"] == task
    return entry["configuration"]


def config_names(api: Api, task: str, **query: Any) -> list[str]:
    found = api("tasks.get_configuration_names", {"tasks": [task], **query})["configurations"]
    if not found:  # a task with no remaining names is left out (spec tasks-queries §8)
        return []
    [entry] = found
    assert entry["task"] == task
    return entry["names"]


def refused(reply: Any, code: tuple[int, int], msg: str | None = None) -> None:
    assert reply.code == code, reply.body
    assert reply.data == {}
    if msg is not None:
        assert reply.msg == msg


def status_refusal(status: str) -> str:
    return f"Invalid task status: expected=created, status={status}"


# edit_hyper_params --------------------------------------------------------------------------------
def start(api: Api) -> str:
    return create(
        api,
        hyperparams={
            "A": {"x": hp("A", "x", "1"), "y": hp("A", "y", "2", type="int")},
            "B": {"z": hp("B", "z", "3", description="zed")},
        },
    )


def test_edit_hyper_params_replace_none(api: Api) -> None:
    task = start(api)
    reply = api("tasks.edit_hyper_params", {"task": task, "hyperparams": [hp("A", "x", "10"), hp("C", "w", "4", type="str")]})
    assert reply == {"updated": 1}
    assert get(api, task)["hyperparams"] == {
        "A": {"x": hp("A", "x", "10"), "y": hp("A", "y", "2", type="int")},
        "B": {"z": hp("B", "z", "3", description="zed")},
        "C": {"w": hp("C", "w", "4", type="str")},
    }
    # flat, sorted by (section, name), optional keys omitted when unset
    assert params_of(api, task) == [
        hp("A", "x", "10"), hp("A", "y", "2", type="int"), hp("B", "z", "3", description="zed"), hp("C", "w", "4", type="str"),
    ]  # fmt: skip


def test_edit_hyper_params_replace_section(api: Api) -> None:
    task = start(api)
    reply = api(
        "tasks.edit_hyper_params",
        {"task": task, "hyperparams": [hp("A", "new", "n"), hp("A", "x", "11"), hp("C", "c", "c")], "replace_hyperparams": "section"},
    )
    assert reply == {"updated": 1}
    assert get(api, task)["hyperparams"] == {
        "A": {"new": hp("A", "new", "n"), "x": hp("A", "x", "11")},  # A.y is gone with the old section
        "B": {"z": hp("B", "z", "3", description="zed")},  # untouched
        "C": {"c": hp("C", "c", "c")},
    }


def test_edit_hyper_params_replace_all(api: Api) -> None:
    task = start(api)
    api("tasks.edit_hyper_params", {"task": task, "hyperparams": [hp("D", "d", "")], "replace_hyperparams": "all"})
    assert get(api, task)["hyperparams"] == {"D": {"d": hp("D", "d", "")}}
    assert params_of(api, task) == [hp("D", "d", "")]


def test_edit_hyper_params_keys_are_stripped_items_kept_as_sent(api: Api) -> None:
    task = create(api)
    api("tasks.edit_hyper_params", {"task": task, "hyperparams": [hp(" Sec ", " name ", " v ")]})
    # spec §2.4 rules 1 and 4: map keys stripped, the item's own section/name stored as sent
    assert get(api, task)["hyperparams"] == {"Sec": {"name": hp(" Sec ", " name ", " v ")}}
    api("tasks.edit_hyper_params", {"task": task, "hyperparams": [hp("Sec", "name", "v2")]})
    assert get(api, task)["hyperparams"] == {"Sec": {"name": hp("Sec", "name", "v2")}}  # same identity


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({}, None),
        ({"hyperparams": []}, None),
        ({"hyperparams": [{"name": "n", "value": "v"}]}, "Validation error (Empty section name is not allowed)"),
        ({"hyperparams": [hp("  ", "n", "v")]}, "Validation error (Empty section name is not allowed)"),
        ({"hyperparams": [{"section": "s", "value": "v"}]}, "Validation error (Empty parameter name is not allowed)"),
        ({"hyperparams": [hp("s", "", "v")]}, "Validation error (Empty parameter name is not allowed)"),
        ({"hyperparams": [{"section": "s", "name": "n", "value": 1}]}, None),
        ({"hyperparams": [{"section": "s", "name": "n"}]}, None),
        ({"hyperparams": [hp("s", "n", "v")], "replace_hyperparams": "some"}, None),
        ({"hyperparams": {"s": {"n": hp("s", "n", "v")}}}, None),
    ],
)
def test_edit_hyper_params_refusals(api: Api, body: dict, message: str | None) -> None:
    task = start(api)
    before = get(api, task)
    refused(api.call("tasks.edit_hyper_params", {"task": task, **body}), (400, 12), message)
    assert get(api, task) == before


def test_edit_hyper_params_without_task(api: Api) -> None:
    refused(api.call("tasks.edit_hyper_params", {"hyperparams": [hp("s", "n", "v")]}), (400, 12))
    refused(
        api.call("tasks.edit_hyper_params", {"task": "nope", "hyperparams": [hp("s", "n", "v")]}),
        (400, 101),
        f"Invalid task id: id=nope, company={api('users.get_current_user', {})['user']['company']['id']}",
    )


def test_edit_hyper_params_status_rules(api: Api) -> None:
    task = start(api)
    set_status(api, task, "in_progress")
    body = {"task": task, "hyperparams": [hp("A", "x", "running")]}
    refused(api.call("tasks.edit_hyper_params", body), (400, 110), status_refusal("in_progress"))
    assert api("tasks.edit_hyper_params", {**body, "force": True}) == {"updated": 1}
    assert get(api, task)["hyperparams"]["A"]["x"]["value"] == "running"


@pytest.mark.parametrize("status", STATUSES_REFUSED)
def test_edit_hyper_params_refused_in_other_statuses_even_with_force(api: Api, status: str) -> None:
    task = start(api)
    set_status(api, task, status)
    for force in (False, True):
        reply = api.call("tasks.edit_hyper_params", {"task": task, "hyperparams": [hp("A", "x", "v")], "force": force})
        refused(reply, (400, 110), status_refusal(status))
    assert get(api, task)["hyperparams"]["A"]["x"]["value"] == "1"


@pytest.mark.parametrize("status", ["completed", "published", "in_progress"])
def test_properties_section_is_editable_in_any_status(api: Api, status: str) -> None:
    task = start(api)
    set_status(api, task, status)
    before = get(api, task)
    items = [hp("Properties", "p1", "a"), hp("PROPERTIES", "p2", "b", type="str")]
    assert api("tasks.edit_hyper_params", {"task": task, "hyperparams": items}) == {"updated": 1}
    after = get(api, task)
    # the section is normalised to lowercase, in the map key and in the item
    assert after["hyperparams"]["properties"] == {"p1": hp("properties", "p1", "a"), "p2": hp("properties", "p2", "b", type="str")}
    assert after["last_update"] == before["last_update"]
    # one item outside properties and the whole request is subject to the status check
    mixed = [hp("properties", "p3", "c"), hp("A", "x", "v")]
    refused(api.call("tasks.edit_hyper_params", {"task": task, "hyperparams": mixed}), (400, 110), status_refusal(status))
    assert "p3" not in get(api, task)["hyperparams"]["properties"]


# delete_hyper_params ------------------------------------------------------------------------------
def test_delete_hyper_params(api: Api) -> None:
    task = start(api)
    reply = api(
        "tasks.delete_hyper_params",
        {"task": task, "hyperparams": [{"section": "A", "name": "x"}, {"section": "B"}, {"section": "nope", "name": "n"}, {"section": "gone"}]},
    )
    assert reply == {"deleted": 1}
    assert params_of(api, task) == [hp("A", "y", "2", type="int")]
    assert get(api, task)["hyperparams"]["A"] == {"y": hp("A", "y", "2", type="int")}
    assert "B" not in get(api, task)["hyperparams"]
    # nothing to delete is not an error
    assert api("tasks.delete_hyper_params", {"task": task, "hyperparams": [{"section": "nope"}]}) == {"deleted": 1}


def test_delete_hyper_params_empty_name_means_the_section(api: Api) -> None:
    task = start(api)
    api("tasks.delete_hyper_params", {"task": task, "hyperparams": [{"section": "A", "name": ""}]})
    assert params_of(api, task) == [hp("B", "z", "3", description="zed")]


@pytest.mark.parametrize(
    "keys",
    [
        [{"section": "A"}, {"section": "A", "name": "x"}],
        [{"section": "A", "name": "x"}, {"section": "A"}],
        [{"section": "A", "name": "missing"}, {"section": "A", "name": ""}],
    ],
)
def test_delete_hyper_params_conflict(api: Api, keys: list) -> None:
    task = start(api)
    before = get(api, task)
    refused(
        api.call("tasks.delete_hyper_params", {"task": task, "hyperparams": keys}),
        (400, 15),
        "Conflicting fields (Cannot delete section field if the whole section was scheduled for deletion)",
    )
    assert get(api, task) == before


@pytest.mark.parametrize(
    "body",
    [{}, {"hyperparams": []}, {"hyperparams": [{"name": "x"}]}, {"hyperparams": [{"section": " "}]}],
)
def test_delete_hyper_params_refusals(api: Api, body: dict) -> None:
    task = start(api)
    refused(api.call("tasks.delete_hyper_params", {"task": task, **body}), (400, 12))
    assert len(params_of(api, task)) == 3


def test_delete_hyper_params_status_rules(api: Api) -> None:
    task = start(api)
    set_status(api, task, "in_progress")
    body = {"task": task, "hyperparams": [{"section": "A"}]}
    refused(api.call("tasks.delete_hyper_params", body), (400, 110), status_refusal("in_progress"))
    assert api("tasks.delete_hyper_params", {**body, "force": True}) == {"deleted": 1}
    set_status(api, task, "completed")
    refused(
        api.call("tasks.delete_hyper_params", {"task": task, "hyperparams": [{"section": "B"}], "force": True}),
        (400, 110),
        status_refusal("completed"),
    )
    assert [p["section"] for p in params_of(api, task)] == ["B"]


def test_delete_properties_in_any_status(api: Api) -> None:
    task = create(api, hyperparams={"properties": {"p": hp("properties", "p", "1"), "q": hp("properties", "q", "2")}, "A": {}})
    set_status(api, task, "published")
    before = get(api, task)
    assert api("tasks.delete_hyper_params", {"task": task, "hyperparams": [{"section": "Properties", "name": "p"}]}) == {"deleted": 1}
    after = get(api, task)
    assert after["hyperparams"]["properties"] == {"q": hp("properties", "q", "2")}
    assert after["last_update"] == before["last_update"]
    refused(
        api.call("tasks.delete_hyper_params", {"task": task, "hyperparams": [{"section": "properties"}, {"section": "A"}]}),
        (400, 110),
        status_refusal("published"),
    )
    assert api("tasks.delete_hyper_params", {"task": task, "hyperparams": [{"section": "PROPERTIES"}]}) == {"deleted": 1}
    assert params_of(api, task) == []


# get_hyper_params ---------------------------------------------------------------------------------
def test_get_hyper_params_of_several_tasks(api: Api) -> None:
    first = start(api)
    second = create(api, hyperparams={"b": {"2": hp("b", "2", "x"), "10": hp("b", "10", "y")}, "a": {"z": hp("a", "z", "")}})
    empty = create(api)
    reply = api("tasks.get_hyper_params", {"tasks": [second, empty, first]})
    assert [entry["task"] for entry in reply["params"]] == [second, empty, first]
    assert reply["params"][0]["hyperparams"] == [hp("a", "z", ""), hp("b", "10", "y"), hp("b", "2", "x")]
    assert reply["params"][1]["hyperparams"] == []


def test_get_hyper_params_refusals(api: Api) -> None:
    task = start(api)
    refused(api.call("tasks.get_hyper_params", {"tasks": [task, "nope"]}), (400, 101), "Invalid task id: ids=(nope)")
    refused(api.call("tasks.get_hyper_params", {"tasks": []}), (400, 12))
    refused(api.call("tasks.get_hyper_params", {}), (400, 12))


# configuration ------------------------------------------------------------------------------------
def cfg(name: str, value: str, **extra: str) -> dict[str, str]:
    return {"name": name, "value": value, **extra}


def start_cfg(api: Api) -> str:
    return create(
        api,
        configuration={
            "General": cfg("General", "{a: 1}", type="dictionary"),
            "empty": cfg("empty", ""),
            "no value": {"name": "no value", "type": "t"},
            "Zeta": cfg("Zeta", "z", description="last"),
        },
    )


def test_edit_configuration(api: Api) -> None:
    task = start_cfg(api)
    reply = api(
        "tasks.edit_configuration",
        {"task": task, "configuration": [cfg("General", "{b: 2}"), cfg("new", "n", type="yaml", description="d")]},
    )
    assert reply == {"updated": 1}
    doc = get(api, task)
    assert doc["configuration"]["General"] == cfg("General", "{b: 2}")  # the whole item is replaced
    assert doc["configuration"]["new"] == cfg("new", "n", type="yaml", description="d")
    assert set(doc["configuration"]) == {"General", "empty", "no value", "Zeta", "new"}
    assert [c["name"] for c in configs_of(api, task)] == ["General", "Zeta", "empty", "new", "no value"]


def test_edit_configuration_replace_all(api: Api) -> None:
    task = start_cfg(api)
    api("tasks.edit_configuration", {"task": task, "configuration": [cfg("only", "")], "replace_configuration": True})
    assert get(api, task)["configuration"] == {"only": cfg("only", "")}
    assert configs_of(api, task) == [cfg("only", "")]


def test_edit_configuration_keys_are_stripped_items_kept_as_sent(api: Api) -> None:
    task = create(api)
    api("tasks.edit_configuration", {"task": task, "configuration": [cfg(" spaced ", "v")]})
    assert get(api, task)["configuration"] == {"spaced": cfg(" spaced ", "v")}
    assert configs_of(api, task, names=["spaced"]) == [cfg(" spaced ", "v")]


def test_configuration_names_are_the_map_keys(api: Api) -> None:
    # the reference lists the keys of the configuration map (spec §2.4: keys are stripped)
    task = create(api)
    api("tasks.edit_configuration", {"task": task, "configuration": [cfg(" spaced ", "v")]})
    assert config_names(api, task) == ["spaced"]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({}, None),
        ({"configuration": []}, None),
        ({"configuration": [{"value": "v"}]}, "Validation error (Empty configuration name is not allowed)"),
        ({"configuration": [cfg(" ", "v")]}, "Validation error (Empty configuration name is not allowed)"),
        ({"configuration": [{"name": "n", "value": 3}]}, None),
        ({"configuration": [{"name": "n"}]}, None),
        ({"configuration": {"n": cfg("n", "v")}}, None),
    ],
)
def test_edit_configuration_refusals(api: Api, body: dict, message: str | None) -> None:
    task = start_cfg(api)
    before = get(api, task)
    refused(api.call("tasks.edit_configuration", {"task": task, **body}), (400, 12), message)
    assert get(api, task) == before


@pytest.mark.parametrize("endpoint", ["tasks.edit_configuration", "tasks.delete_configuration"])
def test_configuration_status_rules(api: Api, endpoint: str) -> None:
    task = start_cfg(api)
    body: dict[str, Any] = {"task": task, "configuration": [cfg("properties", "p")] if endpoint.endswith("edit_configuration") else ["General"]}
    set_status(api, task, "in_progress")
    refused(api.call(endpoint, body), (400, 110), status_refusal("in_progress"))
    assert api(endpoint, {**body, "force": True}) in ({"updated": 1}, {"deleted": 1})
    set_status(api, task, "completed")
    # no `properties` exception for configuration (spec §5.17)
    refused(api.call(endpoint, {**body, "force": True}), (400, 110), status_refusal("completed"))


def test_delete_configuration(api: Api) -> None:
    task = start_cfg(api)
    assert api("tasks.delete_configuration", {"task": task, "configuration": ["General", "missing", " Zeta "]}) == {"deleted": 1}
    assert set(get(api, task)["configuration"]) == {"empty", "no value"}
    refused(api.call("tasks.delete_configuration", {"task": task, "configuration": []}), (400, 12))
    refused(api.call("tasks.delete_configuration", {"task": task}), (400, 12))


def test_get_configurations(api: Api) -> None:
    task = start_cfg(api)
    other = create(api)
    assert configs_of(api, task) == [
        cfg("General", "{a: 1}", type="dictionary"),
        cfg("Zeta", "z", description="last"),
        cfg("empty", ""),
        {"name": "no value", "type": "t"},
    ]
    assert configs_of(api, task, names=["empty", "General", "unknown"]) == [cfg("General", "{a: 1}", type="dictionary"), cfg("empty", "")]
    reply = api("tasks.get_configurations", {"tasks": [other, task], "names": ["Zeta"]})["configurations"]
    assert reply == [{"task": other, "configuration": []}, {"task": task, "configuration": [cfg("Zeta", "z", description="last")]}]
    refused(api.call("tasks.get_configurations", {"tasks": ["nope", task]}), (400, 101), "Invalid task id: ids=(nope)")
    refused(api.call("tasks.get_configurations", {"tasks": []}), (400, 12))


def test_get_configuration_names(api: Api) -> None:
    task = start_cfg(api)
    other = create(api)
    # skip_empty defaults to true: items whose value is "" or missing are left out
    assert config_names(api, task) == ["General", "Zeta"]
    assert config_names(api, task, skip_empty=True) == ["General", "Zeta"]
    assert config_names(api, task, skip_empty=False) == ["General", "Zeta", "empty", "no value"]
    # a list per task, although the schema says object (spec appendix A)
    # a task without names is left out, and unknown ids are skipped: no existence check (§8)
    assert api("tasks.get_configuration_names", {"tasks": [task, other]})["configurations"] == [
        {"task": task, "names": ["General", "Zeta"]},
    ]
    assert api("tasks.get_configuration_names", {"tasks": [task, "nope"]})["configurations"] == [
        {"task": task, "names": ["General", "Zeta"]},
    ]
    refused(api.call("tasks.get_configuration_names", {}), (400, 12))


# artifacts ----------------------------------------------------------------------------------------
FULL_ARTIFACT = {
    "key": "full", "type": "model", "mode": "output", "uri": "s3://b/full", "content_size": 2**40, "hash": "abc",
    "timestamp": 1700000000123, "type_data": {"preview": "p", "content_type": "application/x", "data_hash": "h"},
}  # fmt: skip


def artifacts_of(api: Api, task: str) -> list[dict[str, Any]]:
    return get(api, task)["execution"]["artifacts"]


def test_add_or_update_artifacts(api: Api) -> None:
    task = create(api, execution={"artifacts": [{"key": "m", "type": "old", "uri": "u"}]})
    reply = api(
        "tasks.add_or_update_artifacts",
        {"task": task, "artifacts": [FULL_ARTIFACT, {"key": "m", "type": "in", "mode": "input"}, {"key": "b", "type": "t"}]},
    )
    assert reply == {"updated": 1}
    assert [(a["key"], a["mode"]) for a in artifacts_of(api, task) if a["key"] != "m"] == [("b", "output"), ("full", "output")]
    by_id = {(a["key"], a["mode"]): a for a in artifacts_of(api, task)}
    assert by_id[("full", "output")] == FULL_ARTIFACT
    assert by_id[("m", "input")] == {"key": "m", "type": "in", "mode": "input"}
    assert by_id[("m", "output")] == {"key": "m", "type": "old", "mode": "output", "uri": "u"}  # same key, other mode: both kept
    keys = [a["key"] for a in artifacts_of(api, task)]
    assert keys == sorted(keys) == ["b", "full", "m", "m"]
    # same key and mode: the whole object is replaced (uri is gone)
    api("tasks.add_or_update_artifacts", {"task": task, "artifacts": [{"key": "m", "type": "new"}]})
    assert {(a["key"], a["mode"]): a for a in artifacts_of(api, task)}[("m", "output")] == {"key": "m", "type": "new", "mode": "output"}


def test_artifact_display_data_is_stored_sorted(api: Api) -> None:
    task = create(api)
    api("tasks.add_or_update_artifacts", {"task": task, "artifacts": [{"key": "d", "type": "t", "display_data": [["b", 1], ["a", None]]}]})
    assert artifacts_of(api, task)[0]["display_data"] == [["a", None], ["b", 1]]


def test_delete_artifacts_by_key_and_mode(api: Api) -> None:
    task = create(
        api,
        execution={"artifacts": [{"key": "k", "type": "t"}, {"key": "k", "type": "t", "mode": "input"}, {"key": "j", "type": "t", "mode": "input"}]},
    )
    # the mode defaults to output
    assert api("tasks.delete_artifacts", {"task": task, "artifacts": [{"key": "k"}, {"key": "absent"}, {"key": "j"}]}) == {"deleted": 1}
    assert [(a["key"], a["mode"]) for a in artifacts_of(api, task)] == [("j", "input"), ("k", "input")]
    api("tasks.delete_artifacts", {"task": task, "artifacts": [{"key": "k", "mode": "input"}, {"key": "j", "mode": "input"}]})
    assert artifacts_of(api, task) == []


@pytest.mark.parametrize("endpoint", ["tasks.add_or_update_artifacts", "tasks.delete_artifacts"])
@pytest.mark.parametrize("body", [{}, {"artifacts": []}, {"artifacts": [{"type": "t"}]}])
def test_artifacts_refusals(api: Api, endpoint: str, body: dict) -> None:
    task = create(api)
    refused(api.call(endpoint, {"task": task, **body}), (400, 12))


def test_add_artifact_needs_a_type(api: Api) -> None:
    task = create(api)
    refused(api.call("tasks.add_or_update_artifacts", {"task": task, "artifacts": [{"key": "k"}]}), (400, 12))
    assert api.call("tasks.add_or_update_artifacts", {"task": task, "artifacts": [{"key": "k", "type": "t", "mode": "sideways"}]}).status == 400
    assert artifacts_of(api, task) == []


# model slots --------------------------------------------------------------------------------------
def slots(api: Api, task: str, kind: str) -> list[tuple[str, str]]:
    return [(m["name"], m["model"]) for m in get(api, task)["models"][kind]]


def test_add_or_update_model(api: Api) -> None:
    task = create(api, models={"output": [{"name": "a", "model": "m1"}, {"name": "b", "model": "m2"}]})
    api("tasks.add_or_update_model", {"task": task, "name": "in", "model": "m0", "type": "input"})  # ids are not validated
    created = get(api, task)
    time.sleep(0.005)  # let the millisecond clock move on
    assert api("tasks.add_or_update_model", {"task": task, "name": "a", "model": "m1b", "type": "output"}) == {"updated": 1}
    assert api("tasks.add_or_update_model", {"task": task, "name": "c", "model": "m3", "type": "output"}) == {"updated": 1}
    assert api("tasks.add_or_update_model", {"task": task, "name": "a", "model": "mi", "type": "input"}) == {"updated": 1}
    doc = get(api, task)
    assert slots(api, task, "output") == [("a", "m1b"), ("b", "m2"), ("c", "m3")]  # replaced in place, appended
    assert slots(api, task, "input") == [("in", "m0"), ("a", "mi")]
    updated = {m["name"]: m["updated"] for m in doc["models"]["output"]}
    assert updated["b"] == created["models"]["output"][1]["updated"]  # untouched item keeps its stamp
    assert datetime.fromisoformat(updated["a"]) > datetime.fromisoformat(created["models"]["output"][0]["updated"])
    assert doc["last_update"] == doc["models"]["input"][1]["updated"]  # stamped by the last call
    assert set(doc["models"]["output"][0]) == {"name", "model", "updated"}


def test_add_or_update_model_refreshes_active_duration_of_a_running_task(api: Api) -> None:
    task = create(api)
    api("tasks.started", {"task": task})
    api("tasks.add_or_update_model", {"task": task, "name": "o", "model": "m", "type": "output"})
    doc = get(api, task)
    assert doc["status"] == "in_progress"
    assert isinstance(doc["active_duration"], int) and 0 <= doc["active_duration"] <= 60


def test_add_or_update_model_iteration(api: Api) -> None:
    task = create(api)
    api("tasks.add_or_update_model", {"task": task, "name": "o", "model": "m", "type": "output", "iteration": 7})
    assert get(api, task)["last_iteration"] == 7
    api("tasks.add_or_update_model", {"task": task, "name": "o", "model": "m", "type": "output", "iteration": 3})
    assert get(api, task)["last_iteration"] == 7  # max(old, iteration)
    api("tasks.add_or_update_model", {"task": task, "name": "o", "model": "m", "type": "output"})
    assert get(api, task)["last_iteration"] == 7


def test_delete_models(api: Api) -> None:
    # duplicate names are not prevented on create (output models are not validated); delete
    # removes all of them
    task = create(api, models={"output": [{"name": "x", "model": "o1"}, {"name": "y", "model": "o2"}, {"name": "x", "model": "o3"}]})
    api("tasks.add_or_update_model", {"task": task, "name": "x", "model": "i1", "type": "input"})
    reply = api("tasks.delete_models", {"task": task, "models": [{"name": "x", "type": "output"}, {"name": "nope", "type": "input"}]})
    assert reply == {"updated": 1}
    assert slots(api, task, "output") == [("y", "o2")]
    assert slots(api, task, "input") == [("x", "i1")]  # same name, other type: kept


@pytest.mark.parametrize(
    ("endpoint", "body"),
    [
        ("tasks.add_or_update_model", {"name": "n", "model": "m", "type": "sideways"}),
        ("tasks.add_or_update_model", {"model": "m", "type": "input"}),
        ("tasks.add_or_update_model", {"name": "n", "type": "input"}),
        ("tasks.add_or_update_model", {"name": "n", "model": "m"}),
        ("tasks.add_or_update_model", {"name": "n", "model": "m", "type": "input", "iteration": "many"}),
        ("tasks.delete_models", {}),
        ("tasks.delete_models", {"models": []}),
    ],
)
def test_model_slot_refusals(api: Api, endpoint: str, body: dict) -> None:
    task = create(api)
    refused(api.call(endpoint, {"task": task, **body}), (400, 12))
    assert get(api, task)["models"] == {"input": [], "output": []}


# artifacts and model slots: status rules and versions ------------------------------------------------
SLOT_WRITES = [
    ("tasks.add_or_update_artifacts", {"artifacts": [{"key": "k", "type": "t"}]}),
    ("tasks.delete_artifacts", {"artifacts": [{"key": "k"}]}),
    ("tasks.add_or_update_model", {"name": "n", "model": "m", "type": "output"}),
    ("tasks.delete_models", {"models": [{"name": "n", "type": "output"}]}),
]


@pytest.mark.parametrize(("endpoint", "body"), SLOT_WRITES)
def test_slot_writes_allow_created_and_in_progress_without_force(api: Api, endpoint: str, body: dict) -> None:
    task = create(api)
    assert api.call(endpoint, {"task": task, **body}).status == 200
    set_status(api, task, "in_progress")
    assert api.call(endpoint, {"task": task, **body}).status == 200


@pytest.mark.parametrize(("endpoint", "body"), SLOT_WRITES)
@pytest.mark.parametrize("status", ["completed", "published", "stopped"])
def test_slot_writes_ignore_force(api: Api, endpoint: str, body: dict, status: str) -> None:
    task = create(api, execution={"artifacts": [{"key": "k", "type": "t"}]}, models={"output": [{"name": "n", "model": "m0"}]})
    set_status(api, task, status)
    before = get(api, task)
    for force in (False, True):
        refused(api.call(endpoint, {"task": task, **body, "force": force}), (400, 110), status_refusal(status))
    assert get(api, task) == before


@pytest.mark.parametrize(
    ("endpoint", "body", "too_old", "min_version"),
    [
        ("tasks.add_or_update_artifacts", {"artifacts": [{"key": "k", "type": "t"}]}, "2.9", "2.10"),
        ("tasks.delete_artifacts", {"artifacts": [{"key": "k"}]}, "2.9", "2.10"),
        ("tasks.add_or_update_model", {"name": "n", "model": "m", "type": "output"}, "2.12", "2.13"),
        ("tasks.delete_models", {"models": [{"name": "n", "type": "output"}]}, "2.12", "2.13"),
    ],
)
def test_slot_endpoints_handler_versions(api: Api, endpoint: str, body: dict, too_old: str, min_version: str) -> None:
    task = create(api)
    reply = api.call(endpoint, {"task": task, **body}, version=too_old)
    assert reply.code == (404, 0)
    assert reply.msg == f"Unable to find endpoint for name {endpoint} and version {too_old}"
    reply = api.call(endpoint, {"task": task, **body}, version=min_version)
    assert reply.status == 200
    assert reply.meta["endpoint"]["actual_version"] == min_version


@pytest.mark.parametrize(
    "endpoint",
    ["tasks.edit_hyper_params", "tasks.delete_hyper_params", "tasks.edit_configuration", "tasks.get_hyper_params"],
)
def test_hyperparams_and_configuration_answer_at_old_versions(api: Api, endpoint: str) -> None:
    # handler min_version 1.0 although the schema says 2.9 (spec §1.1)
    task = create(api)
    body = {
        "tasks.edit_hyper_params": {"task": task, "hyperparams": [hp("s", "n", "v")]},
        "tasks.delete_hyper_params": {"task": task, "hyperparams": [{"section": "s"}]},
        "tasks.edit_configuration": {"task": task, "configuration": [cfg("c", "v")]},
        "tasks.get_hyper_params": {"tasks": [task]},
    }[endpoint]
    assert api.call(endpoint, body, version="2.1").status == 200


# NUL characters -----------------------------------------------------------------------------------
def test_nul_characters_are_refused(api: Api) -> None:
    # PostgreSQL can hold no NUL in text or JSONB; skiff refuses them on both dialects alike
    task = create(api)
    reply = api.call("tasks.edit_hyper_params", {"task": task, "hyperparams": [hp("a\x00b", "n", "v")]})
    assert reply.code == (400, 800)
    assert api.call("tasks.edit_configuration", {"task": task, "configuration": [cfg("c", "\x00")]}).code == (400, 800)
    assert params_of(api, task) == [] and configs_of(api, task) == []


# property-based round trips ---------------------------------------------------------------------------
#: Characters skiff stores: no lone surrogates (not encodable) and no NUL (see test_nul_characters_are_refused).
_CHARS = st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00")
TRICKY_KEYS = [
    "sec.tion1", "a.b.c", ".", "$", "legacy$1", "$where", "%", "%%", "%2E", "%24", "%_", "100%.5", "_", "_x", "__",
    "__x", "pa__ram1", "a/b", "1/1", "TF_DEFINE", "Args", "properties", "Properties", "é", "名前", "😀", "a b", "-",
]  # fmt: skip
_free_keys = st.text(_CHARS, min_size=1, max_size=12).map(str.strip).filter(bool)
KEYS = st.one_of(st.sampled_from(TRICKY_KEYS), _free_keys, st.tuples(st.sampled_from(TRICKY_KEYS), _free_keys).map("".join))
VALUES = st.text(_CHARS, max_size=40)
OPTIONAL_TEXT = st.one_of(st.none(), VALUES)
PROPERTY_SETTINGS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


def _item(section: str, name: str, value: str, type_: str | None, description: str | None) -> dict[str, str]:
    item = hp(section, name, value)
    if type_ is not None:
        item["type"] = type_
    if description is not None:
        item["description"] = description
    return item


HYPERPARAMS = st.lists(st.builds(_item, KEYS, KEYS, VALUES, OPTIONAL_TEXT, OPTIONAL_TEXT), min_size=1, max_size=6)


def _expected_hyperparams(items: list[dict[str, str]]) -> dict[str, dict[str, dict[str, str]]]:
    """What edit_hyper_params (replace all) stores: properties normalised, later (section, name) wins."""
    out: dict[str, dict[str, dict[str, str]]] = {}
    for item in items:
        section = "properties" if item["section"].lower() == "properties" else item["section"]
        out.setdefault(section, {})[item["name"]] = {**item, "section": section} if section == "properties" else item
    return out


def _flat(params: dict[str, dict[str, dict[str, str]]]) -> list[dict[str, str]]:
    return [params[s][n] for s in sorted(params) for n in sorted(params[s])]


@PROPERTY_SETTINGS
@given(items=HYPERPARAMS)
def test_hyperparams_round_trip_through_edit_hyper_params(api: Api, items: list[dict[str, str]]) -> None:
    task = create(api)
    assert api("tasks.edit_hyper_params", {"task": task, "hyperparams": items, "replace_hyperparams": "all"}) == {"updated": 1}
    expected = _expected_hyperparams(items)
    assert get(api, task)["hyperparams"] == expected
    assert params_of(api, task) == _flat(expected)
    # … and a clone carries them unchanged
    clone = api("tasks.clone", {"task": task})["id"]
    assert get(api, clone)["hyperparams"] == expected
    assert params_of(api, clone) == _flat(expected)


@PROPERTY_SETTINGS
@given(first=HYPERPARAMS, second=HYPERPARAMS)
def test_hyperparams_round_trip_through_create_and_edit(
    api: Api, first: list[dict[str, str]], second: list[dict[str, str]]
) -> None:
    # create/edit take the map itself: no properties normalisation there
    def as_map(items: list[dict[str, str]]) -> dict[str, dict[str, dict[str, str]]]:
        out: dict[str, dict[str, dict[str, str]]] = {}
        for item in items:
            out.setdefault(item["section"], {})[item["name"]] = item
        return out

    task = create(api, hyperparams=as_map(first))
    assert get(api, task)["hyperparams"] == as_map(first)
    assert params_of(api, task) == _flat(as_map(first))
    api("tasks.edit", {"task": task, "hyperparams": as_map(second)})
    assert get(api, task)["hyperparams"] == as_map(second)
    assert params_of(api, task) == _flat(as_map(second))


@PROPERTY_SETTINGS
@given(items=HYPERPARAMS, data=st.data())
def test_hyperparams_delete_leaves_the_rest(api: Api, items: list[dict[str, str]], data: st.DataObject) -> None:
    task = create(api)
    api("tasks.edit_hyper_params", {"task": task, "hyperparams": items})
    stored = _expected_hyperparams(items)
    pairs = [(s, n) for s in stored for n in stored[s]]
    doomed = data.draw(st.lists(st.sampled_from(pairs), unique=True, min_size=1))
    assert api("tasks.delete_hyper_params", {"task": task, "hyperparams": [{"section": s, "name": n} for s, n in doomed]}) == {"deleted": 1}
    left = [stored[s][n] for s in sorted(stored) for n in sorted(stored[s]) if (s, n) not in doomed]
    assert params_of(api, task) == left


def _config_item(name: str, value: str, type_: str | None, description: str | None) -> dict[str, str]:
    item = cfg(name, value)
    if type_ is not None:
        item["type"] = type_
    if description is not None:
        item["description"] = description
    return item


CONFIGURATION = st.lists(st.builds(_config_item, KEYS, VALUES, OPTIONAL_TEXT, OPTIONAL_TEXT), min_size=1, max_size=6)


@PROPERTY_SETTINGS
@given(items=CONFIGURATION, data=st.data())
def test_configuration_round_trip(api: Api, items: list[dict[str, str]], data: st.DataObject) -> None:
    task = create(api)
    assert api("tasks.edit_configuration", {"task": task, "configuration": items, "replace_configuration": True}) == {"updated": 1}
    expected = {item["name"]: item for item in items}  # a later item of the same name wins
    assert get(api, task)["configuration"] == expected
    clone = api("tasks.clone", {"task": task})["id"]
    assert get(api, clone)["configuration"] == expected
    assert configs_of(api, task) == [expected[n] for n in sorted(expected)]
    assert config_names(api, task, skip_empty=False) == sorted(expected)
    assert config_names(api, task) == sorted(n for n, item in expected.items() if item["value"] != "")
    wanted = data.draw(st.lists(st.sampled_from(sorted(expected)), unique=True))
    if wanted:
        assert configs_of(api, task, names=wanted) == [expected[n] for n in sorted(wanted)]
    api("tasks.delete_configuration", {"task": task, "configuration": wanted or ["not there"]})
    assert configs_of(api, task) == [expected[n] for n in sorted(expected) if n not in wanted]
