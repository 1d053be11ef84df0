"""The two small places where SQLite and PostgreSQL differ."""
