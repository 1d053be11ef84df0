"""``skiff serve --workers 2``: two processes serve one database and accept each other's tokens.

A TCP connection stays with the process that accepted it, so each fresh connection first asks
``debug.ping`` which process it reached (``pid``) and then logs in or calls on that same connection.
"""

from __future__ import annotations

import os
import re
import signal
import time
from pathlib import Path

import httpx
import pytest

from skiff.ops.install import open_database, upgrade_database
from skiff.settings import Settings
from tests.support import DIALECT, LiveServer, basic, live_server, new_database_url

pytestmark = pytest.mark.slow

WORKERS = 2
MAX_TRIES = 200
STARTUP_TIMEOUT = 60


def worker_pids(server: LiveServer) -> set[int]:
    """Wait until the log shows every worker started its application; return their pids."""
    deadline = time.monotonic() + STARTUP_TIMEOUT
    while True:
        output = server.output
        pids = {int(p) for p in re.findall(r"Started server process \[(\d+)\]", output)}
        if len(pids) >= WORKERS and output.count("Application startup complete.") >= WORKERS:
            return pids
        assert server.process.poll() is None, output
        assert time.monotonic() < deadline, f"workers did not start in {STARTUP_TIMEOUT}s:\n{output}"
        time.sleep(0.1)


def on_fresh_connection(server: LiveServer, call):  # type: ignore[no-untyped-def]
    """Open a new connection, learn which process serves it, then ``call(client)`` on it."""
    with httpx.Client(base_url=server.url, timeout=30, trust_env=False) as client:
        ping = client.post("/debug.ping", json={})
        assert ping.status_code == 200, ping.text
        pid = ping.json()["data"]["pid"]
        # Same connection, same process: httpx keeps it alive within this client.
        result = call(client)
        assert client.post("/debug.ping", json={}).json()["data"]["pid"] == pid
        return pid, result


@pytest.fixture
def server(tmp_path: Path):  # type: ignore[no-untyped-def]
    data_dir = tmp_path / "data"
    db_url = new_database_url(tmp_path)
    if DIALECT == "postgresql":
        settings = Settings(data_dir=data_dir, db_url=db_url)
        database = open_database(settings)
        upgrade_database(database, settings)
        database.dispose()
    home = tmp_path / "home"
    home.mkdir()
    pids: set[int] = set()
    with live_server(data_dir, db_url, "--workers", str(WORKERS), env={"HOME": str(home)}) as running:
        pids = worker_pids(running)
        yield running
    # The supervisor stops its workers; make sure none outlives the test.
    for pid in pids:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            continue
        os.kill(pid, signal.SIGKILL)
        pytest.fail(f"worker {pid} outlived its supervisor")


def test_two_workers_share_logins(server: LiveServer) -> None:
    expected = worker_pids(server)
    assert len(expected) == WORKERS
    assert server.process.pid not in expected
    key, secret = server.credentials()

    def log_in(client: httpx.Client) -> str:
        response = client.post("/auth.login", headers={"Authorization": basic(key, secret)}, json={})
        assert response.status_code == 200, response.text
        return response.json()["data"]["token"]

    tokens: dict[int, str] = {}
    for _ in range(MAX_TRIES):
        pid, token = on_fresh_connection(server, log_in)
        tokens.setdefault(pid, token)
        if len(tokens) == WORKERS:
            break
    assert set(tokens) == expected, f"logins served by {sorted(tokens)}, workers are {sorted(expected)}"

    # Every token is accepted by the process that did not issue it.
    def whoami(token: str):  # type: ignore[no-untyped-def]
        def call(client: httpx.Client) -> httpx.Response:
            return client.post(
                "/users.get_current_user", headers={"Authorization": f"Bearer {token}"}, json={}
            )

        return call

    crossed: set[int] = set()
    for _ in range(MAX_TRIES):
        for issuer, token in tokens.items():
            if issuer in crossed:
                continue
            pid, response = on_fresh_connection(server, whoami(token))
            assert response.status_code == 200, f"token of {issuer} on {pid}: {response.text}"
            assert response.json()["data"]["user"]["name"] == "admin"
            if pid != issuer:
                crossed.add(issuer)
        if crossed == set(tokens):
            break
    assert crossed == set(tokens), f"never reached another worker for the tokens of {set(tokens) - crossed}"
