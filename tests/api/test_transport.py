"""Paths, versions, methods and bodies (spec tasks-model §1.1–1.2, clients §1)."""

from __future__ import annotations

import pytest

from tests.support import Api


@pytest.mark.parametrize(
    ("version", "requested"),
    [(None, "2.31"), ("2.5", "2.5"), ("2.13", "2.13"), ("2.31", "2.31"), ("999.0", "999.0"), ("1.5", 1.5)],
)
def test_version_resolution(api: Api, version: str | None, requested: str | float) -> None:
    reply = api.call("users.get_current_user", {}, version=version)
    assert reply.status == 200
    assert reply.meta["endpoint"]["requested_version"] == requested
    assert reply.meta["endpoint"]["actual_version"] == 1.0


def test_version_below_handler_min_is_404(app, api: Api) -> None:  # type: ignore[no-untyped-def]
    # Every endpoint's min_version comes from the registry; ask for one just below the newest min.
    gated = [e for e in app.app.registry.all() if str(e.min_version) != "1.0"]
    for endpoint in gated:
        reply = api.call(endpoint.name, {}, version="1.0")
        assert reply.code == (404, 0), endpoint.name


def test_trailing_slash_and_no_leading_slash(api: Api) -> None:
    assert api.call("debug.ping/", {}, auth=False).status == 200
    reply = api.client.request("POST", "v2.13/debug.ping")
    assert reply.status_code == 200


@pytest.mark.parametrize("method", ["GET", "POST", "PUT"])
def test_any_method_reads_the_body(api: Api, method: str) -> None:
    reply = api.call("auth.create_credentials", {"label": f"via {method}"}, method=method)
    assert reply.status == 200
    assert reply.data["credentials"]["label"] == f"via {method}"


def test_options_is_empty_200(api: Api) -> None:
    response = api.client.request("OPTIONS", "/tasks.get_all")
    assert response.status_code == 200
    assert response.content == b""


def test_content_encoding_is_raw_415(api: Api) -> None:
    response = api.client.request("POST", "/debug.ping", content=b"x", headers={"Content-Encoding": "gzip"})
    assert response.status_code == 415


def test_unknown_keys_and_nulls_are_ignored(api: Api) -> None:
    reply = api.call("auth.create_credentials", {"label": None, "method": "get", "whatever": {"x": 1}})
    assert reply.status == 200
    assert reply.data["credentials"]["label"] is None


def test_null_for_required_field_is_missing(api: Api) -> None:
    reply = api.call("auth.revoke_credentials", {"access_key": None})
    assert reply.code == (400, 12)
    assert reply.msg == "Validation error (error for field 'access_key'. field is required!)"


def test_query_string_merges_into_body(api: Api) -> None:
    reply = api.call("auth.create_credentials", {}, params={"label": "from-query"})
    assert reply.data["credentials"]["label"] == "from-query"
    # a GET with no body, only a query string
    reply = api.call("auth.create_credentials", None, method="GET", params={"label": "q"})
    assert reply.data["credentials"]["label"] == "q"


def test_form_body(api: Api) -> None:
    reply = api.call(
        "auth.create_credentials",
        content=b"label=form+label",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert reply.data["credentials"]["label"] == "form label"


def test_json_lines_body_is_a_batch(api: Api) -> None:
    reply = api.call(
        "auth.create_credentials",
        content=b'{"label": "a"}\n{"label": "b"}\n',
        headers={"Content-Type": "application/json-lines"},
    )
    # create_credentials takes one object, not a batch
    assert reply.code == (400, 12)
    assert "batch" in reply.msg
    reply = api.call(
        "auth.create_credentials",
        content=b'{"label": "a"}\n[1]\n',
        headers={"Content-Type": "application/json-lines"},
    )
    assert reply.code == (400, 0)
    assert reply.msg == "Line 2 of the batch is not a JSON object"


def test_json_lines_reaches_batch_endpoints(settings, db) -> None:  # type: ignore[no-untyped-def]
    from starlette.testclient import TestClient

    from skiff.api.asgi import SkiffAPI
    from skiff.api.context import AppContext
    from skiff.api.registry import EndpointSet, Registry
    from skiff.schemas.auth import CreateCredentialsRequest
    from skiff.schemas.base import ResponseModel

    class Count(ResponseModel):
        count: int
        labels: list[str | None]

    batch = EndpointSet("debug")

    @batch.add("count", request=CreateCredentialsRequest, response=Count, authorize=False, batch=True)
    def count(call, items):  # type: ignore[no-untyped-def]
        return {"count": len(items), "labels": [i.label for i in items]}

    with TestClient(SkiffAPI(AppContext(settings, db, Registry(batch.items)))) as client:
        reply = Api(client).call(
            "debug.count",
            content=b'{"label": "a", "method": "get"}\n\n{"label": "b"}\n',
            headers={"Content-Type": "application/json-lines"},
            auth=False,
        )
        assert reply.data == {"count": 2, "labels": ["a", "b"]}
        # a plain JSON list is also a batch
        reply = Api(client).call("debug.count", [{"label": "x"}], auth=False)
        assert reply.data == {"count": 1, "labels": ["x"]}


def test_body_too_large_is_413(settings, db) -> None:  # type: ignore[no-untyped-def]
    from starlette.testclient import TestClient

    from skiff.app import create_app

    small = create_app(settings.with_(max_body_bytes=1000), db)
    with TestClient(small) as client:
        reply = Api(client).call("debug.ping", content=b'{"x": "' + b"a" * 2000 + b'"}', auth=False)
    assert reply.code == (413, 0)
    assert reply.data == {}
