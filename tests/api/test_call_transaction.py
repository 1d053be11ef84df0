"""Endpoints that declare their transaction (``Endpoint.transaction``): the credential is checked
inside the use case's own transaction, with the same answers as a separate check."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta

import pytest
from sqlalchemy import event, select

from skiff.api.registry import EndpointSet
from skiff.api.services import build_registry
from skiff.domain import clock
from skiff.domain.errors import ApiError
from skiff.ops import accounts, auth
from skiff.schemas.base import EmptyRequest, EmptyResponse
from skiff.storage.repos import accounts as accounts_repo
from skiff.storage.tables import companies
from tests.support import Api, basic

DECLARED = sorted(e.name for e in build_registry().all() if e.transaction is not None)


@contextmanager
def counting_transactions(db) -> Iterator[list[int]]:  # type: ignore[no-untyped-def]
    """How many transactions the engine begins inside the block."""
    count = [0]

    def begun(conn) -> None:  # type: ignore[no-untyped-def]
        count[0] += 1

    event.listen(db.engine, "begin", begun)
    try:
        yield count
    finally:
        event.remove(db.engine, "begin", begun)


def hot_calls(api: Api) -> dict[str, dict]:
    task = api("tasks.create", {"name": "hot", "type": "training"})["id"]
    return {
        "tasks.create": {"name": "another", "type": "training", "tags": ["a"]},
        "tasks.get_by_id": {"task": task},
        "tasks.edit_hyper_params": {"task": task, "hyperparams": [{"section": "Args", "name": "lr", "value": "0.1"}]},
    }


def test_the_hot_endpoints_declare_their_transaction() -> None:
    assert {"tasks.create", "tasks.get_by_id", "tasks.edit_hyper_params"} <= set(DECLARED)


@pytest.mark.parametrize("auth_kind", ["bearer", "basic"])
def test_one_transaction_per_call(api: Api, admin, db, auth_kind: str) -> None:  # type: ignore[no-untyped-def]
    header = f"Bearer {api.token()}" if auth_kind == "bearer" else basic(admin.access_key, admin.secret_key)
    api.call("debug.ping", {}, auth=header)  # a Basic pair's first use runs the slow hash check
    for name, body in hot_calls(api).items():
        with counting_transactions(db) as count:
            reply = api.call(name, body, auth=header)
        assert reply.status == 200, reply.body
        assert count[0] == 1, name


@pytest.mark.parametrize("name", DECLARED)
def test_credential_errors_come_before_request_errors(api: Api, admin, name: str) -> None:  # type: ignore[no-untyped-def]
    bad_body = {"task": 5, "name": 7, "type": "nope", "hyperparams": "x"}
    assert api.call(name, bad_body, auth=None).code == (401, 20)
    assert api.call(name, bad_body, auth=basic(admin.access_key, "wrong")).code == (401, 22)
    assert api.call(name, bad_body, auth="Bearer not.a.token").code == (401, 30)
    assert api.call(name, bad_body).code == (400, 12)


def test_a_revoked_credential_stops_at_once_on_declared_endpoints(api: Api, client) -> None:  # type: ignore[no-untyped-def]
    new = api("auth.create_credentials", {"label": "hot"})["credentials"]
    second = Api(client, key=new["access_key"], secret=new["secret_key"])
    calls = hot_calls(api)
    for name, body in calls.items():
        assert second.call(name, body).status == 200
    api("auth.revoke_credentials", {"access_key": new["access_key"]})
    for name, body in calls.items():
        assert second.call(name, body).code == (401, 30)
        assert second.call(name, body, auth=basic(new["access_key"], new["secret_key"])).code == (401, 22)


def test_a_remembered_token_still_expires(api: Api, admin, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    start = clock.now()  # the clock stands still from the login on: a slow machine cannot age the token
    monkeypatch.setattr(clock, "now", lambda: start)
    token = api("auth.login", auth=basic(admin.access_key, admin.secret_key), params={"expiration_sec": 600})["token"]
    body = hot_calls(api)["tasks.get_by_id"]
    assert api.call("tasks.get_by_id", body, auth=f"Bearer {token}").status == 200  # verified and remembered
    monkeypatch.setattr(clock, "now", lambda: start + timedelta(seconds=599))
    assert api.call("tasks.get_by_id", body, auth=f"Bearer {token}").status == 200
    monkeypatch.setattr(clock, "now", lambda: start + timedelta(seconds=601))
    reply = api.call("tasks.get_by_id", body, auth=f"Bearer {token}")
    assert reply.code == (401, 30)
    assert "expired" in reply.msg


def test_a_declared_read_cannot_write(db, admin) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(RuntimeError, match="asked to write"):
        with auth.authenticated(db, auth.BasicCredentials(admin.access_key, admin.secret_key), write=False) as (_, joined):
            with joined.write():
                pass


def test_going_on_after_a_failed_joined_block_commits_nothing(db, admin) -> None:  # type: ignore[no-untyped-def]
    credentials = auth.BasicCredentials(admin.access_key, admin.secret_key)
    with pytest.raises(RuntimeError, match="went on after"):
        with auth.authenticated(db, credentials, write=True) as (identity, joined):
            assert identity.company == admin.company
            try:
                with joined.write() as conn:
                    accounts_repo.insert_company(conn, "joined-test", "never stored", clock.now())
                    raise ApiError(400, 0, "the use case gives up on this block")
            except ApiError:
                pass
    with db.read() as conn:
        assert conn.execute(select(companies.c.id).where(companies.c.id == "joined-test")).first() is None


def test_a_refused_declared_write_leaves_the_task_as_it_was(api: Api) -> None:
    task = api("tasks.create", {"name": "refused", "type": "training"})["id"]
    api("tasks.started", {"task": task})
    before = api("tasks.get_by_id", {"task": task})["task"]
    body = {"task": task, "hyperparams": [{"section": "Args", "name": "lr", "value": "1"}]}
    assert api.call("tasks.edit_hyper_params", body).code == (400, 110)
    assert api("tasks.get_by_id", {"task": task})["task"] == before


def test_only_single_authorized_calls_declare_a_transaction() -> None:
    endpoints = EndpointSet("x")
    for options in ({"authorize": False}, {"batch": True}):
        with pytest.raises(ValueError):
            endpoints.add("y", request=EmptyRequest, response=EmptyResponse, transaction="read", **options)


def test_unknown_credentials_on_a_fresh_company(db, client) -> None:  # type: ignore[no-untyped-def]
    company = accounts.create_company(db, "fresh")
    user = accounts.add_user(db, company, "someone", role="user")
    caller = Api(client, key=user.access_key, secret=user.secret_key)
    assert caller.call("tasks.get_by_id", {"task": "missing"}).code == (400, 101)
    assert caller.call("tasks.get_by_id", {"task": "missing"}, auth=basic("NOPE", "x")).code == (401, 22)
