"""Consistent online copies of a SQLite database (``VACUUM INTO``)."""

from __future__ import annotations

import os
from pathlib import Path

from skiff.storage.engine import Database


def sqlite_copy(db: Database, target: Path) -> Path:
    if db.dialect != "sqlite":
        raise ValueError("sqlite_copy needs a SQLite database")
    target.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    # VACUUM INTO accepts an empty existing file: create it private so the copy never is readable
    # by others, not even until the chmod below.
    os.close(os.open(target, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
    # VACUUM cannot run inside a transaction, and any SQLAlchemy execute begins one (skiff's
    # "begin" hook emits BEGIN), so run it on the driver connection, which is in autocommit mode.
    raw = db.engine.raw_connection()
    try:
        raw.driver_connection.execute("VACUUM INTO ?", (str(target),))
    except BaseException:
        target.unlink(missing_ok=True)
        raise
    finally:
        raw.close()
    target.chmod(0o600)
    return target
