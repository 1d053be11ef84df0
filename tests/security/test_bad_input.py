"""Bad input answers a clear 4xx ClearML error (or a harmless empty result) and changes nothing:
oversized bodies, deep nesting, invalid UTF-8, huge paging values, catastrophic regular
expressions and field paths that try to escape into SQL."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import func, select
from starlette.testclient import TestClient

from skiff.app import create_app
from skiff.storage.tables import metadata
from tests.support import DIALECT, Api

JSON = {"Content-Type": "application/json"}
LIST_ENDPOINTS = ("tasks.get_all", "tasks.get_all_ex", "projects.get_all", "projects.get_all_ex", "models.get_all",
                  "queues.get_all")  # fmt: skip


def row_counts(db) -> dict[str, int]:  # type: ignore[no-untyped-def]
    with db.read() as conn:
        return {t.name: conn.execute(select(func.count()).select_from(t)).scalar_one() for t in metadata.sorted_tables}


@pytest.fixture
def unchanged(db, api: Api) -> Iterator[None]:  # type: ignore[no-untyped-def]
    """Every table keeps its row count and the company's tasks keep their documents."""
    api("tasks.create", {"name": "witness", "type": "training", "comment": "keep me"})
    before = row_counts(db), api("tasks.get_all", {})["tasks"]
    yield
    assert (row_counts(db), api("tasks.get_all", {})["tasks"]) == before


def assert_4xx(reply: Any, code: tuple[int, int] | None = None) -> None:
    assert 400 <= reply.status < 500, (reply.status, reply.body)
    assert reply.meta["result_code"] == reply.status and reply.data == {}, reply.body
    if code:
        assert reply.code == code, reply.body


# --- bodies -------------------------------------------------------------------------------------------


def test_oversized_bodies_answer_413(settings, db, api: Api, unchanged: None) -> None:  # type: ignore[no-untyped-def]
    small = TestClient(create_app(settings.with_(max_body_bytes=4096), db), base_url="http://testserver")
    limited = Api(small, key=api.key, secret=api.secret)
    body = {"name": "big", "type": "training", "comment": "x" * 8192}
    assert_4xx(limited.call("tasks.create", body), (413, 0))

    def chunks() -> Iterator[bytes]:  # no Content-Length: the limit applies while reading
        yield b'{"name": "big", "type": "training", "comment": "'
        for _ in range(16):
            yield b"x" * 1024
        yield b'"}'

    assert_4xx(limited.call("tasks.create", content=chunks(), headers=JSON), (413, 0))  # type: ignore[arg-type]
    assert limited.call("tasks.create", {"name": "small", "type": "training"}).status == 200
    api("tasks.delete", {"task": api("tasks.get_all", {"name": "^small$"})["tasks"][0]["id"], "force": True})


@pytest.mark.parametrize(
    "raw",
    [b"[" * 100_000, b'{"a":' * 100_000, b'{"name": "n", "type": "training", "runtime": {"x": ' + b"[" * 1000
     + b"1" + b"]" * 1000 + b"}}", b'{"name": "n", "type": "training", "execution": {"x": ' + b"[" * 500
     + b'"\\u0000"' + b"]" * 500 + b"}}"],
    ids=["arrays-100k", "objects-100k", "runtime-1000", "nul-at-500"],
)  # fmt: skip
def test_deeply_nested_json_is_refused(api: Api, unchanged: None, raw: bytes) -> None:
    assert_4xx(api.call("tasks.create", content=raw, headers=JSON))


def test_deep_dotted_query_parameters_are_refused(api: Api, unchanged: None) -> None:
    assert_4xx(api.call("tasks.create", params={"runtime." + "a." * 5000 + "b": "1", "name": "n", "type": "training"}))
    assert_4xx(api.call("tasks.get_all", params={"name." * 3000 + "b": "\x00"}))


@pytest.mark.parametrize(
    ("raw", "content_type"),
    [(b'{"name": "\xff\xfe", "type": "training"}', "application/json"),
     (b'{"name": "ok", "type": "training", "comment": "\xed\xa0\x80"}', "application/json"),
     (b"name=\xff&type=training", "application/x-www-form-urlencoded"),
     (b'{"name": "\xc3"}\n', "application/json-lines")],
)  # fmt: skip
def test_invalid_utf8_is_refused(api: Api, unchanged: None, raw: bytes, content_type: str) -> None:
    assert_4xx(api.call("tasks.create", content=raw, headers={"Content-Type": content_type}), (400, 0))


# --- paging -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("endpoint", LIST_ENDPOINTS)
@pytest.mark.parametrize(
    "raw",
    [b'{"page": 1000000000000000000, "page_size": 500}', b'{"page": 0, "page_size": 9223372036854775807}',
     b'{"page": 0, "page_size": 100000000000000000000000000000}', b'{"start": 10000000000000000000, "size": 10}',
     b'{"start": 0, "size": 100000000000000000000}', b'{"page": 3, "page_size": 1e300}'],
)  # fmt: skip
def test_huge_paging_values_read_an_empty_or_capped_page(api: Api, unchanged: None, endpoint: str, raw: bytes) -> None:
    reply = api.call(endpoint, content=raw, headers=JSON)
    if reply.status != 200:
        assert_4xx(reply, (400, 12))
        return
    found = next(v for v in reply.data.values() if isinstance(v, list))
    assert len(found) <= 500


# --- regular expressions ---------------------------------------------------------------------------------

LONG = "a" * 1000 + "!"  # names are at most 1024 characters on PostgreSQL
#: each takes exponential time in a backtracking engine against LONG (Python re: hours past ~30 a's)
CATASTROPHIC = ["(a+)+$", "^(a|aa)*$", "((a+)+)+$", "^(a|a?)+$", "^(a*)*b", "(.*a){20}$"]


@pytest.fixture
def long_names(api: Api) -> dict[str, str]:
    project = api("projects.create", {"name": f"p-{LONG[:20]}", "description": LONG})["id"]
    return {
        "task": api("tasks.create", {"name": LONG, "type": "training", "comment": LONG, "project": project})["id"],
        "model": api("models.create", {"name": LONG, "uri": "file:///m", "comment": LONG})["id"],
        "queue": api("queues.create", {"name": LONG[-256:]})["id"],  # queue names: 256 at most
    }


@pytest.mark.parametrize("pattern", CATASTROPHIC)
def test_catastrophic_patterns_run_in_linear_time(api: Api, long_names: dict[str, str], pattern: str) -> None:
    # a backtracking engine would never return here; both dialects answer at once
    queries = [
        ("tasks.get_all", {"name": pattern}, "tasks"),
        ("tasks.get_all", {"comment": pattern}, "tasks"),
        ("tasks.get_all_ex", {"_any_": {"pattern": pattern, "fields": ["name", "comment"]}}, "tasks"),
        ("tasks.get_all", {"_all_": {"pattern": pattern, "fields": ["name", "comment"]}}, "tasks"),
        ("models.get_all", {"name": pattern}, "models"),
        ("queues.get_all", {"name": pattern}, "queues"),
        ("projects.get_all", {"description": pattern}, "projects"),
    ]
    for endpoint, body, key in queries:
        assert api(endpoint, {**body, "only_fields": ["id"]})[key] == [], (endpoint, body)
    # the same shapes that can match do match (the names end with "!")
    assert [t["id"] for t in api("tasks.get_all", {"name": "(a+)+!$", "only_fields": ["id"]})["tasks"]] == [
        long_names["task"]
    ]
    assert [q["id"] for q in api("queues.get_all", {"name": "^(a|aa)*!$"})["queues"]] == [long_names["queue"]]


@pytest.mark.parametrize("pattern", ["(a)\\1", "(?=a)a", "(?<!b)a", "a\\Z", "(a{1,200}){1,200}", "(?P=x)"])
@pytest.mark.parametrize(
    ("endpoint", "field"),
    [("tasks.get_all", "name"), ("tasks.get_all", "_any_"), ("models.get_all", "name"), ("queues.get_all", "name"),
     ("projects.get_all", "name")],
)  # fmt: skip
def test_patterns_without_a_linear_time_match_are_refused(
    api: Api, unchanged: None, endpoint: str, field: str, pattern: str
) -> None:
    body = {"_any_": {"pattern": pattern, "fields": ["name"]}} if field == "_any_" else {field: pattern}
    assert_4xx(api.call(endpoint, body), (400, 21))


# --- field paths that try to escape into SQL ----------------------------------------------------------------

TRICKY_PATHS = [
    "name'; DROP TABLE tasks; --", 'name" --', "name) OR 1=1 --", "hyperparams.a'.b", "hyperparams.a.b' OR '1'='1",
    "execution.$.x", "last_metrics.*", "$[0]", "$.name", "a..b", ".", "script.'",
    'configuration.a"b.value', 'runtime.a"b', 'runtime.a,b}',
    "models.input.model[0]", "execution.parameters.a'b", "runtime.x'); DELETE FROM tasks; --", "name;", "id\\",
    "hyperparams.*", "last_metrics.a.b.c.d", "container.\u0000",
]  # fmt: skip


def test_overlong_task_names_are_refused(api: Api, unchanged: None) -> None:
    assert api.call("tasks.create", {"name": "n" * 1025, "type": "training"}).code == (400, 800)
    task = api("tasks.create", {"name": "n" * 1024, "type": "training"})["id"]
    try:
        assert api.call("tasks.edit", {"task": task, "name": "n" * 1025}).code == (400, 800)
    finally:
        api("tasks.delete", {"task": task, "force": True})


def test_values_too_long_for_a_column_are_refused_not_500(api: Api, unchanged: None) -> None:
    """PostgreSQL refuses strings over a column's size (tags, parameter names …): 400/12, not 500.
    SQLite stores them."""
    for endpoint, body in (
        ("tasks.create", {"name": "long tag", "type": "training", "tags": ["t" * 5000]}),
        ("projects.create", {"name": "p" * 5000}),
    ):
        reply = api.call(endpoint, body)
        if reply.status == 200:
            assert DIALECT == "sqlite", reply.body
            service = endpoint.split(".")[0]
            api(f"{service}.delete", {service[:-1]: reply.data["id"], "force": True})
        else:
            assert reply.status == 400 and reply.code[1] in (12, 407), reply.body  # 407: bad project name


@pytest.mark.parametrize("path", TRICKY_PATHS)
def test_field_paths_never_reach_sql(api: Api, unchanged: None, path: str) -> None:
    bodies = [
        ("tasks.get_all", {"only_fields": [path]}), ("tasks.get_all", {"order_by": [path]}),
        ("tasks.get_all", {"order_by": ["-" + path]}), ("tasks.get_all", {"filters": {path: {"include": ["x"]}}}),
        ("tasks.get_all", {path: ["x"]}), ("tasks.get_all", {"_any_": {"pattern": "x", "fields": [path]}}),
        ("tasks.get_all_ex", {"only_fields": [path], "order_by": [path]}),
        ("models.get_all", {"only_fields": [path], "order_by": [path]}),
        ("projects.get_all", {"only_fields": [path], "order_by": [path]}),
        ("queues.get_all", {"only_fields": [path], "order_by": [path]}),
    ]  # fmt: skip
    own = {service: {item["id"] for item in api(f"{service}.get_all", {"only_fields": ["id"]})[service]}
           for service in ("tasks", "models", "projects", "queues")}  # fmt: skip
    for endpoint, body in bodies:
        reply = api.call(endpoint, body)
        if reply.status != 200:
            assert_4xx(reply)
            continue
        service = endpoint.split(".")[0]
        # a harmless result: some of the company's own rows (an unknown path projects to nothing)
        assert {item.get("id") for item in reply.data[service]} <= own[service] | {None}, (endpoint, body)
