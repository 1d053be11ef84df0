"""The error catalogue: every ClearML error skiff can answer with, as data.

``ApiError`` is the one exception type that crosses layers; the HTTP layer renders it into the
``{meta, data}`` envelope. Codes, subcodes and default messages follow the reference server's
catalogue so that clients matching on them keep working.

    ApiError                      raised anywhere below api/, rendered once in api/envelope.py
      created by error(name, ...) looks the name up in CATALOGUE

Message format (spec tasks-model §7.1)::

    <Default message>[ (<extra>)][: k1=v1, k2=v2]

The default message has only its first letter capitalised; tuple/list/set values render as
``(a, b)``; other values via ``str``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class ErrorKind:
    name: str
    code: int
    subcode: int
    message: str


# (name, HTTP code, subcode, default message) — the reference catalogue, in its order.
_ROWS: tuple[tuple[str, int, int, str], ...] = (
    # 400: bad request
    ("bad_request", 400, 0, "bad request"),
    ("not_supported", 400, 1, "endpoint is not supported"),
    ("request_path_has_invalid_version", 400, 2, "request path has invalid version"),
    ("invalid_headers", 400, 5, "invalid headers"),
    ("impersonation_error", 400, 6, "impersonation error"),
    ("invalid_id", 400, 10, "invalid object id"),
    ("missing_required_fields", 400, 11, "missing required fields"),
    ("validation_error", 400, 12, "validation error"),
    ("fields_not_allowed_for_role", 400, 13, "fields not allowed for role"),
    ("invalid_fields", 400, 14, "fields not defined for object"),
    ("fields_conflict", 400, 15, "conflicting fields"),
    ("fields_value_error", 400, 16, "invalid value for fields"),
    ("batch_contains_no_items", 400, 17, "batch request contains no items"),
    ("batch_validation_error", 400, 18, "batch request validation error"),
    ("invalid_lucene_syntax", 400, 19, "malformed lucene query"),
    ("fields_type_error", 400, 20, "invalid type for fields"),
    ("invalid_regex_error", 400, 21, "malformed regular expression"),
    ("invalid_email_address", 400, 22, "malformed email address"),
    ("invalid_domain_name", 400, 23, "malformed domain name"),
    ("not_public_object", 400, 24, "object is not public"),
    # tasks
    ("task_error", 400, 100, "general task error"),
    ("invalid_task_id", 400, 101, "invalid task id"),
    ("task_validation_error", 400, 102, "task validation error"),
    ("invalid_task_status", 400, 110, "invalid task status"),
    ("task_not_started", 400, 111, "task not started (invalid task status)"),
    ("task_in_progress", 400, 112, "task in progress (invalid task status)"),
    ("task_published", 400, 113, "task published (invalid task status)"),
    ("task_status_unknown", 400, 114, "task unknown (invalid task status)"),
    ("invalid_task_execution_progress", 400, 120, "invalid task execution progress"),
    (
        "failed_changing_task_status",
        400,
        121,
        "failed changing task status. probably someone changed it before you",
    ),
    ("missing_task_fields", 400, 122, "task is missing expected fields"),
    ("task_cannot_be_deleted", 400, 123, "task cannot be deleted"),
    ("task_has_jobs_running", 400, 125, "task has jobs that haven't completed yet"),
    ("invalid_task_type", 400, 126, "invalid task type for this operations"),
    ("invalid_task_input", 400, 127, "invalid task output"),
    ("invalid_task_output", 400, 128, "invalid task output"),
    ("task_publish_in_progress", 400, 129, "Task publish in progress"),
    ("task_not_found", 400, 130, "task not found"),
    ("events_not_added", 400, 131, "events not added"),
    # models
    ("model_error", 400, 200, "general task error"),
    ("invalid_model_id", 400, 201, "invalid model id"),
    ("model_not_ready", 400, 202, "model is not ready"),
    ("model_is_ready", 400, 203, "model is ready"),
    ("invalid_model_uri", 400, 204, "invalid model URI"),
    ("model_in_use", 400, 205, "model is used by tasks"),
    ("model_creating_task_exists", 400, 206, "task that created this model exists"),
    # users
    ("invalid_user", 400, 300, "invalid user"),
    ("invalid_user_id", 400, 301, "invalid user id"),
    ("user_id_exists", 400, 302, "user id already exists"),
    ("invalid_preferences_update", 400, 305, "Malformed key and/or value"),
    # projects
    ("invalid_project_id", 400, 401, "invalid project id"),
    ("project_has_tasks", 400, 402, "project has associated tasks"),
    ("project_not_found", 400, 403, "project not found"),
    ("project_has_models", 400, 405, "project has associated models"),
    ("invalid_project_name", 400, 407, "invalid project name"),
    ("cannot_update_project_location", 400, 408, "cannot update project location"),
    ("project_path_exceeds_max", 400, 409, "project path exceed the maximum allowed depth"),
    # queues
    ("invalid_queue_id", 400, 701, "invalid queue id"),
    ("queue_not_empty", 400, 702, "queue is not empty"),
    ("invalid_queue_or_task_not_queued", 400, 703, "invalid queue id or task not in queue"),
    ("removed_during_reposition", 400, 704, "task was removed by another party during reposition"),
    (
        "failed_adding_during_reposition",
        400,
        705,
        "failed adding task back to queue during reposition",
    ),
    ("task_already_queued", 400, 706, "failed adding task to queue since task is already queued"),
    ("no_default_queue", 400, 707, "no queue is tagged as the default queue for this company"),
    (
        "multiple_default_queues",
        400,
        708,
        "more than one queue is tagged as the default queue for this company",
    ),
    # database
    ("data_validation_error", 400, 800, "data validation error"),
    ("expected_unique_data", 400, 801, "value combination already exists"),
    # workers
    ("invalid_worker_id", 400, 1001, "invalid worker id"),
    ("worker_registration_failed", 400, 1002, "worker registration failed"),
    ("worker_registered", 400, 1003, "worker is already registered"),
    ("worker_not_registered", 400, 1004, "worker is not registered"),
    ("worker_stats_not_found", 400, 1005, "worker stats not found"),
    ("invalid_scroll_id", 400, 1104, "Invalid scroll id"),
    # 401: unauthorized
    ("unauthorized", 401, 0, "unauthorized"),
    ("not_authorized", 401, 1, "unauthorized (not authorized for endpoint)"),
    ("entity_not_allowed", 401, 2, "unauthorized (entity not allowed)"),
    ("bad_auth_type", 401, 10, "unauthorized (bad authentication header type)"),
    ("no_credentials", 401, 20, "unauthorized (missing credentials)"),
    ("bad_credentials", 401, 21, "unauthorized (malformed credentials)"),
    ("invalid_credentials", 401, 22, "unauthorized (invalid credentials)"),
    ("invalid_token", 401, 30, "invalid token"),
    ("blocked_token", 401, 31, "token is blocked"),
    # 403: forbidden
    ("forbidden", 403, 0, "forbidden"),
    ("routing_error", 403, 10, "forbidden (routing error)"),
    ("blocked_internal_endpoint", 403, 12, "forbidden (blocked internal endpoint)"),
    ("role_not_allowed", 403, 20, "forbidden (not allowed for role)"),
    ("no_write_permission", 403, 21, "forbidden (modification not allowed)"),
    # transport-level errors skiff adds (no subcode in the reference)
    ("endpoint_not_found", 404, 0, "unable to find endpoint"),
    ("request_too_large", 413, 0, "request body too large"),
    # 500: server error
    ("general_error", 500, 0, "general server error"),
    ("internal_error", 500, 1, "internal server error"),
    ("config_error", 500, 2, "configuration error"),
    ("data_error", 500, 100, "general data error"),
    ("inconsistent_data", 500, 101, "inconsistent data encountered in document"),
    ("database_unavailable", 500, 102, "database is temporarily unavailable"),
    ("update_failed", 500, 110, "update failed"),
    ("not_implemented", 500, 9999, "action is not yet implemented"),
)

CATALOGUE: dict[str, ErrorKind] = {row[0]: ErrorKind(*row) for row in _ROWS}


def _render_value(value: Any) -> str:
    if isinstance(value, (list, tuple, set, frozenset)):
        return "(" + ", ".join(_render_value(v) for v in value) + ")"
    return str(value)


def format_message(default: str, extra: str | None = None, /, **kwargs: Any) -> str:
    """Render a message the way the reference does (§7.1)."""
    text = default[:1].upper() + default[1:]
    if extra:
        text += f" ({extra})"
    if kwargs:
        text += ": " + ", ".join(f"{k}={_render_value(v)}" for k, v in kwargs.items())
    return text


class ApiError(Exception):
    """An error answered to the client with an HTTP code, a subcode and a message.

    ``data`` holds the structured keyword arguments; the envelope leaves ``error_data`` empty
    (reference quirk) but batch endpoints report it per failed id.
    """

    def __init__(
        self,
        code: int,
        subcode: int,
        message: str,
        *,
        data: dict[str, Any] | None = None,
        name: str = "",
    ) -> None:
        super().__init__(message)
        self.code = code
        self.subcode = subcode
        self.message = message
        self.data = data or {}
        self.name = name

    def __repr__(self) -> str:  # pragma: no cover - debugging aid
        return f"ApiError({self.code}/{self.subcode}: {self.message})"


def error(name: str, extra: str | None = None, /, **kwargs: Any) -> ApiError:
    """Build the catalogue error ``name`` with optional extra text and keyword details."""
    kind = CATALOGUE[name]
    return ApiError(
        kind.code,
        kind.subcode,
        format_message(kind.message, extra, **kwargs),
        data={k: v for k, v in kwargs.items()},
        name=name,
    )


def raw_error(name: str, message: str) -> ApiError:
    """A catalogue error whose whole message is given (path and JSON parse errors)."""
    kind = CATALOGUE[name]
    return ApiError(kind.code, kind.subcode, message, name=name)
