"""Ordering by a hyperparameter walks an index instead of sorting every task of the project:
``task_hyperparams`` gains ``sort_key`` (the value's natural order as bytes) and ``task_key``
(the natural order of the task id, the tie-break), filled for the existing rows, and the index
(section, name, sort_key, task_key).

Revision ID: 0013
Revises: 0012
Create Date: 2026-11-27
"""

import sqlalchemy as sa
from alembic import op

from skiff.domain.natural_order import sort_key, tie_key

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

#: tasks per backfill batch
_BATCH = 1000


def upgrade() -> None:
    with op.batch_alter_table("task_hyperparams") as batch:
        batch.add_column(sa.Column("sort_key", sa.LargeBinary(), nullable=True))
        batch.add_column(sa.Column("task_key", sa.LargeBinary(), nullable=True))
    conn = op.get_bind()
    params = sa.table(
        "task_hyperparams", sa.column("task"), sa.column("section"), sa.column("name"), sa.column("value"),
        sa.column("sort_key"), sa.column("task_key"),
    )  # fmt: skip
    tasks = sa.table("tasks", sa.column("id"))
    update = (
        params.update()
        .where(params.c.task == sa.bindparam("t"), params.c.section == sa.bindparam("s"), params.c.name == sa.bindparam("n"))
        .values(sort_key=sa.bindparam("k"), task_key=sa.bindparam("tk"))
    )
    last = ""
    while ids := conn.execute(sa.select(tasks.c.id).where(tasks.c.id > last).order_by(tasks.c.id).limit(_BATCH)).scalars().all():
        last = ids[-1]
        rows = conn.execute(
            sa.select(params.c.task, params.c.section, params.c.name, params.c.value).where(params.c.task.in_(ids))
        ).all()
        if rows:
            conn.execute(update, [
                {"t": t, "s": s, "n": n, "k": None if v is None else sort_key(v), "tk": tie_key(t)} for t, s, n, v in rows
            ])  # fmt: skip
    op.create_index("ix_task_hyperparams_order", "task_hyperparams", ["section", "name", "sort_key", "task_key"])


def downgrade() -> None:
    op.drop_index("ix_task_hyperparams_order", table_name="task_hyperparams")
    with op.batch_alter_table("task_hyperparams") as batch:
        batch.drop_column("task_key")
        batch.drop_column("sort_key")
