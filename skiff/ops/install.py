"""Getting a database ready to serve: create or upgrade the schema, then bootstrap the install.

SQLite (the embedded default) is created or upgraded automatically, after a backup copy of an
existing file. PostgreSQL is never changed behind the operator's back: a schema that is not at the
newest revision stops the server with the command to run.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone

from skiff.ops.accounts import FirstStart, ensure_installed
from skiff.ops.files import FileStore
from skiff.settings import Settings
from skiff.storage import schema
from skiff.storage.backup import sqlite_copy
from skiff.storage.engine import Database, prepare_sqlite_file, sqlite_path
from skiff.storage.repos import accounts as accounts_repo


class StaleSchema(RuntimeError):
    """The database schema is not at the revision this version of skiff needs."""


@dataclass(frozen=True)
class Prepared:
    db: Database
    first_start: FirstStart | None
    upgraded_from: str | None = None
    backup: str | None = None
    #: top-level entries of a files root from before per-company areas, moved into the only company's
    files_adopted: list[str] = field(default_factory=list)


def open_database(settings: Settings) -> Database:
    path = sqlite_path(settings.database_url)
    if path is not None:
        prepare_sqlite_file(path)
    return Database(settings.database_url, pool_size=settings.threads)


def upgrade_database(db: Database, settings: Settings) -> tuple[str | None, str | None]:
    """Bring the schema to the newest revision. Returns (previous revision, backup path)."""
    state = schema.schema_state(db)
    if state.up_to_date:
        return state.current, None
    backup = None
    if db.dialect == "sqlite" and not state.empty:
        stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
        target = settings.data_dir / "backups" / f"skiff-before-{state.head}-from-{state.current}-{stamp}.db"
        backup = str(sqlite_copy(db, target))
    schema.upgrade(db)
    return state.current, backup


def prepare(settings: Settings) -> Prepared:
    """Open the database, make sure its schema is current and the install is bootstrapped."""
    db = open_database(settings)
    state = schema.schema_state(db)
    upgraded_from = backup = None
    if not state.up_to_date:
        if db.dialect != "sqlite":
            db.dispose()
            found = f"is at revision {state.current}" if state.current else "has no skiff schema yet"
            raise StaleSchema(
                f"the database {found}; this skiff needs revision {state.head}.\n"
                f"Back it up, then run:  skiff db upgrade --db '{settings.db_url}'"
            )
        upgraded_from, backup = upgrade_database(db, settings)
    first = ensure_installed(db, access_key=settings.access_key, secret_key=settings.secret_key)
    return Prepared(db, first, upgraded_from, backup, _adopt_legacy_files(db, settings, fresh=first is not None))


_FILES_LAYOUT = "files_layout"


def _adopt_legacy_files(db: Database, settings: Settings, *, fresh: bool) -> list[str]:
    """Once per install, on the first start of a skiff with per-company file areas: files stored
    before sit at the top of the files root. With one company they are its own and move into its
    area; with several nobody can tell whose they are, and they stay (unreachable through /files/)
    for the operator to place. A new install just records the layout."""
    with db.write() as conn:
        if accounts_repo.get_state(conn, _FILES_LAYOUT) is not None:
            return []
        accounts_repo.set_state(conn, _FILES_LAYOUT, "per-company")
        companies = accounts_repo.list_company_ids(conn)
    if fresh or len(companies) != 1:
        return []
    return FileStore(settings.files_root).adopt_legacy(companies[0], set(companies))
