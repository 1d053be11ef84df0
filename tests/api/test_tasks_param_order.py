"""Ordering by a hyperparameter as the first key (spec tasks-queries §4.2, §4.3, §5): the tasks
with a value in natural order, then those without the parameter, with paging running
over the concatenation, both when SQLite walks the order index and when it sorts the project's
tasks (the storage layer picks one from the counts; both must give the same pages)."""

from __future__ import annotations

from typing import Any

import pytest

from skiff.domain.natural_order import natural_key
from skiff.storage.repos import task_queries
from tests.support import Api

VALUES = ["10", "9", "0.5", "0.25", "a", "B", "", "2", "2", "11", "1.10", "1.5"]


@pytest.fixture(params=["walking the order index", "sorting the project"])
def strategy(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    walk = request.param == "walking the order index"
    monkeypatch.setattr(task_queries, "_walks_param_index", lambda *_: walk)
    return str(request.param)


@pytest.fixture
def project_tasks(api: Api) -> tuple[str, dict[str, str | None]]:
    """A project whose tasks have the values above or no such parameter (the API refuses a
    parameter without a value), plus a task of another project; returns the project and each
    task's value by id."""
    project = api("projects.create", {"name": "param order", "description": ""})["id"]
    other = api("projects.create", {"name": "param order other", "description": ""})["id"]
    values: dict[str, str | None] = {}

    def create(value: str | None, *, has_param: bool = True, project_id: str = project) -> str:
        params: dict[str, Any] = {"Args": {"other": {"section": "Args", "name": "other", "value": "x"}}}
        if has_param:
            params["Args"]["lr"] = {"section": "Args", "name": "lr", "value": value}
        return api("tasks.create", {"name": f"po [{value}]", "type": "training", "project": project_id, "hyperparams": params})["id"]

    for value in VALUES:
        values[create(value)] = value
    values[create(None, has_param=False)] = None
    values[create(None, has_param=False)] = None
    create("0", project_id=other)
    return project, values


def expected(values: dict[str, str | None], descending: bool) -> list[str]:
    """Valued tasks by natural value (then natural id), then the others by natural id."""
    valued = sorted((i for i, v in values.items() if v is not None), key=natural_key)
    valued.sort(key=lambda i: natural_key(values[i] or ""), reverse=descending)
    if descending:  # the id tie-break stays ascending
        valued = [i for _, group in _groups(valued, values) for i in sorted(group, key=natural_key)]
    empty = sorted((i for i, v in values.items() if v is None), key=natural_key)
    return valued + empty


def _groups(ids: list[str], values: dict[str, str | None]) -> list[tuple[str, list[str]]]:
    groups: list[tuple[str, list[str]]] = []
    for i in ids:
        if groups and groups[-1][0] == values[i]:
            groups[-1][1].append(i)
        else:
            groups.append((values[i] or "", [i]))
    return groups


@pytest.mark.parametrize("descending", [False, True], ids=["ascending", "descending"])
@pytest.mark.parametrize("size", [1, 4, 5, 50])
def test_pages_cover_valued_then_empty(
    api: Api, project_tasks: tuple[str, dict[str, str | None]], strategy: str, descending: bool, size: int
) -> None:
    project, values = project_tasks
    key = ("-" if descending else "") + "hyperparams.Args.lr.value"
    pages = []
    for page in range(0, len(values) // size + 2):
        body = {"project": [project], "order_by": [key], "page": page, "page_size": size, "only_fields": ["id"]}
        pages.append([t["id"] for t in api("tasks.get_all", body)["tasks"]])
    assert [i for p in pages for i in p] == expected(values, descending)
    assert pages[-1] == []


def test_a_page_entirely_past_the_valued_tasks(api: Api, project_tasks: tuple[str, dict[str, str | None]], strategy: str) -> None:
    project, values = project_tasks
    body = {"project": [project], "order_by": ["hyperparams.Args.lr.value"], "only_fields": ["id"]}
    found = api("tasks.get_all", {**body, "page": 12, "page_size": 1})["tasks"]
    assert [t["id"] for t in found] == expected(values, False)[12:13]


def test_later_keys_and_filters(api: Api, project_tasks: tuple[str, dict[str, str | None]], strategy: str) -> None:
    project, values = project_tasks
    body = {"project": [project], "order_by": ["hyperparams.Args.lr.value", "-name"], "only_fields": ["id", "name"]}
    found = api("tasks.get_all", {**body, "name": r"^po \[(2|None)\]$"})["tasks"]
    twos = sorted((i for i, v in values.items() if v == "2"), key=natural_key)
    nones = sorted((i for i, v in values.items() if v is None), key=natural_key, reverse=True)  # "po [None]" ties: by -name, then id
    assert [t["id"] for t in found] == twos + sorted(nones, key=natural_key)
    # as a later key it does not switch natural order on (§4.3): values and ids compare as bytes
    later = api("tasks.get_all", {"project": [project], "order_by": ["type", "hyperparams.Args.lr.value"], "name": r"^po \[[0-9]", "only_fields": ["id"]})["tasks"]
    numeric = [i for i, v in values.items() if v and v[0].isdigit()]
    assert [t["id"] for t in later] == sorted(numeric, key=lambda i: (values[i], i))


def test_the_share_of_tasks_in_scope_decides_the_strategy(api: Api, db, project_tasks: tuple[str, dict[str, str | None]]) -> None:  # type: ignore[no-untyped-def]
    """SQLite walks the order index when a page is cheap to find that way (all tasks in scope)
    and otherwise leaves the choice to its planner (which, with statistics, starts from a small
    project's tasks and sorts them)."""
    from skiff.domain.task_query import parse_query

    project, _ = project_tasks
    everything = parse_query({"order_by": ["hyperparams.Args.lr.value"], "page_size": 2})
    deep = parse_query({"project": [project], "order_by": ["hyperparams.Args.lr.value"], "page": 100, "page_size": 100})
    with db.read() as conn:
        company = conn.exec_driver_sql("SELECT company FROM tasks LIMIT 1").scalar_one()
        walks = [task_queries._walks_param_index(conn, [company], q, None) for q in (everything, deep)]
        plan = task_queries.explain_tasks(conn, [company], everything)
    if db.dialect != "sqlite":  # PostgreSQL's planner weighs LIMIT itself
        assert walks == [False, False]
        return
    assert walks == [True, False]
    assert any("ix_task_hyperparams_order" in line for line in plan), plan
    assert not any(line.startswith("USE TEMP B-TREE FOR ORDER BY") for line in plan), plan


def test_migration_0013_fills_the_keys_of_existing_rows(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """Parameter rows written before 0013 get their keys, so old tasks sort like new ones."""
    from alembic import command
    from sqlalchemy import text

    from skiff.domain.task_query import parse_query
    from skiff.storage import schema
    from skiff.storage.engine import Database
    from skiff.storage.repos.task_queries import find_tasks
    from tests.migrations.test_schema import migrate
    from tests.support import new_database_url

    db = Database(new_database_url(tmp_path), pool_size=1)
    try:
        migrate(db, command.upgrade, "0012")
        with db.write() as conn:
            for task, value in [("old-10", "10"), ("old-9", "9"), ("old-x", "1.5")]:
                conn.execute(
                    text("INSERT INTO tasks (id, company, \"user\", name, type, status, created, document) "
                         "VALUES (:t, 'c', 'u', :t, 'training', 'created', '2020-01-01', '{}')"),
                    {"t": task},
                )  # fmt: skip
                conn.execute(
                    text("INSERT INTO task_hyperparams (task, section, name, company, value) VALUES (:t, 'Args', 'lr', 'c', :v)"),
                    {"t": task, "v": value},
                )
        schema.upgrade(db)
        with db.read() as conn:
            found = find_tasks(conn, ["c"], parse_query({"order_by": ["-hyperparams.Args.lr.value"]}))
            assert [t["id"] for t in found] == ["old-10", "old-9", "old-x"]
            assert conn.execute(text("SELECT count(*) FROM task_hyperparams WHERE sort_key IS NULL OR task_key IS NULL")).scalar_one() == 0
        migrate(db, command.downgrade, "0012")
        schema.upgrade(db)
    finally:
        db.dispose()
