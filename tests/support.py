"""Test support: fresh databases on the dialect under test, an API caller, real server processes.

The dialect comes from the environment: with ``SKIFF_TEST_PG_URL`` (a PostgreSQL server URL,
set by ``.ci/run``) every database is a new PostgreSQL database; otherwise a new SQLite file.
"""

from __future__ import annotations

import base64
import os
import re
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import orjson
from sqlalchemy import Connection, text

PG_URL = os.environ.get("SKIFF_TEST_PG_URL", "")
DIALECT = "postgresql" if PG_URL else "sqlite"


#: PostgreSQL databases that ``new_database_url`` created in this process (``drop_test_databases``)
_CREATED: list[str] = []


def new_database_url(directory: Path) -> str:
    """A URL for a new, empty database of the dialect under test."""
    if not PG_URL:
        return f"sqlite:///{directory / f'skiff-{uuid.uuid4().hex[:8]}.db'}"
    import psycopg

    name = f"skiff_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(PG_URL, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    _CREATED.append(name)
    base, _, _ = PG_URL.rpartition("/")
    return f"{base}/{name}"


def drop_test_databases() -> None:
    """Drop the PostgreSQL databases this process created (at the end of its test session), so
    a developer's cluster does not collect a few hundred per run; ``FORCE`` ends connections that
    a test left open."""
    if not _CREATED:
        return
    import psycopg

    with psycopg.connect(PG_URL, autocommit=True) as conn:
        while _CREATED:
            conn.execute(f'DROP DATABASE IF EXISTS "{_CREATED.pop()}" WITH (FORCE)')


def basic(key: str, secret: str) -> str:
    return "Basic " + base64.b64encode(f"{key}:{secret}".encode()).decode()


@dataclass
class Reply:
    status: int
    body: dict[str, Any]
    raw: bytes

    @property
    def meta(self) -> dict[str, Any]:
        return self.body["meta"]

    @property
    def data(self) -> Any:
        return self.body["data"]

    @property
    def code(self) -> tuple[int, int]:
        return self.meta["result_code"], self.meta["result_subcode"]

    @property
    def msg(self) -> str:
        return self.meta["result_msg"]

    def ok(self) -> Any:
        assert self.status == 200, f"{self.status}: {self.body}"
        return self.data


class Api:
    """Calls endpoints on an httpx-compatible client (the in-process app or a live server)."""

    def __init__(self, client: Any, *, key: str | None = None, secret: str | None = None) -> None:
        self.client = client
        self.key = key
        self.secret = secret
        self._token: str | None = None

    def token(self) -> str:
        if self._token is None:
            assert self.key and self.secret
            reply = self.call("auth.login", auth=basic(self.key, self.secret))
            self._token = reply.ok()["token"]
        return self._token

    def call(
        self,
        endpoint: str,
        body: Any = None,
        *,
        version: str | None = None,
        method: str = "POST",
        auth: str | None | bool = True,
        headers: dict[str, str] | None = None,
        content: bytes | None = None,
        params: dict[str, Any] | None = None,
    ) -> Reply:
        path = f"/v{version}/{endpoint}" if version else f"/{endpoint}"
        hdrs = dict(headers or {})
        if auth is True:
            hdrs["Authorization"] = f"Bearer {self.token()}"
        elif isinstance(auth, str):
            hdrs["Authorization"] = auth
        if content is None and body is not None:
            content = orjson.dumps(body)
            hdrs.setdefault("Content-Type", "application/json")
        response = self.client.request(method, path, content=content, headers=hdrs, params=params)
        raw = response.content
        return Reply(response.status_code, orjson.loads(raw) if raw else {}, raw)

    def __call__(self, endpoint: str, body: Any = None, **kwargs: Any) -> Any:
        """Call and expect success; return ``data``."""
        return self.call(endpoint, body, **kwargs).ok()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class LiveServer:
    url: str
    process: subprocess.Popen
    output_path: Path

    @property
    def output(self) -> str:
        return self.output_path.read_text()

    def credentials(self) -> tuple[str, str]:
        text = self.output
        key = re.search(r"CLEARML_API_ACCESS_KEY=(\S+)", text)
        secret = re.search(r"CLEARML_API_SECRET_KEY=(\S+)", text)
        assert key and secret, text
        return key.group(1), secret.group(1)


@contextmanager
def live_server(
    data_dir: Path,
    db_url: str | None,
    *args: str,
    env: dict[str, str] | None = None,
    timeout: float = 90,
    log_dir: Path | None = None,
    new_session: bool = False,
) -> Iterator[LiveServer]:
    """Run ``skiff serve`` on 127.0.0.1 and a free port until the block ends.

    ``db_url=None`` leaves the database to ``skiff serve`` (the SQLite file in ``data_dir``); with
    ``log_dir`` the server log goes there, so ``data_dir`` is left for the server to create.
    ``new_session`` makes the server its own process group (``--workers`` children included), so
    a test can signal all of it with ``os.killpg``.
    """
    port = free_port()
    logs = log_dir if log_dir is not None else data_dir
    output_path = logs / f"server-{port}.log"
    logs.mkdir(parents=True, exist_ok=True)
    environment = {**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})}
    command = [
        sys.executable, "-m", "skiff", "serve",
        "--host", "127.0.0.1", "--port", str(port),
        "--data-dir", str(data_dir), *(["--db", db_url] if db_url else []), *args,
    ]  # fmt: skip
    with open(output_path, "wb") as out:
        process = subprocess.Popen(
            command, stdout=out, stderr=subprocess.STDOUT, env=environment, start_new_session=new_session
        )
    server = LiveServer(f"http://127.0.0.1:{port}", process, output_path)
    try:
        deadline = time.monotonic() + timeout
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"skiff serve exited with {process.returncode}:\n{server.output}")
            try:
                if httpx.get(f"{server.url}/debug.ping", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"skiff serve did not answer in {timeout}s:\n{server.output}")
            time.sleep(0.1)
        yield server
    finally:
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def _varint(data: bytes, at: int) -> tuple[int, int]:
    """FTS5's varint (SQLite's: big-endian 7-bit groups, a ninth byte of 8 bits)."""
    value = 0
    for i in range(8):
        byte = data[at + i]
        value = (value << 7) | (byte & 0x7F)
        if byte < 0x80:
            return value, at + i + 1
    return (value << 8) | data[at + 8], at + 9


def fts5_levels(conn: Connection) -> int:
    """SQLite: the number of levels in the structure record of the full-text index (row 10 of
    ``task_search_fts_data``: a 4-byte cookie, then varints: levels, segments, ...)."""
    block = conn.execute(text("SELECT block FROM task_search_fts_data WHERE id = 10")).scalar_one()
    return _varint(block, 4)[0]


def pg_round_trips(conn, run, trace: Path) -> int:  # type: ignore[no-untyped-def]
    """How many times ``run()`` waited for the server: in the protocol trace (to the file
    ``trace``) of ``conn``'s driver connection, each run of messages from the client that the
    server's messages follow."""
    from psycopg.pq import Trace  # (PostgreSQL tests only)

    pgconn = conn.connection.dbapi_connection.pgconn
    with trace.open("w") as out:
        pgconn.trace(out.fileno())
        pgconn.set_trace_flags(Trace.SUPPRESS_TIMESTAMPS)
        try:
            run()
        finally:
            pgconn.untrace()
    senders = [line.split("\t", 1)[0] for line in trace.read_text().splitlines() if line[:2] in ("F\t", "B\t")]
    return sum(1 for before, after in zip(senders, senders[1:]) if (before, after) == ("F", "B"))
