"""Workers: defaults, the ``get_all`` filters and the worker entry as clients read it. Pure code;
storage lives in ``storage/repos/workers.py``, use cases in ``ops/workers.py``.

A worker row (what the repository returns) holds ``company, user, id, ip, register_time, timeout,
last_activity, last_report, expires_at, queue, queues, task, project, tags, system_tags`` and, when
listed, ``user_name``, ``company_name``, ``project_name``.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

#: Registration timeout when a request gives none (or 0), in seconds (the reference's default).
DEFAULT_TIMEOUT = 600
#: ``workers.get_all`` lists workers active in the last hour unless asked otherwise.
DEFAULT_LAST_SEEN = 3600


def new_row(company: str, user: str, worker: str, now: datetime, timeout: int) -> dict[str, Any]:
    """A freshly registered worker: no task, no queues, no report yet."""
    return {
        "company": company,
        "user": user,
        "id": worker,
        "ip": "",
        "register_time": now,
        "timeout": timeout,
        "last_activity": now,
        "last_report": None,
        "expires_at": now + timedelta(seconds=timeout),
        "queue": None,
        "queues": [],
        "task": None,
        "project": None,
        "tags": [],
        "system_tags": [],
    }


def touch(row: dict[str, Any], now: datetime) -> None:
    """Activity at ``now``: the registration lasts another ``timeout`` seconds."""
    row["last_activity"] = now
    row["expires_at"] = now + timedelta(seconds=row["timeout"])


def _has_tags(row: dict[str, Any], kind: str, spec: Sequence[str]) -> bool:
    """Any of the plain tags (if there are some) and none of the ``-``-prefixed ones."""
    have = set(row.get(kind) or [])
    include = {t for t in spec if not t.startswith("-")}
    exclude = {t[1:] for t in spec if t.startswith("-")}
    return (not include or bool(have & include)) and not have & exclude


def select_workers(
    rows: list[dict[str, Any]],
    now: datetime,
    *,
    last_seen: int | None = None,
    tags: Sequence[str] | None = None,
    system_tags: Sequence[str] | None = None,
    worker_pattern: str | None = None,
) -> list[dict[str, Any]]:
    """The rows ``workers.get_all``/``get_count`` keep: active in the last ``last_seen`` seconds
    (0/None: any; at least 1 s), matching the tag filters and the glob ``worker_pattern``."""
    if last_seen:
        since = now - timedelta(seconds=max(1, last_seen))
        rows = [r for r in rows if r["last_activity"] >= since]
    if tags:
        rows = [r for r in rows if _has_tags(r, "tags", tags)]
    if system_tags:
        rows = [r for r in rows if _has_tags(r, "system_tags", system_tags)]
    if worker_pattern:
        rows = [r for r in rows if fnmatch.fnmatchcase(r["id"], worker_pattern)]
    return rows


def worker_key(row: dict[str, Any]) -> str:
    """The reference's ``key`` of a worker entry (clients only display it)."""
    return f"worker_{row['company']}_{row['user']}_{row['id']}"


def _id_name(id: str, name: str | None) -> dict[str, Any]:
    return {"id": id, "name": name} if name is not None else {"id": id}


def worker_entry(
    row: dict[str, Any], tasks: dict[str, dict[str, Any]], queues: dict[str, dict[str, Any]]
) -> dict[str, Any]:
    """One worker as the reference's ``workers.get_all`` shows it; absent values are left out.

    ``tasks``: task documents by id (for the current task's name, running time in ms and last
    iteration); ``queues``: queue entries ``{id, name, display_name?, num_tasks, next_task?}`` by id.
    ``queue`` is shown only when it is one of the worker's ``queues``, as the reference does.
    """
    listened = list(row["queues"] or [])
    out: dict[str, Any] = {
        "key": worker_key(row),
        "id": row["id"],
        "user": _id_name(row["user"], row.get("user_name")),
        "company": _id_name(row["company"], row.get("company_name")),
        "ip": row["ip"] or "",
        "register_time": row["register_time"],
        "register_timeout": row["timeout"],
        "last_activity_time": row["last_activity"],
        "queues": [queues.get(q) or {"id": q} for q in listened],
        "tags": list(row["tags"] or []),
        "system_tags": list(row["system_tags"] or []),
    }
    if row["last_report"] is not None:
        out["last_report_time"] = row["last_report"]
    if row["queue"] and row["queue"] in listened:
        out["queue"] = queues.get(row["queue"]) or {"id": row["queue"]}
    if row["task"]:
        doc = tasks.get(row["task"])
        current = _id_name(row["task"], doc.get("name") if doc else None)
        if doc is not None:
            current["running_time"] = int(doc.get("active_duration") or 0) * 1000
            if doc.get("last_iteration") is not None:
                current["last_iteration"] = doc["last_iteration"]
        out["task"] = current
    if row["project"]:
        out["project"] = _id_name(row["project"], row.get("project_name"))
    return out


def property_expiry(expires_at: datetime | None, now: datetime) -> int | None:
    """A runtime property's ``expiry`` as the agent reads it: seconds left, None if lasting."""
    return None if expires_at is None else max(0, int((expires_at - now).total_seconds()))
