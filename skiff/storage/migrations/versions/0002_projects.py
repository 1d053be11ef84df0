"""Projects: the project tree and its tags.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-27
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

Document = sa.JSON().with_variant(JSONB(), "postgresql")


def upgrade() -> None:
    op.create_table(
        "projects",
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("company", sa.String(64), nullable=False),
        sa.Column("user", sa.String(64), nullable=False),
        sa.Column("name", sa.String(512), nullable=False),
        sa.Column("basename", sa.String(512), nullable=False),
        sa.Column("description", sa.Text()),
        sa.Column("parent", sa.String(64)),
        sa.Column("path", Document, nullable=False),
        sa.Column("default_output_destination", sa.Text()),
        sa.Column("created", sa.DateTime(), nullable=False),
        sa.Column("last_update", sa.DateTime()),
        sa.PrimaryKeyConstraint("id", name="pk_projects"),
        sa.ForeignKeyConstraint(
            ["company"], ["companies.id"], name="fk_projects_company_companies", ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["parent"], ["projects.id"], name="fk_projects_parent_projects", ondelete="CASCADE"
        ),
        sa.UniqueConstraint("company", "name", name="uq_projects_company_name"),
    )
    op.create_index("ix_projects_parent", "projects", ["parent"])
    op.create_table(
        "project_tags",
        sa.Column("project", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("tag", sa.String(255), nullable=False),
        sa.PrimaryKeyConstraint("project", "kind", "tag", name="pk_project_tags"),
        sa.ForeignKeyConstraint(
            ["project"], ["projects.id"], name="fk_project_tags_project_projects", ondelete="CASCADE"
        ),
    )


def downgrade() -> None:
    op.drop_table("project_tags")
    op.drop_index("ix_projects_parent", table_name="projects")
    op.drop_table("projects")
