"""Upgrading an install from before per-company file areas: its files, at the top of the files
root, move once into the only company's area (spec: files are confined per company); with several
companies, or on a new install, nothing moves."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import delete

from skiff.ops import accounts
from skiff.ops.install import open_database, prepare, upgrade_database
from skiff.settings import Settings
from skiff.storage.repos import accounts as accounts_repo
from skiff.storage.tables import server_state
from tests.support import DIALECT, new_database_url


def _settings(tmp_path: Path) -> Settings:
    data_dir = tmp_path / "data"
    settings = Settings(data_dir=data_dir, db_url=new_database_url(tmp_path), jobs=False)
    if DIALECT == "postgresql":
        database = open_database(settings)
        upgrade_database(database, settings)
        database.dispose()
    return settings


def _forget_layout(settings: Settings) -> None:
    """The database of an install made before the layout was recorded."""
    prepared = prepare(settings)
    with prepared.db.write() as conn:
        conn.execute(delete(server_state).where(server_state.c.key == "files_layout"))
    prepared.db.dispose()


def _legacy_file(settings: Settings) -> Path:
    legacy = settings.files_root / "My Project" / "train.0123abcd" / "artifacts" / "weights.bin"
    legacy.parent.mkdir(parents=True)
    legacy.write_bytes(b"w")
    return legacy


def test_one_company_adopts_the_legacy_files_once(tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    _forget_layout(settings)
    legacy = _legacy_file(settings)
    prepared = prepare(settings)
    try:
        assert prepared.files_adopted == ["My Project"]
        with prepared.db.read() as conn:
            (company,) = accounts_repo.list_company_ids(conn)
    finally:
        prepared.db.dispose()
    moved = settings.files_root / company / legacy.relative_to(settings.files_root)
    assert moved.read_bytes() == b"w" and not legacy.exists()
    # only once: a later top-level entry is not the old layout's, and stays
    (settings.files_root / "later").mkdir()
    again = prepare(settings)
    again.db.dispose()
    assert again.files_adopted == [] and (settings.files_root / "later").is_dir()


def test_a_new_install_moves_nothing(tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    legacy = _legacy_file(settings)
    prepared = prepare(settings)
    prepared.db.dispose()
    assert prepared.first_start is not None and prepared.files_adopted == [] and legacy.exists()


def test_several_companies_move_nothing(tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    _forget_layout(settings)
    prepared = prepare(settings)
    accounts.create_company(prepared.db, "second")
    with prepared.db.write() as conn:
        conn.execute(delete(server_state).where(server_state.c.key == "files_layout"))
    prepared.db.dispose()
    legacy = _legacy_file(settings)
    again = prepare(settings)
    again.db.dispose()
    assert again.files_adopted == [] and legacy.exists()
