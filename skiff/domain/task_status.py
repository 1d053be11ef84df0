"""The task status machine, as data (spec tasks-model §3).

``ALLOWED[current]`` lists the statuses a task may move to without ``force``. Same-status changes
are allowed by every status endpoint except ``publish`` (its own rule). ``unknown`` is outside the
machine: leaving it without force is an internal error, entering it needs force.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from skiff.domain.errors import error

ALLOWED: dict[str, frozenset[str]] = {
    "created": frozenset({"created", "queued", "in_progress"}),
    "queued": frozenset({"queued", "created", "in_progress", "stopped"}),
    "in_progress": frozenset({"in_progress", "created", "stopped", "failed", "completed"}),
    "stopped": frozenset(
        {"stopped", "created", "queued", "in_progress", "publishing", "published", "closed", "failed", "completed"}
    ),
    "closed": frozenset({"closed", "created", "stopped", "publishing", "published", "failed"}),
    "failed": frozenset({"failed", "created", "queued", "stopped", "published"}),
    "publishing": frozenset({"publishing", "published"}),
    "published": frozenset({"published"}),
    "completed": frozenset({"completed", "created", "in_progress", "published"}),
}


def check_transition(current: str, new: str, *, force: bool = False) -> None:
    """Raise the reference's error when ``current → new`` is not allowed."""
    if force:
        return
    if current == "unknown":
        if new == current:
            return
        raise error("internal_error", "Current status unknown not supported by state machine")
    if new not in ALLOWED.get(current, frozenset()):
        raise error("invalid_task_status", "Invalid status change", current_status=current, new_status=new)


def status_fields(
    new: str, *, reason: str = "", message: str = "", now: datetime, user: str
) -> dict[str, Any]:
    """The fields every status change writes (§3.2 step 2), in the order they are echoed."""
    return {
        "status": new,
        "status_reason": reason,
        "status_message": message,
        "status_changed": now,
        "last_update": now,
        "last_change": now,
        "last_changed_by": user,
    }


def apply_status(doc: dict[str, Any], fields: dict[str, Any]) -> None:
    """Write a status change onto a document; entering ``queued`` drops the development tag."""
    doc.update(fields)
    if fields["status"] == "queued":
        doc["system_tags"] = [t for t in doc.get("system_tags") or [] if t != "development"]


#: The status endpoints and the status each one moves a task to (spec §3.3).
ACTIONS: dict[str, str] = {
    "tasks.started": "in_progress",
    "tasks.stopped": "stopped",
    "tasks.completed": "completed",
    "tasks.failed": "failed",
    "tasks.close": "closed",
    "tasks.publish": "published",
    "tasks.enqueue": "queued",
    "tasks.reset": "created",
    "tasks.stop": "stopped",
}

_ORDER = ("created", "queued", "in_progress", "stopped", "publishing", "published", "closed", "failed", "completed")


def allowed(current: str, action: str) -> bool:
    """May ``action`` run on a task in ``current`` without force?"""
    target = ACTIONS[action]
    if action == "tasks.publish" and current == "published":
        return False
    if action == "tasks.reset":
        return current != "published" and target in ALLOWED.get(current, frozenset())
    return target in ALLOWED.get(current, frozenset())


def render_markdown() -> str:
    """The STATUS section of the docs, generated from ``ALLOWED`` and ``ACTIONS``."""
    lines = [
        "# Task status machine",
        "",
        "Generated from `skiff/domain/task_status.py` (`python -m skiff.domain.task_status > docs/STATUS.md`);",
        "a test fails when this file and the table differ.",
        "",
        "## Transitions without `force`",
        "",
        "Rows: current status; columns: new status. ✓ allowed, · refused with 400/110",
        "`Invalid task status (Invalid status change): current_status=<a>, new_status=<b>`.",
        "`force: true` allows any change. Leaving `unknown` without force is 500/1.",
        "",
        "| from \\ to | " + " | ".join(_ORDER) + " |",
        "|---|" + "---|" * len(_ORDER),
    ]
    for current in _ORDER:
        marks = ["=" if new == current else ("✓" if new in ALLOWED[current] else "·") for new in _ORDER]
        lines.append(f"| {current} | " + " | ".join(marks) + " |")
    lines += [
        "",
        "## Endpoints",
        "",
        "| endpoint | moves to | allowed from without force |",
        "|---|---|---|",
    ]
    for action, target in ACTIONS.items():
        sources = ", ".join(s for s in _ORDER if allowed(s, action))
        lines.append(f"| `{action}` | {target} | {sources} |")
    lines += [
        "",
        "`tasks.stop` on a task a live worker runs keeps it `in_progress` with status_message",
        "`stopping` (the worker then calls `tasks.stopped`). `tasks.dequeue`, `tasks.archive` and",
        "`tasks.delete` change status with force. `tasks.edit` with `status` bypasses the machine.",
        "",
    ]
    return "\n".join(lines)


if __name__ == "__main__":  # pragma: no cover
    print(render_markdown(), end="")
