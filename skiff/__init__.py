"""skiff: a ClearML-compatible experiment server on SQLite or PostgreSQL."""

__version__ = "0.1.0"

#: The newest ClearML API version skiff speaks; unversioned paths resolve to it.
API_VERSION = "2.31"
