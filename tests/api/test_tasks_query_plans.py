"""The common task queries are index-backed (spec tasks-queries §10): the database's plan never
reads the whole ``tasks`` table. PostgreSQL plans with sequential scans discouraged (small test
tables are otherwise scanned legitimately); SQLite's planner has no such switch and is read as is."""

from __future__ import annotations

import re

import pytest

from skiff.domain.task_query import parse_query
from skiff.storage.repos import task_queries
from skiff.storage.repos.task_queries import explain, explain_tasks
from tests.support import DIALECT, Api

QUERIES = {
    "project and status, newest first, page of 50": {
        "project": ["P"], "status": ["created", "queued"], "order_by": ["-last_update"], "page": 0, "page_size": 50,
    },
    "ordered by a hyperparameter": {"project": ["P"], "order_by": ["hyperparams.Args.lr.value"], "page_size": 50},
    "tag filter with an exclusion": {"tags": ["keep", "-drop"], "order_by": ["-last_update"], "page_size": 50},
    "hyperparameter filter": {"hyperparams.Args.lr.value": ["0.1"], "page_size": 50},
    "search_text": {"search_text": "resnet -dropout", "order_by": ["@text_score"], "page_size": 50},
    "search_text with a project": {"search_text": '"resnet model"', "project": ["P"], "page_size": 50},
    # no company-prefixed index on dates or parents (migration 0017): the single-column ones serve
    "all projects, newest first": {"order_by": ["-last_update"], "page_size": 50},
    "all projects, creation order": {"page_size": 50},
    "all projects, newest created first": {"order_by": ["-created"], "page_size": 50},
    "children of a task": {"parent": ["T"], "page_size": 50},
    "children of a task in a project": {"parent": ["T"], "project": ["P"], "order_by": ["-last_update"], "page_size": 50},
}  # fmt: skip


def full_scans_of_tasks(plan: list[str]) -> list[str]:
    """Plan lines that read every row of ``tasks``."""
    if DIALECT == "postgresql":
        return [line for line in plan if re.search(r"Seq Scan on tasks\b", line)]
    # SQLite: "SCAN tasks" without "USING ... INDEX" (a covering index scan is still a scan of
    # the index only when it is the company-scoped one, which a SEARCH would show)
    return [line for line in plan if re.match(r"SCAN tasks\b", line) and "INDEX" not in line]


@pytest.fixture
def populated(api: Api) -> None:
    for i in range(30):
        api("tasks.create", {
            "name": f"task {i}", "type": "training", "tags": ["keep"] if i % 2 else ["drop"],
            "comment": "resnet model" if i % 3 else "dropout",
            "hyperparams": {"Args": {"lr": {"section": "Args", "name": "lr", "value": str(i / 10)}}},
        })  # fmt: skip


@pytest.mark.parametrize("name", list(QUERIES))
def test_common_queries_do_not_scan_tasks(db, company: str, populated: None, name: str) -> None:  # type: ignore[no-untyped-def]
    query = parse_query(QUERIES[name])
    with db.read() as conn:
        plan = explain_tasks(conn, [company, ""], query)
    assert plan, "no plan"
    assert full_scans_of_tasks(plan) == [], "\n".join(plan)
    if DIALECT == "postgresql" and name == "hyperparameter filter":
        # the order index serves equality on a parameter's value through its sort key (with
        # sequential scans off, PostgreSQL still scans when no index can)
        assert not [line for line in plan if "Seq Scan on task_hyperparams" in line], "\n".join(plan)


def test_the_check_notices_a_full_scan(db, company: str, populated: None) -> None:  # type: ignore[no-untyped-def]
    """Guards the test above: a condition no index serves (a pattern on the comment, without the
    company scope) does show up as a full scan."""
    from sqlalchemy import select

    from skiff.storage.tables import tasks

    with db.read() as conn:
        plan = explain(conn, select(tasks.c.id).where(tasks.c.comment.like("%x%")))
    assert full_scans_of_tasks(plan), "\n".join(plan)


@pytest.mark.skipif(DIALECT != "sqlite", reason="PostgreSQL's planner chooses its own path")
@pytest.mark.parametrize("walk", [True, False], ids=["walking the order index", "sorting the project"])
def test_ordering_by_a_hyperparameter_reads_the_parameter_from_indexes(  # type: ignore[no-untyped-def]
    db, company: str, populated: None, monkeypatch: pytest.MonkeyPatch, walk: bool
) -> None:
    """Both ways of ordering a project by a hyperparameter (``_walks_param_index`` picks one)
    read the parameter from an index: the order index carries the task, the clustered primary
    key the value. Walking the order index, each entry's task is checked through the (company,
    project, id) index, never read. (Which index the sort starts from is the planner's choice:
    without statistics SQLite may take (company, project, parent) and read the ids from the rows.)"""
    monkeypatch.setattr(task_queries, "_walks_param_index", lambda *_: walk)
    with db.read() as conn:
        plan = explain_tasks(conn, [company, ""], parse_query(QUERIES["ordered by a hyperparameter"]))
    shown = "\n".join(plan)
    params = [line for line in plan if "task_hyperparams" in line]
    assert params and all("COVERING INDEX" in line or "USING PRIMARY KEY" in line for line in params), shown
    if walk:
        assert plan[0].startswith("SEARCH task_hyperparams USING COVERING INDEX ix_task_hyperparams_order"), shown
        assert plan[1].startswith("SEARCH tasks USING COVERING INDEX ix_tasks_company_project_id"), shown


@pytest.mark.skipif(DIALECT != "sqlite", reason="PostgreSQL's planner chooses its own path")
def test_a_hyperparameter_filter_starts_from_the_matching_tasks(db, company: str, populated: None) -> None:  # type: ignore[no-untyped-def]
    """Without statistics SQLite takes any indexed equality to keep ~10 rows, and started from the
    company's tasks (all of them, each probed against the parameter's list); the company scope is
    stated as the broad condition it is, so the few tasks with the value come first and are read
    by id."""
    with db.read() as conn:
        plan = explain_tasks(conn, [company, ""], parse_query({**QUERIES["hyperparameter filter"], "order_by": ["-last_update"]}))
    shown = "\n".join(plan)
    assert re.match(r"SEARCH tasks USING (COVERING )?INDEX \w+ \(id=\?", plan[0]), shown
    # the value's sort key through the order index (the only one on the parameters' values); a
    # whole key names one value, so the index entries answer and no parameter row is read
    assert any(
        "SEARCH task_hyperparams USING COVERING INDEX ix_task_hyperparams_order (section=? AND name=? AND sort_key=?)" in line
        for line in plan
    ), shown


@pytest.mark.skipif(DIALECT != "sqlite", reason="PostgreSQL's planner chooses its own path")
def test_tasks_found_through_a_parameter_are_scoped_from_an_index(db, company: str, populated: None) -> None:  # type: ignore[no-untyped-def]
    """The benchmark's W4: tasks with a parameter's value, ordered by a metric. Each task found
    through the order index is checked for its company in the (id, company) index, without
    reading its row (the primary key's index leads to the row)."""
    metric = "last_metrics.0123456789abcdef0123456789abcdef.fedcba9876543210fedcba9876543210.value"
    with db.read() as conn:
        plan = explain_tasks(conn, [company, ""], parse_query({**QUERIES["hyperparameter filter"], "order_by": [f"-{metric}"]}))
    shown = "\n".join(plan)
    assert plan[0].startswith("SEARCH tasks USING COVERING INDEX ix_tasks_id_company (id=? AND company=?)"), shown


@pytest.mark.skipif(DIALECT != "sqlite", reason="PostgreSQL's planner chooses its own path")
def test_a_filter_on_a_long_parameter_value_compares_the_value_too(db, company: str, populated: None) -> None:  # type: ignore[no-untyped-def]
    """A value whose sort key is cut at ``SORT_KEY_BYTES`` shares its key with other values, so the
    filter reads the parameter rows to compare the values themselves."""
    query = {"hyperparams.Args.lr.value": ["0.1", "x" * 300], "page_size": 50}
    with db.read() as conn:
        plan = explain_tasks(conn, [company, ""], parse_query(query))
    shown = "\n".join(plan)
    assert any("SEARCH task_hyperparams USING INDEX ix_task_hyperparams_order (section=? AND name=? AND sort_key=?)" in line for line in plan), shown
    assert not any("COVERING INDEX ix_task_hyperparams_order" in line for line in plan), shown


@pytest.mark.skipif(DIALECT != "sqlite", reason="PostgreSQL's planner weighs its own statistics")
def test_tasks_by_id_are_looked_up_by_id(db, company: str, populated: None) -> None:  # type: ignore[no-untyped-def]
    """A page's documents (and every read of a list of ids) come by id, not from a walk of the
    company's tasks."""
    from skiff.storage.repos import tasks as tasks_repo

    statement = tasks_repo._GET_TASKS.params(ids=[f"id{i}" for i in range(50)], companies=[company, ""])
    with db.read() as conn:
        plan = explain(conn, statement)
    # the lists come bound as one JSON value each, read by json_each (``one_of``); each id is
    # looked up (with its company, in the (id, company) index since migration 0019)
    tasks_lines = [line for line in plan if "json_each" not in line and "LIST SUBQUERY" not in line]
    assert len(tasks_lines) == 1 and re.match(r"SEARCH tasks USING INDEX \w+ \(id=\?", tasks_lines[0]), "\n".join(plan)


def test_ordering_by_a_metric_reads_each_tasks_metric_by_primary_key(db, company: str, populated: None) -> None:  # type: ignore[no-untyped-def]
    """The metric of each task comes from the task's primary-key entries, never from a walk of
    the (metric_hash, variant_hash, value) index filtered by task: PostgreSQL, before it has
    statistics (a freshly loaded database), priced both the same and took the walk, reading the
    metric's row of every task for each task."""
    order = {"hyperparams.Args.lr.value": ["0.1"], "order_by": ["-last_metrics.m.v.value"], "page_size": 50}
    with db.read() as conn:
        plan = explain_tasks(conn, [company, ""], parse_query(order))
    shown = "\n".join(plan)
    metric_steps = [line for line in plan if "task_metrics" in line]
    assert metric_steps, shown
    assert not [line for line in plan if "ix_task_metrics_metric_hash_variant_hash_value" in line], shown
    if DIALECT == "sqlite":  # clustered on the key (migration 0020): the value is in its leaf
        assert all("task_metrics USING PRIMARY KEY (task=?" in line for line in metric_steps), shown
    else:
        assert "pk_task_metrics" in shown, shown


@pytest.mark.skipif(DIALECT != "sqlite", reason="PostgreSQL plans from its own statistics")
@pytest.mark.parametrize(
    ("body", "first_step"),
    [
        ({"order_by": ["-last_update"], "page_size": 50}, "SCAN tasks USING INDEX ix_tasks_last_update"),
        ({"order_by": ["-created"], "status": ["-completed"], "page_size": 50}, "SCAN tasks USING INDEX ix_tasks_created"),
        ({"page_size": 50}, "SCAN tasks USING INDEX ix_tasks_created"),
        ({"tags": ["keep"], "order_by": ["-last_update"], "page_size": 50}, "SCAN tasks USING INDEX ix_tasks_last_update"),
        # a value to look up keeps the company-scoped index that has it
        ({"type": ["testing"], "order_by": ["-last_update"], "page_size": 50}, "SEARCH tasks USING INDEX ix_tasks_company_type (company=? AND type=?)"),
        ({"user": ["u"], "order_by": ["-last_update"], "page_size": 50}, "SEARCH tasks USING INDEX ix_tasks_company_user (company=? AND user=?)"),
    ],
    ids=["newest first", "newest created, an exclusion", "creation order", "a tag", "a type", "a user"],
)
def test_listing_every_project_walks_the_sort_index(db, company: str, populated: None, body: dict, first_step: str) -> None:  # type: ignore[no-untyped-def]
    """Across projects only the company scope narrows the tasks, and in a single-tenant install
    it keeps all of them: SQLite, taking the scope for selective without statistics, read every
    task of the company and sorted them for a page of 50 (10,000 tasks: 43.5 ms in-process, then
    6.3 ms walking the sort's index). A value to look up still starts from its index."""
    with db.read() as conn:
        plan = explain_tasks(conn, [company, ""], parse_query(body))
    assert plan[0].startswith(first_step), "\n".join(plan)


@pytest.mark.skipif(DIALECT != "sqlite", reason="SQLite chooses how to leave hidden tasks out")
@pytest.mark.parametrize("limit, expected", [(1000, "set"), (1, "probes")])
def test_hidden_tasks_are_left_out_by_a_set_while_they_are_few(  # type: ignore[no-untyped-def]
    api: Api, db, company: str, populated: None, monkeypatch, limit: int, expected: str
) -> None:
    """Up to ``HIDDEN_SET_LIMIT`` hidden tasks, a listing reads their ids once (a list subquery
    on the (kind, tag, task) index); past it, each candidate's tag rows are probed. Both leave
    out exactly the hidden tasks."""
    monkeypatch.setattr(task_queries, "HIDDEN_SET_LIMIT", limit)
    hidden = [api("tasks.create", {"name": f"hidden {i}", "type": "training", "system_tags": ["hidden"]})["id"] for i in range(2)]
    shown = api("tasks.get_all", {"only_fields": ["id"], "page_size": 500})["tasks"]
    everything = api("tasks.get_all", {"only_fields": ["id"], "page_size": 500, "search_hidden": True})["tasks"]
    assert len(shown) == 30 and not {t["id"] for t in shown} & set(hidden)
    assert {t["id"] for t in everything} - {t["id"] for t in shown} == set(hidden)
    with db.read() as conn:
        plan = explain_tasks(conn, [company, ""], parse_query({"order_by": ["-last_update"], "page_size": 50}))
    read_once = [line for line in plan if "ix_task_tags_kind_tag_task" in line]
    probed = [line for line in plan if "task_tags" in line and "(task=?" in line]
    assert (read_once, probed) != ([], []), "\n".join(plan)
    assert bool(read_once) == (expected == "set") and bool(probed) == (expected == "probes"), "\n".join(plan)
