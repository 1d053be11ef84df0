"""PostgreSQL through psycopg 3, its connections in autocommit mode.

skiff begins transactions itself (``Database``'s "begin" hook sends ``BEGIN``), except for read
transactions: at READ COMMITTED, PostgreSQL's default and skiff's, every statement of a
transaction takes a snapshot of its own anyway, so a read's ``BEGIN`` and ``COMMIT`` would cost
two round trips of the four of a get-by-id and guarantee nothing more. psycopg's ``commit()`` and
``rollback()`` send ``COMMIT``/``ROLLBACK`` only when the server reports a transaction open.

A pooled connection whose server process has gone (a restarted or stopped PostgreSQL, a
terminated backend) is replaced when it is checked out. The server tells its clients as it goes:
it sends a FATAL message and closes the connection, so the idle connection's socket turns
readable. ``_check_out`` looks at the socket without waiting, where the pool's pre-ping asked
the server with a ``SELECT 1``: one round trip of the two a get-by-id made. A connection lost
without a word (a network cut) fails its next statement either way."""

from __future__ import annotations

import select
from typing import Any

import psycopg
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import URL
from sqlalchemy.exc import DisconnectionError


def _check_out(dbapi_conn: Any, _record: Any, _proxy: Any) -> None:
    """A ``checkout`` listener: a connection that is closed, or whose idle socket has something
    to read (the server's goodbye, or the end of the stream), is discarded; the pool then checks
    out another, connecting anew if need be."""
    if dbapi_conn.closed or dbapi_conn.broken:
        raise DisconnectionError("the connection is closed")
    try:
        socket = dbapi_conn.pgconn.socket
    except psycopg.OperationalError as exc:
        raise DisconnectionError("the connection has no socket") from exc
    poller = select.poll()
    poller.register(socket, select.POLLIN)
    if poller.poll(0):
        raise DisconnectionError("the server closed the connection, or is closing it")


def create(url: URL, *, pool_size: int, **options: Any) -> Engine:
    engine = create_engine(
        url,
        **options,
        pool_size=pool_size,
        max_overflow=pool_size,
        isolation_level="AUTOCOMMIT",
    )
    event.listen(engine, "checkout", _check_out)
    return engine
