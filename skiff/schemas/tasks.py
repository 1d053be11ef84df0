"""tasks.* request and response models (spec tasks-model §2.6, §5, §6).

Object-valued fields that the reference checks itself (hyperparams, configuration, container,
runtime, script, execution, models) are typed ``Any`` here so that the domain rules answer with the
reference's codes (e.g. 400/16 "expecting dict") instead of a generic validation error.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, field_validator

from skiff.domain.task_document import STORED_TASK_TYPES
from skiff.schemas.base import RequestModel, ResponseModel


class TaskFields(RequestModel):
    """The writable task fields shared by create, validate and edit."""

    name: str | None = None
    type: str | None = None
    comment: str | None = None
    tags: list[str] | None = None
    system_tags: list[str] | None = None
    project: str | None = None
    parent: str | None = None
    output_dest: str | None = None
    execution: Any = None
    script: Any = None
    hyperparams: Any = None
    configuration: Any = None
    models: Any = None
    container: Any = None
    runtime: Any = None


class CreateRequest(TaskFields):
    name: str
    type: str

    @field_validator("type")
    @classmethod
    def _known_type(cls, value: str) -> str:
        if value not in STORED_TASK_TYPES:
            raise ValueError(f"value '{value}' is not one of {', '.join(STORED_TASK_TYPES)}")
        return value


class EditRequest(TaskFields):
    task: str
    force: bool = False
    status: str | None = None


class TaskRequest(RequestModel):
    task: str


class IdResponse(ResponseModel):
    id: str


class NewProject(ResponseModel):
    id: str
    name: str


class CloneRequest(RequestModel):
    task: str
    new_task_name: str | None = None
    new_task_comment: str | None = None
    new_task_tags: list[str] | None = None
    new_task_system_tags: list[str] | None = None
    new_task_parent: str | None = None
    new_task_project: str | None = None
    new_project_name: str | None = None
    new_task_hyperparams: Any = None
    new_task_configuration: Any = None
    new_task_container: Any = None
    new_task_input_models: list[dict[str, Any]] | None = None
    execution_overrides: Any = None
    validate_references: bool = False


class CloneResponse(ResponseModel):
    id: str
    new_project: NewProject | None = None


class UpdateResponse(ResponseModel):
    updated: int
    fields: dict[str, Any] = Field(default_factory=dict)


class UpdateRequest(RequestModel):
    task: str
    name: str | None = None
    tags: list[str] | None = None
    system_tags: list[str] | None = None
    comment: str | None = None
    project: str | None = None
    status_message: str | None = None
    output__error: str | None = None


class CountResponse(ResponseModel):
    updated: int


class Task(ResponseModel):
    """A task document as returned by reads; every key beyond ``id`` depends on projection."""

    model_config = {"extra": "allow"}
    id: str


class GetByIdResponse(ResponseModel):
    task: Task


class Ids(RequestModel):
    ids: list[str] = Field(min_length=1)


class EditHyperParamsRequest(RequestModel):
    task: str
    hyperparams: list[dict[str, Any]] = Field(min_length=1)
    replace_hyperparams: Literal["none", "section", "all"] = "none"
    force: bool = False


class DeleteHyperParamsRequest(RequestModel):
    task: str
    hyperparams: list[dict[str, Any]] = Field(min_length=1)
    force: bool = False


class EditConfigurationRequest(RequestModel):
    task: str
    configuration: list[dict[str, Any]] = Field(min_length=1)
    replace_configuration: bool = False
    force: bool = False


class DeleteConfigurationRequest(RequestModel):
    task: str
    configuration: list[str] = Field(min_length=1)
    force: bool = False


class DeletedResponse(ResponseModel):
    deleted: int


class TasksRequest(RequestModel):
    tasks: list[str] = Field(min_length=1)


class HyperParamsOfTask(ResponseModel):
    task: str
    hyperparams: list[dict[str, Any]]


class GetHyperParamsResponse(ResponseModel):
    params: list[HyperParamsOfTask]


class GetConfigurationsRequest(RequestModel):
    tasks: list[str] = Field(min_length=1)
    names: list[str] | None = None


class ConfigurationOfTask(ResponseModel):
    task: str
    configuration: list[dict[str, Any]]


class GetConfigurationsResponse(ResponseModel):
    configurations: list[ConfigurationOfTask]


class GetConfigurationNamesRequest(RequestModel):
    tasks: list[str] = Field(min_length=1)
    skip_empty: bool = True


class ConfigurationNamesOfTask(ResponseModel):
    task: str
    names: list[str]


class GetConfigurationNamesResponse(ResponseModel):
    configurations: list[ConfigurationNamesOfTask]


class SetRequirementsRequest(RequestModel):
    task: str
    requirements: dict[str, Any]


class ArtifactsRequest(RequestModel):
    task: str
    artifacts: list[dict[str, Any]] = Field(min_length=1)
    force: bool = False


class AddOrUpdateModelRequest(RequestModel):
    task: str
    name: str
    model: str
    type: Literal["input", "output"]
    iteration: int | None = None


class DeleteModelsRequest(RequestModel):
    task: str
    models: list[dict[str, Any]] = Field(min_length=1)


class UpdateTagsRequest(RequestModel):
    ids: list[str] = Field(min_length=1)
    add_tags: list[str] = Field(default_factory=list)
    remove_tags: list[str] = Field(default_factory=list)


class _DeleteFlags(RequestModel):
    force: bool = False
    status_reason: str = ""
    status_message: str = ""
    move_to_trash: bool = True
    return_file_urls: bool = False
    delete_output_models: bool = True
    delete_external_artifacts: bool = True
    include_pipeline_steps: bool = False


class DeleteRequest(_DeleteFlags):
    task: str


class DeleteManyRequest(_DeleteFlags):
    ids: list[str] = Field(min_length=1)


class TaskUrls(ResponseModel):
    model_urls: list[str]
    artifact_urls: list[str]
    event_urls: list[str]


class DeleteResponse(ResponseModel):
    deleted: bool
    updated_children: int
    updated_models: int
    deleted_models: int
    urls: TaskUrls | None


class BatchError(ResponseModel):
    codes: list[int]
    msg: str
    data: dict[str, Any]


class BatchFailure(ResponseModel):
    id: str
    error: BatchError


class BatchItem(ResponseModel):
    model_config = {"extra": "allow"}
    id: str


class BatchResponse(ResponseModel):
    succeeded: list[BatchItem]
    failed: list[BatchFailure]


class ArchiveRequest(RequestModel):
    tasks: list[str] = Field(min_length=1)
    status_reason: str = ""
    status_message: str = ""
    include_pipeline_steps: bool = False


class ArchiveResponse(ResponseModel):
    archived: int


class ArchiveManyRequest(RequestModel):
    ids: list[str] = Field(min_length=1)
    status_reason: str = ""
    status_message: str = ""
    include_pipeline_steps: bool = False


class MoveRequest(RequestModel):
    ids: list[str] = Field(min_length=1)
    project: str | None = None
    project_name: str | None = None


class MoveResponse(ResponseModel):
    project_id: str | None


class GetAllRequest(RequestModel):
    """Query keys (spec tasks-queries §2.0). The reference validates none of them: any other key is
    ignored, and values are checked by the query parser."""

    model_config = {"extra": "allow"}
    id: Any = None
    name: Any = None
    comment: Any = None
    user: Any = None
    project: Any = None
    parent: Any = None
    status: Any = None
    type: Any = None
    tags: Any = None
    system_tags: Any = None
    only_fields: Any = None
    projection: Any = None
    order_by: Any = None
    page: Any = None
    page_size: Any = None
    search_hidden: Any = None
    include_subprojects: Any = None
    scroll_id: Any = None
    size: Any = None
    refresh_scroll: Any = None


class ProjectedTask(ResponseModel):
    """A task under a projection: only the requested fields (get_all adds no ``id``)."""

    model_config = {"extra": "allow"}


class GetAllResponse(ResponseModel):
    tasks: list[ProjectedTask]
    scroll_id: str | None = None


class StatusChangeRequest(RequestModel):
    task: str
    force: bool = False
    status_reason: str = ""
    status_message: str = ""


class CompletedRequest(StatusChangeRequest):
    publish: bool = False


class PublishRequest(StatusChangeRequest):
    publish_model: bool = True


class StatusChangeResponse(ResponseModel):
    updated: int
    fields: dict[str, Any]


class StartedResponse(StatusChangeResponse):
    started: int


class CompletedResponse(StatusChangeResponse):
    published: int


class EnqueueRequest(RequestModel):
    task: str
    queue: str | None = None
    queue_name: str | None = None
    status_reason: str = ""
    status_message: str = ""
    verify_watched_queue: bool = False
    update_execution_queue: bool = True
    force: bool = False


class EnqueueResponse(StatusChangeResponse):
    queued: int
    queue_watched: bool | None = None


class EnqueueManyRequest(RequestModel):
    ids: list[str] = Field(min_length=1)
    queue: str | None = None
    queue_name: str | None = None
    status_reason: str = ""
    status_message: str = ""
    verify_watched_queue: bool = False
    validate_tasks: bool = False


class EnqueueManyResponse(BatchResponse):
    queue_watched: bool | None = None


class _DequeueFlags(RequestModel):
    status_reason: str = ""
    status_message: str = ""
    remove_from_all_queues: bool = False
    new_status: str | None = None


class DequeueRequest(_DequeueFlags):
    task: str


class DequeueResponse(StatusChangeResponse):
    dequeued: int


class DequeueManyRequest(_DequeueFlags):
    ids: list[str] = Field(min_length=1)


class StopRequest(RequestModel):
    task: str
    force: bool = False
    status_reason: str = ""
    status_message: str = ""
    include_pipeline_steps: bool = False


class ManyStatusRequest(RequestModel):
    ids: list[str] = Field(min_length=1)
    force: bool = False
    status_reason: str = ""
    status_message: str = ""
    include_pipeline_steps: bool = False


class PublishManyRequest(ManyStatusRequest):
    publish_model: bool = True


class _ResetFlags(RequestModel):
    force: bool = False
    clear_all: bool = False
    return_file_urls: bool = False
    delete_output_models: bool = True
    delete_external_artifacts: bool = True


class ResetRequest(_ResetFlags):
    task: str
    status_reason: str = ""
    status_message: str = ""


class ResetResponse(StatusChangeResponse):
    dequeued: dict[str, Any]
    events: dict[str, Any]
    deleted_models: int
    urls: dict[str, Any]


class ResetManyRequest(_ResetFlags):
    ids: list[str] = Field(min_length=1)


class GetAllExRequest(GetAllRequest):
    allow_public: Any = None
    filters: Any = None


class GetByIdExRequest(GetAllRequest):
    pass


class GetTypesRequest(RequestModel):
    projects: list[str] | None = None


class GetTypesResponse(ResponseModel):
    types: list[str]
