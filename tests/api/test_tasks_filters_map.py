"""The ``filters`` map of tasks.get_all / get_all_ex / get_by_id_ex (spec tasks-queries §2.5,
§2.12, §2.13): any/all parts with include/exclude, ``null`` as the empty-array test, ``op``,
scalar fields, hyperparameters, input models, the top-level key it replaces, and its errors."""

from __future__ import annotations

from typing import Any

import pytest

from tests.support import Api

ENDPOINTS = ("tasks.get_all", "tasks.get_all_ex")


def create(api: Api, name: str, **fields: Any) -> str:
    return api("tasks.create", {"name": name, "type": "training", **fields})["id"]


def names(api: Api, endpoint: str = "tasks.get_all_ex", **query: Any) -> list[str]:
    request = {"only_fields": ["name"], "order_by": ["name"], **query}
    return [t["name"] for t in api(endpoint, request)["tasks"]]


def tags_filter(part: str, kind: str, values: list[Any]) -> dict[str, Any]:
    return {"tags": {part: {kind: values}}}


# test_get_all_ex_filters.py::TestGetAllExFilters::test_no_tags_filter: T is tagged "test", N has none
@pytest.mark.parametrize(
    ("part", "kind", "values", "expected"),
    [
        ("any", "include", [None], ["N-untagged"]),
        ("any", "include", ["test"], ["T-tagged"]),
        ("any", "include", ["test", None], ["N-untagged", "T-tagged"]),
        ("any", "exclude", [None], ["T-tagged"]),
        ("any", "exclude", ["test"], ["N-untagged"]),
        ("any", "exclude", ["test", None], ["N-untagged", "T-tagged"]),
        ("all", "include", [None], ["N-untagged"]),
        ("all", "include", ["test"], ["T-tagged"]),
        ("all", "include", ["test", None], []),
        ("all", "exclude", [None], ["T-tagged"]),
        ("all", "exclude", ["test"], ["N-untagged"]),
        ("all", "exclude", ["test", None], []),
    ],
)
@pytest.mark.parametrize("endpoint", ENDPOINTS)
def test_no_tags_filter(api: Api, endpoint: str, part: str, kind: str, values: list[Any], expected: list[str]) -> None:
    create(api, "T-tagged", tags=["test"])
    create(api, "N-untagged")
    assert names(api, endpoint, filters=tags_filter(part, kind, values)) == expected


def test_get_by_id_ex_honours_filters(api: Api) -> None:
    tagged = create(api, "T-tagged", tags=["test"])
    plain = create(api, "N-untagged")
    got = names(api, "tasks.get_by_id_ex", id=[tagged, plain], filters=tags_filter("any", "include", ["test"]))
    assert got == ["T-tagged"]


@pytest.fixture
def lettered(api: Api) -> None:
    for tags in ([], ["a"], ["a", "b"], ["a", "b", "c"], ["a", "b", "c", "d"]):
        create(api, "t-" + ("".join(tags) or "none"), tags=tags)


ALL_LETTERED = ["t-a", "t-ab", "t-abc", "t-abcd", "t-none"]


# test_get_all_ex_filters.py::TestGetAllExFilters::test_list_filters
@pytest.mark.parametrize(
    ("tag_filter", "expected"),
    [
        ({"any": {"include": ["a", "b"]}}, ["t-a", "t-ab", "t-abc", "t-abcd"]),
        ({"any": {"exclude": ["c", "d"]}}, ["t-a", "t-ab", "t-abc", "t-none"]),  # not all of c, d
        ({"any": {"include": ["a", "b"], "exclude": ["c", "d"]}}, ALL_LETTERED),
        ({"all": {"include": ["a", "b"]}}, ["t-ab", "t-abc", "t-abcd"]),
        ({"all": {"exclude": ["c", "d"]}}, ["t-a", "t-ab", "t-none"]),  # none of c, d
        ({"all": {"include": ["a", "b"], "exclude": ["c", "d"]}}, ["t-ab"]),
        ({"any": {"include": ["a", "b"]}, "all": {"exclude": ["c", "d"]}}, ["t-a", "t-ab"]),
        ({"any": {"include": ["a", "b"]}, "all": {"exclude": ["c", "d"]}, "op": "and"}, ["t-a", "t-ab"]),
        ({"any": {"include": ["d"]}, "all": {"include": [None]}, "op": "or"}, ["t-abcd", "t-none"]),
        ({"any": {"include": []}, "all": {"exclude": []}}, ALL_LETTERED),
        ({"any": None, "all": {"include": ["c"]}, "op": None}, ["t-abc", "t-abcd"]),
        ({}, ALL_LETTERED),
    ],
)
def test_list_filters(api: Api, lettered: None, tag_filter: dict[str, Any], expected: list[str]) -> None:
    assert names(api, filters={"tags": tag_filter}) == expected
    assert names(api, "tasks.get_all", filters={"tags": tag_filter}) == expected


def test_empty_map_and_unknown_keys_add_no_condition(api: Api, lettered: None) -> None:
    assert names(api, filters={}) == ALL_LETTERED
    assert names(api, filters={"name": {"any": {"include": ["nothing"]}}}) == ALL_LETTERED
    assert names(api, filters={"company": {"any": {"include": ["x"]}}, "created": {}}) == ALL_LETTERED


@pytest.mark.parametrize("endpoint", ENDPOINTS + ("tasks.get_by_id_ex",))
@pytest.mark.parametrize("value", [None, [], "tags", 3, [{"tags": {}}]])
def test_filters_that_are_not_an_object(api: Api, endpoint: str, value: Any) -> None:
    request = {"filters": value, "id": []}
    assert api.call(endpoint, request).code == (400, 16)


@pytest.mark.parametrize(
    "entry",
    [
        {"test": ["a"]},
        ["a"],
        "a",
        None,
        {"any": {"include": ["a"]}, "none": {}},
        {"any": {"include": ["a"], "contains": ["b"]}},
        {"all": ["a"]},
        {"any": {"include": ["a"]}, "op": "xor"},
        {"any": {"include": ["a"]}, "op": "AND"},
        {"any": {"include": "a"}},
        {"any": {"include": [1]}},
    ],
)
def test_bad_filter_entries(api: Api, lettered: None, entry: Any) -> None:
    reply = api.call("tasks.get_all_ex", {"filters": {"tags": entry}})
    assert reply.code == (400, 12), reply.body


def test_system_tags_filter(api: Api) -> None:
    create(api, "active one")
    create(api, "archived one", system_tags=["archived"])
    create(api, "archived pinned", system_tags=["archived", "pinned"])
    archived = {"system_tags": {"all": {"exclude": ["archived"]}}}
    assert names(api, filters=archived) == ["active one"]
    pinned_or_active = {"system_tags": {"any": {"include": ["pinned"], "exclude": ["archived"]}}}
    assert names(api, filters=pinned_or_active) == ["active one", "archived pinned"]


def test_filter_entry_replaces_the_top_level_key(api: Api, lettered: None) -> None:
    assert names(api, tags=["c"]) == ["t-abc", "t-abcd"]
    only_b = {"tags": {"all": {"include": ["b"]}}}
    assert names(api, tags=["c"], filters=only_b) == ["t-ab", "t-abc", "t-abcd"]
    assert names(api, "tasks.get_all", tags=["-a"], filters=only_b) == ["t-ab", "t-abc", "t-abcd"]
    # other top-level keys still apply
    assert names(api, tags=["c"], name="^t-ab$", filters=only_b) == ["t-ab"]
    # an empty entry replaces the key too: no condition on tags at all
    assert names(api, tags=["c"], filters={"tags": {}}) == ALL_LETTERED


def test_project_filter_is_not_expanded_to_subprojects(api: Api) -> None:
    top = api("projects.create", {"name": "fm top"})["id"]
    sub = api("projects.create", {"name": "fm top/sub"})["id"]
    other = api("projects.create", {"name": "fm other"})["id"]
    create(api, "in top", project=top)
    create(api, "in sub", project=sub)
    create(api, "in other", project=other)
    create(api, "nowhere")
    in_top = {"project": {"any": {"include": [top]}}}
    assert names(api, filters=in_top, include_subprojects=True) == ["in top"]
    assert names(api, project=[other], include_subprojects=True, filters=in_top) == ["in top"]
    assert names(api, project=[top], include_subprojects=True) == ["in sub", "in top"]
    not_top = {"project": {"all": {"exclude": [top, sub]}}}
    assert names(api, filters=not_top) == ["in other", "nowhere"]  # a missing project is in none


def test_scalar_fields(api: Api) -> None:
    create(api, "s-created")
    done = create(api, "s-completed")
    api("tasks.edit", {"task": done, "status": "completed", "force": True})
    everything = ["s-completed", "s-created"]

    def status(part: str, kind: str, values: list[Any], op: str | None = None) -> list[str]:
        entry: dict[str, Any] = {part: {kind: values}}
        if op:
            entry["op"] = op
        return names(api, filters={"status": entry})

    assert status("any", "include", ["completed", "queued"]) == ["s-completed"]
    assert status("all", "include", ["completed"]) == ["s-completed"]
    assert status("all", "include", ["completed", "created"]) == []  # one value cannot equal two
    assert status("all", "exclude", ["completed", "queued"]) == ["s-created"]
    assert status("any", "exclude", ["completed"]) == ["s-created"]  # NOT ALL of one value: !=
    assert status("any", "exclude", ["completed", "created"]) == everything  # two values: always true
    # "empty" is about arrays: it never matches a scalar, "not empty" always does
    assert status("any", "include", [None]) == []
    assert status("all", "include", [None]) == []
    assert status("any", "exclude", [None]) == everything
    assert status("all", "exclude", [None]) == everything
    assert status("any", "include", ["created", None]) == ["s-created"]


def test_missing_scalar_field(api: Api) -> None:
    parent = create(api, "sp-parent")
    create(api, "sp-child", parent=parent)
    assert names(api, filters={"parent": {"any": {"include": [parent]}}}) == ["sp-child"]
    assert names(api, filters={"parent": {"any": {"exclude": [parent]}}}) == ["sp-parent"]
    assert names(api, filters={"parent": {"all": {"exclude": [parent]}}}) == ["sp-parent"]
    assert names(api, filters={"parent": {"any": {"include": [None]}}}) == []


def test_id_filter_does_not_show_hidden_tasks(api: Api) -> None:
    hidden = create(api, "h-hidden", system_tags=["hidden"])
    shown = create(api, "h-shown")
    by_id = {"id": {"any": {"include": [hidden, shown]}}}
    assert names(api, filters=by_id) == ["h-shown"]
    assert names(api, filters=by_id, search_hidden=True) == ["h-hidden", "h-shown"]


def _params(section: str, value: str) -> dict[str, Any]:
    return {section: {"lr": {"section": section, "name": "lr", "value": value}}}


def test_hyperparameter_filters_use_the_escaped_stored_key(api: Api) -> None:
    create(api, "hp-1", hyperparams=_params("sec.tion", "0.1"))
    create(api, "hp-2", hyperparams=_params("sec.tion", "0.2"))
    create(api, "hp-none")
    key = "hyperparams.sec%2Etion.lr.value"
    assert names(api, filters={key: {"any": {"include": ["0.1"]}}}) == ["hp-1"]
    assert names(api, filters={key: {"any": {"exclude": ["0.1"]}}}) == ["hp-2", "hp-none"]
    assert names(api, filters={key: {"all": {"exclude": ["0.1", "0.2"]}}}) == ["hp-none"]
    # no path processing for filters keys: the raw dotted name is another (four-part) path
    assert names(api, filters={"hyperparams.sec.tion.lr": {"any": {"include": ["0.1"]}}}) == []
    # a filters entry replaces the top-level key of the same (canonical) name
    top = {key: ["0.2"]}
    assert names(api, **top) == ["hp-2"]
    assert names(api, filters={key: {"any": {"include": ["0.1"]}}}, **top) == ["hp-1"]


def test_input_model_filter(api: Api) -> None:
    m1 = api("models.create", {"name": "fm m1", "uri": "file:///m1"})["id"]
    m2 = api("models.create", {"name": "fm m2", "uri": "file:///m2"})["id"]
    create(api, "im-1", models={"input": [{"name": "a", "model": m1}]})
    create(api, "im-12", models={"input": [{"name": "a", "model": m1}, {"name": "b", "model": m2}]})
    create(api, "im-none")
    key = "models.input.model"
    assert names(api, filters={key: {"any": {"include": [m2]}}}) == ["im-12"]
    assert names(api, filters={key: {"all": {"include": [m1, m2]}}}) == ["im-12"]
    assert names(api, filters={key: {"all": {"exclude": [m2]}}}) == ["im-1", "im-none"]
    assert names(api, filters={key: {"any": {"include": [None]}}}) == ["im-none"]
    assert names(api, filters={key: {"any": {"exclude": [None]}}}) == ["im-1", "im-12"]
    # the same field through the list language (spec §2.4)
    assert names(api, **{key: [m1, "-" + m2]}) == ["im-1"]
    assert names(api, **{key: [None]}) == ["im-none"]
