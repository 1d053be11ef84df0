"""An index of ``tasks`` on (id, company): the company scope of tasks found by id.

A query whose tasks come from another table (a hyperparameter's value, a tag, a metric range,
the text index) checks each task's company, ``company IN (own, public)``. Through the primary
key's index that meant reading the task's row, a page of the table per task. The http
benchmark's W4 (a parameter's value, ordered by a metric, a page of 50) checks 1% of the tasks
that way; its ids query took, in SQLite, 0.79-0.85 ms at N = 10,000 and 10.2-10.6 ms at
N = 100,000, and takes 0.61-0.66 and 7.7-8.4 ms with (id, company), whose entry answers. A create
writes one more index entry.

Revision ID: 0019
Revises: 0018
Create Date: 2026-11-29
"""

from alembic import op

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_tasks_id_company", "tasks", ["id", "company"])


def downgrade() -> None:
    op.drop_index("ix_tasks_id_company", table_name="tasks")
