"""Events: scalar points, other task events, and the per-series metric summaries.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-27
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

Document = sa.JSON().with_variant(JSONB(), "postgresql")
EventId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
ID = sa.String(64)


def upgrade() -> None:
    op.create_table(
        "scalar_events",
        sa.Column("id", EventId, nullable=False, autoincrement=True),
        sa.Column("task", ID, nullable=False),
        sa.Column("metric", sa.String(255), nullable=False),
        sa.Column("variant", sa.String(255), nullable=False),
        sa.Column("iter", sa.BigInteger(), nullable=False),
        sa.Column("timestamp", sa.BigInteger(), nullable=False),
        sa.Column("value", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_scalar_events"),
    )
    op.create_index(
        "ix_scalar_events_task_metric_variant_iter", "scalar_events", ["task", "metric", "variant", "iter"]
    )
    op.create_table(
        "task_events",
        sa.Column("id", EventId, nullable=False, autoincrement=True),
        sa.Column("task", ID, nullable=False),
        sa.Column("type", sa.String(32), nullable=False),
        sa.Column("timestamp", sa.BigInteger(), nullable=False),
        sa.Column("iter", sa.BigInteger()),
        sa.Column("metric", sa.String(255), nullable=False),
        sa.Column("variant", sa.String(255), nullable=False),
        sa.Column("payload", Document, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_task_events"),
    )
    op.create_index("ix_task_events_task_type_timestamp", "task_events", ["task", "type", "timestamp"])
    op.create_table(
        "task_metrics",
        sa.Column("task", ID, nullable=False),
        sa.Column("metric_hash", sa.String(32), nullable=False),
        sa.Column("variant_hash", sa.String(32), nullable=False),
        sa.Column("company", ID, nullable=False),
        sa.Column("metric", sa.String(255), nullable=False),
        sa.Column("variant", sa.String(255), nullable=False),
        sa.Column("value", sa.Float(), nullable=False),
        sa.Column("iter", sa.BigInteger(), nullable=False),
        sa.Column("timestamp", sa.BigInteger(), nullable=False),
        sa.Column("min_value", sa.Float(), nullable=False),
        sa.Column("min_value_iteration", sa.BigInteger(), nullable=False),
        sa.Column("max_value", sa.Float(), nullable=False),
        sa.Column("max_value_iteration", sa.BigInteger(), nullable=False),
        sa.Column("first_value", sa.Float(), nullable=False),
        sa.Column("first_value_iteration", sa.BigInteger(), nullable=False),
        sa.Column("count", sa.BigInteger(), nullable=False),
        sa.Column("total", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("task", "metric_hash", "variant_hash", name="pk_task_metrics"),
        sa.ForeignKeyConstraint(["task"], ["tasks.id"], name="fk_task_metrics_task_tasks", ondelete="CASCADE"),
    )
    op.create_index(
        "ix_task_metrics_company_metric_hash_variant_hash_value",
        "task_metrics",
        ["company", "metric_hash", "variant_hash", "value"],
    )


def downgrade() -> None:
    op.drop_table("task_metrics")
    op.drop_table("task_events")
    op.drop_table("scalar_events")
