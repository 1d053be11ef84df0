"""The schema, declared once for both dialects. Migrations in ``migrations/`` build it step by step;
a test checks that the upgraded database matches these declarations exactly."""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    Column,
    DateTime,
    ForeignKey,
    Index,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)
from sqlalchemy.dialects.postgresql import JSONB

NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

metadata = MetaData(naming_convention=NAMING)

#: JSON documents: JSONB on PostgreSQL, JSON text on SQLite.
Document = JSON().with_variant(JSONB(), "postgresql")

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
