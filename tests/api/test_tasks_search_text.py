"""tasks.get_all ``search_text`` and ``@text_score`` (spec tasks-queries §2.10, §4.1, §4.4, §2.13):
OR of terms, exclusions, required phrases, stemming without substrings, stop words, diacritics,
every indexed field, the index kept in step with every write, and hostile input."""

from __future__ import annotations

from typing import Any

import pytest

from skiff.storage.repos import task_queries
from tests.support import Api


def create(api: Api, name: str, **fields: Any) -> str:
    return api("tasks.create", {"name": name, "type": "training", **fields})["id"]


def found(api: Api, text: str, **query: Any) -> list[str]:
    body = {"search_text": text, "only_fields": ["name"], "order_by": ["name"], **query}
    return [t["name"] for t in api("tasks.get_all", body)["tasks"]]


@pytest.fixture
def corpus(api: Api) -> dict[str, str]:
    return {
        "alpha": create(api, "alpha training run", comment="baseline for the resnet model"),
        "beta": create(api, "beta evaluation", comment="resnet with dropout"),
        "gamma": create(api, "gamma trained", comment="Café crème experiment"),
        "delta": create(api, "delta", script={"repository": "https://git.example/vision.git", "entry_point": "segment.py"}),
    }


@pytest.fixture(params=["from the matches", "probing each task"])
def strategy(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    """SQLite starts from the matches of a rare search and probes the matches of each task in
    order for a common one: both must find the same tasks (a threshold of 1 makes every search
    common)."""
    if request.param == "probing each task":
        monkeypatch.setattr(task_queries, "DENSE_TEXT_MATCHES", 1)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("training", ["alpha training run", "gamma trained"]),  # stems: training, trained -> train
        ("train", ["alpha training run", "gamma trained"]),
        ("trai", []),  # no substrings
        ("resnet evaluation", ["alpha training run", "beta evaluation"]),  # any term
        ("RESNET", ["alpha training run", "beta evaluation"]),  # case-insensitive
        ("resnet -dropout", ["alpha training run"]),  # exclusion
        ('"model resnet"', []),  # a phrase must occur as written
        ('"baseline for the resnet"', ["alpha training run"]),  # stop words inside a phrase keep their place
        ('"resnet with dropout" evaluation', ["beta evaluation"]),  # the phrase is required, terms are not
        ('"resnet with dropout" "beta evaluation"', ["beta evaluation"]),
        ('"resnet with dropout" "alpha training"', []),  # every phrase is required
        ("the", []),  # stop words are ignored
        ("cafe", ["gamma trained"]),  # diacritics are ignored
        ("crème", ["gamma trained"]),
        ("vision", ["delta"]),  # script.repository
        ("segment", ["delta"]),  # script.entry_point
        ("-resnet", []),  # only exclusions: nothing
    ],
)
def test_search_semantics(api: Api, corpus: dict[str, str], strategy: None, text: str, expected: list[str]) -> None:
    assert found(api, text) == expected


def test_ids_and_model_ids_are_searched(api: Api, corpus: dict[str, str]) -> None:
    assert found(api, corpus["beta"]) == ["beta evaluation"]
    model = api("models.create", {"name": "model-x", "uri": "file:///m.pkl"})["id"]
    api("tasks.edit", {"task": corpus["delta"], "models": {"input": [{"name": "in", "model": model}]}})
    assert found(api, model) == ["delta"]
    api("tasks.edit", {"task": corpus["delta"], "models": {"output": [{"name": "out", "model": model}]}})
    assert found(api, model) == ["delta"]


def test_combines_with_other_filters(api: Api, corpus: dict[str, str], strategy: None) -> None:
    api("tasks.edit", {"task": corpus["alpha"], "tags": ["keep"]})
    assert found(api, "resnet", tags=["keep"]) == ["alpha training run"]
    assert found(api, "resnet", tags=["-keep"]) == ["beta evaluation"]
    assert found(api, "resnet train", name="^gamma") == ["gamma trained"]
    assert found(api, "resnet", id=[corpus["beta"], corpus["gamma"]]) == ["beta evaluation"]


def test_index_follows_every_write(api: Api) -> None:
    task = create(api, "zebra first")
    assert found(api, "zebra") == ["zebra first"]
    api("tasks.edit", {"task": task, "name": "okapi renamed", "comment": "striped"})
    assert found(api, "zebra") == []
    assert found(api, "okapi striped") == ["okapi renamed"]
    api("tasks.update", {"task": task, "comment": "spotted"})
    assert found(api, "striped") == [] and found(api, "spotted") == ["okapi renamed"]
    clone = api("tasks.clone", {"task": task, "new_task_name": "okapi clone"})["id"]
    assert found(api, "okapi") == ["okapi clone", "okapi renamed"]
    api("tasks.delete", {"task": clone})
    assert found(api, "okapi") == ["okapi renamed"]
    api("tasks.reset", {"task": task})
    assert found(api, "okapi") == ["okapi renamed"]
    api("tasks.delete", {"task": task})
    assert found(api, "okapi") == []


def test_text_score_orders_best_first(api: Api) -> None:
    once = create(api, "quokka", comment="plain")
    twice = create(api, "quokka quokka quokka", comment="quokka")
    script_only = create(api, "other", script={"repository": "quokka"})  # weight 1 instead of 10
    body = {"search_text": "quokka", "only_fields": ["id"]}
    ordered = [t["id"] for t in api("tasks.get_all", {**body, "order_by": ["@text_score"]})["tasks"]]
    assert ordered == [twice, once, script_only]
    # -@text_score is a no-op: ordered by the next key
    by_name = [t["id"] for t in api("tasks.get_all", {**body, "order_by": ["-@text_score", "name"]})["tasks"]]
    assert by_name == [script_only, once, twice]


def test_text_score_first_moves_empties_of_the_next_key_last(api: Api) -> None:
    idle = create(api, "wombat one")
    running = create(api, "wombat two")  # same words, same length: equal scores
    api("tasks.started", {"task": running})
    body = {"search_text": "wombat", "only_fields": ["id"]}
    got = api("tasks.get_all", {**body, "order_by": ["@text_score", "started"]})["tasks"]
    assert [t["id"] for t in got] == [running, idle]  # a missing start goes last (§4.4)
    got = api("tasks.get_all", {**body, "order_by": ["@text_score", "name", "started"]})["tasks"]
    assert [t["id"] for t in got] == [idle, running]


def test_text_score_needs_search_text(api: Api) -> None:
    reply = api.call("tasks.get_all", {"order_by": ["@text_score"]})
    assert reply.status == 400 and reply.code == (400, 16)
    assert "text score cannot be used in order_by when search text is not used" in reply.msg
    assert api.call("tasks.get_all", {"order_by": ["-@text_score"]}).status == 200  # ignored


@pytest.mark.parametrize(
    "text",
    ['"', '"""', "a OR", "NOT", "AND OR NEAR", "foo:bar", "*", "^x", "(a", "a) OR (b", "'; DROP TABLE tasks; --",
     "-", "--", "!!", "a & b | !c", "x:*", "\\", "NEAR(a b)", '"unterminated phrase', "{name}: x", "%s %(x)s ?"],
)
def test_operators_and_quotes_are_plain_text(api: Api, corpus: dict[str, str], text: str) -> None:
    reply = api.call("tasks.get_all", {"search_text": text, "order_by": ["@text_score"]})
    assert reply.status == 200, reply.body
    assert api("tasks.get_all", {"id": [corpus["alpha"]]})["tasks"]  # still there


def test_operator_words_are_searchable(api: Api) -> None:
    create(api, "near or not")
    assert found(api, "near") == ["near or not"]
    assert found(api, '"near or"') == ["near or not"]


def test_search_text_type(api: Api) -> None:
    assert api.call("tasks.get_all", {"search_text": ["x"]}).code == (400, 16)
    assert api.call("tasks.get_all", {"search_text": "   "}).status == 200  # blank: no condition


def test_migration_0010_indexes_existing_tasks(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """Tasks written before the text index existed are found after the upgrade; the downgrade
    brings back 0009's numeric hyperparameter column."""
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
        migrate(db, command.upgrade, "0009")
        with db.write() as conn:
            conn.execute(
                text(
                    "INSERT INTO tasks (id, company, \"user\", name, type, status, created, document) "
                    "VALUES ('old-task', 'c', 'u', 'legacy run', 'training', 'created', '2020-01-01', :doc)"
                ),
                {"doc": '{"script": {"repository": "https://git.example/kangaroo.git"}}'},
            )
            conn.execute(
                text("INSERT INTO task_hyperparams (task, section, name, company, value, num_value) "
                     "VALUES ('old-task', 'Args', 'lr', 'c', '0.5', 0.5)")
            )
        schema.upgrade(db)
        with db.read() as conn:
            hits = find_tasks(conn, ["c"], parse_query({"search_text": "kangaroo"}))
            assert [t["id"] for t in hits] == ["old-task"]
        migrate(db, command.downgrade, "0009")
        with db.read() as conn:
            assert conn.execute(text("SELECT num_value FROM task_hyperparams")).scalar_one() == 0.5
    finally:
        db.dispose()
