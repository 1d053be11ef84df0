"""Foundation: server state, companies, users, credentials.

Revision ID: 0001
Revises:
Create Date: 2026-11-27
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

Document = sa.JSON().with_variant(JSONB(), "postgresql")


def upgrade() -> None:
    op.create_table(
        "server_state",
        sa.Column("key", sa.String(64), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("key", name="pk_server_state"),
    )
    op.create_table(
        "companies",
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("name", sa.String(256), nullable=False),
        sa.Column("created", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_companies"),
    )
    op.create_table(
        "users",
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("company", sa.String(64), nullable=False),
        sa.Column("name", sa.String(256), nullable=False),
        sa.Column("given_name", sa.String(256)),
        sa.Column("family_name", sa.String(256)),
        sa.Column("email", sa.String(256)),
        sa.Column("avatar", sa.String(1024)),
        sa.Column("role", sa.String(32), nullable=False),
        sa.Column("created", sa.DateTime(), nullable=False),
        sa.Column("preferences", Document),
        sa.PrimaryKeyConstraint("id", name="pk_users"),
        sa.ForeignKeyConstraint(
            ["company"], ["companies.id"], name="fk_users_company_companies", ondelete="CASCADE"
        ),
        sa.UniqueConstraint("company", "name", name="uq_users_company_name"),
    )
    op.create_table(
        "credentials",
        sa.Column("access_key", sa.String(64), nullable=False),
        sa.Column("secret_hash", sa.String(256), nullable=False),
        sa.Column("user", sa.String(64), nullable=False),
        sa.Column("company", sa.String(64), nullable=False),
        sa.Column("label", sa.String(256)),
        sa.Column("created", sa.DateTime(), nullable=False),
        sa.Column("last_used", sa.DateTime()),
        sa.Column("last_used_from", sa.String(256)),
        sa.PrimaryKeyConstraint("access_key", name="pk_credentials"),
        sa.ForeignKeyConstraint(
            ["user"], ["users.id"], name="fk_credentials_user_users", ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["company"],
            ["companies.id"],
            name="fk_credentials_company_companies",
            ondelete="CASCADE",
        ),
    )
    op.create_index("ix_credentials_user", "credentials", ["user"])


def downgrade() -> None:
    op.drop_table("credentials")
    op.drop_table("users")
    op.drop_table("companies")
    op.drop_table("server_state")
