"""Schema versions: upgrade to the newest migration, or tell what the database is missing.

Alembic (with Mako and the migration scripts) is imported only to upgrade: it adds ~11 MB to a
server process that would keep it for its lifetime, only to learn that the schema is current.
The newest revision is therefore also written down here (``HEAD``; a test checks it against the
scripts), and the current one is read from Alembic's version table directly.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import Connection, inspect, text

from skiff.storage.engine import Database

if TYPE_CHECKING:
    from alembic.config import Config

MIGRATIONS = Path(__file__).parent / "migrations"
#: The newest migration in ``migrations/versions``.
HEAD = "0020"
VERSION_TABLE = "alembic_version"


def _config(conn: Connection | None = None) -> Config:
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    if conn is not None:
        cfg.attributes["connection"] = conn
    return cfg


def head_revision() -> str:
    return HEAD


def current_revision(conn: Connection) -> str | None:
    """The revision a database is at (None: no skiff schema), as Alembic records it."""
    if not inspect(conn).has_table(VERSION_TABLE):
        return None
    revisions = conn.execute(text(f"SELECT version_num FROM {VERSION_TABLE}")).scalars().all()
    if len(revisions) > 1:
        raise RuntimeError(f"the database records several schema revisions: {', '.join(sorted(revisions))}")
    return revisions[0] if revisions else None


@dataclass(frozen=True)
class SchemaState:
    current: str | None
    head: str

    @property
    def up_to_date(self) -> bool:
        return self.current == self.head

    @property
    def empty(self) -> bool:
        return self.current is None


def schema_state(db: Database) -> SchemaState:
    with db.engine.connect() as conn:
        current = current_revision(conn)
    return SchemaState(current=current, head=HEAD)


def upgrade(db: Database) -> None:
    """Apply every pending migration in one transaction (both dialects have transactional DDL)."""
    from alembic import command

    with db.engine.connect() as conn:
        with conn.begin():
            command.upgrade(_config(conn), "head")
