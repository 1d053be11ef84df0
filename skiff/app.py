"""The composition root: ``create_app(settings)`` returns the ASGI application."""

from __future__ import annotations

from skiff.api.asgi import SkiffAPI
from skiff.api.context import AppContext
from skiff.api.services import build_registry
from skiff.ops.install import open_database
from skiff.settings import Settings
from skiff.storage.engine import Database


def create_app(settings: Settings, db: Database | None = None) -> SkiffAPI:
    """The app over an already prepared database (see ``skiff.ops.install.prepare``)."""
    database = db if db is not None else open_database(settings)
    return SkiffAPI(AppContext(settings, database, build_registry()))


def create_app_from_env() -> SkiffAPI:
    """Factory for server worker processes: settings come from ``SKIFF_*`` variables."""
    return create_app(Settings.from_env())
