"""The ``skiff`` command: serve, db upgrade/status, users, credentials, openapi."""

from __future__ import annotations

import argparse
import ctypes
import json
import os
import signal
import sys
from collections.abc import MutableMapping
from pathlib import Path

from skiff import API_VERSION, __version__
from skiff.settings import Settings


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data-dir", help="data directory (default ~/.skiff or SKIFF_DATA_DIR)")
    parser.add_argument("--db", help="database URL (default: SQLite in the data dir; or SKIFF_DB_URL)")


def _settings(args: argparse.Namespace) -> Settings:
    settings = Settings.from_env()
    changes: dict = {}
    if getattr(args, "data_dir", None):
        changes["data_dir"] = Path(args.data_dir).expanduser()
    if getattr(args, "db", None):
        changes["db_url"] = args.db
    if getattr(args, "files_dir", None):
        changes["files_dir"] = Path(args.files_dir).expanduser().absolute()
    for flag in ("host", "port", "workers", "access_key", "secret_key", "public_url"):
        value = getattr(args, flag, None)
        if value is not None:
            changes[flag] = value
    if getattr(args, "no_access_log", False):
        changes["access_log"] = False
    return settings.with_(**changes) if changes else settings


def _public_url(settings: Settings) -> str:
    if settings.public_url:
        return settings.public_url.rstrip("/")
    host = settings.host
    if host in ("0.0.0.0", "::", ""):
        host = "127.0.0.1"
    if ":" in host:
        host = f"[{host}]"
    return f"http://{host}:{settings.port}"


def sdk_environment(settings: Settings, access_key: str, secret_key: str) -> list[str]:
    url = _public_url(settings)
    return [
        f"CLEARML_API_HOST={url}",
        f"CLEARML_WEB_HOST={url}",
        f"CLEARML_FILES_HOST={url}/files",
        f"CLEARML_API_ACCESS_KEY={access_key}",
        f"CLEARML_API_SECRET_KEY={secret_key}",
    ]


#: glibc malloc settings for the server: variable -> (``mallopt`` parameter, value). By default
#: every thread that allocates gets an arena of its own (up to 8 per core) and the size from which
#: a block is mapped on its own rises to the largest block freed so far, so big short-lived buffers
#: (request bodies, SQLite sorters) land in the arenas and the free space they leave is kept there:
#: the server's resident memory crept up for as long as it ran (issue 8). Two arenas and a fixed
#: 256 KiB threshold keep it flat; a variable already set in the environment wins.
MALLOC_TUNING = {
    "MALLOC_ARENA_MAX": (-8, 2),  # M_ARENA_MAX
    "MALLOC_MMAP_THRESHOLD_": (-3, 256 * 1024),  # M_MMAP_THRESHOLD (setting it stops the rise)
}


def tune_malloc(environ: MutableMapping[str, str] = os.environ) -> dict[str, int]:
    """Apply ``MALLOC_TUNING`` to this process (before it starts threads: arenas are handed out to
    threads as they first allocate) and put it in ``environ``, which ``--workers`` processes
    inherit. Returns what it applied: nothing where the C library is not glibc."""
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return {}
    applied: dict[str, int] = {}
    for variable, (parameter, value) in MALLOC_TUNING.items():
        if variable not in environ and mallopt(parameter, value) == 1:
            environ[variable] = str(value)
            applied[variable] = value
    return applied


def cmd_serve(args: argparse.Namespace) -> int:
    tune_malloc()

    import uvicorn

    from skiff.ops.install import StaleSchema, prepare

    settings = _settings(args)
    try:
        prepared = prepare(settings)
    except StaleSchema as exc:
        print(f"skiff: refusing to start: {exc}", file=sys.stderr)
        return 2
    db_label = settings.database_url if not settings.is_sqlite else settings.database_url[len("sqlite:///") :]
    print(f"skiff {__version__} (ClearML API {API_VERSION}) on {db_label}", flush=True)
    print(f"skiff: files (artifacts, models) under {settings.files_root}, served at /files/")
    if prepared.upgraded_from:
        print(f"skiff: upgraded the schema from {prepared.upgraded_from}; backup at {prepared.backup}")
    if prepared.files_adopted:
        moved = ", ".join(prepared.files_adopted)
        print(f"skiff: moved files stored before per-company areas into the company's area: {moved}")
    first = prepared.first_start
    if first is not None:
        creds = first.credentials
        print("skiff: first start: created the admin user and its credentials (shown only now):")
        print(f"  access key: {creds.access_key}")
        print(f"  secret key: {creds.secret_key}")
        print("Point the ClearML SDK and agent at this server with:")
        for line in sdk_environment(settings, creds.access_key, creds.secret_key):
            print(f"  export {line}")
    else:
        print("Point the ClearML SDK and agent at this server with:")
        for line in sdk_environment(settings, "<access key>", "<secret key>"):
            print(f"  export {line}")
        print("(`skiff users add NAME` prints a new key/secret pair)")
    sys.stdout.flush()
    prepared.db.dispose()

    _exit_zero_on_sigterm()
    if settings.workers > 1:
        os.environ.update(settings.to_env())
        uvicorn.run(
            "skiff.app:create_app_from_env",
            factory=True,
            host=settings.host,
            port=settings.port,
            workers=settings.workers,
            log_level="info",
            access_log=False,  # the app writes its own (skiff.api.access_log)
            timeout_graceful_shutdown=30,
        )
    else:
        from skiff.app import create_server_app

        uvicorn.run(
            create_server_app(settings),
            host=settings.host,
            port=settings.port,
            log_level="info",
            access_log=False,  # the app writes its own (skiff.api.access_log)
            timeout_graceful_shutdown=30,
        )
    return 0


def _exit_zero_on_sigterm() -> None:
    """SIGTERM is the normal way to stop the server: uvicorn stops accepting, lets every in-flight
    request finish (up to ``timeout_graceful_shutdown``), runs the lifespan shutdown (jobs, pool),
    then raises the signal again to the handler it found. Make that handler a clean exit, so
    supervisors see status 0 rather than death by signal (the default handler). A SIGTERM that
    comes before uvicorn takes over the signals exits at once, with nothing in flight."""
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(0))


def _prepared_db(args: argparse.Namespace):  # type: ignore[no-untyped-def]
    from skiff.ops.install import StaleSchema, prepare

    settings = _settings(args)
    try:
        prepared = prepare(settings)
    except StaleSchema as exc:
        print(f"skiff: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
    if prepared.first_start is not None:
        # This command initialised the install: its admin secret exists only now, so show it
        # (on stderr, keeping stdout to the command's own output).
        creds = prepared.first_start.credentials
        print(
            "skiff: first start: created the admin user and its credentials (shown only now):\n"
            f"  access key: {creds.access_key}\n  secret key: {creds.secret_key}",
            file=sys.stderr,
        )
    return prepared


def cmd_db_upgrade(args: argparse.Namespace) -> int:
    from skiff.ops.install import open_database, upgrade_database
    from skiff.storage.schema import schema_state

    settings = _settings(args)
    db = open_database(settings)
    before, backup = upgrade_database(db, settings)
    after = schema_state(db).current
    if before == after:
        print(f"skiff: schema already at {after}")
    else:
        print(f"skiff: schema upgraded from {before or 'empty'} to {after}")
        if backup:
            print(f"skiff: backup of the previous database at {backup}")
    db.dispose()
    return 0


def cmd_db_status(args: argparse.Namespace) -> int:
    from skiff.ops.install import open_database
    from skiff.storage.schema import schema_state

    db = open_database(_settings(args))
    state = schema_state(db)
    print(f"current: {state.current or 'empty'}\nhead: {state.head}\nup to date: {state.up_to_date}")
    db.dispose()
    return 0 if state.up_to_date else 1


def cmd_users_add(args: argparse.Namespace) -> int:
    from skiff.domain.errors import ApiError
    from skiff.ops import accounts

    prepared = _prepared_db(args)
    try:
        company = accounts.default_company(prepared.db)
        new = accounts.add_user(prepared.db, company, args.name, role="admin" if args.admin else "user")
    except ApiError as exc:
        print(f"skiff: {exc.message}", file=sys.stderr)
        return 1
    finally:
        prepared.db.dispose()
    print(f"user: {new.user_name} ({new.user})")
    print(f"access key: {new.access_key}")
    print(f"secret key: {new.secret_key}")
    return 0


def cmd_users_list(args: argparse.Namespace) -> int:
    from skiff.ops import accounts

    prepared = _prepared_db(args)
    rows = accounts.list_users(prepared.db)
    prepared.db.dispose()
    for row in rows:
        keys = ", ".join(row["credentials"]) or "-"
        print(f"{row['id']}  {row['name']:<20} {row['role']:<6} keys: {keys}")
    return 0


def cmd_credentials_revoke(args: argparse.Namespace) -> int:
    from skiff.ops import accounts

    prepared = _prepared_db(args)
    revoked = accounts.revoke_any_credentials(prepared.db, args.access_key)
    prepared.db.dispose()
    if not revoked:
        print(f"skiff: no credentials with access key {args.access_key}", file=sys.stderr)
        return 1
    print(f"revoked {args.access_key}")
    return 0


def cmd_openapi(args: argparse.Namespace) -> int:
    from skiff.api.openapi import openapi_document
    from skiff.api.services import build_registry

    json.dump(openapi_document(build_registry()), sys.stdout, indent=2, default=str)
    print()
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="skiff", description="ClearML-compatible experiment server")
    parser.add_argument("--version", action="version", version=f"skiff {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="start the API server")
    _common(serve)
    serve.add_argument("--host", help="interface to listen on (default 127.0.0.1)")
    serve.add_argument("--port", type=int, help="port (default 8008)")
    serve.add_argument("--workers", type=int, help="server processes sharing the database")
    serve.add_argument("--access-key", help="pin the first admin access key (or SKIFF_ACCESS_KEY)")
    serve.add_argument("--secret-key", help="pin the first admin secret key (or SKIFF_SECRET_KEY)")
    serve.add_argument("--public-url", help="URL clients use to reach this server, for printed settings")
    serve.add_argument("--no-access-log", action="store_true", help="no line per request on stdout (or SKIFF_ACCESS_LOG=0)")
    serve.add_argument("--files-dir", help="where /files/ stores uploads (default DATA_DIR/files or SKIFF_FILES_DIR)")
    serve.set_defaults(func=cmd_serve)

    db = sub.add_parser("db", help="database schema").add_subparsers(dest="db_command", required=True)
    upgrade = db.add_parser("upgrade", help="migrate the schema to this version")
    _common(upgrade)
    upgrade.set_defaults(func=cmd_db_upgrade)
    status = db.add_parser("status", help="show the schema revision")
    _common(status)
    status.set_defaults(func=cmd_db_status)

    users = sub.add_parser("users", help="manage users").add_subparsers(dest="users_command", required=True)
    add = users.add_parser("add", help="add a user and print its key/secret")
    _common(add)
    add.add_argument("name")
    add.add_argument("--admin", action="store_true", help="give the user the admin role")
    add.set_defaults(func=cmd_users_add)
    lst = users.add_parser("list", help="list users")
    _common(lst)
    lst.set_defaults(func=cmd_users_list)

    creds = sub.add_parser("credentials", help="manage credentials").add_subparsers(
        dest="credentials_command", required=True
    )
    revoke = creds.add_parser("revoke", help="revoke a credential (its tokens stop working)")
    _common(revoke)
    revoke.add_argument("access_key")
    revoke.set_defaults(func=cmd_credentials_revoke)

    openapi = sub.add_parser("openapi", help="print the OpenAPI document")
    openapi.set_defaults(func=cmd_openapi)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.func(args) or 0)
