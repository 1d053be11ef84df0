"""tasks.get_all as far as the task-document issue needs it: list filters with the operator
language, patterns, hidden tasks, subprojects, ordering, paging and projection
(spec tasks-queries §2.2–§2.4, §2.11, §3, §4.1–4.2, §5.1)."""

from __future__ import annotations

from typing import Any

import pytest

from skiff.ops import accounts
from tests.support import Api


def create(api: Api, name: str, **fields: Any) -> str:
    return api("tasks.create", {"name": name, "type": "training", **fields})["id"]


def names(api: Api, **query: Any) -> list[str]:
    return [t["name"] for t in api("tasks.get_all", {"only_fields": ["name"], "order_by": ["name"], **query})["tasks"]]


@pytest.fixture
def tagged(api: Api) -> dict[str, str]:
    return {
        "t-ab": create(api, "t-ab", tags=["a", "b"]),
        "t-a": create(api, "t-a", tags=["a"]),
        "t-b": create(api, "t-b", tags=["b"]),
        "t-none": create(api, "t-none"),
    }


@pytest.mark.parametrize(
    ("tags", "expected"),
    [
        (["a"], ["t-a", "t-ab"]),
        (["a", "b"], ["t-a", "t-ab", "t-b"]),
        (["a", "-b"], ["t-a"]),
        (["-a"], ["t-b", "t-none"]),
        (["__$all", "a", "b"], ["t-ab"]),
        (["__$any", "a", "__$not", "b"], ["t-a", "t-ab", "t-none"]),
        (["__$not", "a", "__$not", "b"], ["t-none"]),
        ([None], ["t-none"]),
        (["b", None], ["t-ab", "t-b", "t-none"]),
        ([], ["t-a", "t-ab", "t-b", "t-none"]),
        ("a", ["t-a", "t-ab"]),
    ],
)
def test_tag_operator_language(api: Api, tagged: dict[str, str], tags: Any, expected: list[str]) -> None:
    assert names(api, tags=tags) == expected


@pytest.mark.parametrize(
    "tags", [["__$not"], ["__$not", "__$all", "a"], ["__$bogus", "a"], ["-"], [1]]
)
def test_tag_operator_errors(api: Api, tagged: dict[str, str], tags: Any) -> None:
    assert api.call("tasks.get_all", {"tags": tags}).code == (400, 16)


def test_scalar_list_fields(api: Api) -> None:
    a = create(api, "s-one")
    b = create(api, "s-two", type="testing")
    api("tasks.edit", {"task": b, "status": "completed", "force": True})
    assert names(api, id=[a, b]) == ["s-one", "s-two"]
    assert names(api, status=["completed"]) == ["s-two"]
    assert names(api, status=["-completed"]) == ["s-one"]
    assert names(api, type="testing") == ["s-two"]
    assert names(api, type=["__$all", "testing", "training"]) == []
    assert names(api, parent=[None]) == ["s-one", "s-two"]
    me = api("users.get_current_user", {})["user"]["id"]
    assert names(api, user=[me]) == ["s-one", "s-two"]


def test_name_is_a_case_sensitive_unanchored_regex(api: Api) -> None:
    create(api, "Test tags")
    create(api, "wf-b")
    create(api, "wf-bb")
    assert names(api, name="Test tags") == ["Test tags"]
    assert names(api, name="test tags") == []
    assert names(api, name="^wf\\-b$") == ["wf-b"]
    assert names(api, name="wf-") == ["wf-b", "wf-bb"]
    reply = api.call("tasks.get_all", {"name": "(unclosed"})
    assert reply.code == (400, 21)


def test_hidden_tasks_need_search_hidden_or_ids(api: Api) -> None:
    hidden = create(api, "hidden one", system_tags=["hidden"])
    create(api, "visible one")
    assert names(api, name=" one$") == ["visible one"]
    assert names(api, name=" one$", search_hidden=True) == ["hidden one", "visible one"]
    assert names(api, id=[hidden]) == ["hidden one"]


def test_project_and_subprojects(api: Api) -> None:
    top = api("projects.create", {"name": "top"})["id"]
    sub = api("projects.create", {"name": "top/sub"})["id"]
    create(api, "in top", project=top)
    create(api, "in sub", project=sub)
    create(api, "nowhere")
    assert names(api, project=[top]) == ["in top"]
    assert names(api, project=[top], include_subprojects=True) == ["in sub", "in top"]
    assert names(api, project=[None]) == ["nowhere"]


def test_company_scope_and_public_tasks(api: Api, client, db) -> None:  # type: ignore[no-untyped-def]
    company = accounts.create_company(db, "someone else")
    new = accounts.add_user(db, company, "other", role="admin")
    other = Api(client, key=new.access_key, secret=new.secret_key)
    mine = create(api, "mine")
    create(other, "theirs")
    assert names(api) == ["mine"]
    api("tasks.make_public", {"ids": [mine]})
    try:
        assert names(other) == ["mine", "theirs"]
    finally:
        api("tasks.make_private", {"ids": [mine]})


def test_ordering_empties_last_and_tie_break(api: Api) -> None:
    ids = [create(api, f"ord{i}") for i in range(4)]
    api("tasks.edit", {"task": ids[2], "status": "in_progress", "force": True})
    api("tasks.edit", {"task": ids[0], "comment": "zzz"})
    api("tasks.edit", {"task": ids[1], "comment": "aaa"})
    got = [t["name"] for t in api("tasks.get_all", {"name": "^ord", "order_by": ["comment"], "only_fields": ["name"]})["tasks"]]
    assert got[:2] == ["ord1", "ord0"]  # non-empty first, ascending
    assert sorted(got[2:]) == ["ord2", "ord3"]
    got = [t["name"] for t in api("tasks.get_all", {"name": "^ord", "order_by": ["-comment"], "only_fields": ["name"]})["tasks"]]
    assert got[:2] == ["ord0", "ord1"]
    tie = api("tasks.get_all", {"name": "^ord", "order_by": ["status"], "only_fields": ["id", "status"]})["tasks"]
    created = [t["id"] for t in tie if t["status"] == "created"]
    assert created == sorted(created)  # id breaks ties
    assert api.call("tasks.get_all", {"order_by": ["no.such.field"]}).code == (400, 14)


def test_paging_with_the_500_cap(api: Api) -> None:
    for i in range(7):
        create(api, f"p{i:02d}")
    pages = [names(api, page=p, page_size=3) for p in range(4)]
    assert pages == [["p00", "p01", "p02"], ["p03", "p04", "p05"], ["p06"], []]
    assert names(api, start=5, size=10) == ["p05", "p06"]
    assert api.call("tasks.get_all", {"page": -1}).code == (400, 12)
    assert api.call("tasks.get_all", {"page_size": 0}).code == (400, 12)
    assert api.call("tasks.get_all", {"page_size": None}).code == (400, 11)
    assert api.call("tasks.get_all", {"start": 1}).code == (400, 12)


def test_default_page_is_capped_at_500(api: Api, db) -> None:  # type: ignore[no-untyped-def]
    from skiff.domain import clock, ids
    from skiff.domain.task_document import new_task
    from skiff.domain.versions import Version
    from skiff.storage.repos import tasks as repo

    me = api("users.get_current_user", {})["user"]
    with db.write() as conn:
        for i in range(503):
            doc = new_task({"name": f"bulk {i}", "type": "training"}, id=ids.new_id(), user=me["id"],
                           company=me["company"]["id"], now=clock.now(), version=Version.parse("2.31"))
            repo.insert_task(conn, doc)
    bulk = {"name": "^bulk ", "only_fields": ["id"]}
    assert len(api("tasks.get_all", bulk)["tasks"]) == 500
    assert len(api("tasks.get_all", {**bulk, "page_size": 1000})["tasks"]) == 500
    assert len(api("tasks.get_all", {**bulk, "page": 1})["tasks"]) == 3


def test_projection(api: Api) -> None:
    m1 = api("models.create", {"name": "input model", "uri": "file:///tmp/m1"})["id"]
    task = create(
        api,
        "projected",
        hyperparams={"Args": {"lr": {"section": "Args", "name": "lr", "value": "0.1"}}},
        models={"input": [{"name": "a", "model": m1}]},
    )
    got = api("tasks.get_all", {"id": [task], "only_fields": ["name", "hyperparams.Args.lr.value", "execution.queue", "models.input.model"]})["tasks"][0]
    assert got == {
        "name": "projected",
        "hyperparams": {"Args": {"lr": {"value": "0.1"}}},
        "execution": {},
        "models": {"input": [{"model": m1}]},
    }
    full = api("tasks.get_all", {"id": [task], "only_fields": ["-script", "-hyperparams"]})["tasks"][0]
    assert "script" not in full and "hyperparams" not in full and full["name"] == "projected"
    both = api("tasks.get_all", {"id": [task], "only_fields": ["status", "status_message", "tags"]})["tasks"][0]
    assert both == {"status": "created", "tags": []}


# hyperparameters, metrics, ranges, datetimes, runtime (spec tasks-queries §2.4, §2.6–2.8, §4.3) --------
def _param(value: str) -> dict[str, Any]:
    return {"Args": {"lr": {"section": "Args", "name": "lr", "value": value}}}


def test_filter_and_natural_order_by_hyperparameter(api: Api) -> None:
    for name, value in (("hp-a", "2"), ("hp-b", "11"), ("hp-c", "1.5"), ("hp-d", "abc")):
        create(api, name, hyperparams=_param(value))
    create(api, "hp-none")
    query = {"name": "^hp-", "only_fields": ["name"]}
    assert names(api, name="^hp-", **{"hyperparams.Args.lr.value": ["2", "11"]}) == ["hp-a", "hp-b"]
    assert names(api, name="^hp-", **{"hyperparams.Args.lr.value": ["-2"]}) == ["hp-b", "hp-c", "hp-d", "hp-none"]
    assert names(api, name="^hp-", **{"hyperparams.Args.lr.value": [None]}) == ["hp-none"]
    # legacy path and escaped names reach the same parameter
    assert names(api, name="^hp-", **{"execution.parameters.lr": ["abc"]}) == []  # 3 parts: compares objects
    ordered = api("tasks.get_all", {**query, "order_by": ["hyperparams.Args.lr.value"]})["tasks"]
    assert [t["name"] for t in ordered] == ["hp-c", "hp-a", "hp-b", "hp-d", "hp-none"]  # numbers first, empty last
    ordered = api("tasks.get_all", {**query, "order_by": ["-hyperparams.Args.lr.value"]})["tasks"]
    assert [t["name"] for t in ordered][:4] == ["hp-d", "hp-b", "hp-a", "hp-c"]
    assert api.call("tasks.get_all", {"hyperparams.a.b.c.d": ["x"]}).code == (400, 12)


def test_last_metrics_range_and_order(api: Api) -> None:
    import hashlib

    def md5(text: str) -> str:
        return hashlib.md5(text.encode()).hexdigest()

    for name, value in (("lm-a", 0.5), ("lm-b", 0.9), ("lm-c", 0.1)):
        task = create(api, name)
        body = f'{{"type": "training_stats_scalar", "task": "{task}", "metric": "acc", "variant": "val", "iter": 1, "value": {value}}}'
        api("events.add_batch", content=body.encode(), headers={"Content-Type": "application/json-lines"})
    create(api, "lm-none")
    path = f"last_metrics.{md5('acc')}.{md5('val')}.value"
    ordered = api("tasks.get_all", {"name": "^lm-", "order_by": [f"-{path}"], "only_fields": ["name"]})["tasks"]
    assert [t["name"] for t in ordered] == ["lm-b", "lm-a", "lm-c", "lm-none"]
    assert names(api, name="^lm-", **{path: [0.4, "0.95"]}) == ["lm-a", "lm-b"]
    assert names(api, name="^lm-", **{path: [None, 0.2]}) == ["lm-c", "lm-none"]  # a null min matches missing ones


def test_range_and_datetime_fields(api: Api) -> None:
    first = create(api, "dt-first")
    second = create(api, "dt-second")
    api("tasks.started", {"task": second})
    started = api("tasks.get_by_id", {"task": second})["task"]["started"]
    changed = api("tasks.get_by_id", {"task": second})["task"]["last_change"]
    assert names(api, name="^dt-", started=[started, None]) == ["dt-second"]
    assert names(api, name="^dt-", started=[None, started]) == ["dt-first", "dt-second"]
    assert names(api, name="^dt-", last_change=f">{changed}") == []
    assert names(api, name="^dt-", last_change=[f">={changed}", f"<={changed}"]) == ["dt-second"]
    assert names(api, name="^dt-", last_change="1700000000") == ["dt-first", "dt-second"]  # unparsable: dropped
    assert names(api, name="^dt-", last_iteration=[0, 0]) == ["dt-first", "dt-second"]  # a new task has 0 (§6.2)
    assert names(api, name="^dt-", last_iteration=[1, None]) == []
    assert api.call("tasks.get_all", {"started": [started]}).code == (400, 12)
    assert api.call("tasks.get_all", {"started": [None, None]}).code == (400, 12)
    assert api.call("tasks.get_all", {"last_update": [">=2024-01-01", None]}).code == (400, 16)
    assert first


def test_runtime_equality(api: Api) -> None:
    create(api, "rt-a", runtime={"gpu": "A100", "count": 2})
    create(api, "rt-b", runtime={"gpu": "T4"})
    assert names(api, name="^rt-", **{"runtime.gpu": "A100"}) == ["rt-a"]
    assert names(api, name="^rt-", **{"runtime.count": 2}) == ["rt-a"]
    create(api, "rt-c", runtime={"count": "2", "on": True, "shape": [1, 2], "_pipeline_hash": "h", 'a"b': "q"})
    create(api, "rt-d", runtime={"count": 2.0, "on": False, "shape": [2, 1]})
    assert names(api, name="^rt-", **{"runtime.count": 2}) == ["rt-a", "rt-d"]  # numbers numerically
    assert names(api, name="^rt-", **{"runtime.count": "2"}) == ["rt-c"]  # a string is not a number
    assert names(api, name="^rt-", **{"runtime.on": True}) == ["rt-c"]
    assert names(api, name="^rt-", **{"runtime.on": False}) == ["rt-d"]
    assert names(api, name="^rt-", **{"runtime.shape": [1, 2]}) == ["rt-c"]  # arrays as a whole
    assert names(api, name="^rt-", **{"runtime._pipeline_hash": "h"}) == ["rt-c"]
    assert names(api, name="^rt-", **{"runtime.gpu": "none"}) == []
    # a key SQL array literals or JSON paths would have to escape: data on PostgreSQL, never an error
    assert api.call("tasks.get_all", {"runtime.a\"b": "q", "only_fields": ["name"]}).status == 200
