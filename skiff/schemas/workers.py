"""workers.* request and response models (field lists as in the agent's ``v2_5/workers.py`` and
the SDK's ``v2_23/workers.py``; runtime properties as the agent's worker command reads them).

The agent sends ``machine_stats: null`` and ``tags: null`` on most reports and extra keys such as
``is_daemon``: all accepted. ``null`` tags mean "leave the worker's tags as they are".
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import Field

from skiff.domain.workers import DEFAULT_LAST_SEEN, DEFAULT_TIMEOUT
from skiff.schemas.base import RequestModel, ResponseModel

class WorkerRequest(RequestModel):
    worker: str = Field(min_length=1, max_length=256)


class RegisterRequest(WorkerRequest):
    timeout: int = DEFAULT_TIMEOUT
    queues: list[str] | None = None
    tags: list[str] | None = None
    system_tags: list[str] | None = None


class StatusReportRequest(WorkerRequest):
    task: str | None = None
    queue: str | None = None
    queues: list[str] | None = None
    timestamp: int
    # Accepted and not stored: skiff keeps no machine statistics history (no workers.get_stats).
    machine_stats: dict[str, Any] | None = None
    tags: list[str] | None = None
    system_tags: list[str] | None = None


class GetAllRequest(RequestModel):
    #: Seconds; 0 or null: no activity filter (expired workers are never listed).
    last_seen: int | None = DEFAULT_LAST_SEEN
    tags: list[str] | None = None
    system_tags: list[str] | None = None
    worker_pattern: str | None = None


class GetCountRequest(GetAllRequest):
    last_seen: int | None = 0


class RuntimeProperty(RequestModel):
    key: str = Field(min_length=1, max_length=256)
    value: str
    #: Seconds until the property expires; none: never; 0: remove it now.
    expiry: int | None = Field(default=None, ge=0)


class SetRuntimePropertiesRequest(WorkerRequest):
    runtime_properties: list[RuntimeProperty]


# responses ---------------------------------------------------------------------------------------
class IdNameEntry(ResponseModel):
    id: str
    name: str | None = None


class CurrentTaskEntry(IdNameEntry):
    running_time: int | None = None
    last_iteration: int | None = None


class QueueEntry(IdNameEntry):
    display_name: str | None = None
    next_task: IdNameEntry | None = None
    num_tasks: int | None = None


class WorkerEntry(ResponseModel):
    key: str
    id: str
    user: IdNameEntry
    company: IdNameEntry
    ip: str
    register_time: datetime
    register_timeout: int
    last_activity_time: datetime
    last_report_time: datetime | None = None
    task: CurrentTaskEntry | None = None
    project: IdNameEntry | None = None
    queue: QueueEntry | None = None
    queues: list[QueueEntry]
    tags: list[str]
    system_tags: list[str]


class GetAllResponse(ResponseModel):
    workers: list[WorkerEntry]


class GetCountResponse(ResponseModel):
    count: int


class RuntimePropertyEntry(ResponseModel):
    key: str
    value: str
    expiry: int | None


class GetRuntimePropertiesResponse(ResponseModel):
    runtime_properties: list[RuntimePropertyEntry]


class SetRuntimePropertiesResponse(ResponseModel):
    added: list[str]
    removed: list[str]
    errors: list[str]
