"""Queues: queues, their tags, their entries and metric samples; a default queue for every company.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-28
"""

import uuid
from datetime import datetime, timezone

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

Document = sa.JSON().with_variant(JSONB(), "postgresql")
ID = sa.String(64)


def upgrade() -> None:
    op.create_table(
        "queues",
        sa.Column("id", ID, nullable=False),
        sa.Column("company", ID, nullable=False),
        sa.Column("name", sa.String(256), nullable=False),
        sa.Column("display_name", sa.String(256)),
        sa.Column("created", sa.DateTime(), nullable=False),
        sa.Column("last_update", sa.DateTime()),
        sa.Column("metadata", Document, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_queues"),
        sa.ForeignKeyConstraint(
            ["company"], ["companies.id"], name="fk_queues_company_companies", ondelete="CASCADE"
        ),
        sa.UniqueConstraint("company", "name", name="uq_queues_company_name"),
    )
    op.create_table(
        "queue_tags",
        sa.Column("queue", ID, nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("tag", sa.String(255), nullable=False),
        sa.Column("company", ID, nullable=False),
        sa.PrimaryKeyConstraint("queue", "kind", "tag", name="pk_queue_tags"),
        sa.ForeignKeyConstraint(["queue"], ["queues.id"], name="fk_queue_tags_queue_queues", ondelete="CASCADE"),
    )
    op.create_index("ix_queue_tags_company_kind_tag", "queue_tags", ["company", "kind", "tag"])
    op.create_table(
        "queue_entries",
        sa.Column("task", ID, nullable=False),
        sa.Column("queue", ID, nullable=False),
        sa.Column("position", sa.BigInteger(), nullable=False),
        sa.Column("added", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("task", name="pk_queue_entries"),
        sa.ForeignKeyConstraint(["task"], ["tasks.id"], name="fk_queue_entries_task_tasks", ondelete="CASCADE"),
        sa.ForeignKeyConstraint(
            ["queue"], ["queues.id"], name="fk_queue_entries_queue_queues", ondelete="CASCADE"
        ),
    )
    op.create_index("ix_queue_entries_queue_position", "queue_entries", ["queue", "position"])
    op.create_table(
        "queue_metrics",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False),
        sa.Column("company", ID, nullable=False),
        sa.Column("queue", ID, nullable=False),
        sa.Column("timestamp", sa.BigInteger(), nullable=False),
        sa.Column("queue_length", sa.Integer(), nullable=False),
        sa.Column("avg_waiting_time", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_queue_metrics"),
        sa.ForeignKeyConstraint(
            ["company"], ["companies.id"], name="fk_queue_metrics_company_companies", ondelete="CASCADE"
        ),
    )
    op.create_index("ix_queue_metrics_company_timestamp", "queue_metrics", ["company", "timestamp"])
    op.create_index("ix_queue_metrics_queue_timestamp", "queue_metrics", ["queue", "timestamp"])
    _default_queues()


def _default_queues() -> None:
    """Every existing company gets its default queue (new ones get it when they are created)."""
    conn = op.get_bind()
    now = datetime.now(timezone.utc).replace(tzinfo=None, microsecond=0)
    queues = sa.table(
        "queues",
        sa.column("id"),
        sa.column("company"),
        sa.column("name"),
        sa.column("created"),
        sa.column("last_update"),
        sa.column("metadata", Document),
    )
    tags = sa.table("queue_tags", sa.column("queue"), sa.column("kind"), sa.column("tag"), sa.column("company"))
    for (company,) in conn.execute(sa.text("SELECT id FROM companies")):
        queue = uuid.uuid4().hex
        conn.execute(
            queues.insert().values(
                id=queue, company=company, name="default", created=now, last_update=now, metadata={}
            )
        )
        conn.execute(tags.insert().values(queue=queue, kind="system_tags", tag="default", company=company))


def downgrade() -> None:
    op.drop_index("ix_queue_metrics_queue_timestamp", table_name="queue_metrics")
    op.drop_index("ix_queue_metrics_company_timestamp", table_name="queue_metrics")
    op.drop_table("queue_metrics")
    op.drop_index("ix_queue_entries_queue_position", table_name="queue_entries")
    op.drop_table("queue_entries")
    op.drop_index("ix_queue_tags_company_kind_tag", table_name="queue_tags")
    op.drop_table("queue_tags")
    op.drop_table("queues")
