"""SQLite: rebuild the full-text index, whose structure the old merge job kept growing.

The text-index job used to merge every segment into one (``merge`` with a negative page count).
In SQLite 3.40 each such full merge adds a level to the FTS5 structure and none is removed; at
2,000 levels FTS5 reports the index as corrupt and every write to ``task_search`` fails. The job
now merges within levels only (``storage/repos/text_index``). ``rebuild`` re-indexes every row
of ``task_search`` with a new structure (26,757 tasks: 0.08 s), so a database that ran the old
job starts again from a handful of levels. PostgreSQL: nothing to do.

Revision ID: 0015
Revises: 0014
Create Date: 2026-11-28
"""

from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        op.execute("INSERT INTO task_search_fts (task_search_fts) VALUES ('rebuild')")


def downgrade() -> None:
    pass  # the rebuilt index is the same index
