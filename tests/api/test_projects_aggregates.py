"""projects.get_all_ex (statistics, own contents, subprojects, active users, children type) and the
aggregates over the tasks of projects: get_hyper_parameters, get_hyperparam_values,
get_unique_metric_variants, get_task_parents. Over HTTP, with refusals and company separation.

The session database is shared by every test: names that "all projects" queries could meet are
made unique per test (``uid``).
"""

from __future__ import annotations

import hashlib
import uuid
from datetime import datetime, timedelta, timezone
from typing import Any

import orjson
import pytest

from skiff.domain import clock
from skiff.ops import accounts
from tests.support import Api


def md5(text: str) -> str:
    return hashlib.md5(text.encode()).hexdigest()


@pytest.fixture
def uid() -> str:
    return uuid.uuid4().hex[:8]


@pytest.fixture
def other_api(client, db) -> Api:  # type: ignore[no-untyped-def]
    """The admin of a second, unrelated company."""
    company = accounts.create_company(db, "aggregates other company")
    admin = accounts.add_user(db, company, "other admin", role="admin")
    return Api(client, key=admin.access_key, secret=admin.secret_key)


def project(api: Api, name: str, **fields: Any) -> str:
    return api("projects.create", {"name": name, **fields})["id"]


def task(api: Api, name: str = "agg task", **fields: Any) -> str:
    return api("tasks.create", {"name": name, "type": "training", **fields})["id"]


def params(**sections: dict[str, str]) -> dict[str, Any]:
    return {
        section: {name: {"section": section, "name": name, "value": value} for name, value in values.items()}
        for section, values in sections.items()
    }


def report_scalars(api: Api, task_id: str, *series: tuple[str, str]) -> None:
    body = b"\n".join(
        orjson.dumps({"type": "training_stats_scalar", "task": task_id, "metric": m, "variant": v, "iter": 1, "value": 1.0})
        for m, v in series
    )
    reply = api("events.add_batch", content=body, headers={"Content-Type": "application/json-lines"})
    assert reply["added"] == len(series), reply


def get_ex(api: Api, **request: Any) -> list[dict[str, Any]]:
    return api("projects.get_all_ex", request)["projects"]


def one_ex(api: Api, project_id: str, **request: Any) -> dict[str, Any]:
    found = get_ex(api, id=[project_id], **request)
    assert len(found) == 1, found
    return found[0]


def at(moment: datetime):  # type: ignore[no-untyped-def]
    """A replacement for ``clock.now`` answering ``moment`` (naive UTC)."""
    return lambda: moment


# get_all_ex: what get_all does --------------------------------------------------------------------
def test_get_all_ex_filters_like_get_all(api: Api, uid: str) -> None:
    root = project(api, f"ex {uid}", tags=["t1"])
    child = project(api, f"ex {uid}/child")
    hidden = project(api, f"ex {uid}/hidden", system_tags=["hidden"])
    name = f"^ex {uid}"
    assert [p["name"] for p in get_ex(api, name=name, order_by=["name"])] == [f"ex {uid}", f"ex {uid}/child"]
    assert [p["id"] for p in get_ex(api, name=name, shallow_search=True)] == [root]
    assert [p["id"] for p in get_ex(api, parent=[root], search_hidden=True, order_by=["name"])] == [child, hidden]
    assert [p["id"] for p in get_ex(api, name=name, tags=["t1"])] == [root]
    assert [p["id"] for p in get_ex(api, name=name, order_by=["-name"], page=1, page_size=1)] == [root]
    # the id comes with any projection; unknown ids select nothing
    assert get_ex(api, id=[root], only_fields=["name"]) == [{"id": root, "name": f"ex {uid}"}]
    assert get_ex(api, id=["no-such-project"]) == []
    # hidden projects: only with search_hidden, then flagged
    assert [p["id"] for p in get_ex(api, name=name)] == [root, child]
    found = {p["id"]: p for p in get_ex(api, name=name, search_hidden=True, only_fields=["id"])}
    assert found == {root: {"id": root}, child: {"id": child}, hidden: {"id": hidden, "hidden": True}}
    # no extras unless asked
    assert set(one_ex(api, root)) == {"id", "name", "basename", "user", "company", "created", "tags", "system_tags",
                                      "last_update", "path"}  # fmt: skip


def test_get_all_ex_refusals(api: Api) -> None:
    assert api.call("projects.get_all_ex", {"name": "("}).code == (400, 21)
    assert api.call("projects.get_all_ex", {"page": 0, "page_size": 0}).code == (400, 12)
    assert api.call("projects.get_all_ex", {"page": -1, "page_size": 5}).code == (400, 12)
    assert api.call("projects.get_all_ex", {"stats_for_state": "deleted"}).code == (400, 12)
    assert api.call("projects.get_all_ex", {"children_type": "model"}).code == (400, 12)
    assert api.call("projects.get_all_ex", {"include_stats": True, "include_stats_filter": {"script": ["x"]}}).code == (400, 14)
    assert api.call("projects.get_all_ex", {"include_stats": True, "include_stats_filter": {"type": ["__$bad"]}}).code == (400, 16)


# get_all_ex: statistics ---------------------------------------------------------------------------
def test_stats_by_state_with_children(api: Api, uid: str, monkeypatch: pytest.MonkeyPatch) -> None:
    root = project(api, f"stats {uid}")
    child = project(api, f"stats {uid}/child")
    grandchild = project(api, f"stats {uid}/child/grand")
    empty = project(api, f"stats {uid} empty")
    task(api, project=root)
    task(api, project=root, system_tags=["archived"])
    task(api, project=root, system_tags=["hidden"])  # hidden tasks are left out unless search_hidden
    now = clock.now()
    ran = task(api, project=child)
    monkeypatch.setattr(clock, "now", at(now - timedelta(seconds=90)))
    api("tasks.started", {"task": ran})
    monkeypatch.setattr(clock, "now", at(now))
    api("tasks.stopped", {"task": ran})
    old = task(api, project=grandchild, type="testing")
    monkeypatch.setattr(clock, "now", at(now - timedelta(hours=26)))
    api("tasks.started", {"task": old})
    monkeypatch.setattr(clock, "now", at(now - timedelta(hours=25)))
    api("tasks.completed", {"task": old})
    monkeypatch.setattr(clock, "now", at(now))

    got = one_ex(api, root, include_stats=True)
    assert set(got["stats"]) == {"active"}  # stats_for_state defaults to active
    active = got["stats"]["active"]
    assert active["status_count"] == {"created": 1, "queued": 0, "in_progress": 0, "stopped": 1, "published": 0,
                                      "closed": 0, "failed": 0, "completed": 1, "unknown": 0}  # fmt: skip
    assert active["total_tasks"] == 3
    assert active["total_runtime"] == 90 + 3600
    assert active["completed_tasks_24h"] == 1
    started = int((now - timedelta(seconds=90)).replace(tzinfo=timezone.utc).timestamp() * 1000)
    assert active["last_task_run"] == started
    assert got["sub_projects"] == [
        {"id": child, "name": f"stats {uid}/child"},
        {"id": grandchild, "name": f"stats {uid}/child/grand"},
    ]
    # both states; the archived task counts apart
    both = one_ex(api, root, include_stats=True, stats_for_state=None)["stats"]
    assert both["active"] == active
    assert both["archived"]["total_tasks"] == 1 and both["archived"]["status_count"]["created"] == 1
    assert "last_task_run" not in both["archived"]
    assert one_ex(api, root, include_stats=True, stats_for_state="archived")["stats"].keys() == {"archived"}
    # without children: the project's own tasks only (the subprojects are still listed)
    own = one_ex(api, root, include_stats=True, stats_with_children=False)
    assert own["stats"]["active"]["total_tasks"] == 1 and own["stats"]["active"]["total_runtime"] == 0
    assert len(own["sub_projects"]) == 2
    # hidden tasks with search_hidden
    assert one_ex(api, root, include_stats=True, search_hidden=True)["stats"]["active"]["total_tasks"] == 4
    # the statistics filter: task list fields, "-x" excludes
    filtered = one_ex(api, root, include_stats=True, include_stats_filter={"type": ["-testing"]})
    assert filtered["stats"]["active"]["total_tasks"] == 2
    filtered = one_ex(api, root, include_stats=True, include_stats_filter={"status": ["stopped", "completed"]})
    assert filtered["stats"]["active"]["status_count"]["created"] == 0
    assert filtered["stats"]["active"]["total_tasks"] == 2
    # a subproject's statistics hold its own subtree; an empty project counts zero
    assert one_ex(api, child, include_stats=True)["stats"]["active"]["total_tasks"] == 2
    nothing = one_ex(api, empty, include_stats=True)
    assert nothing["sub_projects"] == [] and nothing["stats"]["active"]["total_tasks"] == 0
    assert nothing["stats"]["active"]["total_runtime"] == 0 and "last_task_run" not in nothing["stats"]["active"]


def test_stats_hidden_subprojects_and_pipeline_filter(api: Api, uid: str) -> None:
    root = project(api, f"pipes {uid}")
    pipeline = project(api, f"pipes {uid}/.pipelines/run", system_tags=["hidden", "pipeline"])
    task(api, project=root)
    task(api, project=pipeline, type="controller", system_tags=["pipeline"])
    # the hidden run project is left out of sub_projects and of the statistics unless search_hidden
    got = one_ex(api, root, include_stats=True)
    assert pipeline not in [s["id"] for s in got["sub_projects"]]
    assert got["stats"]["active"]["total_tasks"] == 1
    shown = one_ex(api, root, include_stats=True, search_hidden=True)
    assert pipeline in [s["id"] for s in shown["sub_projects"]]
    assert shown["stats"]["active"]["total_tasks"] == 2
    # what the UI's projects page sends to leave pipeline runs out of the counts
    no_pipes = one_ex(api, root, include_stats=True, search_hidden=True, include_stats_filter={"system_tags": ["-pipeline"]})
    assert no_pipes["stats"]["active"]["total_tasks"] == 1
    pipes_only = one_ex(api, root, include_stats=True, search_hidden=True,
                        include_stats_filter={"system_tags": ["pipeline"], "type": ["controller"]})  # fmt: skip
    assert pipes_only["stats"]["active"]["total_tasks"] == 1


def test_check_own_contents(api: Api, uid: str) -> None:
    root = project(api, f"own {uid}")
    child = project(api, f"own {uid}/child")
    empty = project(api, f"own {uid} empty")
    task(api, project=root)
    task(api, project=root, system_tags=["archived"])
    task(api, project=child)
    api("models.create", {"name": "own model", "uri": "s3://m", "project": root})
    got = {p["id"]: p for p in get_ex(api, id=[root, child, empty], check_own_contents=True)}
    assert (got[root]["own_tasks"], got[root]["own_models"]) == (2, 1)
    assert (got[child]["own_tasks"], got[child]["own_models"]) == (1, 0)
    assert (got[empty]["own_tasks"], got[empty]["own_models"]) == (0, 0)
    assert "own_tasks" not in one_ex(api, root)


def test_active_users(api: Api, user_api: Api, uid: str) -> None:
    me = api("users.get_current_user", {})["user"]["id"]
    them = user_api("users.get_current_user", {})["user"]["id"]
    mine = project(api, f"users {uid} mine")
    theirs = project(api, f"users {uid} theirs")
    nested = project(api, f"users {uid} nest/deep")
    nest = one_ex(api, nested, only_fields=["parent"])["parent"]
    project(api, f"users {uid} empty")
    task(api, project=mine)
    task(user_api, project=theirs)
    task(user_api, project=nested)
    task(api, project=nested)
    name = f"^users {uid}"
    assert {p["id"] for p in get_ex(api, name=name, active_users=[them])} == {theirs, nest, nested}
    assert {p["id"] for p in get_ex(api, name=name, active_users=[me])} == {mine, nest, nested}
    assert get_ex(api, name=name, active_users=["nobody"]) == []
    # the statistics count only those users' tasks
    stats = one_ex(api, nest, include_stats=True, active_users=[them])["stats"]["active"]
    assert stats["total_tasks"] == 1
    assert one_ex(api, nest, include_stats=True)["stats"]["active"]["total_tasks"] == 2


def test_children_type(api: Api, uid: str) -> None:
    plain = project(api, f"kids {uid} plain")
    task(api, project=plain)
    pipelines = project(api, f"kids {uid} pipes")
    run = project(api, f"kids {uid} pipes/.pipelines/run", system_tags=["hidden", "pipeline"])
    task(api, project=run, type="controller", system_tags=["pipeline"])
    datasets = project(api, f"kids {uid} data")
    version = project(api, f"kids {uid} data/.datasets/v", system_tags=["hidden", "dataset"])
    task(api, project=version, type="data_processing", system_tags=["dataset"])
    name = f"^kids {uid}"
    assert [p["id"] for p in get_ex(api, name=name, children_type="pipeline", shallow_search=True)] == [pipelines]
    assert [p["id"] for p in get_ex(api, name=name, children_type="dataset", shallow_search=True)] == [datasets]
    assert version in [p["id"] for p in get_ex(api, name=name, children_type="dataset", search_hidden=True)]
    assert get_ex(api, name=name, children_type="report") == []


def test_get_all_ex_company_separation(api: Api, other_api: Api, uid: str) -> None:
    mine = project(api, f"sep {uid}")
    task(api, project=mine)
    theirs = project(other_api, f"sep {uid}")
    task(other_api, project=theirs)
    task(other_api, project=theirs)
    shared = task(other_api, project=theirs)
    other_api("tasks.make_public", {"ids": [shared]})
    try:
        found = get_ex(api, name=f"^sep {uid}$", include_stats=True, check_own_contents=True)
        assert [p["id"] for p in found] == [mine]
        assert found[0]["stats"]["active"]["total_tasks"] == 1 and found[0]["own_tasks"] == 1
        assert get_ex(api, id=[theirs]) == []
        me = api("users.get_current_user", {})["user"]["id"]
        assert get_ex(other_api, name=f"^sep {uid}$", active_users=[me]) == []
    finally:
        other_api("tasks.make_private", {"ids": [shared]})


# get_hyper_parameters ----------------------------------------------------------------------------
def test_get_hyper_parameters(api: Api, uid: str) -> None:
    root = project(api, f"hp {uid}")
    child = project(api, f"hp {uid}/child")
    task(api, project=root, hyperparams=params(**{f"B{uid}": {"lr": "0.1", "batch": "32"}, f"A{uid}": {"x": "1"}}))
    task(api, project=root, hyperparams=params(**{f"B{uid}": {"lr": "0.2"}}))
    task(api, project=child, hyperparams=params(**{f"C{uid}": {"depth": "3"}}))
    got = api("projects.get_hyper_parameters", {"project": root})
    assert got == {
        "parameters": [
            {"section": f"A{uid}", "name": "x"},
            {"section": f"B{uid}", "name": "batch"},
            {"section": f"B{uid}", "name": "lr"},
            {"section": f"C{uid}", "name": "depth"},
        ],
        "total": 4,
        "remaining": 0,
    }
    shallow = api("projects.get_hyper_parameters", {"project": root, "include_subprojects": False})
    assert shallow["total"] == 3 and {"section": f"C{uid}", "name": "depth"} not in shallow["parameters"]
    page = api("projects.get_hyper_parameters", {"project": root, "page": 1, "page_size": 3})
    assert page == {"parameters": [{"section": f"C{uid}", "name": "depth"}], "total": 4, "remaining": 0}
    first = api("projects.get_hyper_parameters", {"project": root, "page": 0, "page_size": 1})
    assert first["total"] == 4 and first["remaining"] == 3 and len(first["parameters"]) == 1
    # the web UI: project null for all projects, and pages of 5000
    everywhere = api("projects.get_hyper_parameters", {"project": None, "page_size": 5000})
    assert {"section": f"C{uid}", "name": "depth"} in everywhere["parameters"]
    # an unknown (or another company's) project holds nothing
    assert api("projects.get_hyper_parameters", {"project": "no-such-project"}) == {"parameters": [], "total": 0, "remaining": 0}
    assert api.call("projects.get_hyper_parameters", {"project": root, "page_size": 0}).code == (400, 12)
    assert api.call("projects.get_hyper_parameters", {"project": root, "page": -1}).code == (400, 12)
    assert api.call("projects.get_hyper_parameters", {"project": root, "page_size": "many"}).code == (400, 12)
    assert api.call("projects.get_hyper_parameters", {"project": root}, version="2.8").status == 404


# get_hyperparam_values ---------------------------------------------------------------------------
def test_get_hyperparam_values(api: Api, uid: str) -> None:
    section = f"S{uid}"
    root = project(api, f"hv {uid}")
    child = project(api, f"hv {uid}/child")
    other = project(api, f"hv {uid} other")
    for value, where in (("0.1", root), ("0.01", root), ("0.1", child), ("adam", child), ("0.5", other), ("", root)):
        task(api, project=where, hyperparams=params(**{section: {"lr": value}}))
    task(api, project=root, hyperparams=params(**{section: {"momentum": "0.9"}}))

    def values(**request: Any) -> dict[str, Any]:
        return api("projects.get_hyperparam_values", {"section": section, "name": "lr", **request})

    assert values(projects=[root]) == {"total": 4, "values": ["", "0.01", "0.1", "adam"]}
    assert values(projects=[root], include_subprojects=False) == {"total": 3, "values": ["", "0.01", "0.1"]}
    assert values() == {"total": 5, "values": ["", "0.01", "0.1", "0.5", "adam"]}
    assert values(projects=[root, other], pattern="^0\\.") == {"total": 3, "values": ["0.01", "0.1", "0.5"]}
    assert values(projects=[root], page=1, page_size=3) == {"total": 4, "values": ["adam"]}
    assert values(projects=["no-such-project"]) == {"total": 0, "values": []}
    assert api.call("projects.get_hyperparam_values", {"section": section, "name": "lr", "pattern": "("}).code == (400, 21)
    assert api.call("projects.get_hyperparam_values", {"section": section, "name": "lr", "page_size": 0}).code == (400, 12)
    assert api.call("projects.get_hyperparam_values", {"section": section}).code == (400, 12)
    assert api.call("projects.get_hyperparam_values", {"section": section, "name": "lr"}, version="2.12").status == 404


def test_hyperparams_company_separation(api: Api, other_api: Api, uid: str) -> None:
    section = f"Sep{uid}"
    task(api, hyperparams=params(**{section: {"mine": "1"}}))
    task(other_api, hyperparams=params(**{section: {"private": "2"}}))
    shared = task(other_api, hyperparams=params(**{section: {"public": "3"}}))
    other_api("tasks.make_public", {"ids": [shared]})
    try:
        names = {p["name"] for p in api("projects.get_hyper_parameters", {"page_size": 5000})["parameters"] if p["section"] == section}
        assert names == {"mine", "public"}
        assert api("projects.get_hyperparam_values", {"section": section, "name": "private"}) == {"total": 0, "values": []}
        assert api("projects.get_hyperparam_values", {"section": section, "name": "public"})["values"] == ["3"]
        assert api("projects.get_hyperparam_values", {"section": section, "name": "public", "allow_public": False})["values"] == []
    finally:
        other_api("tasks.make_private", {"ids": [shared]})


# get_unique_metric_variants ------------------------------------------------------------------------
def test_get_unique_metric_variants(api: Api, other_api: Api, uid: str) -> None:
    root = project(api, f"mv {uid}")
    child = project(api, f"mv {uid}/child")
    loss, acc = f"loss {uid}", f"acc {uid}"
    first = task(api, project=root)
    second = task(api, project=child)
    report_scalars(api, first, (loss, "train"), (loss, "val"))
    report_scalars(api, second, (loss, "train"), (acc, "val"))
    report_scalars(other_api, task(other_api), (f"theirs {uid}", "x"))

    def entry(metric: str, variant: str) -> dict[str, str]:
        return {"metric": metric, "metric_hash": md5(metric), "variant": variant, "variant_hash": md5(variant)}

    def metrics(**request: Any) -> list[dict[str, str]]:
        return api("projects.get_unique_metric_variants", request)["metrics"]

    assert metrics(project=root) == [entry(acc, "val"), entry(loss, "train"), entry(loss, "val")]
    assert metrics(project=root, include_subprojects=False) == [entry(loss, "train"), entry(loss, "val")]
    assert metrics(project=root, ids=[second]) == [entry(acc, "val"), entry(loss, "train")]
    everywhere = metrics(project=None)
    assert entry(acc, "val") in everywhere and not any(m["metric"] == f"theirs {uid}" for m in everywhere)
    assert metrics(project="no-such-project") == []
    # model metrics come from the models' own scalars: none were reported for this project's models
    api("models.create", {"name": "mv model", "uri": "s3://m", "project": root})
    assert metrics(project=root, model_metrics=True) == []


# get_task_parents -----------------------------------------------------------------------------------
def test_get_task_parents(api: Api, other_api: Api, uid: str) -> None:
    root = project(api, f"tp {uid}")
    child = project(api, f"tp {uid}/child")
    elsewhere = project(api, f"tp {uid} elsewhere")
    beta = task(api, f"beta {uid}", project=elsewhere)
    alpha = task(api, f"alpha {uid}", project=root)
    task(api, project=root, parent=beta)
    task(api, project=child, parent=alpha)
    task(api, project=child, parent=alpha)
    gamma = task(api, f"gamma {uid}")
    task(api, project=root, parent=gamma, system_tags=["archived"])

    def parents(**request: Any) -> list[dict[str, Any]]:
        return api("projects.get_task_parents", request)["parents"]

    assert parents(projects=[root]) == [
        {"id": alpha, "name": f"alpha {uid}", "project": {"id": root, "name": f"tp {uid}"}},
        {"id": beta, "name": f"beta {uid}", "project": {"id": elsewhere, "name": f"tp {uid} elsewhere"}},
    ]
    assert [p["id"] for p in parents(projects=[root], include_subprojects=False)] == [beta]
    assert parents(projects=[root], tasks_state="archived") == [{"id": gamma, "name": f"gamma {uid}"}]
    assert [p["id"] for p in parents(projects=[root], tasks_state=None)] == [alpha, beta, gamma]
    assert [p["id"] for p in parents(projects=[root], task_name="^alpha")] == [alpha]
    assert parents(projects=["no-such-project"]) == []
    assert not {alpha, beta, gamma} & {p["id"] for p in other_api("projects.get_task_parents", {})["parents"]}
    assert api.call("projects.get_task_parents", {"projects": [root], "task_name": "("}).code == (400, 21)
    assert api.call("projects.get_task_parents", {"tasks_state": "deleted"}).code == (400, 12)
