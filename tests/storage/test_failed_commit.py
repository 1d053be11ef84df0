"""SQLite keeps a transaction whose COMMIT failed open; ``Database.write`` must roll it back, so
that the pooled connection's next user can begin. (SQLAlchemy's transaction context does; a
commit of SQLAlchemy's transaction object on its own, as a group-commit attempt did, does not.)"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError

from skiff.storage.engine import Database


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Database]:
    db = Database(f"sqlite:///{tmp_path / 'commit.db'}", pool_size=1)
    with db.write() as conn:
        conn.execute(text("CREATE TABLE parents (id INTEGER PRIMARY KEY)"))
        # checked at COMMIT, not by the statement: a way to make a commit fail
        conn.execute(text("CREATE TABLE children (parent INTEGER REFERENCES parents (id) DEFERRABLE INITIALLY DEFERRED)"))
    yield db
    db.dispose()


def test_a_failed_commit_fails_its_writer_and_leaves_the_pool_usable(db: Database) -> None:
    with pytest.raises(IntegrityError, match="FOREIGN KEY"), db.write() as conn:
        conn.execute(text("INSERT INTO children VALUES (42)"))
    # one pooled connection: the same one serves the next transactions
    with db.read() as conn:
        assert conn.execute(text("SELECT count(*) FROM children")).scalar_one() == 0
    with db.write() as conn:
        conn.execute(text("INSERT INTO parents VALUES (42)"))
        conn.execute(text("INSERT INTO children VALUES (42)"))
    with db.read() as conn:
        assert conn.execute(text("SELECT count(*) FROM children")).scalar_one() == 1
