"""The hand-written migrations build exactly the schema ``skiff.storage.tables`` declares.

Runs on the dialect under test (``tests.support``): upgrade, compare with alembic's autogenerate
(types, nullability, server defaults, indexes, unique and foreign keys), downgrade, upgrade again;
and on SQLite, upgrading an older database through ``prepare`` keeps a backup copy first.
"""

from __future__ import annotations

import json
import shutil
import sqlite3
import stat
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import JSON, Column, Index, Integer, MetaData, String, Text, inspect, text

from skiff.ops.install import prepare
from skiff.settings import Settings
from skiff.storage import schema
from skiff.storage.engine import Database
from skiff.storage.tables import NAMING, is_undeclared, metadata
from tests.support import DIALECT, fts5_levels, new_database_url


def alembic_config(conn) -> Config:  # type: ignore[no-untyped-def]
    config = Config()
    config.set_main_option("script_location", str(schema.MIGRATIONS))
    config.attributes["connection"] = conn
    return config


def migrate(db: Database, action: Callable[..., None], target: str) -> None:
    with db.engine.connect() as conn:
        with conn.begin():
            action(alembic_config(conn), target)


def _declared(obj, name, type_, reflected, compare_to) -> bool:  # type: ignore[no-untyped-def]
    """Leave out what ``tables.UNDECLARED`` lists: dialect-specific DDL (the full-text index)."""
    qualified = f"{obj.table.name}.{name}" if type_ == "column" else name
    return not is_undeclared(DIALECT, type_, qualified)


def differences(db: Database, target: MetaData = metadata) -> list:
    with db.engine.connect() as conn:
        context = MigrationContext.configure(
            conn, opts={"compare_type": True, "compare_server_default": True, "include_object": _declared}
        )
        return compare_metadata(context, target)


def table_names(db: Database) -> set[str]:
    with db.engine.connect() as conn:
        return {t for t in inspect(conn).get_table_names() if not is_undeclared(DIALECT, "table", t)}


def revisions() -> list[str]:
    """The migration history, oldest first."""
    config = Config()
    config.set_main_option("script_location", str(schema.MIGRATIONS))
    return [r.revision for r in reversed(list(ScriptDirectory.from_config(config).walk_revisions()))]


@pytest.fixture
def database(tmp_path: Path) -> Iterator[Database]:
    db = Database(new_database_url(tmp_path), pool_size=2)
    yield db
    db.dispose()


def test_upgraded_schema_matches_the_table_declarations(database: Database) -> None:
    schema.upgrade(database)
    assert schema.schema_state(database).up_to_date
    assert table_names(database) == set(metadata.tables) | {"alembic_version"}
    assert differences(database) == []


def _copy() -> MetaData:
    copy = MetaData(naming_convention=NAMING)
    for table in metadata.sorted_tables:
        table.to_metadata(copy)
    return copy


def _shorter_name(m: MetaData) -> None:
    m.tables["users"].c["name"].type = String(100)


def _text_document(m: MetaData) -> None:
    m.tables["users"].c["preferences"].type = Text()


def _plain_json_document(m: MetaData) -> None:
    m.tables["users"].c["preferences"].type = JSON()


def _extra_column(m: MetaData) -> None:
    m.tables["users"].append_column(Column("extra", Integer))


def _not_nullable(m: MetaData) -> None:
    m.tables["users"].c["email"].nullable = False


def _missing_index(m: MetaData) -> None:
    m.tables["credentials"].indexes.clear()


def _extra_index(m: MetaData) -> None:
    table = m.tables["credentials"]
    Index(None, table.c["label"])


def _missing_unique(m: MetaData) -> None:
    table = m.tables["users"]
    for constraint in [c for c in table.constraints if c.__class__.__name__ == "UniqueConstraint"]:
        table.constraints.discard(constraint)


DRIFTS = [_shorter_name, _text_document, _extra_column, _not_nullable, _missing_index, _extra_index, _missing_unique]
if DIALECT == "postgresql":
    DRIFTS.append(_plain_json_document)  # JSON vs JSONB only differs on PostgreSQL


def test_the_comparison_notices_drift(database: Database) -> None:
    """Guards the check above against passing vacuously (e.g. a comparison option gone missing)."""
    schema.upgrade(database)
    for drift in DRIFTS:
        declared = _copy()
        drift(declared)
        assert differences(database, declared), f"{drift.__name__} went unnoticed"


def test_downgrade_to_base_and_upgrade_again(database: Database) -> None:
    schema.upgrade(database)
    migrate(database, command.downgrade, "base")
    assert schema.schema_state(database).empty
    assert table_names(database) <= {"alembic_version"}

    schema.upgrade(database)
    assert schema.schema_state(database).up_to_date
    assert differences(database) == []


def test_every_revision_upgrades_and_downgrades_one_step(database: Database) -> None:
    history = revisions()
    assert history, "no migrations"
    for revision in history:
        migrate(database, command.upgrade, revision)
        assert schema.schema_state(database).current == revision
    for previous in reversed(["base", *history[:-1]]):
        migrate(database, command.downgrade, "-1")
        assert schema.schema_state(database).current == (None if previous == "base" else previous)


# SQLite: upgrading an existing install keeps a backup ----------------------------------------
def _assert_upgrade_with_backup(tmp_path: Path, old_revision: str) -> None:
    data_dir = tmp_path / "data"
    settings = Settings(data_dir=data_dir)
    # An install at the old revision, with a row in a table every revision has.
    old = Database(settings.database_url, pool_size=1)
    try:
        data_dir.mkdir(mode=0o700, exist_ok=True)
        migrate(old, command.upgrade, old_revision)
        with old.write() as conn:
            conn.execute(text("INSERT INTO server_state (key, value) VALUES ('marker', 'kept')"))
    finally:
        old.dispose()

    prepared = prepare(settings)
    try:
        assert prepared.upgraded_from == old_revision
        assert prepared.backup is not None
        assert schema.schema_state(prepared.db).up_to_date
        with prepared.db.read() as conn:
            assert conn.execute(text("SELECT value FROM server_state WHERE key = 'marker'")).scalar() == "kept"
    finally:
        prepared.db.dispose()

    backup = Path(prepared.backup)
    assert backup.parent == data_dir / "backups"
    assert backup.is_file()
    assert stat.S_IMODE(backup.stat().st_mode) == 0o600
    assert stat.S_IMODE(backup.parent.stat().st_mode) == 0o700
    with sqlite3.connect(f"file:{backup}?mode=ro", uri=True) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        assert conn.execute("SELECT version_num FROM alembic_version").fetchall() == [(old_revision,)]
        assert conn.execute("SELECT value FROM server_state WHERE key = 'marker'").fetchall() == [("kept",)]

    # Starting again on the upgraded file neither upgrades nor backs up.
    again = prepare(settings)
    again.db.dispose()
    assert again.upgraded_from is None and again.backup is None
    assert list((data_dir / "backups").iterdir()) == [backup]


@pytest.mark.skipif(DIALECT != "sqlite", reason="SQLite only: PostgreSQL is upgraded by the operator")
def test_sqlite_upgrade_from_the_previous_revision_keeps_a_backup(tmp_path: Path) -> None:
    history = revisions()
    if len(history) < 2:
        pytest.skip(f"only one schema revision ({history[0]}) exists: no older install to upgrade yet")
    _assert_upgrade_with_backup(tmp_path, history[-2])


SYNTHETIC_REVISION = '''"""A later revision, for testing upgrades only."""

import sqlalchemy as sa
from alembic import op

revision = "9999_test"
down_revision = {head!r}
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table("upgrade_probe", sa.Column("id", sa.Integer(), primary_key=True))


def downgrade() -> None:
    op.drop_table("upgrade_probe")
'''


@pytest.mark.skipif(DIALECT != "sqlite", reason="SQLite only: PostgreSQL is upgraded by the operator")
def test_sqlite_upgrade_keeps_a_backup_with_a_synthetic_newer_revision(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The backup path of ``prepare``, exercised now with a throwaway revision on top of head."""
    head = schema.head_revision()
    migrations = tmp_path / "migrations"
    shutil.copytree(schema.MIGRATIONS, migrations, ignore=shutil.ignore_patterns("__pycache__"))
    (migrations / "versions" / "9999_test.py").write_text(SYNTHETIC_REVISION.format(head=head))
    monkeypatch.setattr(schema, "MIGRATIONS", migrations)
    monkeypatch.setattr(schema, "HEAD", "9999_test")
    assert schema.head_revision() == "9999_test"
    _assert_upgrade_with_backup(tmp_path, head)


def test_input_model_rows_are_backfilled(database: Database) -> None:
    """0011 writes a task_tags row of kind input_model for each distinct input model id of every
    task stored before it, skipping empty and non-string ids."""
    migrate(database, command.upgrade, "0010")
    document = (
        '{"models": {"input": [{"name": "a", "model": "m1"}, {"name": "b", "model": "m2"}, '
        '{"name": "c", "model": "m1"}, {"name": "d", "model": ""}, {"name": "e", "model": 7}, "junk"]}}'
    )
    with database.write() as conn:
        conn.execute(text("INSERT INTO companies (id, name, created) VALUES ('c1', 'c', CURRENT_TIMESTAMP)"))
        for task, doc in (("t1", document), ("t2", '{"models": {"input": []}}'), ("t3", "{}")):
            conn.execute(
                text(
                    "INSERT INTO tasks (id, company, \"user\", name, type, status, created, document) "
                    "VALUES (:id, 'c1', 'u1', 'n', 'training', 'created', CURRENT_TIMESTAMP, :doc)"
                ),
                {"id": task, "doc": doc},
            )
    migrate(database, command.upgrade, "0011")
    with database.read() as conn:
        rows = conn.execute(text("SELECT task, tag, company FROM task_tags WHERE kind = 'input_model' ORDER BY tag")).all()
    assert [tuple(r) for r in rows] == [("t1", "m1", "c1"), ("t1", "m2", "c1")]
    migrate(database, command.downgrade, "0010")
    with database.read() as conn:
        assert conn.execute(text("SELECT count(*) FROM task_tags WHERE kind = 'input_model'")).scalar() == 0


def _insert_hyperparams(conn, task: str) -> None:  # type: ignore[no-untyped-def]
    for name, value, key in (("lr", "0.1", b"\x01lr"), ("empty", None, None)):
        conn.execute(
            text(
                "INSERT INTO task_hyperparams (task, section, name, company, value, sort_key, task_key) "
                "VALUES (:task, 'Args', :name, 'c1', :value, :key, :tk)"
            ),
            {"task": task, "name": name, "value": value, "key": key, "tk": task.encode()},
        )


def _insert_metrics(conn, task: str) -> None:  # type: ignore[no-untyped-def]
    for metric, value in (("m1", 0.5), ("m2", -1.25)):
        conn.execute(
            text(
                "INSERT INTO task_metrics (task, metric_hash, variant_hash, company, metric, variant, value, iter, "
                "timestamp, min_value, min_value_iteration, max_value, max_value_iteration, first_value, "
                "first_value_iteration, count, total) VALUES (:task, :metric, 'v', 'c1', :metric, 'v', :value, 3, "
                "1000, :value, 3, :value, 3, :value, 3, 1, :value)"
            ),
            {"task": task, "metric": metric, "value": value},
        )


#: (table, the revision before the one that clusters it, that one, its columns to compare, an
#: insert of two rows for a task)
_CLUSTERED = {
    # 0014 also moves the project index to carry the id
    "task_hyperparams": ("0013", "0014", "task, section, name, company, value, sort_key, task_key", _insert_hyperparams),
    # PostgreSQL is unchanged by 0020
    "task_metrics": ("0019", "0020", "task, metric_hash, variant_hash, company, metric, value, iter, count", _insert_metrics),
}


def _rows(database: Database, table: str, columns: str) -> list[tuple]:
    """The rows in the order of their primary key (the first three of ``columns``)."""
    with database.read() as conn:
        return [tuple(r) for r in conn.execute(text(f"SELECT {columns} FROM {table} ORDER BY 1, 2, 3")).all()]


def _clustered(database: Database, table: str) -> bool:
    """SQLite: whether ``table`` is a WITHOUT ROWID table."""
    with database.read() as conn:
        sql = conn.execute(text("SELECT sql FROM sqlite_master WHERE name = :name"), {"name": table}).scalar_one()
    return "WITHOUT ROWID" in sql.upper()


@pytest.mark.parametrize("table", list(_CLUSTERED))
def test_rows_survive_a_clustered_table(database: Database, table: str) -> None:
    """The migrations that copy a table into a WITHOUT ROWID one on SQLite (and back on
    downgrade): every row survives both ways, and the foreign key to the task still cascades."""
    before_rev, rev, columns, insert_rows = _CLUSTERED[table]
    migrate(database, command.upgrade, before_rev)
    with database.write() as conn:
        conn.execute(text("INSERT INTO companies (id, name, created) VALUES ('c1', 'c', CURRENT_TIMESTAMP)"))
        for task in ("t1", "t2"):
            conn.execute(
                text(
                    "INSERT INTO tasks (id, company, \"user\", name, type, status, created, document) "
                    "VALUES (:id, 'c1', 'u1', 'n', 'training', 'created', CURRENT_TIMESTAMP, '{}')"
                ),
                {"id": task},
            )
            insert_rows(conn, task)
    before = _rows(database, table, columns)
    assert len(before) == 4
    migrate(database, command.upgrade, rev)
    assert _rows(database, table, columns) == before
    if DIALECT == "sqlite":
        assert _clustered(database, table)
    with database.write() as conn:  # the foreign key still cascades
        conn.execute(text("DELETE FROM tasks WHERE id = 't2'"))
    kept = [row for row in before if row[0] == "t1"]
    assert _rows(database, table, columns) == kept
    migrate(database, command.downgrade, before_rev)
    assert _rows(database, table, columns) == kept
    if DIALECT == "sqlite":
        assert not _clustered(database, table)


@pytest.mark.skipif(DIALECT != "sqlite", reason="SQLite's full-text index only")
def test_the_text_index_is_rebuilt_with_a_small_structure(database: Database) -> None:
    """0015 rebuilds the FTS5 index that the old merge job grew a level per full merge (SQLite
    3.40 reads 2,000 levels as corruption): the levels start again from a handful and every row
    is still found."""
    migrate(database, command.upgrade, "0014")
    with database.write() as conn:
        conn.execute(text("INSERT INTO companies (id, name, created) VALUES ('c1', 'c', CURRENT_TIMESTAMP)"))
    for i in range(40):  # the old job between writes: a full merge (of an index of many pages)
        row = {"id": f"t{i}", "name": f"resnet {i} " + " ".join(f"word{i}x{j}" for j in range(40))}
        with database.write() as conn:
            conn.execute(
                text(
                    "INSERT INTO tasks (id, company, \"user\", name, type, status, created, document) "
                    "VALUES (:id, 'c1', 'u1', :name, 'training', 'created', CURRENT_TIMESTAMP, '{}')"
                ),
                row,
            )
            conn.execute(text("INSERT INTO task_search (task, name) VALUES (:id, :name)"), row)
            conn.execute(text("INSERT INTO task_search_fts (task_search_fts, rank) VALUES ('merge', -64)"))
    with database.read() as conn:
        grown = fts5_levels(conn)
    migrate(database, command.upgrade, "0015")
    with database.read() as conn:
        # SQLite 3.40 grew ~2 levels per merge here (a newer SQLite may keep a few anyway)
        assert fts5_levels(conn) <= 4, grown
        found = conn.execute(text("SELECT count(*) FROM task_search_fts WHERE task_search_fts MATCH 'resnet'"))
        assert found.scalar_one() == 40
    with database.write() as conn:
        conn.execute(text("INSERT INTO task_search_fts (task_search_fts, rank) VALUES ('integrity-check', 1)"))


def _task_documents(database: Database) -> list[tuple[str, object, str]]:
    """(id, document, the column's type as PostgreSQL names it, or SQLite's declared type)."""
    with database.read() as conn:
        if DIALECT == "postgresql":
            kind = "SELECT pg_typeof(document)::text FROM tasks WHERE id = t.id"
        else:
            kind = "SELECT type FROM pragma_table_info('tasks') WHERE name = 'document'"
        rows = conn.execute(text(f"SELECT t.id, t.document, ({kind}) FROM tasks t ORDER BY t.id"))
        return [(row[0], row[1] if isinstance(row[1], dict) else json.loads(row[1]), row[2]) for row in rows]


def test_task_documents_survive_the_json_text_column(database: Database) -> None:
    """0018 turns ``tasks.document`` into ``json`` on PostgreSQL (``jsonb`` again on downgrade):
    every document reads back equal both ways; SQLite's column does not change."""
    migrate(database, command.upgrade, "0017")
    documents = {
        "t1": '{"script": {"diff": "a\\tb \\u00e9 \\"q\\""}, "hyperparams": {"Args": {"lr": {"value": "0.1"}}}}',
        "t2": '{"last_metrics": {"m": {"v": {"value": 1.5e-300, "max_value": 12345678901234567890}}}, "tags": []}',
        "t3": "{}",
    }
    with database.write() as conn:
        conn.execute(text("INSERT INTO companies (id, name, created) VALUES ('c1', 'c', CURRENT_TIMESTAMP)"))
        for task, doc in documents.items():
            conn.execute(
                text(
                    "INSERT INTO tasks (id, company, \"user\", name, type, status, created, document) "
                    "VALUES (:id, 'c1', 'u1', 'n', 'training', 'created', CURRENT_TIMESTAMP, :doc)"
                ),
                {"id": task, "doc": doc},
            )
    before = _task_documents(database)
    assert [doc for _, doc, _ in before] == [json.loads(d) for d in documents.values()]
    migrate(database, command.upgrade, "0018")
    after = _task_documents(database)
    assert [(t, d) for t, d, _ in after] == [(t, d) for t, d, _ in before]
    assert {kind for _, _, kind in after} == ({"json"} if DIALECT == "postgresql" else {before[0][2]})
    migrate(database, command.downgrade, "0017")
    again = _task_documents(database)
    assert [(t, d) for t, d, _ in again] == [(t, d) for t, d, _ in before]
    assert {kind for _, _, kind in again} == {before[0][2]}


def test_head_is_the_newest_migration() -> None:
    """``schema.HEAD`` spares servers Alembic; it must name the newest script."""
    config = Config()
    config.set_main_option("script_location", str(schema.MIGRATIONS))
    assert schema.HEAD == ScriptDirectory.from_config(config).get_current_head() == revisions()[-1]


def test_current_revision_as_alembic_reads_it(database: Database) -> None:
    with database.engine.connect() as conn:
        assert schema.current_revision(conn) is None == MigrationContext.configure(conn).get_current_revision()
    migrate(database, command.upgrade, "0010")
    with database.engine.connect() as conn:
        assert schema.current_revision(conn) == "0010" == MigrationContext.configure(conn).get_current_revision()
    with database.write() as conn:
        conn.execute(text("INSERT INTO alembic_version (version_num) VALUES ('0009')"))
    with database.engine.connect() as conn, pytest.raises(RuntimeError, match="several schema revisions: 0009, 0010"):
        schema.current_revision(conn)


def test_a_server_on_a_current_schema_never_imports_alembic(tmp_path: Path) -> None:
    """What ``skiff serve`` does before it serves, in a fresh interpreter: Alembic stays out of
    the process (it would cost ~11 MB for the server's lifetime) unless there is an upgrade."""
    settings = Settings(data_dir=tmp_path, db_url=new_database_url(tmp_path), jobs=False)
    database = Database(settings.database_url)
    schema.upgrade(database)
    database.dispose()
    script = (
        "import sys\n"
        "from skiff.app import create_app\n"
        "from skiff.ops.install import prepare\n"
        "from pathlib import Path\n"
        "from skiff.settings import Settings\n"
        f"settings = Settings(data_dir=Path({str(tmp_path)!r}), db_url={settings.database_url!r}, jobs=False)\n"
        "prepared = prepare(settings)\n"
        "create_app(settings, prepared.db)\n"
        "prepared.db.dispose()\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('alembic', 'mako')))\n"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"

