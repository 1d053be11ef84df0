"""SIGTERM drains (issue 8): requests in flight when ``skiff serve`` is told to stop get their
complete answer, their writes are kept, and the server exits with status 0.

"In flight" is made certain rather than timed: each request is sent with ``Expect: 100-continue``
and its body is held back until the server has answered ``100 Continue`` (the application is
reading the body) and has logged that it is shutting down; only then is the body sent."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import orjson
import pytest
from sqlalchemy import func, select

from skiff.storage.engine import Database
from skiff.storage.tables import scalar_events
from tests.support import Api, live_server, new_database_url

pytestmark = pytest.mark.slow

KEY, SECRET = "DRAINKEY0123456789", "drain-secret-0123456789"
ENV = {"SKIFF_ACCESS_KEY": KEY, "SKIFF_SECRET_KEY": SECRET, "SKIFF_JOBS": "0"}
IN_FLIGHT, POINTS = 4, 5_000


def _batch(task: str) -> bytes:
    return b"\n".join(
        orjson.dumps({"type": "training_stats_scalar", "task": task, "metric": "m", "variant": "v", "iter": i, "value": i})
        for i in range(POINTS)
    )


def _read_until(sock: socket.socket, buffer: bytearray, marker: bytes) -> bytes:
    while marker not in buffer:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError(f"closed before {marker!r}; got {bytes(buffer)!r}")
        buffer += chunk
    head, _, rest = bytes(buffer).partition(marker)
    buffer[:] = rest
    return head


def _start_upload(port: int, token: str, body: bytes) -> socket.socket:
    """Send the request head and wait until the application asks for the body."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=120)
    sock.sendall(
        f"POST /events.add_batch HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nAuthorization: Bearer {token}\r\n"
        f"Content-Type: application/json-lines\r\nContent-Length: {len(body)}\r\nExpect: 100-continue\r\n\r\n".encode()
    )
    buffer = bytearray()
    interim = _read_until(sock, buffer, b"\r\n\r\n")
    assert interim.startswith(b"HTTP/1.1 100"), interim
    assert not buffer
    return sock


def _finish_upload(sock: socket.socket, body: bytes) -> tuple[int, dict]:
    """Send the body and read the whole response (status, JSON body)."""
    sock.sendall(body)
    buffer = bytearray()
    head = _read_until(sock, buffer, b"\r\n\r\n").decode("latin-1").split("\r\n")
    status = int(head[0].split()[1])
    length = next(int(h.split(":", 1)[1]) for h in head[1:] if h.lower().startswith("content-length:"))
    while len(buffer) < length:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError(f"closed after {len(buffer)} of {length} body bytes")
        buffer += chunk
    sock.close()
    return status, orjson.loads(bytes(buffer[:length]))


@pytest.mark.parametrize("workers", [1, 2])
def test_sigterm_answers_every_request_in_flight(tmp_path: Path, workers: int) -> None:
    db_url = new_database_url(tmp_path)
    if db_url.startswith("postgresql"):
        subprocess.run([sys.executable, "-m", "skiff", "db", "upgrade", "--db", db_url], check=True, capture_output=True)
    with live_server(tmp_path / "first", db_url, "--workers", str(workers), env=ENV) as server:
        api = Api(httpx.Client(base_url=server.url, timeout=60), key=KEY, secret=SECRET)
        tasks = [api("tasks.create", {"name": f"drain {i}", "type": "training"})["id"] for i in range(IN_FLIGHT)]
        bodies = [_batch(task) for task in tasks]
        port = int(server.url.rsplit(":", 1)[1])
        sockets = [_start_upload(port, api.token(), body) for body in bodies]

        server.process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + 60  # generous bounds on a stuck server, not timing assertions
        while server.output.count("Shutting down") < workers:
            assert time.monotonic() < deadline and server.process.poll() is None, server.output
            time.sleep(0.05)
        replies = [_finish_upload(sock, body) for sock, body in zip(sockets, bodies, strict=True)]
        assert server.process.wait(60) == 0, server.output
    assert [(status, body["data"]) for status, body in replies] == [
        (200, {"added": POINTS, "errors": 0, "errors_info": {}})
    ] * IN_FLIGHT

    db = Database(db_url)  # what was answered is stored (read directly: the server is gone)
    try:
        with db.read() as conn:
            query = select(scalar_events.c.task, func.count()).group_by(scalar_events.c.task)
            assert dict(conn.execute(query).all()) == dict.fromkeys(tasks, POINTS)
    finally:
        db.dispose()
