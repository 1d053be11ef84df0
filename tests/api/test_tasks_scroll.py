"""Scroll mode of tasks.get_all / get_all_ex / get_by_id_ex (spec tasks-queries §5.2, §12.6):
triggered by the presence of ``scroll_id``; the state is an offset kept in the database for 600 s
after its last use, so another process continues it; unknown or expired ids restart silently."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pytest
from starlette.testclient import TestClient

from skiff.app import create_app
from skiff.domain import clock
from skiff.storage.engine import Database
from tests.support import Api

ORDER = {"order_by": ["hyperparams.test.param.value"], "only_fields": ["name"]}


@pytest.fixture
def eighteen(api: Api) -> list[str]:
    """18 tasks whose parameter values order them "0" … "17" (numeric order)."""
    names = []
    for i in range(18):
        task = api("tasks.create", {"name": f"scroll{i}", "type": "training"})["id"]
        api("tasks.edit_hyper_params", {"task": task, "hyperparams": [{"section": "test", "name": "param", "value": str(i)}]})
        names.append(f"scroll{i}")
    return names


def scroll(api: Api, endpoint: str = "tasks.get_all", **extra: Any) -> tuple[list[str], str | None]:
    data = api(endpoint, {**ORDER, **extra})
    return [t["name"] for t in data["tasks"]], data.get("scroll_id")


@pytest.mark.parametrize("endpoint", ["tasks.get_all", "tasks.get_all_ex"])
def test_scroll_to_the_end_and_refresh(api: Api, eighteen: list[str], endpoint: str) -> None:
    first, sid = scroll(api, endpoint, scroll_id=None, size=10)
    assert first == eighteen[:10]
    assert sid is not None and re.fullmatch(r"[0-9a-f]{32}", sid)
    second, sid2 = scroll(api, endpoint, scroll_id=sid, size=10)
    assert second == eighteen[10:] and sid2 == sid
    # end of data: [] again and again, with the same id
    for _ in range(2):
        assert scroll(api, endpoint, scroll_id=sid, size=10) == ([], sid)
    # refresh re-fetches everything handed out so far: max(position, size) from the start
    assert scroll(api, endpoint, scroll_id=sid, size=10, refresh_scroll=True) == (eighteen, sid)


def test_refresh_takes_at_least_size(api: Api, eighteen: list[str]) -> None:
    _, sid = scroll(api, scroll_id="", size=3)
    assert scroll(api, scroll_id=sid, size=5, refresh_scroll=True) == (eighteen[:5], sid)
    # the position is now what refresh returned: the next page continues after it
    assert scroll(api, scroll_id=sid, size=4)[0] == eighteen[5:9]


def test_size_is_not_capped_and_page_keys_are_ignored(api: Api, eighteen: list[str]) -> None:
    names, _ = scroll(api, scroll_id=None, size=1000, page=3, page_size=2, start=7)
    assert names == eighteen


def test_unknown_scroll_id_starts_a_new_scroll(api: Api, eighteen: list[str]) -> None:
    names, sid = scroll(api, scroll_id="0" * 32, size=4)
    assert names == eighteen[:4] and sid != "0" * 32
    names, sid2 = scroll(api, scroll_id=12345, size=4)  # not even a string
    assert names == eighteen[:4] and sid2 not in (sid, None)


def test_expired_scroll_restarts(api: Api, eighteen: list[str], monkeypatch: pytest.MonkeyPatch) -> None:
    _, sid = scroll(api, scroll_id=None, size=4)
    start = clock.now()
    monkeypatch.setattr(clock, "now", lambda: start + timedelta(seconds=599))
    # used within its TTL: continues, and the TTL is renewed from this use
    assert scroll(api, scroll_id=sid, size=4) == (eighteen[4:8], sid)
    monkeypatch.setattr(clock, "now", lambda: start + timedelta(seconds=599 + 599))
    assert scroll(api, scroll_id=sid, size=4) == (eighteen[8:12], sid)
    monkeypatch.setattr(clock, "now", lambda: start + timedelta(seconds=599 + 599 + 601))
    names, new = scroll(api, scroll_id=sid, size=4)
    assert names == eighteen[:4] and new != sid


@pytest.mark.parametrize("size", [None, 0, -1, "x", True, 1.5])
def test_size_must_be_a_positive_integer(api: Api, eighteen: list[str], size: Any) -> None:
    request = {"scroll_id": None} if size is None else {"scroll_id": None, "size": size}
    reply = api.call("tasks.get_all", request)
    assert reply.code == (400, 12)
    assert "Integer size parameter" in reply.msg


def test_size_one_is_accepted(api: Api, eighteen: list[str]) -> None:
    assert scroll(api, scroll_id=None, size=1)[0] == eighteen[:1]


def test_get_by_id_ex_advances_without_returning_the_id(api: Api, eighteen: list[str]) -> None:
    ids = [t["id"] for t in api("tasks.get_all", {"name": "^scroll", "only_fields": ["id"]})["tasks"]]
    _, sid = scroll(api, scroll_id=None, size=5)
    data = api("tasks.get_by_id_ex", {"id": ids, **ORDER, "scroll_id": sid, "size": 5})
    assert "scroll_id" not in data
    assert [t["name"] for t in data["tasks"]] == eighteen[5:10]
    assert scroll(api, scroll_id=sid, size=5)[0] == eighteen[10:15]


def test_page_mode_returns_no_scroll_id(api: Api, eighteen: list[str]) -> None:
    assert "scroll_id" not in api("tasks.get_all", {"page_size": 5})
    assert "scroll_id" not in api("tasks.get_all_ex", {"page_size": 5})


def test_another_process_continues_the_scroll(api: Api, eighteen: list[str], settings, db: Database) -> None:  # type: ignore[no-untyped-def]
    """The state lives in the database: a second app on its own connection pool goes on from it."""
    _, sid = scroll(api, scroll_id=None, size=6)
    other_db = Database(settings.db_url)
    try:
        with TestClient(create_app(settings, other_db), base_url="http://testserver") as other_client:
            other = Api(other_client, key=api.key, secret=api.secret)
            assert scroll(other, scroll_id=sid, size=6) == (eighteen[6:12], sid)
    finally:
        other_db.dispose()
    assert scroll(api, scroll_id=sid, size=6) == (eighteen[12:], sid)


def test_a_failed_query_leaves_no_scroll_and_does_not_move_one(api: Api, eighteen: list[str]) -> None:
    _, sid = scroll(api, scroll_id=None, size=3)
    assert api.call("tasks.get_all", {"scroll_id": sid, "size": 3, "name": "("}).code == (400, 21)
    assert scroll(api, scroll_id=sid, size=3) == (eighteen[3:6], sid)
