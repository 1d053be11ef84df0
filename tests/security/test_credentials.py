"""Credentials: slow salted hashes compared in constant time, no secret ever shown again, nobody
creates credentials for someone else, revocation is immediate, and no well-known pair exists."""

from __future__ import annotations

import hmac

from skiff.domain import secrets_hash
from skiff.ops import accounts
from tests.support import Api, basic


def test_a_user_cannot_create_credentials_for_someone_else(api: Api, user_api: Api, client) -> None:  # type: ignore[no-untyped-def]
    admin_id = api("users.get_current_user", {})["user"]["id"]
    me = user_api("users.get_current_user", {})["user"]["id"]
    new = user_api("auth.create_credentials", {"user": admin_id, "role": "admin", "label": "sneaky"})["credentials"]
    created = Api(client, key=new["access_key"], secret=new["secret_key"])
    identity = created("users.get_current_user", {})["user"]
    assert (identity["id"], identity["role"]) == (me, "user")  # the caller's own, never the admin's
    mine = {c["access_key"] for c in user_api("auth.get_credentials", {})["credentials"]}
    assert new["access_key"] in mine
    assert all("secret" not in key for c in api("auth.get_credentials", {})["credentials"] for key in c)


def test_secrets_are_scrypt_hashed_salted_and_compared_in_constant_time(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    one, two = secrets_hash.hash_secret("s3cret"), secrets_hash.hash_secret("s3cret")
    assert one.startswith("scrypt$") and one != two and "s3cret" not in one  # salted
    compared = []
    original = hmac.compare_digest

    def spy(a: bytes, b: bytes) -> bool:
        compared.append((a, b))
        return original(a, b)

    monkeypatch.setattr(secrets_hash.hmac, "compare_digest", spy)
    assert secrets_hash.verify_secret("s3cret", one) and not secrets_hash.verify_secret("wrong", one)
    assert len(compared) == 2
    assert not secrets_hash.verify_secret("s3cret", "plain:s3cret")


def test_fresh_installs_share_no_credentials_or_signing_key(settings, tmp_path) -> None:  # type: ignore[no-untyped-def]
    from skiff.ops.install import open_database, prepare, upgrade_database
    from tests.support import DIALECT, new_database_url

    pairs, keys = [], []
    for n in range(2):
        s = settings.with_(data_dir=tmp_path / f"d{n}", db_url=new_database_url(tmp_path))
        if DIALECT == "postgresql":
            database = open_database(s)
            upgrade_database(database, s)
            database.dispose()
        prepared = prepare(s)
        keys.append(accounts.signing_key(prepared.db))
        assert prepared.first_start is not None  # generated, printed once; none preset
        pairs.append((prepared.first_start.credentials.access_key, prepared.first_start.credentials.secret_key))
        prepared.db.dispose()
    assert keys[0] != keys[1] and len(keys[0]) >= 32
    assert pairs[0][0] != pairs[1][0] and pairs[0][1] != pairs[1][1]


def test_revoking_a_credential_refuses_its_basic_auth_at_once(api: Api, client) -> None:  # type: ignore[no-untyped-def]
    new = api("auth.create_credentials", {"label": "temp"})["credentials"]
    auth = basic(new["access_key"], new["secret_key"])
    assert api.call("users.get_current_user", {}, auth=auth).status == 200  # now cached as verified
    api("auth.revoke_credentials", {"access_key": new["access_key"]})
    assert api.call("users.get_current_user", {}, auth=auth).status == 401
