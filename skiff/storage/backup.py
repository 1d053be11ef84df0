"""Consistent online copies of a SQLite database (``VACUUM INTO``)."""

from __future__ import annotations

from pathlib import Path

from skiff.storage.engine import Database


def sqlite_copy(db: Database, target: Path) -> Path:
    if db.dialect != "sqlite":
        raise ValueError("sqlite_copy needs a SQLite database")
    target.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    with db.engine.connect() as conn:
        conn.exec_driver_sql("VACUUM INTO ?", (str(target),))
    target.chmod(0o600)
    return target
