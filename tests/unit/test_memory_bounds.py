"""Memory that grew while the server ran (issue 8): glibc's malloc arenas, which ``skiff serve``
caps (without the cap every thread that allocates gets an arena of its own, each keeping the free
space its big buffers leave), and the natural key cache, which stored keys no longer fill."""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from skiff.cli import MALLOC_TUNING
from skiff.domain.natural_order import natural_key, sort_key, tie_key
from skiff.ops.install import prepare
from skiff.settings import Settings

glibc_only = pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="malloc tuning is for glibc")

#: A process that (maybe) tunes malloc, then has 8 threads allocate outside pymalloc while all of
#: them are alive (a thread that ended hands its arena to the next), and counts glibc's arenas.
_PROBE = """
import ctypes, json, sys, threading
from skiff.cli import tune_malloc
mode, report = sys.argv[1], sys.argv[2]
environ = {"MALLOC_ARENA_MAX": "16"} if mode == "preset" else {}
applied = tune_malloc(environ) if mode != "plain" else {}
held, ready = [], threading.Barrier(8)
def allocate():
    held.append(bytearray(64 * 1024))
    ready.wait()
threads = [threading.Thread(target=allocate) for _ in range(8)]
for thread in threads:
    thread.start()
for thread in threads:
    thread.join()
libc = ctypes.CDLL(None)
libc.fopen.restype = ctypes.c_void_p
stream = ctypes.c_void_p(libc.fopen(report.encode(), b"w"))
libc.malloc_info(0, stream)
libc.fclose(stream)
print(json.dumps({"applied": applied, "environ": environ, "arenas": open(report).read().count("<heap nr=")}))
"""


def _probe(mode: str, tmp_path: Path) -> dict:
    environ = {name: value for name, value in os.environ.items() if not name.startswith(("MALLOC_", "GLIBC_"))}
    result = subprocess.run(
        [sys.executable, "-c", _PROBE, mode, str(tmp_path / f"{mode}.xml")],
        capture_output=True, text=True, check=True, env=environ,
    )  # fmt: skip
    return json.loads(result.stdout)


@glibc_only
def test_threads_share_two_arenas_once_tuned(tmp_path: Path) -> None:
    plain = _probe("plain", tmp_path)
    assert plain["arenas"] > 2  # the main arena and one per thread: what the cap is for

    tuned = _probe("tuned", tmp_path)
    assert tuned["arenas"] == 2
    assert tuned["applied"] == {name: value for name, (_, value) in MALLOC_TUNING.items()}
    # what --workers processes inherit, so that glibc applies it when they start
    assert tuned["environ"] == {name: str(value) for name, (_, value) in MALLOC_TUNING.items()}


@glibc_only
def test_a_variable_set_by_the_user_wins(tmp_path: Path) -> None:
    preset = _probe("preset", tmp_path)
    assert preset["environ"]["MALLOC_ARENA_MAX"] == "16"
    assert "MALLOC_ARENA_MAX" not in preset["applied"]
    assert preset["arenas"] > 2


def test_stored_sort_keys_leave_the_collation_cache_alone() -> None:
    before = natural_key.cache_info()
    keys = {(sort_key(f"run {n} lr=0.{uuid.uuid4().int}"), tie_key(uuid.uuid4().hex)) for n in range(200)}
    assert len(keys) == 200
    assert natural_key.cache_info() == before


#: A server worker process's start (``skiff serve --workers N`` builds each app this way), then
#: what the cyclic garbage collector still tracks.
_WORKER = """
import gc, json
from skiff.app import create_app_from_env
app = create_app_from_env()
print(json.dumps({"frozen": gc.get_freeze_count(), "tracked": len(gc.get_objects())}))
"""


def test_a_server_process_freezes_its_startup_heap(tmp_path: Path) -> None:
    """Full collections, which requests that allocate many containers set off, look only at
    what requests allocated, not at every module, table and schema (skiff.app.freeze_heap)."""
    settings = Settings(data_dir=tmp_path, db_url=f"sqlite:///{tmp_path / 'skiff.db'}")
    prepare(settings).db.dispose()
    result = subprocess.run(
        [sys.executable, "-c", _WORKER], capture_output=True, text=True, check=True, env={**os.environ, **settings.to_env()}
    )
    counts = json.loads(result.stdout)
    assert counts["frozen"] > 50_000  # the modules, SQLAlchemy's metadata, the schemas, the registry
    assert counts["tracked"] < counts["frozen"] / 20
