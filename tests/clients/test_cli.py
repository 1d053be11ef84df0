"""The ``skiff`` command as an operator runs it: real processes, real databases, real HTTP.

Every command runs in a subprocess with ``HOME`` and ``SKIFF_DATA_DIR`` in a temporary directory,
so nothing touches ``~/.skiff``. Databases are of the dialect under test (``tests.support``).
"""

from __future__ import annotations

import json
import os
import re
import sqlite3
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from skiff.api.services import build_registry
from tests.support import DIALECT, basic, free_port, live_server, new_database_url

CLI_TIMEOUT = 120
ENV_LINES = (
    "CLEARML_API_HOST",
    "CLEARML_WEB_HOST",
    "CLEARML_FILES_HOST",
    "CLEARML_API_ACCESS_KEY",
    "CLEARML_API_SECRET_KEY",
)


@dataclass
class Cli:
    """Runs ``python -m skiff`` against one data dir and database, with a private HOME."""

    tmp: Path
    data_dir: Path
    db_url: str | None
    env: dict[str, str]

    def __call__(self, *args: str, db: bool = True, check: bool | None = None) -> subprocess.CompletedProcess:
        command = [sys.executable, "-m", "skiff", *args]
        if db and args and args[0] != "openapi":
            command += ["--data-dir", str(self.data_dir)]
            if self.db_url:
                command += ["--db", self.db_url]
        result = subprocess.run(
            command,
            env=self.env,
            cwd=self.tmp,
            capture_output=True,
            text=True,
            timeout=CLI_TIMEOUT,
            stdin=subprocess.DEVNULL,
        )
        if check is True:
            assert result.returncode == 0, f"{command}: {result.returncode}\n{result.stdout}\n{result.stderr}"
        return result

    def ok(self, *args: str) -> str:
        return self(*args, check=True).stdout

    def server(self, *args: str, env: dict[str, str] | None = None):  # type: ignore[no-untyped-def]
        return live_server(self.data_dir, self.db_url, *args, env={**self.env, **(env or {})}, log_dir=self.tmp)


def private_env(tmp: Path, data_dir: Path) -> dict[str, str]:
    home = tmp / "home"
    home.mkdir(exist_ok=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SKIFF_", "CLEARML_", "TRAINS_"))}
    env.update(HOME=str(home), SKIFF_DATA_DIR=str(data_dir), PYTHONUNBUFFERED="1")
    return env


@pytest.fixture
def cli(tmp_path: Path) -> Cli:
    """A new, empty database of the dialect under test (``skiff serve`` would refuse it on PostgreSQL)."""
    data_dir = tmp_path / "data"
    return Cli(tmp_path, data_dir, new_database_url(tmp_path), private_env(tmp_path, data_dir))


@pytest.fixture
def ready_cli(cli: Cli) -> Cli:
    """Like ``cli``, with the schema at head on PostgreSQL (where the operator upgrades it)."""
    if DIALECT == "postgresql":
        cli.ok("db", "upgrade")
    return cli


@pytest.fixture
def http() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=30, trust_env=False) as client:
        yield client


def login(http: httpx.Client, url: str, key: str, secret: str) -> httpx.Response:
    return http.post(f"{url}/auth.login", headers={"Authorization": basic(key, secret)}, json={})


def token_for(http: httpx.Client, url: str, key: str, secret: str) -> str:
    response = login(http, url, key, secret)
    assert response.status_code == 200, response.text
    return response.json()["data"]["token"]


def current_user(http: httpx.Client, url: str, token: str) -> httpx.Response:
    return http.post(f"{url}/users.get_current_user", headers={"Authorization": f"Bearer {token}"}, json={})


def printed_pair(output: str) -> tuple[str, str]:
    key = re.search(r"^\s*access key: (\S+)\s*$", output, re.M)
    secret = re.search(r"^\s*secret key: (\S+)\s*$", output, re.M)
    assert key and secret, output
    return key.group(1), secret.group(1)


def meta_code(response: httpx.Response) -> tuple[int, int]:
    meta = response.json()["meta"]
    return meta["result_code"], meta["result_subcode"]


# first start ------------------------------------------------------------------------------------
@pytest.mark.slow
def test_first_start_prints_working_credentials(ready_cli: Cli, http: httpx.Client) -> None:
    with ready_cli.server() as server:
        output = server.output
        key, secret = printed_pair(output)
        exports = dict(re.findall(r"^\s*export (CLEARML_[A-Z_]+)=(\S+)\s*$", output, re.M))
        assert list(exports) == list(ENV_LINES), output
        assert exports == {
            "CLEARML_API_HOST": server.url,
            "CLEARML_WEB_HOST": server.url,
            "CLEARML_FILES_HOST": f"{server.url}/files",
            "CLEARML_API_ACCESS_KEY": key,
            "CLEARML_API_SECRET_KEY": secret,
        }
        assert server.credentials() == (key, secret)

        token = token_for(http, server.url, key, secret)
        me = current_user(http, server.url, token)
        assert me.status_code == 200, me.text
        assert me.json()["data"]["user"]["role"] == "admin"
        assert me.json()["data"]["user"]["name"] == "admin"

    # A second start on the same database creates nothing and never shows the secret again.
    with ready_cli.server() as server:
        output = server.output
        assert secret not in output
        assert not re.search(r"secret key: \S", output)
        assert "CLEARML_API_SECRET_KEY=<secret key>" in output
        assert "skiff users add" in output
        assert token_for(http, server.url, key, secret)


@pytest.mark.slow
@pytest.mark.parametrize("how", ["env", "flags"])
def test_first_pair_can_be_pinned(ready_cli: Cli, http: httpx.Client, how: str) -> None:
    key, secret = f"PINNED{how.upper()}KEY0123456789", f"pinned-{how}-secret-0123456789abcdef"
    if how == "env":
        running = ready_cli.server(env={"SKIFF_ACCESS_KEY": key, "SKIFF_SECRET_KEY": secret})
    else:
        running = ready_cli.server("--access-key", key, "--secret-key", secret)
    with running as server:
        assert printed_pair(server.output) == (key, secret)
        assert server.credentials() == (key, secret)
        token = token_for(http, server.url, key, secret)
        assert current_user(http, server.url, token).json()["data"]["user"]["role"] == "admin"
        assert meta_code(login(http, server.url, key, secret + "x")) == (401, 22)


# users and credentials ---------------------------------------------------------------------------
def added_user(output: str) -> tuple[str, str, str]:
    user = re.search(r"^user: (\S+) \((\S+)\)$", output, re.M)
    assert user, output
    key, secret = printed_pair(output)
    return user.group(2), key, secret


@pytest.mark.slow
def test_users_add_list_and_revoke(ready_cli: Cli, http: httpx.Client) -> None:
    cli = ready_cli
    with cli.server() as server:
        admin_key, _ = server.credentials()

        alice_id, alice_key, alice_secret = added_user(cli.ok("users", "add", "alice"))
        bob_id, bob_key, bob_secret = added_user(cli.ok("users", "add", "bob", "--admin"))
        assert len({alice_key, bob_key, admin_key}) == 3

        alice_token = token_for(http, server.url, alice_key, alice_secret)
        me = current_user(http, server.url, alice_token).json()["data"]["user"]
        assert (me["id"], me["name"], me["role"]) == (alice_id, "alice", "user")
        bob_token = token_for(http, server.url, bob_key, bob_secret)
        me = current_user(http, server.url, bob_token).json()["data"]["user"]
        assert (me["id"], me["name"], me["role"]) == (bob_id, "bob", "admin")

        listing = cli.ok("users", "list")
        lines = {line.split()[1]: line for line in listing.splitlines() if line.strip()}
        assert set(lines) == {"admin", "alice", "bob"}, listing
        assert alice_id in lines["alice"] and alice_key in lines["alice"] and " user " in lines["alice"]
        assert bob_id in lines["bob"] and bob_key in lines["bob"] and " admin " in lines["bob"]
        assert admin_key in lines["admin"]

        revoked = cli("credentials", "revoke", alice_key)
        assert revoked.returncode == 0, revoked.stderr
        assert alice_key in revoked.stdout
        # The token issued before the revocation stops working on the next call ...
        response = current_user(http, server.url, alice_token)
        assert response.status_code == 401
        assert meta_code(response) == (401, 30)
        # ... and so does the key/secret itself.
        response = login(http, server.url, alice_key, alice_secret)
        assert response.status_code == 401
        assert meta_code(response) == (401, 22)
        # Other users are untouched.
        assert current_user(http, server.url, bob_token).status_code == 200

        unknown = cli("credentials", "revoke", "NOSUCHKEY")
        assert unknown.returncode != 0
        assert "NOSUCHKEY" in unknown.stderr
        again = cli("credentials", "revoke", alice_key)
        assert again.returncode != 0

        listing = cli.ok("users", "list")
        assert alice_key not in listing
        assert re.search(r"alice\s+user\s+keys: -", listing), listing


@pytest.mark.slow
def test_an_admin_command_first_shows_the_admin_secret(ready_cli: Cli, http: httpx.Client) -> None:
    """When ``skiff users add`` initialises the install, the admin secret is shown once, not lost."""
    added = ready_cli("users", "add", "dave", check=True)
    admin_key, admin_secret = printed_pair(added.stderr)
    assert added_user(added.stdout)[1] != admin_key
    again = ready_cli("users", "list", check=True)
    assert "secret key" not in again.stderr + again.stdout
    with ready_cli.server() as server:
        assert "first start" not in server.output
        token = token_for(http, server.url, admin_key, admin_secret)
        assert current_user(http, server.url, token).json()["data"]["user"]["role"] == "admin"


def test_users_add_refuses_a_duplicate_name(ready_cli: Cli) -> None:
    first = ready_cli.ok("users", "add", "carol")
    duplicate = ready_cli("users", "add", "carol", "--admin")
    assert duplicate.returncode == 1, duplicate.stderr
    assert duplicate.stdout == ""
    assert "Traceback" not in duplicate.stderr
    assert duplicate.stderr.startswith("skiff: ") and "carol" in duplicate.stderr, duplicate.stderr
    assert "exists" in duplicate.stderr
    listing = ready_cli.ok("users", "list")
    assert [line.split()[1] for line in listing.splitlines()].count("carol") == 1
    assert printed_pair(first)[0] in listing


# schema ------------------------------------------------------------------------------------------
def test_db_status_and_upgrade(cli: Cli) -> None:
    before = cli("db", "status")
    assert before.returncode == 1, before.stdout + before.stderr
    assert "current: empty" in before.stdout
    assert "up to date: False" in before.stdout
    head = re.search(r"^head: (\S+)$", before.stdout, re.M)
    assert head, before.stdout

    upgraded = cli.ok("db", "upgrade")
    assert f"schema upgraded from empty to {head.group(1)}" in upgraded

    after = cli("db", "status")
    assert after.returncode == 0, after.stdout + after.stderr
    assert f"current: {head.group(1)}" in after.stdout
    assert "up to date: True" in after.stdout

    assert f"schema already at {head.group(1)}" in cli.ok("db", "upgrade")


def _stale_revisions() -> list[str]:
    """Every schema revision older than head, as alembic targets (``base`` is the empty schema)."""
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    from skiff.storage.schema import MIGRATIONS

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    script = ScriptDirectory.from_config(config)
    head = script.get_current_head()
    return ["base"] + [r.revision for r in script.walk_revisions() if r.revision != head]


def _downgrade(db_url: str, target: str) -> None:
    from alembic import command
    from alembic.config import Config

    from skiff.storage.engine import Database
    from skiff.storage.schema import MIGRATIONS

    database = Database(db_url, pool_size=1)
    try:
        with database.engine.connect() as conn:
            with conn.begin():
                config = Config()
                config.set_main_option("script_location", str(MIGRATIONS))
                config.attributes["connection"] = conn
                command.downgrade(config, target)
    finally:
        database.dispose()


@pytest.mark.slow
@pytest.mark.skipif(DIALECT != "postgresql", reason="PostgreSQL only: SQLite is upgraded by skiff serve")
def test_serve_refuses_a_stale_postgresql_schema(cli: Cli, http: httpx.Client) -> None:
    def serve_refuses(label: str) -> None:
        port = str(free_port())
        result = cli("serve", "--host", "127.0.0.1", "--port", port)
        assert result.returncode == 2, f"{label}: {result.returncode}\n{result.stdout}\n{result.stderr}"
        assert "skiff db upgrade" in result.stderr, result.stderr
        assert "secret key" not in result.stdout

    serve_refuses("empty database")
    for target in _stale_revisions():
        cli.ok("db", "upgrade")
        assert cli.db_url
        _downgrade(cli.db_url, target)
        serve_refuses(f"schema at {target}")

    cli.ok("db", "upgrade")
    with cli.server() as server:
        key, secret = server.credentials()
        assert token_for(http, server.url, key, secret)


@pytest.mark.slow
@pytest.mark.skipif(DIALECT != "sqlite", reason="SQLite only: the embedded default database")
def test_serve_creates_the_sqlite_file_privately(tmp_path: Path, http: httpx.Client) -> None:
    data_dir = tmp_path / "fresh" / "skiff-data"
    cli = Cli(tmp_path, data_dir, None, private_env(tmp_path, data_dir))
    with cli.server() as server:
        key, secret = server.credentials()
        assert token_for(http, server.url, key, secret)
        database = data_dir / "skiff.db"
        assert stat.S_IMODE(data_dir.stat().st_mode) == 0o700
        assert stat.S_IMODE(database.stat().st_mode) == 0o600
        # SQLite gives its -wal/-shm files the database file's permissions.
        for extra in data_dir.glob("skiff.db-*"):
            assert stat.S_IMODE(extra.stat().st_mode) == 0o600, extra
    with sqlite3.connect(database) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        assert conn.execute("SELECT count(*) FROM users").fetchone() == (1,)
    assert not (tmp_path / "home" / ".skiff").exists()


@pytest.mark.skipif(DIALECT != "sqlite", reason="SQLite only: the embedded default database")
def test_existing_data_dir_keeps_its_mode(tmp_path: Path) -> None:
    data_dir = tmp_path / "existing"
    data_dir.mkdir(mode=0o750)
    data_dir.chmod(0o750)
    cli = Cli(tmp_path, data_dir, None, private_env(tmp_path, data_dir))
    assert "upgraded from empty" in cli.ok("db", "upgrade")
    assert stat.S_IMODE(data_dir.stat().st_mode) == 0o750
    assert stat.S_IMODE((data_dir / "skiff.db").stat().st_mode) == 0o600


# access log ------------------------------------------------------------------------------------------
@pytest.mark.slow
def test_serve_writes_one_access_line_per_request(ready_cli: Cli, http: httpx.Client) -> None:
    """skiff's own access log replaces uvicorn's: exactly one line per request, not two."""
    probe = '"POST /debug.ping?probe=1 HTTP/1.1" 200'
    with ready_cli.server() as server:
        assert http.post(f"{server.url}/debug.ping?probe=1", json={}).status_code == 200
        deadline = time.monotonic() + 10
        while probe not in server.output and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(0.2)  # a second line (uvicorn's) would be out by now
        lines = [line for line in server.output.splitlines() if probe in line]
        assert len(lines) == 1, server.output
        assert re.fullmatch(r"INFO: {5}127\.0\.0\.1:\d+ - " + re.escape(probe), lines[0]), lines
    with ready_cli.server("--no-access-log") as server:
        assert http.post(f"{server.url}/debug.ping?probe=1", json={}).status_code == 200
        time.sleep(0.3)
        assert "HTTP/1.1" not in server.output, server.output


# openapi -----------------------------------------------------------------------------------------
def test_openapi_lists_every_registered_endpoint(cli: Cli) -> None:
    document = json.loads(cli.ok("openapi"))
    assert document["openapi"].startswith("3.")
    paths = document["paths"]
    names = build_registry().names()
    assert names
    for name in names:
        assert f"/{name}" in paths, name
    assert len(paths) >= len(names)
