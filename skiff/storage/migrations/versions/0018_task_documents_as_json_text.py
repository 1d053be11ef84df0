"""PostgreSQL: ``tasks.document`` becomes ``json`` (the text as written) instead of ``jsonb``.

Task documents are read back whole on nearly every call (get-by-id, every page of a listing),
and PostgreSQL converts a ``jsonb`` value back into text on each read: a page of 50 documents
of the benchmark (N = 10,000) cost 2.9-3.0 ms of server CPU as ``jsonb`` and 1.2 ms as ``json``,
which is stored and returned as the text it was given. Writing it validates the text without
building the binary form. The filters on a path inside the document (``runtime.*`` and other
document fields) convert just the value found there (``dialects.expressions``). Keys keep the
order the server wrote them in, as on SQLite; ``jsonb`` had sorted them. SQLite stores JSON as
text already.

Revision ID: 0018
Revises: 0017
Create Date: 2026-11-29
"""

from alembic import op

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE tasks ALTER COLUMN document TYPE json USING document::json")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE tasks ALTER COLUMN document TYPE jsonb USING document::jsonb")
