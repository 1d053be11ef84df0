"""Shared fixtures: one prepared database per session; every test gets its own company."""

from __future__ import annotations

import pytest
from starlette.testclient import TestClient

from skiff.app import create_app
from skiff.ops import accounts
from skiff.ops.install import open_database, prepare, upgrade_database
from skiff.settings import Settings
from tests.support import DIALECT, Api, drop_test_databases, new_database_url


def pytest_report_header(config: pytest.Config) -> str:
    return f"skiff database dialect under test: {DIALECT}"


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    drop_test_databases()


@pytest.fixture(scope="session")
def settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    data_dir = tmp_path_factory.mktemp("skiff-data")
    # background jobs are exercised by their own tests (tests/unit/test_jobs.py) with injected time
    return Settings(data_dir=data_dir, db_url=new_database_url(data_dir), validate_responses=True, jobs=False)


@pytest.fixture(scope="session")
def db(settings: Settings):  # type: ignore[no-untyped-def]
    if DIALECT == "postgresql":
        database = open_database(settings)
        upgrade_database(database, settings)
        database.dispose()
    prepared = prepare(settings)
    yield prepared.db
    prepared.db.dispose()


@pytest.fixture(scope="session")
def app(settings: Settings, db):  # type: ignore[no-untyped-def]
    return create_app(settings, db)


@pytest.fixture(scope="session")
def client(app):  # type: ignore[no-untyped-def]
    with TestClient(app, base_url="http://testserver", raise_server_exceptions=True) as c:
        yield c


@pytest.fixture
def company(db) -> str:  # type: ignore[no-untyped-def]
    return accounts.create_company(db, "test company")


@pytest.fixture
def admin(db, company) -> accounts.NewCredentials:  # type: ignore[no-untyped-def]
    return accounts.add_user(db, company, "admin", role="admin")


@pytest.fixture
def api(client, admin) -> Api:  # type: ignore[no-untyped-def]
    """Calls as the admin of a fresh company."""
    return Api(client, key=admin.access_key, secret=admin.secret_key)


@pytest.fixture
def user_api(client, db, company) -> Api:  # type: ignore[no-untyped-def]
    """Calls as a plain user of the same company as ``api``."""
    new = accounts.add_user(db, company, "someone", role="user")
    return Api(client, key=new.access_key, secret=new.secret_key)
