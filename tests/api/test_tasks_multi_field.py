"""Multi-field conditions ``_any_`` / ``_or_`` and ``_all_`` / ``_and_`` of tasks.get_all /
get_all_ex / get_by_id_ex (spec tasks-queries §2.9, §2.12, §2.13): a case-insensitive regex over
literal field paths (strings, arrays of strings, model ids inside the models lists) or a datetime
constraint over the status_changed / last_update / last_change fields."""

from __future__ import annotations

from typing import Any

import pytest

from tests.support import DIALECT, Api

#: what the web UI's free-text box sends (clearml-web, experiments.consts.ts)
UI_FIELDS = ["id", "name", "comment", "system_tags", "models.output.model", "models.input.model"]


def create(api: Api, name: str, **fields: Any) -> str:
    return api("tasks.create", {"name": name, "type": "training", **fields})["id"]


def names(api: Api, endpoint: str = "tasks.get_all", **query: Any) -> list[str]:
    request = {"only_fields": ["name"], "order_by": ["name"], **query}
    return [t["name"] for t in api(endpoint, request)["tasks"]]


def any_of(pattern: str, *fields: str) -> dict[str, Any]:
    return {"_any_": {"pattern": pattern, "fields": list(fields)}}


@pytest.fixture
def ui_tasks(api: Api) -> dict[str, str]:
    m_in = api("models.create", {"name": "ui in", "uri": "file:///in"})["id"]
    m_out = api("models.create", {"name": "ui out", "uri": "file:///out"})["id"]
    return {
        "m_in": m_in,
        "m_out": m_out,
        "named": create(api, "Resnet Training"),
        "commented": create(api, "second", comment="uses a ResNet backbone"),
        "system": create(api, "third", system_tags=["RESNET-pinned"]),
        "input": create(api, "fourth", models={"input": [{"name": "a", "model": m_in}]}),
        "output": create(api, "fifth", models={"output": [{"name": "x", "model": "other"}, {"name": "b", "model": m_out}]}),
        "tagged": create(api, "sixth", tags=["resnet"]),  # tags are not among the UI's fields
    }


@pytest.mark.parametrize("endpoint", ["tasks.get_all", "tasks.get_all_ex"])
def test_ui_free_text_box_is_case_insensitive(api: Api, ui_tasks: dict[str, str], endpoint: str) -> None:
    found = names(api, endpoint, _any_={"pattern": "resnet", "fields": UI_FIELDS})
    assert found == ["Resnet Training", "second", "third"]
    assert names(api, endpoint, _any_={"pattern": "RESNET", "fields": UI_FIELDS}) == found
    assert names(api, endpoint, _any_={"pattern": "^resnet t", "fields": UI_FIELDS}) == ["Resnet Training"]


def test_ui_free_text_box_finds_ids_and_models(api: Api, ui_tasks: dict[str, str]) -> None:
    def search(text: str) -> list[str]:
        return names(api, _any_={"pattern": text, "fields": UI_FIELDS})

    assert search(ui_tasks["named"]) == ["Resnet Training"]
    assert search(ui_tasks["named"][4:12].upper()) == ["Resnet Training"]
    assert search(ui_tasks["m_in"]) == ["fourth"]
    assert search(f"^{ui_tasks['m_out']}$") == ["fifth"]  # the second item of the output list
    assert names(api, **any_of("^other$", "models.output.model")) == ["fifth"]
    assert names(api, **any_of(ui_tasks["m_in"], "models.output.model")) == []


def test_get_by_id_ex_honours_any(api: Api, ui_tasks: dict[str, str]) -> None:
    ids = [ui_tasks["named"], ui_tasks["tagged"]]
    got = names(api, "tasks.get_by_id_ex", id=ids, _any_={"pattern": "training", "fields": ["name"]})
    assert got == ["Resnet Training"]


def test_arrays_of_strings(api: Api) -> None:
    create(api, "a-1", tags=["Alpha", "beta"])
    create(api, "a-2", tags=["gamma"], system_tags=["alphabet"])
    create(api, "a-3")
    assert names(api, **any_of("^alpha$", "tags")) == ["a-1"]
    assert names(api, **any_of("alpha", "tags", "system_tags")) == ["a-1", "a-2"]
    assert names(api, **any_of("^(beta|gamma)$", "tags")) == ["a-1", "a-2"]


def test_any_or_and_all_and_aliases(api: Api) -> None:
    create(api, "alpha one", comment="first ALPHA")
    create(api, "alpha two", comment="beta")
    create(api, "beta three")
    spec = {"pattern": "alpha", "fields": ["name", "comment"]}
    assert names(api, _any_=spec) == ["alpha one", "alpha two"]
    assert names(api, _or_=spec) == ["alpha one", "alpha two"]
    assert names(api, _all_=spec) == ["alpha one"]
    assert names(api, _and_=spec) == ["alpha one"]
    # each key is one more condition, AND-ed with the rest of the query
    assert names(api, _any_=spec, _and_={"pattern": "two", "fields": ["name"]}) == ["alpha two"]
    assert names(api, _any_=spec, name="one") == ["alpha one"]
    # "any" / "all" (the seed's rendering) are not keys at all
    assert names(api, any=spec, all=spec) == ["alpha one", "alpha two", "beta three"]


def test_numbers_dates_objects_and_missing_never_match(api: Api) -> None:
    create(api, "n-1", comment="0", runtime={"count": 20, "nested": {"x": "20"}, "label": "20"})
    create(api, "n-2")
    assert names(api, **any_of("0", "last_iteration", "created", "last_update")) == []
    assert names(api, **any_of(".", "runtime.count", "runtime.nested", "hyperparams", "script")) == []
    assert names(api, **any_of("20", "runtime.label")) == ["n-1"]
    assert names(api, **any_of("^20$", "runtime.nested.x")) == ["n-1"]
    assert names(api, **any_of(".*", "comment")) == ["n-1"]  # a missing comment does not match


def test_project_and_user_match_ids_and_joins_are_refused(api: Api) -> None:
    project = api("projects.create", {"name": "ProjectName"})["id"]
    create(api, "p-1", project=project)
    create(api, "p-2")
    me = api("users.get_current_user", {})["user"]["id"]
    assert names(api, **any_of(project, "project")) == ["p-1"]
    assert names(api, **any_of("projectname", "project")) == []
    assert names(api, **any_of(me, "user")) == ["p-1", "p-2"]
    for joined in ("project.name", "user.name", "execution.queue.name", "models.input.model.name", "parent.id"):
        reply = api.call("tasks.get_all", any_of("x", "name", joined))
        assert reply.code == (400, 14), joined
    assert api.call("tasks.get_all", any_of("x", "no_such_field")).code == (400, 14)
    assert api.call("tasks.get_all_ex", {"_all_": {"pattern": "x", "fields": ["nope.deeper"]}}).code == (400, 14)


def test_document_paths_and_hyperparameters(api: Api) -> None:
    params = {"sec.tion": {"lr": {"section": "sec.tion", "name": "lr", "value": "Adam-0.1"}}}
    create(api, "d-1", script={"repository": "https://example.com/Org/Repo.git"}, hyperparams=params)
    create(api, "d-2", script={"repository": "https://example.com/other.git"})
    assert names(api, **any_of("org/repo", "script.repository")) == ["d-1"]
    assert names(api, **any_of("adam", "hyperparams.sec%2Etion.lr.value")) == ["d-1"]
    # fields are literal paths: no wildcard expansion, no re-escaping of raw dotted names
    assert names(api, **any_of("adam", "hyperparams.*")) == []
    assert names(api, **any_of("adam", "hyperparams.*.*.value")) == []
    assert names(api, **any_of("adam", "hyperparams.sec.tion.lr.value")) == []


def test_no_fields_means_no_condition(api: Api) -> None:
    create(api, "e-1")
    create(api, "e-2")
    assert names(api, _any_={"pattern": "nothing", "fields": []}) == ["e-1", "e-2"]
    assert names(api, _all_={"datetime": ">2000-01-01", "fields": []}) == ["e-1", "e-2"]


def test_datetime_form(api: Api) -> None:
    # test_tasks_filtering.py::TestTasksFiltering::test_datetime_queries
    fresh = create(api, "dt-new")
    moved = create(api, "dt-started")
    api("tasks.started", {"task": moved})
    task = api("tasks.get_by_id", {"task": fresh})["task"]
    assert "status_changed" not in task
    since = f">={task['last_update']}"
    fields = ["last_update", "status_changed"]
    assert names(api, _any_={"datetime": since, "fields": fields}) == ["dt-new", "dt-started"]
    assert names(api, _all_={"datetime": since, "fields": fields}) == ["dt-started"]
    assert names(api, _all_={"datetime": [since, "<2100-01-01T00:00:00"], "fields": fields}) == ["dt-started"]
    assert names(api, _all_={"datetime": "<2000-01-01", "fields": fields}) == []
    # only status_changed / last_update / last_change count: "started" and "name" are ignored
    assert names(api, _all_={"datetime": "<2000-01-01", "fields": ["started", "name"]}) == ["dt-new", "dt-started"]
    assert names(api, _any_={"datetime": "<2000-01-01", "fields": ["started", "last_change"]}) == []
    assert api.call("tasks.get_all", {"_any_": {"datetime": [">=2020-01-01", None], "fields": fields}}).code == (400, 16)


@pytest.mark.parametrize(
    "value",
    [
        None,
        [],
        "name",
        {"pattern": "x"},
        {"fields": ["name"]},
        {"pattern": "x", "datetime": ">2020-01-01", "fields": ["name"]},
        {"pattern": "x", "fields": ["name"], "extra": 1},
        {"pattern": "x", "fields": "name"},
        {"pattern": "x", "fields": [1]},
        {"pattern": 3, "fields": ["name"]},
        {"pattern": None, "fields": ["name"]},
    ],
)
@pytest.mark.parametrize("key", ["_any_", "_all_", "_or_", "_and_"])
def test_format_errors(api: Api, key: str, value: Any) -> None:
    reply = api.call("tasks.get_all", {key: value})
    assert reply.code == (400, 16), reply.body


@pytest.mark.parametrize("endpoint", ["tasks.get_all", "tasks.get_all_ex", "tasks.get_by_id_ex"])
def test_invalid_regex(api: Api, endpoint: str) -> None:
    reply = api.call(endpoint, {"id": [], "_any_": {"pattern": "(unclosed", "fields": ["name"]}})
    assert reply.code == (400, 21)


def test_regex_the_database_refuses(api: Api) -> None:
    """Named groups: Python's re accepts them, PostgreSQL's regular expressions do not."""
    create(api, "rx-abc")
    reply = api.call("tasks.get_all", {"_any_": {"pattern": "(?P<g>B)c", "fields": ["name"]}, "only_fields": ["name"]})
    if DIALECT == "postgresql":
        assert reply.code == (400, 21)
    else:
        assert reply.ok()["tasks"] == [{"name": "rx-abc"}]
