"""Task search and ordering: the full-text index of ``search_text``, the natural collation, and the
indexes of the task query access paths (spec tasks-queries §2.10, §4.3, §10).

- ``task_search`` (one row of indexed text per task, backfilled here) with, on SQLite, an
  external-content FTS5 table kept in step by triggers and, on PostgreSQL, a weighted generated
  ``tsvector`` column with a GIN index;
- PostgreSQL: the ICU collation ``natural_sort`` (en-US, numeric ordering);
- ``task_hyperparams.num_value`` goes: hyperparameters now sort by the collation, and the value
  index is ``(section, name, value)`` for values up to 256 characters;
- listing, filter-menu and date indexes on ``tasks``; ``(kind, tag, task)`` on ``task_tags``;
  ``(metric_hash, variant_hash, value)`` on ``task_metrics``.

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-27
"""

import math

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

from skiff.domain.text_search import text_index_values

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

TEXT_COLUMNS = ("name", "task", "comment", "report", "input_models", "output_models", "repository", "entry_point")
#: PostgreSQL weight labels of the text columns: A (weight 10), B (2), C (1)
LABELS = ("A", "A", "A", "A", "B", "B", "C", "C")
VALUE_INDEX_WHERE = "length(value) <= 256"

NEW_TASK_INDEXES = (
    ("company", "project", "status", "type"),
    ("company", "project", "user"),
    ("company", "project", "parent"),
    ("company", "status", "type"),
    ("company", "type"),
    ("company", "user"),
    ("company", "parent"),
    ("status", "last_update"),
    ("created",),
    ("started",),
    ("completed",),
    ("last_update",),
    ("status_changed",),
    ("active_duration",),
)
OLD_TASK_INDEXES = (("company", "project", "status"), ("company", "status"))


def _name(table: str, columns: tuple[str, ...]) -> str:
    return f"ix_{table}_{'_'.join(columns)}"


def _sqlite_fts() -> None:
    cols = ", ".join(TEXT_COLUMNS)
    new = ", ".join(f"new.{c}" for c in TEXT_COLUMNS)
    old = ", ".join(f"old.{c}" for c in TEXT_COLUMNS)
    op.execute(
        f"CREATE VIRTUAL TABLE task_search_fts USING fts5({cols}, content='task_search', "
        "content_rowid='docid', tokenize='porter unicode61 remove_diacritics 2')"
    )
    delete = f"INSERT INTO task_search_fts(task_search_fts, rowid, {cols}) VALUES ('delete', old.docid, {old});"
    insert = f"INSERT INTO task_search_fts(rowid, {cols}) VALUES (new.docid, {new});"
    op.execute(f"CREATE TRIGGER task_search_ai AFTER INSERT ON task_search BEGIN {insert} END")
    op.execute(f"CREATE TRIGGER task_search_ad AFTER DELETE ON task_search BEGIN {delete} END")
    op.execute(f"CREATE TRIGGER task_search_au AFTER UPDATE ON task_search BEGIN {delete} {insert} END")


def _postgresql_vector() -> None:
    vector = " || ".join(
        f"setweight(to_tsvector('english'::regconfig, coalesce({c}, '')), '{label}')"
        for c, label in zip(TEXT_COLUMNS, LABELS)
    )
    op.execute(f"ALTER TABLE task_search ADD COLUMN vector tsvector GENERATED ALWAYS AS ({vector}) STORED")
    op.execute("CREATE INDEX ix_task_search_vector ON task_search USING gin (vector)")


def _backfill_search() -> None:
    conn = op.get_bind()
    tasks = sa.table(
        "tasks",
        sa.column("id", sa.String),
        sa.column("name", sa.String),
        sa.column("comment", sa.Text),
        sa.column("document", sa.JSON().with_variant(JSONB(), "postgresql")),
    )
    search = sa.table("task_search", *[sa.column(c, sa.Text) for c in TEXT_COLUMNS])
    rows = []
    for row in conn.execute(sa.select(tasks.c.id, tasks.c.name, tasks.c.comment, tasks.c.document)):
        doc = {**(row.document or {}), "id": row.id, "name": row.name, "comment": row.comment}
        rows.append(dict(zip(TEXT_COLUMNS, text_index_values(doc))))
        if len(rows) >= 1000:
            conn.execute(sa.insert(search), rows)
            rows = []
    if rows:
        conn.execute(sa.insert(search), rows)


def upgrade() -> None:
    dialect = op.get_bind().dialect.name
    if dialect == "postgresql":
        op.execute("CREATE COLLATION natural_sort (provider = icu, locale = 'en-US-u-kn-true')")

    op.create_table(
        "task_search",
        sa.Column("docid", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False, autoincrement=True),
        sa.Column("task", sa.String(64), nullable=False),
        *[sa.Column(c, sa.Text()) for c in TEXT_COLUMNS if c != "task"],
        sa.PrimaryKeyConstraint("docid", name="pk_task_search"),
        sa.ForeignKeyConstraint(["task"], ["tasks.id"], name="fk_task_search_task_tasks", ondelete="CASCADE"),
        sa.UniqueConstraint("task", name="uq_task_search_task"),
    )
    if dialect == "sqlite":
        _sqlite_fts()
    else:
        _postgresql_vector()
    _backfill_search()

    op.drop_index("ix_task_hyperparams_company_section_name_num_value", table_name="task_hyperparams")
    with op.batch_alter_table("task_hyperparams") as batch:
        batch.drop_column("num_value")
    op.create_index(
        "ix_task_hyperparams_section_name_value",
        "task_hyperparams",
        ["section", "name", "value"],
        sqlite_where=sa.text(VALUE_INDEX_WHERE),
        postgresql_where=sa.text(VALUE_INDEX_WHERE),
    )

    for columns in OLD_TASK_INDEXES:
        op.drop_index(_name("tasks", columns), table_name="tasks")
    for columns in NEW_TASK_INDEXES:
        op.create_index(_name("tasks", columns), "tasks", list(columns))
    op.create_index("ix_task_tags_kind_tag_task", "task_tags", ["kind", "tag", "task"])
    op.create_index("ix_task_metrics_metric_hash_variant_hash_value", "task_metrics", ["metric_hash", "variant_hash", "value"])


def _number(value: object) -> float | None:
    """0009's ``num_value``: the value as a finite number when it parses as one."""
    try:
        number = float(str(value).strip()) if isinstance(value, str) else None
    except ValueError:
        return None
    return number if number is not None and math.isfinite(number) else None


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    op.drop_index("ix_task_metrics_metric_hash_variant_hash_value", table_name="task_metrics")
    op.drop_index("ix_task_tags_kind_tag_task", table_name="task_tags")
    for columns in NEW_TASK_INDEXES:
        op.drop_index(_name("tasks", columns), table_name="tasks")
    for columns in OLD_TASK_INDEXES:
        op.create_index(_name("tasks", columns), "tasks", list(columns))

    op.drop_index("ix_task_hyperparams_section_name_value", table_name="task_hyperparams")
    with op.batch_alter_table("task_hyperparams") as batch:
        batch.add_column(sa.Column("num_value", sa.Float()))
    conn = op.get_bind()
    params = sa.table(
        "task_hyperparams",
        *[sa.column(c, sa.String) for c in ("task", "section", "name", "value")],
        sa.column("num_value", sa.Float),
    )
    for row in conn.execute(sa.select(params.c.task, params.c.section, params.c.name, params.c.value)).all():
        number = _number(row.value)
        if number is not None:
            conn.execute(
                params.update()
                .where(params.c.task == row.task, params.c.section == row.section, params.c.name == row.name)
                .values(num_value=number)
            )
    op.create_index(
        "ix_task_hyperparams_company_section_name_num_value",
        "task_hyperparams",
        ["company", "section", "name", "num_value"],
    )

    if dialect == "sqlite":
        for trigger in ("task_search_ai", "task_search_ad", "task_search_au"):
            op.execute(f"DROP TRIGGER {trigger}")
        op.execute("DROP TABLE task_search_fts")
    op.drop_table("task_search")
    if dialect == "postgresql":
        op.execute("DROP COLLATION natural_sort")
