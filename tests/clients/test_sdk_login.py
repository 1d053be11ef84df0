"""The real ``clearml`` SDK (pinned 2.1.12) logs in to a live ``skiff serve`` with the printed settings.

The SDK runs in a subprocess with a private HOME (no ``~/clearml.conf``) and only the five
``CLEARML_*`` variables the server printed, exactly as a user would paste them.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from skiff import API_VERSION
from skiff.ops.install import open_database, upgrade_database
from skiff.settings import Settings
from tests.support import DIALECT, LiveServer, live_server, new_database_url

pytestmark = pytest.mark.slow

SDK_TIMEOUT = 120
MARKER = "SKIFF-SDK-RESULT "

# What the SDK does on start-up: Session() logs in (auth.login with HTTP Basic), reads the
# token's claims, and its service proxies then pick the newest API module the SDK ships.
SDK_SCRIPT = f"""
import json, sys
import clearml
from clearml.backend_api import Session
from clearml.backend_api.session.token_manager import TokenManager

session = Session()
claims = TokenManager.get_decoded_token(session.token)
claimed = Session.api_version
from clearml.backend_api.services import auth
auth.GetCredentialsRequest  # a service proxy attribute: selects the API module to use
response = session.send_request("users", "get_current_user", version=Session.api_version, json={{}})
print({MARKER!r} + json.dumps({{
    "sdk_version": clearml.__version__,
    "claimed_api_version": claimed,
    "api_version": Session.api_version,
    "server_version": Session.server_version,
    "host": session.host,
    "claims": claims,
    "token": session.token,
    "typed_call_url": response.request.url,
    "typed_call_status": response.status_code,
    "typed_call": response.json(),
}}))
"""


def sdk_env(home: Path, settings: dict[str, str]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CLEARML_", "TRAINS_", "SKIFF_"))}
    env.update(settings, HOME=str(home), PYTHONUNBUFFERED="1")
    return env


def printed_settings(server: LiveServer) -> dict[str, str]:
    settings = dict(re.findall(r"^\s*export (CLEARML_[A-Z_]+)=(\S+)\s*$", server.output, re.M))
    assert set(settings) == {
        "CLEARML_API_HOST", "CLEARML_WEB_HOST", "CLEARML_FILES_HOST",
        "CLEARML_API_ACCESS_KEY", "CLEARML_API_SECRET_KEY",
    }, server.output  # fmt: skip
    return settings


def run_sdk(tmp: Path, settings: dict[str, str]) -> subprocess.CompletedProcess:
    home = tmp / "sdk-home"
    home.mkdir(exist_ok=True)
    return subprocess.run(
        [sys.executable, "-c", SDK_SCRIPT],
        env=sdk_env(home, settings),
        cwd=tmp,
        capture_output=True,
        text=True,
        timeout=SDK_TIMEOUT,
        stdin=subprocess.DEVNULL,
    )


@pytest.fixture
def server(tmp_path: Path):  # type: ignore[no-untyped-def]
    data_dir = tmp_path / "data"
    db_url = new_database_url(tmp_path)
    if DIALECT == "postgresql":  # skiff serve never changes a PostgreSQL schema by itself
        settings = Settings(data_dir=data_dir, db_url=db_url)
        database = open_database(settings)
        upgrade_database(database, settings)
        database.dispose()
    home = tmp_path / "server-home"
    home.mkdir()
    env = {"HOME": str(home), "SKIFF_DATA_DIR": str(data_dir)}
    with live_server(data_dir, db_url, env=env) as running:
        yield running


def test_sdk_logs_in_with_the_printed_settings(tmp_path: Path, server: LiveServer) -> None:
    settings = printed_settings(server)
    result = run_sdk(tmp_path, settings)
    assert result.returncode == 0, f"{result.stdout}\n{result.stderr}\n{server.output}"
    line = next((l for l in result.stdout.splitlines() if l.startswith(MARKER)), None)
    assert line, f"{result.stdout}\n{result.stderr}"
    found = json.loads(line[len(MARKER) :])

    assert found["sdk_version"] == "2.1.12"
    assert found["host"] == server.url == settings["CLEARML_API_HOST"]
    claims = found["claims"]
    assert claims["api_version"] == API_VERSION == "2.31"
    assert found["claimed_api_version"] == "2.31"
    # The SDK's newest service module is 2.23: a server claiming 2.31 gets /v2.23/ calls.
    assert found["api_version"] == "2.23"
    assert found["server_version"] == claims["server_version"]
    assert isinstance(claims["exp"], int) and claims["exp"] > claims["iat"]
    assert claims["identity"]["role"] == "admin"

    assert found["typed_call_url"] == f"{server.url}/v2.23/users.get_current_user"
    assert found["typed_call_status"] == 200, found["typed_call"]
    assert found["typed_call"]["meta"]["endpoint"]["requested_version"] == "2.23"
    assert found["typed_call"]["data"]["user"]["id"] == claims["identity"]["user"]

    # The token the SDK holds works against the server from another client too.
    with httpx.Client(timeout=30, trust_env=False) as http:
        response = http.post(
            f"{server.url}/users.get_current_user",
            headers={"Authorization": f"Bearer {found['token']}"},
            json={},
        )
    assert response.status_code == 200, response.text
    assert response.json()["data"]["user"]["id"] == claims["identity"]["user"]


def test_sdk_login_with_a_wrong_secret_fails(tmp_path: Path, server: LiveServer) -> None:
    settings = printed_settings(server)
    settings["CLEARML_API_SECRET_KEY"] += "-wrong"
    result = run_sdk(tmp_path, settings)
    assert result.returncode != 0, result.stdout
    assert MARKER not in result.stdout
    assert "LoginError" in result.stderr, result.stderr
    assert "401" in result.stderr, result.stderr
    assert "invalid credentials" in result.stderr.lower(), result.stderr
