"""The schema, declared once for both dialects. Migrations in ``migrations/`` build it step by step;
a test checks that the upgraded database matches these declarations exactly."""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    column,
    literal_column,
    table,
)
from sqlalchemy.dialects.postgresql import JSONB, TSVECTOR

NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

metadata = MetaData(naming_convention=NAMING)

#: JSON documents: JSONB on PostgreSQL, JSON text on SQLite.
Document = JSON().with_variant(JSONB(), "postgresql")

#: Task documents: JSON text on both. They are read back whole far more often than searched
#: inside, and PostgreSQL turns a JSONB value back into text on every read (jsonb_out): a page
#: of 50 cost 2.9-3.0 ms of server CPU as JSONB against 1.2 ms as ``json``, which it stores as
#: the text it was given (migration 0018). The few filters on paths inside the document cast
#: the value found there to JSONB (``dialects.expressions``).
TaskDocument = JSON()

ID = String(64)

server_state = Table(
    "server_state",
    metadata,
    Column("key", String(64), primary_key=True),
    Column("value", Text, nullable=False),
)

companies = Table(
    "companies",
    metadata,
    Column("id", ID, primary_key=True),
    Column("name", String(256), nullable=False),
    Column("created", DateTime, nullable=False),
)

users = Table(
    "users",
    metadata,
    Column("id", ID, primary_key=True),
    Column("company", ID, ForeignKey("companies.id", ondelete="CASCADE"), nullable=False),
    Column("name", String(256), nullable=False),
    Column("given_name", String(256)),
    Column("family_name", String(256)),
    Column("email", String(256)),
    Column("avatar", String(1024)),
    Column("role", String(32), nullable=False),
    Column("created", DateTime, nullable=False),
    Column("preferences", Document),
    UniqueConstraint("company", "name"),
)

credentials = Table(
    "credentials",
    metadata,
    Column("access_key", String(64), primary_key=True),
    Column("secret_hash", String(256), nullable=False),
    Column("user", ID, ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    Column("company", ID, ForeignKey("companies.id", ondelete="CASCADE"), nullable=False),
    Column("label", String(256)),
    Column("created", DateTime, nullable=False),
    Column("last_used", DateTime),
    Column("last_used_from", String(256)),
    Index(None, "user"),
)

#: Projects form a tree by full name ("a/b/c"): ``parent`` is the direct parent's id and ``path``
#: the ancestor ids, root first (what clients read). Full names are unique per company; the unique
#: constraint, not a read-then-insert check, is what stops two racing creators.
projects = Table(
    "projects",
    metadata,
    Column("id", ID, primary_key=True),
    Column("company", ID, ForeignKey("companies.id", ondelete="CASCADE"), nullable=False),
    Column("user", ID, nullable=False),  # the creator; no foreign key: projects outlive users
    Column("name", String(512), nullable=False),
    Column("basename", String(512), nullable=False),
    Column("description", Text),
    Column("parent", ID, ForeignKey("projects.id", ondelete="CASCADE")),
    Column("path", Document, nullable=False),
    Column("default_output_destination", Text),
    Column("created", DateTime, nullable=False),
    Column("last_update", DateTime),
    UniqueConstraint("company", "name"),
    Index(None, "parent"),
)

#: Tags and system tags of projects, one row each; ``kind`` is "tags" or "system_tags".
project_tags = Table(
    "project_tags",
    metadata,
    Column("project", ID, ForeignKey("projects.id", ondelete="CASCADE"), primary_key=True),
    Column("kind", String(16), primary_key=True),
    Column("tag", String(255), primary_key=True),
)

#: Tasks: the scalar fields clients filter and sort on are promoted to columns; everything else
#: (script, execution, hyperparams, configuration, models, tags …) is in ``document``.
#: ``company`` is "" for a public task (its owner is then in ``company_origin``), so it carries no
#: foreign key. ``queue`` mirrors ``execution.queue``.
tasks = Table(
    "tasks",
    metadata,
    Column("id", ID, primary_key=True),
    Column("company", ID, nullable=False),
    Column("company_origin", ID),
    Column("user", ID, nullable=False),
    Column("name", String(1024), nullable=False),
    Column("type", String(32), nullable=False),
    Column("status", String(32), nullable=False),
    Column("project", ID),
    Column("parent", ID),
    Column("comment", Text),
    Column("queue", ID),
    Column("enqueue_status", String(32)),
    Column("created", DateTime, nullable=False),
    Column("started", DateTime),
    Column("completed", DateTime),
    Column("published", DateTime),
    Column("status_changed", DateTime),
    Column("last_update", DateTime),
    Column("last_change", DateTime),
    Column("last_changed_by", ID),
    Column("last_iteration", BigInteger),
    Column("last_worker", String(256)),
    Column("last_worker_report", DateTime),
    Column("active_duration", BigInteger),
    Column("document", TaskDocument, nullable=False),
    # the access paths of spec tasks-queries §10: company-scoped listing and filter menus, date
    # sorts, and the watchdog's (status, last_update). Not (company, created), (company,
    # last_update), (company, parent) nor (company, project, parent) (dropped by migration 0017):
    # the company scope is an IN (own, public), so sorts walk the single-column date indexes, and
    # a parent is one task's id, whose children (parent) finds; each cost a create 1.2-2.2 WAL pages.
    Index(None, "company", "project", "status", "type"),
    Index(None, "company", "project", "user"),
    # a project's ids without reading its rows: those a sort by a parameter joins, and the
    # check that a task found through the parameter's order index is in scope
    Index(None, "company", "project", "id"),
    # the company scope of tasks found by id through another table (a parameter's value, a tag,
    # a metric, the text index): the entry answers it, where the primary key's led to the row
    Index(None, "id", "company"),
    Index(None, "company", "status", "type"),
    Index(None, "company", "type"),
    Index(None, "company", "user"),
    Index(None, "company", "name"),
    Index(None, "status", "last_update"),
    Index(None, "created"),
    Index(None, "started"),
    Index(None, "completed"),
    Index(None, "last_update"),
    Index(None, "status_changed"),
    Index(None, "active_duration"),
    Index(None, "parent"),
    # a project's tasks newest first, read in index order: the company condition is an IN (own,
    # public) and would otherwise force a sort of the whole project (project ids are global)
    Index(None, "project", "last_update"),
    Index(None, "project", "status", "last_update"),
)

#: One row per tag of a task; ``kind`` is "tags" or "system_tags".
task_tags = Table(
    "task_tags",
    metadata,
    Column("task", ID, ForeignKey("tasks.id", ondelete="CASCADE"), primary_key=True),
    Column("kind", String(16), primary_key=True),
    Column("tag", String(1024), primary_key=True),
    Column("company", ID, nullable=False),
    Index(None, "company", "kind", "tag"),
    Index(None, "kind", "tag", "task"),  # tag filters as semi-joins from the tag side
)

#: One row per hyperparameter, for filtering and ordering by value (in the natural order of spec
#: tasks-queries §4.3, through ``sort_key``).
task_hyperparams = Table(
    "task_hyperparams",
    metadata,
    Column("task", ID, ForeignKey("tasks.id", ondelete="CASCADE"), primary_key=True),
    Column("section", String(1024), primary_key=True),
    Column("name", String(1024), primary_key=True),
    Column("company", ID, nullable=False),
    Column("value", Text),
    # the value's natural order as bytes and the task id's (domain.natural_order): ordering by a
    # hyperparameter walks (section, name, sort_key, task_key) instead of sorting the tasks
    Column("sort_key", LargeBinary),
    Column("task_key", LargeBinary),
    # one index for both uses: ordering walks it, and a filter on values finds their sort keys in
    # it (sort_key is a function of the value; the value itself is then compared on the row)
    Index("ix_task_hyperparams_order", "section", "name", "sort_key", "task_key", postgresql_include=["task"]),
    # SQLite: clustered on the primary key, so a task's value is one B-tree descent and every
    # index carries ``task`` (walking the order index never reads the table)
    sqlite_with_rowid=False,
)

#: The natural ("ICU en_US, numericOrdering") collation of spec tasks-queries §4.3: digit runs
#: compare as numbers, letters case-insensitively with lowercase first on ties. PostgreSQL: an
#: ICU collation created by migration 0010; SQLite: a Python function registered on every
#: connection (``dialects/sqlite.py``). Columns never declare it, so a SQLite file stays readable
#: by tools that do not know the function.
NATURAL_COLLATION = "natural_sort"

#: The text of each task that ``search_text`` searches (spec tasks-queries §2.10), one row per
#: task, kept by the tasks repository in the same transaction as the task. ``docid`` is an
#: explicit INTEGER PRIMARY KEY because the SQLite full-text index refers to rows by rowid, which
#: VACUUM may renumber otherwise. The index itself is dialect-specific DDL (see ``UNDECLARED``).
task_search = Table(
    "task_search",
    metadata,
    Column("docid", BigInteger().with_variant(Integer(), "sqlite"), primary_key=True, autoincrement=True),
    Column("task", ID, ForeignKey("tasks.id", ondelete="CASCADE"), nullable=False),
    Column("name", Text),
    Column("comment", Text),
    Column("report", Text),
    Column("input_models", Text),
    Column("output_models", Text),
    Column("repository", Text),
    Column("entry_point", Text),
    UniqueConstraint("task"),
)

#: The full-text index over ``task_search``, as queries reach it. SQLite: an external-content FTS5
#: table (rowid = ``task_search.docid``) kept in step by triggers; PostgreSQL: a generated,
#: weighted ``tsvector`` column with a GIN index.
task_search_fts = table("task_search_fts", column("rowid", Integer))
task_search_vector = literal_column("task_search.vector", TSVECTOR)

#: Schema objects that migrations create with dialect-specific DDL these declarations cannot
#: express (the full-text index above): per dialect, object type -> names, or name prefixes for
#: SQLite's FTS5 shadow tables. The schema test leaves exactly these out of its comparison.
UNDECLARED: dict[str, dict[str, tuple[str, ...]]] = {
    "sqlite": {"table": ("task_search_fts",)},
    "postgresql": {"column": ("task_search.vector",), "index": ("ix_task_search_vector",)},
}


def is_undeclared(dialect: str, type_: str, name: str | None) -> bool:
    """Whether a reflected object is one of ``UNDECLARED``: columns are named ``table.column``;
    a table also matches by prefix (``task_search_fts_data`` …)."""
    names = UNDECLARED.get(dialect, {}).get(type_, ())
    return name is not None and any(name == n or (type_ == "table" and name.startswith(f"{n}_")) for n in names)

#: Models (results of training tasks): the fields clients filter and sort on are promoted to
#: columns; design, labels, metadata, tags, last_iteration … live in ``document``. ``company`` is
#: "" for a public model (its owner then in ``company_origin``), so no foreign key. ``task`` is the
#: creating task (or ``__DELETED__<id>`` once that task was deleted); ``parent`` a model id.
models = Table(
    "models",
    metadata,
    Column("id", ID, primary_key=True),
    Column("company", ID, nullable=False),
    Column("company_origin", ID),
    Column("user", ID, nullable=False),
    Column("name", String(1024), nullable=False),
    Column("project", ID),
    Column("task", ID),
    Column("parent", ID),
    Column("framework", String(256)),
    Column("uri", Text),
    Column("ready", Boolean, nullable=False),
    Column("comment", Text),
    Column("created", DateTime, nullable=False),
    Column("last_update", DateTime),
    Column("last_change", DateTime),
    Column("last_changed_by", ID),
    Column("document", Document, nullable=False),
    Index(None, "company", "project"),
    Index(None, "company", "created"),
    Index(None, "company", "name"),
    Index(None, "task"),
    Index(None, "parent"),
    Index(None, "project"),
)

#: One row per tag of a model; ``kind`` is "tags" or "system_tags".
model_tags = Table(
    "model_tags",
    metadata,
    Column("model", ID, ForeignKey("models.id", ondelete="CASCADE"), primary_key=True),
    Column("kind", String(16), primary_key=True),
    Column("tag", String(1024), primary_key=True),
    Column("company", ID, nullable=False),
    Index(None, "company", "kind", "tag"),
)

#: Execution queues. Names are unique per company; the unique constraint, not a lookup, is what
#: stops two racing creators. ``metadata`` is the ``{key: {key, type, value}}`` mapping clients
#: read back whole (nobody filters on it), so it stays a document.
queues = Table(
    "queues",
    metadata,
    Column("id", ID, primary_key=True),
    Column("company", ID, ForeignKey("companies.id", ondelete="CASCADE"), nullable=False),
    Column("name", String(256), nullable=False),
    Column("display_name", String(256)),
    Column("created", DateTime, nullable=False),
    Column("last_update", DateTime),
    Column("metadata", Document, nullable=False),
    UniqueConstraint("company", "name"),
)

#: Tags and system tags of queues, one row each (``kind`` "tags" or "system_tags"). A side table
#: rather than a JSON list: get_all filters on tags, and the default-queue lookup (system tag
#: "default") is then one indexed query, the same on both dialects.
queue_tags = Table(
    "queue_tags",
    metadata,
    Column("queue", ID, ForeignKey("queues.id", ondelete="CASCADE"), primary_key=True),
    Column("kind", String(16), primary_key=True),
    Column("tag", String(255), primary_key=True),
    Column("company", ID, nullable=False),
    Index(None, "company", "kind", "tag"),
)

#: Queue entries, ordered by ``position`` (gaps between positions leave room for moves). The
#: primary key on ``task`` is what keeps a task in at most one queue; deleting a task or a queue
#: removes its entries.
queue_entries = Table(
    "queue_entries",
    metadata,
    Column("task", ID, ForeignKey("tasks.id", ondelete="CASCADE"), primary_key=True),
    Column("queue", ID, ForeignKey("queues.id", ondelete="CASCADE"), nullable=False),
    Column("position", BigInteger, nullable=False),
    Column("added", DateTime, nullable=False),
    Index(None, "queue", "position"),
)

#: Queue samples for ``queues.get_queue_metrics``, written whenever a queue's entries change:
#: ``timestamp`` in epoch milliseconds, the queue length and the entries' average wait (seconds)
#: at that moment. Samples outlive their queue, as the reference's do.
queue_metrics = Table(
    "queue_metrics",
    metadata,
    Column("id", BigInteger().with_variant(Integer(), "sqlite"), primary_key=True, autoincrement=True),
    Column("company", ID, ForeignKey("companies.id", ondelete="CASCADE"), nullable=False),
    Column("queue", ID, nullable=False),
    Column("timestamp", BigInteger, nullable=False),
    Column("queue_length", Integer, nullable=False),
    Column("avg_waiting_time", Float, nullable=False),
    Index(None, "company", "timestamp"),
    Index(None, "queue", "timestamp"),
)

#: Workers (clearml-agent daemons and ``execute`` runs). The reference keys a worker by company,
#: user and worker id, so two users may run workers of the same name. A row is alive while
#: ``expires_at`` (= ``last_activity`` + ``timeout``) is in the future; readers ignore the others
#: and the stale-workers job deletes them. ``queues`` is the list of queue ids the worker listens
#: to, ``queue`` the one its current ``task`` came from.
workers = Table(
    "workers",
    metadata,
    Column("company", ID, ForeignKey("companies.id", ondelete="CASCADE"), primary_key=True),
    Column("user", ID, primary_key=True),
    Column("id", String(256), primary_key=True),
    Column("ip", String(256)),
    Column("register_time", DateTime, nullable=False),
    Column("timeout", Integer, nullable=False),
    Column("last_activity", DateTime, nullable=False),
    Column("last_report", DateTime),
    Column("expires_at", DateTime, nullable=False),
    Column("queue", ID),
    Column("queues", Document, nullable=False),
    Column("task", ID),
    Column("project", ID),
    Column("tags", Document, nullable=False),
    Column("system_tags", Document, nullable=False),
    Index(None, "expires_at"),
)

#: Key/value properties a worker publishes about itself (e.g. the agent's dynamic GPU pool);
#: ``expires_at`` NULL means no expiry. Keyed like ``workers`` but independent of its rows.
worker_runtime_properties = Table(
    "worker_runtime_properties",
    metadata,
    Column("company", ID, ForeignKey("companies.id", ondelete="CASCADE"), primary_key=True),
    Column("user", ID, primary_key=True),
    Column("worker", String(256), primary_key=True),
    Column("key", String(256), primary_key=True),
    Column("value", Text, nullable=False),
    Column("expires_at", DateTime),
    Index(None, "expires_at"),
)

#: Leases for background jobs: a process may run job ``name`` only after claiming the row with a
#: compare-and-set on ``expires_at`` (see ``skiff.jobs``).
leases = Table(
    "leases",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("holder", String(256), nullable=False),
    Column("expires_at", DateTime, nullable=False),
)

#: Event ids: SQLite needs INTEGER PRIMARY KEY (the rowid) to autoincrement.
EventId = BigInteger().with_variant(Integer(), "sqlite")

#: Scalar points, one row each, read per task by (metric, variant, iter). No foreign key: rows are
#: appended in bulk and removed explicitly with their task (``task`` may also be a model id).
scalar_events = Table(
    "scalar_events",
    metadata,
    Column("id", EventId, primary_key=True, autoincrement=True),
    Column("task", ID, nullable=False),
    Column("metric", String(255), nullable=False),
    Column("variant", String(255), nullable=False),
    Column("iter", BigInteger, nullable=False),
    Column("timestamp", BigInteger, nullable=False),
    Column("value", Float, nullable=False),
    # one point per (task, metric, variant, iteration): reporting it again replaces it, as the
    # reference's deterministic event ids do (and a client's retried batch adds nothing)
    Index(None, "task", "metric", "variant", "iter", unique=True),
)

#: Logs, plots, debug images and vectors: the type-specific part is in ``payload``.
task_events = Table(
    "task_events",
    metadata,
    Column("id", EventId, primary_key=True, autoincrement=True),
    Column("task", ID, nullable=False),
    Column("type", String(32), nullable=False),
    Column("timestamp", BigInteger, nullable=False),
    Column("iter", BigInteger),
    Column("metric", String(255), nullable=False),
    Column("variant", String(255), nullable=False),
    Column("payload", Document, nullable=False),
    Index(None, "task", "type", "timestamp"),
)

#: The running summary of each scalar series of a task (what ``last_metrics`` shows), also the
#: index for ordering and filtering tasks by ``last_metrics.<md5>.<md5>.<field>``.
task_metrics = Table(
    "task_metrics",
    metadata,
    Column("task", ID, ForeignKey("tasks.id", ondelete="CASCADE"), primary_key=True),
    Column("metric_hash", String(32), primary_key=True),
    Column("variant_hash", String(32), primary_key=True),
    Column("company", ID, nullable=False),
    Column("metric", String(255), nullable=False),
    Column("variant", String(255), nullable=False),
    Column("value", Float, nullable=False),
    Column("iter", BigInteger, nullable=False),
    Column("timestamp", BigInteger, nullable=False),
    Column("min_value", Float, nullable=False),
    Column("min_value_iteration", BigInteger, nullable=False),
    Column("max_value", Float, nullable=False),
    Column("max_value_iteration", BigInteger, nullable=False),
    Column("first_value", Float, nullable=False),
    Column("first_value_iteration", BigInteger, nullable=False),
    Column("count", BigInteger, nullable=False),
    Column("total", Float, nullable=False),
    Index(None, "company", "metric_hash", "variant_hash", "value"),
    Index(None, "metric_hash", "variant_hash", "value"),  # ranges as semi-joins from the metric side
    # SQLite: clustered on the primary key, so ordering tasks by a metric reads each one's value
    # in one B-tree descent (migration 0020)
    sqlite_with_rowid=False,
)

#: Scroll states of the task queries (spec tasks-queries §5.2): only an offset, not bound to the
#: query or the caller, kept 600 s after its last use so any process can continue a scroll.
scroll_states = Table(
    "scroll_states",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("position", Integer, nullable=False),
    Column("expires_at", DateTime, nullable=False),
    Index(None, "expires_at"),
)
