"""Tasks: the task table with promoted columns and a JSON document; tag and hyperparameter side tables.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-27
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

Document = sa.JSON().with_variant(JSONB(), "postgresql")
ID = sa.String(64)


def upgrade() -> None:
    op.create_table(
        "tasks",
        sa.Column("id", ID, nullable=False),
        sa.Column("company", ID, nullable=False),
        sa.Column("company_origin", ID),
        sa.Column("user", ID, nullable=False),
        sa.Column("name", sa.String(1024), nullable=False),
        sa.Column("type", sa.String(32), nullable=False),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("project", ID),
        sa.Column("parent", ID),
        sa.Column("comment", sa.Text()),
        sa.Column("queue", ID),
        sa.Column("enqueue_status", sa.String(32)),
        sa.Column("created", sa.DateTime(), nullable=False),
        sa.Column("started", sa.DateTime()),
        sa.Column("completed", sa.DateTime()),
        sa.Column("published", sa.DateTime()),
        sa.Column("status_changed", sa.DateTime()),
        sa.Column("last_update", sa.DateTime()),
        sa.Column("last_change", sa.DateTime()),
        sa.Column("last_changed_by", ID),
        sa.Column("last_iteration", sa.BigInteger()),
        sa.Column("last_worker", sa.String(256)),
        sa.Column("last_worker_report", sa.DateTime()),
        sa.Column("active_duration", sa.BigInteger()),
        sa.Column("document", Document, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_tasks"),
    )
    op.create_index("ix_tasks_company_project_status", "tasks", ["company", "project", "status"])
    op.create_index("ix_tasks_company_last_update", "tasks", ["company", "last_update"])
    op.create_index("ix_tasks_company_created", "tasks", ["company", "created"])
    op.create_index("ix_tasks_company_name", "tasks", ["company", "name"])
    op.create_index("ix_tasks_company_status", "tasks", ["company", "status"])
    op.create_index("ix_tasks_parent", "tasks", ["parent"])
    op.create_index("ix_tasks_project", "tasks", ["project"])
    op.create_table(
        "task_tags",
        sa.Column("task", ID, nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("tag", sa.String(1024), nullable=False),
        sa.Column("company", ID, nullable=False),
        sa.PrimaryKeyConstraint("task", "kind", "tag", name="pk_task_tags"),
        sa.ForeignKeyConstraint(["task"], ["tasks.id"], name="fk_task_tags_task_tasks", ondelete="CASCADE"),
    )
    op.create_index("ix_task_tags_company_kind_tag", "task_tags", ["company", "kind", "tag"])
    op.create_table(
        "task_hyperparams",
        sa.Column("task", ID, nullable=False),
        sa.Column("section", sa.String(1024), nullable=False),
        sa.Column("name", sa.String(1024), nullable=False),
        sa.Column("company", ID, nullable=False),
        sa.Column("value", sa.Text()),
        sa.Column("num_value", sa.Float()),
        sa.PrimaryKeyConstraint("task", "section", "name", name="pk_task_hyperparams"),
        sa.ForeignKeyConstraint(
            ["task"], ["tasks.id"], name="fk_task_hyperparams_task_tasks", ondelete="CASCADE"
        ),
    )
    op.create_index(
        "ix_task_hyperparams_company_section_name_num_value",
        "task_hyperparams",
        ["company", "section", "name", "num_value"],
    )


def downgrade() -> None:
    op.drop_table("task_hyperparams")
    op.drop_table("task_tags")
    op.drop_table("tasks")
