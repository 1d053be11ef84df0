"""Index-only paths for a project's tasks ordered by a hyperparameter.

Both ways of answering such a page used to read rows that an index could have carried: a
project's tasks were found through (company, project, parent) and then read from ``tasks`` for
their id; each entry of the order index was read from ``task_hyperparams`` for its task, and that
task from ``tasks`` to check its company and project. At 100k tasks that was most of the query.

* ``tasks``: an index on (company, project, id).
* SQLite: ``task_hyperparams`` becomes a WITHOUT ROWID table clustered on (task, section, name):
  a task's value is one B-tree descent, and every secondary index carries ``task`` (the primary
  key) for free. The table is copied once.
* PostgreSQL: the order index includes ``task`` for index-only scans.

Revision ID: 0014
Revises: 0013
Create Date: 2026-11-27
"""

from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None

_ORDER = ("ix_task_hyperparams_order", "task_hyperparams", ["section", "name", "sort_key", "task_key"])


def _without_rowid(enabled: bool) -> None:
    """SQLite: copy ``task_hyperparams`` into a WITHOUT ROWID table (``enabled``) or back."""
    with op.batch_alter_table("task_hyperparams", recreate="always", table_kwargs={"sqlite_with_rowid": not enabled}):
        pass


def upgrade() -> None:
    op.create_index("ix_tasks_company_project_id", "tasks", ["company", "project", "id"])
    if op.get_bind().dialect.name == "sqlite":
        _without_rowid(True)
    else:
        op.drop_index(_ORDER[0], table_name=_ORDER[1])
        op.create_index(*_ORDER, postgresql_include=["task"])


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        _without_rowid(False)
    else:
        op.drop_index(_ORDER[0], table_name=_ORDER[1])
        op.create_index(*_ORDER)
    op.drop_index("ix_tasks_company_project_id", table_name="tasks")
