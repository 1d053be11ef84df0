"""The access log (``skiff.api.access_log``): one line per request on standard output, in
uvicorn's format, written in batches by the event loop, at the latest on shutdown."""

from __future__ import annotations

import io
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from skiff.api import access_log
from skiff.app import create_app
from skiff.ops.install import open_database, prepare, upgrade_database
from skiff.settings import Settings
from tests.support import DIALECT, new_database_url

CLIENT = "testclient:50000"  # Starlette's TestClient as the peer address


@pytest.fixture(scope="module")
def module_settings(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Settings]:
    data_dir = tmp_path_factory.mktemp("access-log")
    settings = Settings(data_dir=data_dir, db_url=new_database_url(data_dir), jobs=False)
    if DIALECT == "postgresql":  # skiff serve does not migrate PostgreSQL itself
        database = open_database(settings)
        upgrade_database(database, settings)
        database.dispose()
    prepare(settings).db.dispose()
    yield settings


def client(settings: Settings) -> TestClient:
    return TestClient(create_app(settings), base_url="http://testserver")


def access_lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.startswith("INFO:     ")]


def test_one_line_per_request_in_uvicorn_format(module_settings: Settings, capsys: pytest.CaptureFixture[str]) -> None:
    with client(module_settings) as http:
        assert http.post("/debug.ping", json={}).status_code == 200
        assert http.post("/v2.13/no.such_endpoint", json={}).status_code == 404
        assert http.post("/users.get_current_user", json={}).status_code == 401
        assert http.get("/debug.ping", params={"a": "1", "b": "x y"}).status_code == 200
        assert http.options("/tasks.get_all").status_code == 200
        assert http.get("/files/somewhere/file.bin").status_code == 401  # the files server's own answer
        assert http.post("/debug.ping", content=b"x", headers={"content-encoding": "gzip"}).status_code == 415
    assert access_lines(capsys.readouterr().out) == [
        f'INFO:     {CLIENT} - "POST /debug.ping HTTP/1.1" 200',
        f'INFO:     {CLIENT} - "POST /v2.13/no.such_endpoint HTTP/1.1" 404',
        f'INFO:     {CLIENT} - "POST /users.get_current_user HTTP/1.1" 401',
        f'INFO:     {CLIENT} - "GET /debug.ping?a=1&b=x+y HTTP/1.1" 200',
        f'INFO:     {CLIENT} - "OPTIONS /tasks.get_all HTTP/1.1" 200',
        f'INFO:     {CLIENT} - "GET /files/somewhere/file.bin HTTP/1.1" 401',
        f'INFO:     {CLIENT} - "POST /debug.ping HTTP/1.1" 415',
    ]


def test_lines_come_out_while_the_server_runs(module_settings: Settings, capsys: pytest.CaptureFixture[str]) -> None:
    with client(module_settings) as http:
        assert http.post("/debug.ping", json={}).status_code == 200
        seen: list[str] = []
        deadline = time.monotonic() + 10
        while not seen and time.monotonic() < deadline:
            time.sleep(access_log.FLUSH_AFTER_SEC / 5)
            seen = access_lines(capsys.readouterr().out)
        assert seen == [f'INFO:     {CLIENT} - "POST /debug.ping HTTP/1.1" 200']


def test_a_full_batch_is_written_at_once(
    module_settings: Settings, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(access_log, "FLUSH_LINES", 3)
    monkeypatch.setattr(access_log, "FLUSH_AFTER_SEC", 3600)
    with client(module_settings) as http:
        for _ in range(2):
            http.post("/debug.ping", json={})
        assert access_lines(capsys.readouterr().out) == []
        http.post("/debug.ping", json={})
        assert len(access_lines(capsys.readouterr().out)) == 3
        http.post("/debug.ping", json={})
    assert len(access_lines(capsys.readouterr().out)) == 1  # the rest on shutdown


def test_turned_off(module_settings: Settings, capsys: pytest.CaptureFixture[str]) -> None:
    with client(module_settings.with_(access_log=False)) as http:
        assert http.post("/debug.ping", json={}).status_code == 200
        assert http.get("/files/x").status_code == 401
    assert access_lines(capsys.readouterr().out) == []


def test_a_closed_stdout_does_not_stop_serving(module_settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    closed = io.StringIO()
    closed.close()
    monkeypatch.setattr(access_log, "FLUSH_LINES", 1)
    monkeypatch.setattr(sys, "stdout", closed)
    with client(module_settings) as http:
        for _ in range(3):
            assert http.post("/debug.ping", json={}).status_code == 200


def test_settings_from_the_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("SKIFF_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("SKIFF_ACCESS_LOG", raising=False)
    assert Settings.from_env().access_log
    monkeypatch.setenv("SKIFF_ACCESS_LOG", "0")
    settings = Settings.from_env()
    assert not settings.access_log
    assert settings.to_env()["SKIFF_ACCESS_LOG"] == "0"
