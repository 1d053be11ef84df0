"""Workers: registered workers, their runtime properties, and the leases of background jobs.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-28
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

Document = sa.JSON().with_variant(JSONB(), "postgresql")
ID = sa.String(64)


def upgrade() -> None:
    op.create_table(
        "workers",
        sa.Column("company", ID, nullable=False),
        sa.Column("user", ID, nullable=False),
        sa.Column("id", sa.String(256), nullable=False),
        sa.Column("ip", sa.String(256)),
        sa.Column("register_time", sa.DateTime(), nullable=False),
        sa.Column("timeout", sa.Integer(), nullable=False),
        sa.Column("last_activity", sa.DateTime(), nullable=False),
        sa.Column("last_report", sa.DateTime()),
        sa.Column("expires_at", sa.DateTime(), nullable=False),
        sa.Column("queue", ID),
        sa.Column("queues", Document, nullable=False),
        sa.Column("task", ID),
        sa.Column("project", ID),
        sa.Column("tags", Document, nullable=False),
        sa.Column("system_tags", Document, nullable=False),
        sa.PrimaryKeyConstraint("company", "user", "id", name="pk_workers"),
        sa.ForeignKeyConstraint(
            ["company"], ["companies.id"], name="fk_workers_company_companies", ondelete="CASCADE"
        ),
    )
    op.create_index("ix_workers_expires_at", "workers", ["expires_at"])
    op.create_table(
        "worker_runtime_properties",
        sa.Column("company", ID, nullable=False),
        sa.Column("user", ID, nullable=False),
        sa.Column("worker", sa.String(256), nullable=False),
        sa.Column("key", sa.String(256), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.Column("expires_at", sa.DateTime()),
        sa.PrimaryKeyConstraint("company", "user", "worker", "key", name="pk_worker_runtime_properties"),
        sa.ForeignKeyConstraint(
            ["company"],
            ["companies.id"],
            name="fk_worker_runtime_properties_company_companies",
            ondelete="CASCADE",
        ),
    )
    op.create_index(
        "ix_worker_runtime_properties_expires_at", "worker_runtime_properties", ["expires_at"]
    )
    op.create_table(
        "leases",
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("holder", sa.String(256), nullable=False),
        sa.Column("expires_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("name", name="pk_leases"),
    )


def downgrade() -> None:
    op.drop_table("leases")
    op.drop_table("worker_runtime_properties")
    op.drop_table("workers")
