"""``/files/``: the SDK's files-server protocol on the API port (upload, download, delete, auth, paths).

Requests are shaped like clearml 2.1.12's ``_HttpDriver``: ``POST /files`` with one multipart part
named by the target path (leading slash), ``GET``/``HEAD``/``DELETE /files/<path>``, and
``Authorization: Bearer <token>``.
"""

from __future__ import annotations

import asyncio
import io
import os
import uuid
from pathlib import Path
from typing import Any

import pytest

from skiff.domain.files import UnsafePath, relative_parts
from skiff.settings import Settings
from tests.support import Api, basic


@pytest.fixture
def prefix() -> str:
    return f"proj-{uuid.uuid4().hex[:8]}"


@pytest.fixture
def area(settings: Settings, company: str) -> Path:
    """Where the files of the callers' company live (one area per company under the root)."""
    return settings.files_root / company


def bearer(api: Api) -> dict[str, str]:
    return {"Authorization": f"Bearer {api.token()}"}


def upload(api: Api, parts: dict[str, bytes], url: str = "/files", headers: dict[str, str] | None = None) -> Any:
    files = [(name, (name, data, "application/octet-stream")) for name, data in parts.items()]
    return api.client.post(url, files=files, headers=bearer(api) if headers is None else headers)


def raw_request(app: Any, method: str, path: str, headers: dict[str, str]) -> tuple[int, bytes]:
    """Call the ASGI app with an unnormalised path (HTTP clients resolve ``..`` before sending)."""
    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": method,
        "scheme": "http", "path": path, "raw_path": path.encode("latin-1"), "root_path": "",
        "query_string": b"", "server": ("testserver", 80), "client": ("127.0.0.1", 1),
        "headers": [(k.lower().encode(), v.encode()) for k, v in headers.items()],
    }  # fmt: skip
    out: dict[str, Any] = {"body": b""}

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            out["status"] = message["status"]
        else:
            out["body"] += message.get("body", b"")

    asyncio.run(app(scope, receive, send))
    return out["status"], out["body"]


# --- round trip ---------------------------------------------------------------------------------------


def test_upload_download_delete_round_trip(api: Api, settings: Settings, area: Path, prefix: str) -> None:
    name = f"/{prefix}/my task.abc123/artifacts/data/data.json"
    response = upload(api, {name: b'{"a": 1}'})
    assert response.status_code == 200, response.text
    assert response.json() == [name[1:]]
    stored = area / prefix / "my task.abc123" / "artifacts" / "data" / "data.json"
    assert stored.read_bytes() == b'{"a": 1}'

    # the SDK percent-quotes the path it downloads from
    url = f"/files/{prefix}/my%20task.abc123/artifacts/data/data.json"
    got = api.client.get(url, headers=bearer(api))
    assert got.status_code == 200 and got.content == b'{"a": 1}'
    assert got.headers["content-type"].startswith("application/json")
    head = api.client.head(url, headers=bearer(api))
    assert head.status_code == 200 and head.content == b""

    deleted = api.client.delete(url, headers=bearer(api))
    assert deleted.status_code == 200 and deleted.json() == {"deleted": name[1:]}
    assert not stored.exists()
    assert api.client.get(url, headers=bearer(api)).status_code == 404
    assert api.client.head(url, headers=bearer(api)).status_code == 404
    assert api.client.delete(url, headers=bearer(api)).status_code == 404


def test_names_as_the_sdk_encodes_them(api: Api, settings: Settings, area: Path, prefix: str) -> None:
    from urllib.parse import quote

    from clearml.utilities.requests_toolbelt import MultipartEncoder

    name = f'/{prefix}/проект "q" 100%/a+b.bin'
    encoder = MultipartEncoder(fields={name: (name, io.BytesIO(b"payload"), "application/octet-stream")})
    headers = {**bearer(api), "Content-Type": encoder.content_type}
    response = api.client.post("/files", content=encoder.to_string(), headers=headers)
    assert response.status_code == 200, response.text
    assert (area / prefix / 'проект "q" 100%' / "a+b.bin").read_bytes() == b"payload"
    # the URI the SDK registers (and downloads from) is the percent-quoted path
    got = api.client.get("/files" + quote(name), headers=bearer(api))
    assert got.status_code == 200 and got.content == b"payload"


def test_several_parts_and_an_upload_directory(api: Api, settings: Settings, area: Path, prefix: str) -> None:
    response = upload(api, {"/a.bin": b"A", "b/c.bin": b"C"}, url=f"/files/{prefix}/sub/")
    assert response.status_code == 200, response.text
    assert response.json() == [f"{prefix}/sub/a.bin", f"{prefix}/sub/b/c.bin"]
    assert (area / prefix / "sub" / "b" / "c.bin").read_bytes() == b"C"
    assert api.client.get(f"/files/{prefix}/sub/a.bin", headers=bearer(api)).content == b"A"


def test_a_large_upload_round_trips(api: Api, prefix: str) -> None:
    data = os.urandom(3 * 1024 * 1024 + 17)  # past Starlette's in-memory spool size
    assert upload(api, {f"/{prefix}/big.bin": data}).status_code == 200
    assert api.client.get(f"/files/{prefix}/big.bin", headers=bearer(api)).content == data


def test_overwrite_replaces_the_file_and_leaves_no_temporary_files(api: Api, settings: Settings, area: Path, prefix: str) -> None:
    assert upload(api, {f"/{prefix}/m.bin": b"old contents"}).status_code == 200
    assert upload(api, {f"/{prefix}/m.bin": b"new"}).status_code == 200
    assert api.client.get(f"/files/{prefix}/m.bin", headers=bearer(api)).content == b"new"
    assert sorted(p.name for p in (area / prefix).iterdir()) == ["m.bin"]


def test_missing_files_and_directories_answer_404(api: Api, prefix: str) -> None:
    assert upload(api, {f"/{prefix}/d/x.bin": b"x"}).status_code == 200
    for path in (f"{prefix}/nothing.bin", f"{prefix}/d", prefix):
        response = api.client.get(f"/files/{path}", headers=bearer(api))
        assert response.status_code == 404, path
        assert "error" in response.json()
    assert api.client.delete(f"/files/{prefix}/d", headers=bearer(api)).status_code == 404


def test_conflicts_answer_409(api: Api, prefix: str) -> None:
    assert upload(api, {f"/{prefix}/d/x.bin": b"x"}).status_code == 200
    assert upload(api, {f"/{prefix}/d": b"a file where a directory is"}).status_code == 409
    assert upload(api, {f"/{prefix}/d/x.bin/y": b"under a file"}).status_code == 409


def test_malformed_uploads_answer_400(api: Api) -> None:
    response = api.client.post("/files", content=b"{}", headers={**bearer(api), "Content-Type": "application/json"})
    assert response.status_code == 400
    empty = api.client.post(
        "/files", content=b"--x--\r\n", headers={**bearer(api), "Content-Type": "multipart/form-data; boundary=x"}
    )
    assert empty.status_code == 400
    assert api.client.put("/files/a", content=b"x", headers=bearer(api)).status_code == 405


# --- authentication -----------------------------------------------------------------------------------


def test_unauthenticated_requests_answer_401(api: Api, prefix: str) -> None:
    assert upload(api, {f"/{prefix}/ok.bin": b"x"}).status_code == 200
    url = f"/files/{prefix}/ok.bin"
    for headers in ({}, {"Authorization": "Bearer not-a-token"}, {"Authorization": basic(api.key or "", "wrong")},
                    {"Authorization": "Token abc"}):  # fmt: skip
        assert api.client.get(url, headers=headers).status_code == 401, headers
        assert api.client.delete(url, headers=headers).status_code == 401, headers
        assert upload(api, {f"/{prefix}/no.bin": b"x"}, headers=headers).status_code == 401, headers
    assert api.client.get(f"/files/{prefix}/no.bin", headers=bearer(api)).status_code == 404


def test_basic_credentials_work_too(api: Api, prefix: str) -> None:
    auth = {"Authorization": basic(api.key or "", api.secret or "")}
    assert upload(api, {f"/{prefix}/b.bin": b"basic"}, headers=auth).status_code == 200
    assert api.client.get(f"/files/{prefix}/b.bin", headers=auth).content == b"basic"


# --- paths stay under the files root ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "name",
    ["/../escape.bin", "../escape.bin", "/a/../../escape.bin", "//etc/escape.bin", "/a/./b.bin",
     "/a\\..\\escape.bin", "/a\x00b.bin", "/a//b.bin", "/"],
)  # fmt: skip
def test_unsafe_part_names_are_refused(api: Api, settings: Settings, name: str) -> None:
    # written by hand: HTTP clients percent-encode some characters (NUL) in part names
    body = (
        f'--B\r\nContent-Disposition: form-data; name="{name}"; filename="{name}"\r\n'
        "Content-Type: application/octet-stream\r\n\r\nx\r\n--B--\r\n"
    ).encode()
    headers = {**bearer(api), "Content-Type": "multipart/form-data; boundary=B"}
    response = api.client.post("/files", content=body, headers=headers)
    assert response.status_code == 400, (name, response.text)
    assert not (settings.files_root.parent / "escape.bin").exists()


@pytest.mark.parametrize(
    "path",
    ["/files/%2e%2e/skiff.db", "/files/a/%2E%2E/%2e%2e/skiff.db", "/files/a%2F..%2F..%2Fskiff.db",
     "/files//etc/passwd", "/files/a%00b", "/files/a%5C..%5Cb"],
)  # fmt: skip
def test_unsafe_url_paths_are_refused(api: Api, path: str) -> None:
    for method in ("GET", "DELETE"):
        response = api.client.request(method, path, headers=bearer(api))
        assert response.status_code == 400, (method, path, response.text)
    assert upload(api, {"/x.bin": b"x"}, url=path).status_code == 400


def test_literal_dot_dot_in_the_request_path_is_refused(app: Any, api: Api) -> None:
    for path in ("/files/../skiff.db", "/files/a/../../skiff.db", "/files/.."):
        for method in ("GET", "DELETE"):
            status, body = raw_request(app, method, path, bearer(api))
            assert status == 400, (method, path, body)


def test_symlinks_out_of_the_root_are_refused(api: Api, settings: Settings, area: Path, tmp_path: Path, prefix: str) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_bytes(b"secret")
    root = area / prefix
    root.mkdir(parents=True)
    (root / "link").symlink_to(outside, target_is_directory=True)
    (root / "file-link").symlink_to(outside / "secret.txt")

    for path in (f"{prefix}/link/secret.txt", f"{prefix}/file-link"):
        assert api.client.get(f"/files/{path}", headers=bearer(api)).status_code == 400, path
        assert api.client.delete(f"/files/{path}", headers=bearer(api)).status_code == 400, path
    assert upload(api, {f"/{prefix}/link/new.bin": b"x"}).status_code == 400
    assert upload(api, {f"/{prefix}/link/deeper/new.bin": b"x"}).status_code == 400
    assert upload(api, {f"/{prefix}/file-link": b"x"}).status_code == 400
    assert sorted(p.name for p in outside.iterdir()) == ["secret.txt"]
    assert (outside / "secret.txt").read_bytes() == b"secret"

    # a symlink that stays inside the root is followed
    (root / "real").mkdir()
    (root / "real" / "f.bin").write_bytes(b"inside")
    (root / "alias").symlink_to(root / "real", target_is_directory=True)
    assert api.client.get(f"/files/{prefix}/alias/f.bin", headers=bearer(api)).content == b"inside"


def test_files_dir_setting_moves_the_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SKIFF_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("SKIFF_FILES_DIR", raising=False)
    assert Settings.from_env().files_root == tmp_path / "data" / "files"
    monkeypatch.setenv("SKIFF_FILES_DIR", str(tmp_path / "elsewhere"))
    settings = Settings.from_env()
    assert settings.files_root == tmp_path / "elsewhere"
    assert settings.to_env()["SKIFF_FILES_DIR"] == str(tmp_path / "elsewhere")


@pytest.mark.parametrize(
    ("text", "options", "expected"),
    [
        ("a/b.bin", {}, ("a", "b.bin")),
        ("/a/b.bin", {"leading_slash": True}, ("a", "b.bin")),
        ("", {"allow_empty": True}, ()),
        ("a b/%2e%2e", {}, ("a b", "%2e%2e")),  # already decoded: a literal name, not a parent
        ("...", {}, ("...",)),
    ],
)
def test_relative_parts_accepts(text: str, options: dict[str, bool], expected: tuple[str, ...]) -> None:
    assert relative_parts(text, **options) == expected


@pytest.mark.parametrize("text", ["", "/a", "//a", "a/../b", "..", ".", "a//b", "a/", "a\x00", "a\\b"])
def test_relative_parts_refuses(text: str) -> None:
    with pytest.raises(UnsafePath):
        relative_parts(text)
    if text not in ("/a",):
        with pytest.raises(UnsafePath):
            relative_parts(text, leading_slash=True)
