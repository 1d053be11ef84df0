"""Index-ordered listing of a project's tasks by last_update, with or without a status filter
(benchmarks/queries.py: at 100k tasks the page went from a sort of the whole project, 55.6 ms, to
0.7 ms); (project) alone is a prefix of the new (project, last_update).

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-27
"""

from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_index("ix_tasks_project", table_name="tasks")
    op.create_index("ix_tasks_project_last_update", "tasks", ["project", "last_update"])
    op.create_index("ix_tasks_project_status_last_update", "tasks", ["project", "status", "last_update"])


def downgrade() -> None:
    op.drop_index("ix_tasks_project_status_last_update", table_name="tasks")
    op.drop_index("ix_tasks_project_last_update", table_name="tasks")
    op.create_index("ix_tasks_project", "tasks", ["project"])
