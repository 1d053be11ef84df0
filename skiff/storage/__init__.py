"""All SQL lives here: engine setup, tables, repositories, migrations (SQLAlchemy 2 Core)."""
