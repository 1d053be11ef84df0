"""queues.* request and response models (field lists as in the SDK's ``v2_23/queues.py``, plus the
2.31 additions: ``display_name``, ``clear_queue``, ``update_execution_queue``, ``update_task_status``)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import Field

from skiff.schemas.base import RequestModel, ResponseModel

#: A list field that also takes one bare string (spec tasks-queries F1).
StrList = list[str] | str
#: A tag filter list: ``null`` entries mean "has no tags of this kind".
TagList = list[str | None] | str


class Entry(ResponseModel):
    task: str
    added: datetime


class TaskRef(ResponseModel):
    id: str
    name: str | None = None


class EntryEx(ResponseModel):
    """A get_all_ex entry: the task with its name, as the UI's queue page shows it."""

    task: TaskRef
    added: datetime


class MetadataItem(ResponseModel):
    key: str
    type: str | None = None
    value: str | None = None


class QueueDocument(ResponseModel):
    """A queue document; get_all projects it, so every field may be absent."""

    id: str | None = None
    name: str | None = None
    display_name: str | None = None
    company: str | None = None
    created: datetime | None = None
    last_update: datetime | None = None
    tags: list[str] | None = None
    system_tags: list[str] | None = None
    entries: list[Entry] | None = None
    metadata: dict[str, MetadataItem] | None = None


class Worker(ResponseModel):
    name: str
    ip: str | None = None
    key: str | None = None
    task: dict[str, Any] | None = None


class QueueDocumentEx(QueueDocument):
    entries: list[EntryEx] | None = None  # type: ignore[assignment]
    workers: list[Worker] = Field(default_factory=list)


class QueueRequest(RequestModel):
    queue: str


class GetByIdRequest(QueueRequest):
    max_task_entries: int | None = None


class GetByIdResponse(ResponseModel):
    queue: QueueDocument


class GetAllRequest(RequestModel):
    id: StrList | None = None
    name: str | None = None
    tags: TagList | None = None
    system_tags: TagList | None = None
    order_by: StrList | None = None
    page: int | None = None
    page_size: int | None = None
    only_fields: StrList | None = None
    search_hidden: bool = False
    max_task_entries: int | None = None


class GetAllResponse(ResponseModel):
    queues: list[QueueDocument]


class GetAllExResponse(ResponseModel):
    queues: list[QueueDocumentEx]


class GetDefaultResponse(ResponseModel):
    id: str
    name: str


class CreateRequest(RequestModel):
    name: str
    display_name: str | None = None
    tags: list[str] | None = None
    system_tags: list[str] | None = None
    metadata: dict[str, Any] | list[dict[str, Any]] | None = None


class IdResponse(ResponseModel):
    id: str


class UpdateRequest(QueueRequest):
    name: str | None = None
    display_name: str | None = None
    tags: list[str] | None = None
    system_tags: list[str] | None = None
    metadata: dict[str, Any] | list[dict[str, Any]] | None = None


class UpdateResponse(ResponseModel):
    updated: int
    fields: dict[str, Any] = Field(default_factory=dict)


class DeleteRequest(QueueRequest):
    force: bool = False


class DeletedResponse(ResponseModel):
    deleted: int


class TaskRequest(QueueRequest):
    task: str


class AddTaskRequest(TaskRequest):
    update_execution_queue: bool = True


class AddedResponse(ResponseModel):
    added: int


class RemoveTaskRequest(TaskRequest):
    update_task_status: bool = False


class RemovedResponse(ResponseModel):
    removed: int


class ClearQueueResponse(ResponseModel):
    removed_tasks: list[str]


class MoveTaskRequest(TaskRequest):
    count: int = 1


class PositionResponse(ResponseModel):
    position: int


class GetNextTaskRequest(QueueRequest):
    get_task_info: bool = False
    task: str | None = None


class TaskInfo(ResponseModel):
    company: str
    user: str


class GetNextTaskResponse(ResponseModel):
    """``{}`` when the queue is empty (the agent reads ``entry.task`` or sees no work)."""

    entry: Entry | None = None
    task_info: TaskInfo | None = None


class NumEntriesResponse(ResponseModel):
    num: int


class PeekTaskResponse(ResponseModel):
    task: str | None = None


class GetMetricsRequest(RequestModel):
    from_date: float = Field(ge=0)
    to_date: float = Field(ge=0)
    interval: int = Field(ge=1)
    queue_ids: list[str] | None = None
    refresh: bool = False


class QueueMetrics(ResponseModel):
    queue: str
    dates: list[int]
    avg_waiting_times: list[float]
    queue_lengths: list[int]


class GetMetricsResponse(ResponseModel):
    queues: list[QueueMetrics]


class AddOrUpdateMetadataRequest(QueueRequest):
    metadata: list[dict[str, Any]] | dict[str, Any]
    replace_metadata: bool = False


class DeleteMetadataRequest(QueueRequest):
    keys: list[str]


class UpdatedResponse(ResponseModel):
    updated: int
