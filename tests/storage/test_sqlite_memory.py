"""SQLite's page caches share one process-wide limit (issue 8): each pooled connection would
otherwise keep a 2 MiB cache of its own, so memory grew with the pool."""

from __future__ import annotations

import _sqlite3
import ctypes
from contextlib import ExitStack
from pathlib import Path

import pytest

from skiff.storage.dialects.sqlite import SOFT_HEAP_LIMIT_BYTES
from skiff.storage.engine import Database

_PAGECACHE_OVERFLOW = 2  # SQLITE_STATUS_PAGECACHE_OVERFLOW: page cache memory taken from the heap


def _page_cache_bytes() -> int:
    try:
        status = ctypes.CDLL(_sqlite3.__file__).sqlite3_status64
    except (OSError, AttributeError):
        pytest.skip("the sqlite3 module does not expose SQLite's C API")
    current, highwater = ctypes.c_int64(), ctypes.c_int64()
    assert status(_PAGECACHE_OVERFLOW, ctypes.byref(current), ctypes.byref(highwater), 0) == 0
    return current.value


def test_pooled_connections_stay_under_the_soft_heap_limit(tmp_path: Path) -> None:
    connections = 12  # x 2 MiB of default cache each: well past the limit without it
    db = Database(f"sqlite:///{tmp_path / 'memory.db'}", pool_size=connections)
    try:
        with db.write() as conn:
            conn.exec_driver_sql("CREATE TABLE pages (payload BLOB)")
            # one row per 4 KiB page, 6 MiB in all: more than one connection's cache holds
            conn.exec_driver_sql(
                "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 1536) "
                "INSERT INTO pages SELECT randomblob(3000) FROM n"
            )
        with ExitStack() as held:
            for _ in range(connections):
                conn = held.enter_context(db.read())
                assert conn.exec_driver_sql("PRAGMA soft_heap_limit").scalar() == SOFT_HEAP_LIMIT_BYTES
                assert conn.exec_driver_sql("SELECT count(*) FROM pages WHERE length(payload) = 3000").scalar() == 1536
            cached = _page_cache_bytes()
        assert SOFT_HEAP_LIMIT_BYTES / 2 < cached <= SOFT_HEAP_LIMIT_BYTES
    finally:
        db.dispose()


def _sqlite_temp_files() -> list[str]:
    """SQLite's temporary files this process holds open (it unlinks them as it opens them)."""
    fds = Path("/proc/self/fd")
    if not fds.is_dir():
        pytest.skip("needs /proc to list open files")
    found = []
    for fd in fds.iterdir():
        try:
            target = str(fd.readlink())
        except OSError:  # closed meanwhile (the directory's own descriptor)
            continue
        if "etilqs_" in target:
            found.append(target)
    return found


def test_a_writers_undo_pages_stay_in_memory_and_reads_keep_sorting_to_files(tmp_path: Path) -> None:
    """A writer's savepoint journals the pages it changes; past 64 KiB SQLite would put that
    journal in a temporary file per write (dialects.sqlite.begin_statement)."""
    db = Database(f"sqlite:///{tmp_path / 'temp.db'}", pool_size=1)  # one connection: both kinds
    try:
        with db.write() as conn:
            conn.exec_driver_sql("CREATE TABLE pages (payload BLOB)")
            conn.exec_driver_sql(
                "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 64) "
                "INSERT INTO pages SELECT randomblob(3000) FROM n"
            )
        for _ in range(2):
            with db.write() as conn:
                assert conn.exec_driver_sql("PRAGMA temp_store").scalar() == 2  # MEMORY
                # 64 pages changed inside the writer's savepoint: 256 KiB of journal
                assert conn.exec_driver_sql("UPDATE pages SET payload = randomblob(3000)").rowcount == 64
                assert _sqlite_temp_files() == []
            with db.read() as conn:
                assert conn.exec_driver_sql("PRAGMA temp_store").scalar() == 0  # the default: files
    finally:
        db.dispose()
