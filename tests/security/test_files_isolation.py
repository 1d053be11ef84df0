"""``/files/``: each company reads, writes and deletes only its own area of the files root.

The same URL names different files for different companies (the SDK's URIs carry no company), and
no path — ``..``, encoded slashes, absolute paths, symlinks — reaches another company's files.
"""

from __future__ import annotations

import uuid

import pytest

from skiff.ops import accounts
from skiff.settings import Settings
from tests.support import Api


def bearer(api: Api) -> dict[str, str]:
    return {"Authorization": f"Bearer {api.token()}"}


def upload(api: Api, name: str, data: bytes) -> int:
    files = [(name, (name, data, "application/octet-stream"))]
    return api.client.post("/files", files=files, headers=bearer(api)).status_code


@pytest.fixture
def other(client, db) -> tuple[str, Api]:  # type: ignore[no-untyped-def]
    """A second company and a plain user in it."""
    company = accounts.create_company(db, "other company")
    user = accounts.add_user(db, company, "outsider", role="user")
    return company, Api(client, key=user.access_key, secret=user.secret_key)


def test_a_company_never_reaches_another_companys_files(
    api: Api, company: str, other: tuple[str, Api], settings: Settings
) -> None:
    other_company, outsider = other
    path = f"proj-{uuid.uuid4().hex[:8]}/task.abc/artifacts/data/data.bin"
    assert upload(api, "/" + path, b"mine") == 200
    mine = settings.files_root / company / path
    assert mine.read_bytes() == b"mine"

    url = f"/files/{path}"
    for method in ("GET", "HEAD", "DELETE"):
        assert outsider.client.request(method, url, headers=bearer(outsider)).status_code == 404, method
    # the same name uploaded by the other company is its own file
    assert upload(outsider, "/" + path, b"theirs") == 200
    assert (settings.files_root / other_company / path).read_bytes() == b"theirs"
    assert api.client.get(url, headers=bearer(api)).content == b"mine"
    assert outsider.client.get(url, headers=bearer(outsider)).content == b"theirs"
    assert outsider.client.delete(url, headers=bearer(outsider)).status_code == 200
    assert mine.read_bytes() == b"mine"

    # naming the other company's area explicitly stays inside one's own area
    assert outsider.client.get(f"/files/{company}/{path}", headers=bearer(outsider)).status_code == 404
    for sneaky in (f"/files/..%2F{company}/{path}", f"/files/%2E%2E/{company}/{path}", f"/files//{company}/{path}",
                   f"/files/a%2F..%2F..%2F{company}%2F{path}"):  # fmt: skip
        assert outsider.client.get(sneaky, headers=bearer(outsider)).status_code == 400, sneaky
    assert upload(outsider, f"/../{company}/{path}", b"overwrite") == 400
    assert mine.read_bytes() == b"mine"


def test_symlinks_into_another_companys_area_are_refused(
    api: Api, company: str, other: tuple[str, Api], settings: Settings
) -> None:
    other_company, outsider = other
    assert upload(api, "/secret/s.bin", b"secret") == 200
    theirs = settings.files_root / other_company
    theirs.mkdir(parents=True, exist_ok=True)
    (theirs / "peek").symlink_to(settings.files_root / company / "secret", target_is_directory=True)
    (theirs / "up").symlink_to(settings.files_root, target_is_directory=True)
    for path in ("peek/s.bin", f"up/{company}/secret/s.bin"):
        assert outsider.client.get(f"/files/{path}", headers=bearer(outsider)).status_code == 400, path
        assert outsider.client.delete(f"/files/{path}", headers=bearer(outsider)).status_code == 400, path
    assert upload(outsider, "/peek/s.bin", b"overwrite") == 400
    assert (settings.files_root / company / "secret" / "s.bin").read_bytes() == b"secret"


def test_a_revoked_credential_loses_files_access_at_once(api: Api, client) -> None:  # type: ignore[no-untyped-def]
    new = api("auth.create_credentials", {"label": "files"})["credentials"]
    second = Api(client, key=new["access_key"], secret=new["secret_key"])
    assert upload(second, "/revoke/x.bin", b"x") == 200
    assert second.client.get("/files/revoke/x.bin", headers=bearer(second)).status_code == 200
    assert api("auth.revoke_credentials", {"access_key": new["access_key"]}) == {"revoked": 1}
    for headers in (bearer(second), {}, {"Authorization": "Bearer " + "x" * 40}):
        assert second.client.get("/files/revoke/x.bin", headers=headers).status_code == 401, headers
    assert api.client.get("/files/revoke/x.bin", headers=bearer(api)).content == b"x"
