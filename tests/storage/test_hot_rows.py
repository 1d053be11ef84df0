"""The hot-path storage shortcuts give what the general paths give: statements run on the cursor
(``repos/prepared.py``) return the values SQLAlchemy returns, and hyperparameter edits that write
only the changed rows leave exactly the rows a full rewrite leaves."""

from __future__ import annotations

import random
import uuid
from collections.abc import Iterator
from datetime import timedelta

import pytest
from sqlalchemy import bindparam, select
from sqlalchemy.exc import IntegrityError

from skiff.domain import clock, ids
from skiff.domain.task_document import new_task
from skiff.domain.versions import Version
from skiff.ops import accounts
from skiff.storage.repos import accounts as accounts_repo
from skiff.storage.repos import tasks as repo
from skiff.storage.repos.common import PG_ROWS_PER_INSERT, insert_many
from skiff.storage.repos.prepared import Prepared
from skiff.storage.tables import credentials, task_hyperparams, tasks
from tests.support import DIALECT, Api, pg_round_trips

VERSION = Version.parse("2.31")


@pytest.fixture
def stored(db, admin) -> dict:  # type: ignore[no-untyped-def]
    """A task with datetimes, numbers, NULL columns and a nested document, as stored."""
    now = clock.now()
    doc = new_task(
        {"name": "stored", "type": "training", "comment": "c", "tags": ["a", "b"],
         "hyperparams": {"Args": {"lr": {"section": "Args", "name": "lr", "value": "0.1"}}},
         "script": {"repository": "https://example.com/r.git", "entry_point": "train.py"}},
        id=ids.new_id(), user=admin.user, company=admin.company, now=now, version=VERSION,
    )  # fmt: skip
    doc.update(status="in_progress", started=now + timedelta(milliseconds=5), last_iteration=7, active_duration=3)
    with db.write() as conn:
        repo.insert_task(conn, doc)
    return doc


def test_a_prepared_task_read_equals_the_general_one(db, admin, stored) -> None:  # type: ignore[no-untyped-def]
    with db.read() as conn:
        general = repo.get_tasks(conn, (admin.company, ""), [stored["id"]])[stored["id"]]
        for companies in ((admin.company, ""), ("", admin.company), (admin.company,)):
            assert repo.get_task(conn, companies, stored["id"]) == general
            assert repo.get_task(conn, companies, stored["id"], for_update=True) == general
        assert repo.get_task(conn, ("someone else", ""), stored["id"]) is None
        assert repo.get_task(conn, (admin.company, ""), "missing") is None
        assert repo.get_task(conn, ("x", "y", admin.company), stored["id"]) == general  # the general path
    assert general == {k: v for k, v in stored.items() if v is not None}  # NULL columns stay absent
    assert general["started"] == stored["started"] and general["last_iteration"] == 7


def test_tasks_by_a_list_of_ids_bound_as_one_value(db, admin, stored) -> None:  # type: ignore[no-untyped-def]
    """``get_tasks`` binds its id and company lists as one value each (``one_of``): ids that JSON
    or SQL would have to escape are found as they are, others and other companies' are not."""
    odd = ['quote"d', "back\\slash", "it's", "ünï\u2603", "[1, 2]", "%s ?"]
    for task in odd:
        doc = new_task({"name": task, "type": "training"}, id=task, user=admin.user, company=admin.company,
                       now=clock.now(), version=VERSION)  # fmt: skip
        with db.write() as conn:
            repo.insert_task(conn, doc)
    asked = [*odd, stored["id"], "missing", 'quote"', "it"]
    with db.read() as conn:
        found = repo.get_tasks(conn, (admin.company, ""), asked)
        assert sorted(found) == sorted([*odd, stored["id"]])
        assert all(found[task]["name"] == task for task in odd)
        assert repo.get_tasks(conn, ("someone else",), asked) == {}
        assert repo.get_tasks(conn, ("someone else", admin.company), odd[:2], for_update=True).keys() == set(odd[:2])
        assert repo.get_tasks(conn, (admin.company,), []) == {}


def test_a_prepared_credential_read_equals_sqlalchemys(db, admin) -> None:  # type: ignore[no-untyped-def]
    with db.read() as conn:
        found = accounts_repo.find_credentials(conn, admin.access_key)
        row = conn.execute(select(credentials).where(credentials.c.access_key == admin.access_key)).one()
    assert found is not None
    assert {k: found[k] for k in ("access_key", "secret_hash", "user", "company")} == {
        k: row._mapping[k] for k in ("access_key", "secret_hash", "user", "company")
    }
    assert (found["user_name"], found["role"]) == ("admin", "admin")
    with db.read() as conn:
        assert accounts_repo.find_credentials(conn, "NO-SUCH-KEY") is None


def test_prepared_statements_run_in_the_callers_transaction(db, admin) -> None:  # type: ignore[no-untyped-def]
    doc = new_task({"name": "uncommitted", "type": "training"}, id=ids.new_id(), user=admin.user,
                   company=admin.company, now=clock.now(), version=VERSION)  # fmt: skip
    with pytest.raises(ZeroDivisionError), db.write() as conn:
        repo.insert_task(conn, doc)
        assert repo.get_task(conn, (admin.company, ""), doc["id"]) is not None  # its own write
        1 / 0  # undoes the block
    with db.read() as conn:
        assert repo.get_task(conn, (admin.company, ""), doc["id"]) is None


def test_prepared_statements_bind_the_values_written_into_them(db, stored) -> None:  # type: ignore[no-untyped-def]
    """Literal values (the id written into the statement, a LIMIT's OFFSET of 0) need no parameter;
    named ones still must be passed."""
    statement = Prepared(select(tasks.c.id).where(tasks.c.id == stored["id"], tasks.c.type == bindparam("type")).limit(1))
    with db.read() as conn:
        assert statement.all(conn, {"type": "training"}) == [{"id": stored["id"]}]
        assert statement.all(conn, {"type": "testing"}) == []
        with pytest.raises(KeyError):
            statement.all(conn, {})


def test_prepared_refuses_expanding_parameters(db) -> None:  # type: ignore[no-untyped-def]
    statement = Prepared(select(tasks.c.id).where(tasks.c.id.in_(bindparam("ids", expanding=True))))
    with db.read() as conn, pytest.raises(ValueError):
        statement.all(conn, {"ids": ["a"]})


def _rows(db, task: str) -> list[tuple]:  # type: ignore[no-untyped-def]
    with db.read() as conn:
        stored = conn.execute(select(task_hyperparams).where(task_hyperparams.c.task == task)).all()
    return sorted(tuple(row) for row in stored)


def _expected(db, admin, task: str) -> list[tuple]:  # type: ignore[no-untyped-def]
    """The rows a full rewrite of the stored document would write."""
    with db.read() as conn:
        doc = repo.get_task(conn, (admin.company,), task)
        columns = [c.name for c in task_hyperparams.columns]
        rewritten = [dict(zip(repo._HYPERPARAM_COLUMNS, row)) for row in repo._hyperparam_rows(doc)]
    return sorted(tuple(row[c] for c in columns) for row in rewritten)


def test_hyperparameter_edits_leave_the_rows_of_a_full_rewrite(api: Api, db, admin) -> None:  # type: ignore[no-untyped-def]
    rng = random.Random(11)
    sections, names, values = ["Args", "General", "properties"], ["a", "b", "c", "d"], ["1", "2", "10", "x", ""]
    task = api("tasks.create", {"name": "params", "type": "training"})["id"]
    for step in range(25):
        kind = rng.choice(["edit", "edit", "delete"])
        if kind == "edit":
            items = [{"section": rng.choice(sections), "name": rng.choice(names), "value": rng.choice(values)}
                     for _ in range(rng.randint(1, 4))]  # fmt: skip
            replace = rng.choice(["none", "none", "section", "all"])
            api("tasks.edit_hyper_params", {"task": task, "hyperparams": items, "replace_hyperparams": replace})
        else:
            keys = [{"section": rng.choice(sections), "name": rng.choice(names)} for _ in range(rng.randint(1, 2))]
            api("tasks.delete_hyper_params", {"task": task, "hyperparams": keys})
        assert _rows(db, task) == _expected(db, admin, task), f"step {step}: {kind}"
    assert _rows(db, task)  # the walk left some parameters


def test_moving_company_rewrites_the_rows(db, admin, stored) -> None:  # type: ignore[no-untyped-def]
    other = accounts.create_company(db, "elsewhere")
    with db.write() as conn:
        old = repo.get_task(conn, (admin.company,), stored["id"])
        repo.replace_task(conn, old, {**old, "company": other})
    assert {row[3] for row in _rows(db, stored["id"])} == {other}



def test_prepared_statements_raise_what_sqlalchemy_raises(db, stored) -> None:  # type: ignore[no-untyped-def]
    """Driver errors come wrapped as SQLAlchemy wraps them (the engine maps some to 400s)."""
    with pytest.raises(IntegrityError), db.write() as conn:
        repo.insert_task(conn, stored)  # the same id again


@pytest.fixture
def scratch(db) -> Iterator[str]:  # type: ignore[no-untyped-def]
    """A table of (k, v) rows keyed by k, for ``insert_many``."""
    name = f"scratch_{uuid.uuid4().hex[:8]}"
    with db.write() as conn:
        conn.exec_driver_sql(f"CREATE TABLE {name} (k integer PRIMARY KEY, v text)")
    yield name
    with db.write() as conn:
        conn.exec_driver_sql(f"DROP TABLE {name}")


def _scratch_rows(db, table: str) -> list[tuple[int, str]]:  # type: ignore[no-untyped-def]
    with db.read() as conn:
        return [tuple(row) for row in conn.exec_driver_sql(f"SELECT k, v FROM {table} ORDER BY k")]


def test_insert_many_writes_every_row_past_one_statements_worth(db, scratch: str) -> None:  # type: ignore[no-untyped-def]
    """PostgreSQL takes the rows as multi-row INSERTs of ``PG_ROWS_PER_INSERT``; every row lands."""
    rows = [(k, f"v{k}") for k in range(2 * PG_ROWS_PER_INSERT + 7)]
    with db.write() as conn:
        insert_many(conn, scratch, ("k", "v"), rows)
    assert _scratch_rows(db, scratch) == rows


def test_an_upsert_of_rows_sharing_a_key_lets_the_later_row_win(db, scratch: str) -> None:  # type: ignore[no-untyped-def]
    """Without ``distinct_keys`` the rows go one by one (a multi-row upsert may not update a row
    twice); with them, in one statement."""
    upsert = 'ON CONFLICT ("k") DO UPDATE SET "v" = excluded."v"'
    with db.write() as conn:
        insert_many(conn, scratch, ("k", "v"), [(1, "a"), (2, "b"), (1, "c")], upsert=upsert)
    assert _scratch_rows(db, scratch) == [(1, "c"), (2, "b")]
    with db.write() as conn:
        insert_many(conn, scratch, ("k", "v"), [(2, "d"), (3, "e")], upsert=upsert, distinct_keys=True)
    assert _scratch_rows(db, scratch) == [(1, "c"), (2, "d"), (3, "e")]


@pytest.mark.skipif(DIALECT != "postgresql", reason="PostgreSQL round trips")
def test_a_task_is_written_in_one_round_trip(db, stored, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """A new task's rows in four tables, and a change of its parameters, tags and name, each go
    to PostgreSQL together: one wait for the server, not one per statement or per row."""
    copy = {**stored, "id": ids.new_id(), "name": "copy"}
    changed = {**copy, "name": "renamed", "tags": ["z"], "hyperparams": {
        "Args": {f"p{k}": {"section": "Args", "name": f"p{k}", "value": str(k)} for k in range(20)},
    }}  # fmt: skip
    with db.write() as conn:
        assert pg_round_trips(conn, lambda: repo.insert_task(conn, copy), tmp_path / "insert.trace") == 1
        assert pg_round_trips(conn, lambda: repo.replace_task(conn, copy, changed), tmp_path / "replace.trace") == 1
    with db.read() as conn:
        assert repo.get_task(conn, [stored["company"]], copy["id"]) == changed
