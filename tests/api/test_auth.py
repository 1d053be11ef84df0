"""Authentication and credentials: logins, tokens, revocation, roles (issue: foundation §5)."""

from __future__ import annotations

import base64
import json


import jwt
import pytest

from skiff import API_VERSION
from skiff.domain.identity import Identity
from skiff.domain.tokens import issue_token
from skiff.ops import accounts
from skiff.settings import DEFAULT_TOKEN_LIFETIME
from tests.support import Api, basic


def claims(token: str) -> dict:
    return jwt.decode(token, options={"verify_signature": False})


def test_login_returns_a_jwt_with_the_claims_clients_read(api: Api, admin) -> None:  # type: ignore[no-untyped-def]
    reply = api.call("auth.login", method="GET", auth=basic(admin.access_key, admin.secret_key))
    assert reply.status == 200
    token = reply.data["token"]
    c = claims(token)
    assert c["api_version"] == API_VERSION
    assert c["feature_set"] == "basic"
    assert isinstance(c["server_version"], str)
    assert c["identity"]["user"] == admin.user
    assert c["identity"]["company"] == admin.company
    assert c["identity"]["role"] == "admin"
    assert c["exp"] - c["iat"] == DEFAULT_TOKEN_LIFETIME  # 30 days: clients refresh under 6 minutes


def test_token_authorizes_calls(api: Api, admin) -> None:  # type: ignore[no-untyped-def]
    me = api("users.get_current_user", {})["user"]
    assert me["id"] == admin.user
    assert me["name"] == "admin"
    assert me["role"] == "admin"
    assert me["company"]["id"] == admin.company


def test_login_expiration_sec(api: Api, admin) -> None:  # type: ignore[no-untyped-def]
    token = api("auth.login", auth=basic(admin.access_key, admin.secret_key), params={"expiration_sec": 600})["token"]
    c = claims(token)
    assert c["exp"] - c["iat"] == 600


def test_login_with_a_token_gives_a_fresh_token(api: Api) -> None:
    token = api("auth.login", auth=f"Bearer {api.token()}")["token"]
    assert api.call("users.get_current_user", {}, auth=f"Bearer {token}").status == 200


@pytest.mark.parametrize(
    ("header", "subcode"),
    [
        (None, 20),
        ("", 20),
        ("Digest abc", 10),
        ("Basic !!!not-base64", 21),
        ("Basic " + base64.b64encode(b"no-colon").decode(), 21),
        ("Basic " + base64.b64encode(b"UNKNOWNKEY:secret").decode(), 22),
        ("Bearer not.a.jwt", 30),
        ("Bearer ", 30),
    ],
)
def test_bad_credentials(api: Api, header: str | None, subcode: int) -> None:
    reply = api.call("users.get_current_user", {}, auth=header)
    assert reply.code == (401, subcode)
    assert reply.data == {}


def test_wrong_secret(api: Api, admin) -> None:  # type: ignore[no-untyped-def]
    reply = api.call("auth.login", auth=basic(admin.access_key, admin.secret_key + "x"))
    assert reply.code == (401, 22)
    assert reply.msg == "Unauthorized (invalid credentials)"


def test_expired_token(app, api: Api, admin) -> None:  # type: ignore[no-untyped-def]
    identity = Identity(admin.company, "c", admin.user, "admin", "admin", admin.access_key)
    from datetime import datetime, timedelta

    past = datetime.utcnow() - timedelta(days=2)
    token = issue_token(identity, app.app.signing_key, past, 3600)
    reply = api.call("users.get_current_user", {}, auth=f"Bearer {token}")
    assert reply.code == (401, 30)
    assert "expired" in reply.msg


def test_tampered_token(api: Api) -> None:
    token = api.token()
    header, payload, signature = token.split(".")
    body = claims(token)
    body["identity"]["role"] = "admin"
    body["identity"]["user"] = "someone-else"
    forged_payload = base64.urlsafe_b64encode(json.dumps(body).encode()).rstrip(b"=").decode()
    reply = api.call("users.get_current_user", {}, auth=f"Bearer {header}.{forged_payload}.{signature}")
    assert reply.code == (401, 30)
    # and a token signed with another key
    other = jwt.encode(body, "not-the-key-but-long-enough-for-hs256-0123456789", algorithm="HS256")
    assert api.call("users.get_current_user", {}, auth=f"Bearer {other}").code == (401, 30)


def test_revoked_credential_stops_its_tokens_at_once(api: Api, client) -> None:  # type: ignore[no-untyped-def]
    new = api("auth.create_credentials", {"label": "ci"})["credentials"]
    second = Api(client, key=new["access_key"], secret=new["secret_key"])
    assert second.call("users.get_current_user", {}).status == 200
    assert api("auth.revoke_credentials", {"access_key": new["access_key"]}) == {"revoked": 1}
    assert second.call("users.get_current_user", {}).code == (401, 30)
    assert second.call("auth.login", auth=basic(new["access_key"], new["secret_key"])).code == (401, 22)
    # revoking again finds nothing
    assert api("auth.revoke_credentials", {"access_key": new["access_key"]}) == {"revoked": 0}


def test_get_credentials_never_shows_secrets(api: Api) -> None:
    api("auth.create_credentials", {"label": "second"})
    listed = api("auth.get_credentials", {})["credentials"]
    assert [c["label"] for c in listed][-1] == "second"
    assert all(set(c) == {"access_key", "label", "last_used", "last_used_from"} for c in listed)
    assert any(c["last_used"] is not None for c in listed)  # the one api logged in with


def test_users_cannot_revoke_others_credentials(api: Api, user_api: Api, admin) -> None:  # type: ignore[no-untyped-def]
    assert user_api("auth.revoke_credentials", {"access_key": admin.access_key}) == {"revoked": 0}
    assert api.call("users.get_current_user", {}).status == 200


def test_admin_can_revoke_a_users_credentials(api: Api, user_api: Api) -> None:
    assert user_api.call("users.get_current_user", {}).status == 200
    assert api("auth.revoke_credentials", {"access_key": user_api.key}) == {"revoked": 1}
    assert user_api.call("users.get_current_user", {}).code == (401, 30)


def test_other_company_cannot_revoke(db, client, admin) -> None:  # type: ignore[no-untyped-def]
    other_company = accounts.create_company(db, "other")
    other = accounts.add_user(db, other_company, "admin", role="admin")
    outsider = Api(client, key=other.access_key, secret=other.secret_key)
    assert outsider("auth.revoke_credentials", {"access_key": admin.access_key}) == {"revoked": 0}


def test_edit_user_role(api: Api, user_api: Api) -> None:
    someone = user_api("users.get_current_user", {})["user"]
    assert someone["role"] == "user"
    assert api("auth.edit_user", {"user": someone["id"], "role": "admin"}) == {"updated": 1, "fields": {"role": "admin"}}
    # the role change applies to the next call with the existing token
    assert user_api("users.get_current_user", {})["user"]["role"] == "admin"
    assert api.call("auth.edit_user", {"user": someone["id"], "role": "root"}).code == (400, 12)
    assert api.call("auth.edit_user", {"user": "nope", "role": "user"}).code == (400, 301)


def test_user_cannot_raise_own_role(user_api: Api) -> None:
    me = user_api("users.get_current_user", {})["user"]["id"]
    reply = user_api.call("auth.edit_user", {"user": me, "role": "admin"})
    assert reply.code == (403, 20)
    assert user_api("users.get_current_user", {})["user"]["role"] == "user"


def test_unauthenticated_endpoints(api: Api) -> None:
    info = api("server.info", {}, auth=None)
    assert info["api_version"] == API_VERSION
    assert info["uid"]
    assert api("debug.ping", {}, auth=None)["msg"] == "ClearML server"


def test_secrets_are_stored_hashed(db, admin) -> None:  # type: ignore[no-untyped-def]
    from sqlalchemy import select

    from skiff.storage.tables import credentials

    with db.read() as conn:
        stored = conn.execute(
            select(credentials.c.secret_hash).where(credentials.c.access_key == admin.access_key)
        ).scalar_one()
    assert admin.secret_key not in stored
    assert stored.startswith("scrypt$")


def test_repeated_basic_logins_are_cheap_after_the_first(api: Api, admin) -> None:  # type: ignore[no-untyped-def]
    # Not a timing assertion: checks the verified-secret cache is consulted (no second scrypt).
    from skiff.ops import auth as auth_ops

    calls = []
    original = auth_ops.verify_secret

    def counting(secret: str, stored: str) -> bool:
        calls.append(1)
        return original(secret, stored)

    auth_ops.verify_secret = counting  # type: ignore[assignment]
    try:
        for _ in range(3):
            api("auth.login", auth=basic(admin.access_key, admin.secret_key))
        api.call("auth.login", auth=basic(admin.access_key, "wrong"))
        api.call("auth.login", auth=basic(admin.access_key, "wrong"))
    finally:
        auth_ops.verify_secret = original  # type: ignore[assignment]
    assert len(calls) == 3  # the first good login and the two wrong attempts

