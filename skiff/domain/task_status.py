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
