"""The envelope of a success and of every error class, exactly in shape (spec tasks-model §1.5)."""

from __future__ import annotations

import re

from tests.support import Api, basic

META_KEYS = {
    "id", "trx", "endpoint", "result_code", "result_subcode", "result_msg", "error_stack", "error_data",
}  # fmt: skip


def assert_envelope(reply, *, status, subcode, name, requested, actual, msg=None):  # type: ignore[no-untyped-def]
    assert reply.status == status
    assert set(reply.body) == {"meta", "data"}
    meta = reply.meta
    assert set(meta) == META_KEYS
    assert re.fullmatch(r"[0-9a-f]{32}", meta["id"])
    assert meta["endpoint"] == {"name": name, "requested_version": requested, "actual_version": actual}
    assert meta["result_code"] == status
    assert meta["result_subcode"] == subcode
    assert meta["error_data"] == {}
    if status == 200:
        assert meta["result_msg"] == "OK"
        assert meta["error_stack"] == ""
    else:
        assert reply.data == {}
        assert meta["error_stack"] is None
        if msg is not None:
            assert meta["result_msg"] == msg


def test_success_envelope(api: Api) -> None:
    reply = api.call("users.get_current_user", {})
    assert_envelope(reply, status=200, subcode=0, name="users.get_current_user", requested="2.31", actual=1.0)
    assert reply.meta["trx"] == reply.meta["id"]
    assert reply.raw.startswith(b'{"meta":')


def test_trx_header_is_echoed(api: Api) -> None:
    reply = api.call("debug.ping", {}, headers={"X-ClearML-Trx": "my-trx-1"})
    assert reply.meta["trx"] == "my-trx-1"
    reply = api.call("debug.ping", {}, headers={"X-Trains-Trx": "legacy"})
    assert reply.meta["trx"] == "legacy"


def test_unknown_endpoint_404(api: Api) -> None:
    reply = api.call("tasks.no_such_thing", {}, version="2.13")
    assert_envelope(
        reply, status=404, subcode=0, name="tasks.no_such_thing", requested="2.13", actual=None,
        msg="Unable to find endpoint for name tasks.no_such_thing and version 2.13",
    )  # fmt: skip


def test_malformed_path_400(api: Api) -> None:
    reply = api.call("not-an-endpoint", {})
    assert_envelope(
        reply, status=400, subcode=0, name="", requested=1.0, actual=None,
        msg="Invalid request path /not-an-endpoint",
    )  # fmt: skip
    # "v2" alone is not a version: the whole path is malformed
    reply = api.call("debug.ping", {}, version="2")
    assert reply.code == (400, 0)
    assert reply.msg == "Invalid request path /v2/debug.ping"


def test_invalid_version_400_2(api: Api) -> None:
    reply = api.call("debug.ping", {}, version="01.5")
    assert reply.code == (400, 2)
    assert reply.msg.startswith("Request path has invalid version: version=01.5, reason=")
    assert reply.data == {}


def test_invalid_json_400(api: Api) -> None:
    reply = api.call("users.get_current_user", content=b"{not json", headers={"Content-Type": "application/json"})
    assert_envelope(reply, status=400, subcode=0, name="users.get_current_user", requested="2.31", actual=1.0)
    assert reply.msg.startswith("Failed to decode JSON object: ")


def test_non_object_json_400(api: Api) -> None:
    reply = api.call("users.get_current_user", content=b"42")
    assert reply.code == (400, 0)
    assert reply.msg == "Data should be a dict"
    reply = api.call("users.get_current_user", content=b'[{"a": 1}]')
    assert reply.code == (400, 12)


def test_validation_error_names_the_field(api: Api) -> None:
    reply = api.call("auth.revoke_credentials", {})
    assert_envelope(
        reply, status=400, subcode=12, name="auth.revoke_credentials", requested="2.31", actual=1.0,
        msg="Validation error (error for field 'access_key'. field is required!)",
    )  # fmt: skip
    reply = api.call("auth.revoke_credentials", {"access_key": 17})
    assert reply.code == (400, 12)
    assert "error for field 'access_key'" in reply.msg


def test_auth_error_envelope(api: Api) -> None:
    reply = api.call("users.get_current_user", {}, auth=None)
    assert_envelope(
        reply, status=401, subcode=20, name="users.get_current_user", requested="2.31", actual=1.0,
        msg="Unauthorized (missing credentials)",
    )  # fmt: skip


def test_forbidden_envelope(user_api: Api) -> None:
    me = user_api("users.get_current_user", {})["user"]["id"]
    reply = user_api.call("auth.edit_user", {"user": me, "role": "admin"})
    assert_envelope(reply, status=403, subcode=20, name="auth.edit_user", requested="2.31", actual=1.0)
    assert reply.msg.startswith("Forbidden (not allowed for role)")


def test_internal_error_is_500_with_envelope(settings, db) -> None:  # type: ignore[no-untyped-def]
    from starlette.testclient import TestClient

    from skiff.api.asgi import SkiffAPI
    from skiff.api.context import AppContext
    from skiff.api.registry import EndpointSet, Registry
    from skiff.schemas.base import EmptyRequest, EmptyResponse

    broken = EndpointSet("debug")

    @broken.add("explode", request=EmptyRequest, response=EmptyResponse, authorize=False)
    def explode(call, req):  # type: ignore[no-untyped-def]
        raise RuntimeError("secret detail")

    app = SkiffAPI(AppContext(settings, db, Registry(broken.items)))
    with TestClient(app) as client:
        reply = Api(client).call("debug.explode", {}, auth=False)
    assert_envelope(reply, status=500, subcode=0, name="debug.explode", requested="2.31", actual=1.0)
    assert reply.msg == "General server error (RuntimeError)"
    assert "secret detail" not in reply.raw.decode()


def test_datetimes_are_iso_with_offset(api: Api) -> None:
    created = api("users.get_current_user", {})["user"]["created"]
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{6})?\+00:00", created)


def test_basic_auth_accepted_on_any_endpoint(api: Api) -> None:
    reply = api.call("users.get_current_user", {}, auth=basic(api.key, api.secret))  # type: ignore[arg-type]
    assert reply.status == 200
