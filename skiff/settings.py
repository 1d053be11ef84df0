"""Configuration: ``SKIFF_*`` environment variables, overridable by CLI flags.

Every process of one deployment reads the same environment (``skiff serve --workers N`` passes its
flags down as variables), so nothing here may be per-process state.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from pathlib import Path

DEFAULT_PORT = 8008
DEFAULT_TOKEN_LIFETIME = 30 * 24 * 3600


def _env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    return value.strip().lower() in ("1", "true", "yes", "on")


def _env_int(name: str, default: int) -> int:
    value = os.environ.get(name)
    return int(value) if value not in (None, "") else default


def default_data_dir() -> Path:
    return Path(os.environ.get("SKIFF_DATA_DIR") or Path.home() / ".skiff")


def normalize_db_url(url: str) -> str:
    """Accept plain ``postgresql://`` / ``postgres://`` URLs and use the psycopg 3 driver."""
    for prefix in ("postgresql://", "postgres://", "postgresql+psycopg2://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


@dataclass(frozen=True)
class Settings:
    data_dir: Path = field(default_factory=default_data_dir)
    db_url: str = ""
    host: str = "127.0.0.1"
    port: int = DEFAULT_PORT
    workers: int = 1
    #: Pin the first admin credential instead of generating one.
    access_key: str | None = None
    secret_key: str | None = None
    #: Token signing key; by default generated once per install and kept in the database.
    auth_secret: str | None = None
    token_lifetime_sec: int = DEFAULT_TOKEN_LIFETIME
    token_max_lifetime_sec: int = 365 * 24 * 3600
    max_body_bytes: int = 64 * 1024 * 1024
    #: Check every response against its declared model (tests turn this on).
    validate_responses: bool = False
    #: Include tracebacks in 500/0 envelopes (the reference does; off by default here).
    return_stack: bool = False
    threads: int = 16
    public_url: str | None = None
    #: Run the background jobs (``skiff.jobs``) in this process; off for tests that must not be
    #: disturbed. A job whose interval is 0 never runs.
    jobs: bool = True
    #: Non-responsive task watchdog (spec tasks-model §8): every ``watchdog_interval_sec``, stop
    #: in_progress tasks not updated for ``watchdog_threshold_sec``.
    watchdog_interval_sec: int = 900
    watchdog_threshold_sec: int = 7200
    #: How often expired workers and runtime properties are deleted (readers ignore them anyway).
    worker_cleanup_interval_sec: int = 300
    #: How often SQLite's full-text index is checked and, past a few segments, merged into one.
    text_index_interval_sec: int = 600
    #: One line per HTTP request on standard output (``skiff.api.access_log``).
    access_log: bool = True
    #: Where ``/files/`` keeps uploads (artifacts, models, debug images); default ``<data_dir>/files``.
    files_dir: Path | None = None

    @classmethod
    def from_env(cls) -> "Settings":
        data_dir = default_data_dir()
        return cls(
            data_dir=data_dir,
            db_url=normalize_db_url(os.environ.get("SKIFF_DB_URL", "")),
            host=os.environ.get("SKIFF_HOST", "127.0.0.1"),
            port=_env_int("SKIFF_PORT", DEFAULT_PORT),
            workers=_env_int("SKIFF_WORKERS", 1),
            access_key=os.environ.get("SKIFF_ACCESS_KEY") or None,
            secret_key=os.environ.get("SKIFF_SECRET_KEY") or None,
            auth_secret=os.environ.get("SKIFF_AUTH_SECRET") or None,
            token_lifetime_sec=_env_int("SKIFF_TOKEN_LIFETIME_SEC", DEFAULT_TOKEN_LIFETIME),
            max_body_bytes=_env_int("SKIFF_MAX_BODY_BYTES", 64 * 1024 * 1024),
            validate_responses=_env_bool("SKIFF_VALIDATE_RESPONSES", False),
            return_stack=_env_bool("SKIFF_RETURN_STACK", False),
            threads=_env_int("SKIFF_THREADS", 16),
            public_url=os.environ.get("SKIFF_PUBLIC_URL") or None,
            jobs=_env_bool("SKIFF_JOBS", True),
            watchdog_interval_sec=_env_int("SKIFF_WATCHDOG_INTERVAL_SEC", 900),
            watchdog_threshold_sec=_env_int("SKIFF_WATCHDOG_THRESHOLD_SEC", 7200),
            worker_cleanup_interval_sec=_env_int("SKIFF_WORKER_CLEANUP_INTERVAL_SEC", 300),
            text_index_interval_sec=_env_int("SKIFF_TEXT_INDEX_INTERVAL_SEC", 600),
            files_dir=Path(os.environ["SKIFF_FILES_DIR"]) if os.environ.get("SKIFF_FILES_DIR") else None,
            access_log=_env_bool("SKIFF_ACCESS_LOG", True),
        )

    @property
    def database_url(self) -> str:
        if self.db_url:
            return normalize_db_url(self.db_url)
        return f"sqlite:///{self.data_dir / 'skiff.db'}"

    @property
    def files_root(self) -> Path:
        return self.files_dir if self.files_dir is not None else self.data_dir / "files"

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    def with_(self, **changes: object) -> "Settings":
        return replace(self, **changes)  # type: ignore[arg-type]

    def to_env(self) -> dict[str, str]:
        """The environment that makes ``from_env`` return these settings (for worker processes)."""
        env = {
            "SKIFF_DATA_DIR": str(self.data_dir),
            "SKIFF_DB_URL": self.db_url,
            "SKIFF_HOST": self.host,
            "SKIFF_PORT": str(self.port),
            "SKIFF_WORKERS": str(self.workers),
            "SKIFF_TOKEN_LIFETIME_SEC": str(self.token_lifetime_sec),
            "SKIFF_MAX_BODY_BYTES": str(self.max_body_bytes),
            "SKIFF_VALIDATE_RESPONSES": "1" if self.validate_responses else "0",
            "SKIFF_RETURN_STACK": "1" if self.return_stack else "0",
            "SKIFF_THREADS": str(self.threads),
            "SKIFF_JOBS": "1" if self.jobs else "0",
            "SKIFF_WATCHDOG_INTERVAL_SEC": str(self.watchdog_interval_sec),
            "SKIFF_WATCHDOG_THRESHOLD_SEC": str(self.watchdog_threshold_sec),
            "SKIFF_WORKER_CLEANUP_INTERVAL_SEC": str(self.worker_cleanup_interval_sec),
            "SKIFF_TEXT_INDEX_INTERVAL_SEC": str(self.text_index_interval_sec),
            "SKIFF_ACCESS_LOG": "1" if self.access_log else "0",
        }
        for key, value in (
            ("SKIFF_ACCESS_KEY", self.access_key),
            ("SKIFF_SECRET_KEY", self.secret_key),
            ("SKIFF_AUTH_SECRET", self.auth_secret),
            ("SKIFF_PUBLIC_URL", self.public_url),
            ("SKIFF_FILES_DIR", str(self.files_dir) if self.files_dir is not None else None),
        ):
            if value:
                env[key] = value
        return env
