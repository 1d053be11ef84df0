"""Scroll states of tasks.get_all / get_all_ex / get_by_id_ex (spec tasks-queries §5.2).

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-27
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "scroll_states",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("expires_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_scroll_states"),
    )
    op.create_index("ix_scroll_states_expires_at", "scroll_states", ["expires_at"])


def downgrade() -> None:
    op.drop_index("ix_scroll_states_expires_at", table_name="scroll_states")
    op.drop_table("scroll_states")
