"""One scalar point per (task, metric, variant, iteration).

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-27
"""

from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

_INDEX = "ix_scalar_events_task_metric_variant_iter"
_COLUMNS = ["task", "metric", "variant", "iter"]


def upgrade() -> None:
    # keep the last report of each point (the highest id), as a re-report replaces it from now on
    op.execute(
        "DELETE FROM scalar_events WHERE id NOT IN "
        "(SELECT MAX(id) FROM scalar_events GROUP BY task, metric, variant, iter)"
    )
    op.drop_index(_INDEX, table_name="scalar_events")
    op.create_index(_INDEX, "scalar_events", _COLUMNS, unique=True)


def downgrade() -> None:
    op.drop_index(_INDEX, table_name="scalar_events")
    op.create_index(_INDEX, "scalar_events", _COLUMNS)
