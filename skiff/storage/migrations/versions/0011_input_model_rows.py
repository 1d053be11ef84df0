"""Input model ids of every task as task_tags rows of kind ``input_model`` (the array list field
``models.input.model`` of spec tasks-queries §2.4, and the tasks-using-a-model lookups).

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-27
"""

from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

_SQLITE = """
INSERT OR IGNORE INTO task_tags (task, kind, tag, company)
SELECT DISTINCT t.id, 'input_model', json_extract(i.value, '$.model'), t.company
FROM tasks AS t, json_each(t.document, '$.models.input') AS i
WHERE i.type = 'object' AND json_type(i.value, '$.model') = 'text' AND json_extract(i.value, '$.model') <> ''
"""

_POSTGRESQL = """
INSERT INTO task_tags (task, kind, tag, company)
SELECT DISTINCT t.id, 'input_model', i.value ->> 'model', t.company
FROM tasks AS t,
     jsonb_array_elements(
         CASE WHEN jsonb_typeof(t.document -> 'models' -> 'input') = 'array'
              THEN t.document -> 'models' -> 'input' ELSE '[]'::jsonb END
     ) AS i(value)
WHERE jsonb_typeof(i.value -> 'model') = 'string' AND i.value ->> 'model' <> ''
ON CONFLICT DO NOTHING
"""


def upgrade() -> None:
    op.execute(_POSTGRESQL if op.get_bind().dialect.name == "postgresql" else _SQLITE)


def downgrade() -> None:
    op.execute("DELETE FROM task_tags WHERE kind = 'input_model'")
