"""Models: the models table with promoted columns and a JSON document; the model tag side table.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-28
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

Document = sa.JSON().with_variant(JSONB(), "postgresql")
ID = sa.String(64)


def upgrade() -> None:
    op.create_table(
        "models",
        sa.Column("id", ID, nullable=False),
        sa.Column("company", ID, nullable=False),
        sa.Column("company_origin", ID),
        sa.Column("user", ID, nullable=False),
        sa.Column("name", sa.String(1024), nullable=False),
        sa.Column("project", ID),
        sa.Column("task", ID),
        sa.Column("parent", ID),
        sa.Column("framework", sa.String(256)),
        sa.Column("uri", sa.Text()),
        sa.Column("ready", sa.Boolean(), nullable=False),
        sa.Column("comment", sa.Text()),
        sa.Column("created", sa.DateTime(), nullable=False),
        sa.Column("last_update", sa.DateTime()),
        sa.Column("last_change", sa.DateTime()),
        sa.Column("last_changed_by", ID),
        sa.Column("document", Document, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_models"),
    )
    op.create_index("ix_models_company_project", "models", ["company", "project"])
    op.create_index("ix_models_company_created", "models", ["company", "created"])
    op.create_index("ix_models_company_name", "models", ["company", "name"])
    op.create_index("ix_models_task", "models", ["task"])
    op.create_index("ix_models_parent", "models", ["parent"])
    op.create_index("ix_models_project", "models", ["project"])
    op.create_table(
        "model_tags",
        sa.Column("model", ID, nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("tag", sa.String(1024), nullable=False),
        sa.Column("company", ID, nullable=False),
        sa.PrimaryKeyConstraint("model", "kind", "tag", name="pk_model_tags"),
        sa.ForeignKeyConstraint(["model"], ["models.id"], name="fk_model_tags_model_models", ondelete="CASCADE"),
    )
    op.create_index("ix_model_tags_company_kind_tag", "model_tags", ["company", "kind", "tag"])


def downgrade() -> None:
    op.drop_table("model_tags")
    op.drop_table("models")
