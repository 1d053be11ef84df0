"""models.* request and response models (field lists as in the SDK's ``v2_23/models.py``).

Object-valued fields the use cases check themselves (design, labels, metadata) are typed ``Any``
so that the domain rules answer with the reference's codes.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import ConfigDict, Field

from skiff.schemas.base import RequestModel, ResponseModel
from skiff.schemas.projects import StrList, TagList


class ModelDocument(ResponseModel):
    """A model as reads return it; get_all projects it, so every field may be absent."""

    model_config = ConfigDict(extra="allow")
    id: str | None = None
    name: str | None = None
    user: str | None = None
    company: str | None = None
    created: datetime | None = None
    last_update: datetime | None = None
    last_change: datetime | None = None
    last_changed_by: str | None = None
    task: str | None = None
    parent: str | None = None
    project: str | None = None
    comment: str | None = None
    tags: list[str] | None = None
    system_tags: list[str] | None = None
    framework: str | None = None
    design: dict[str, Any] | None = None
    labels: dict[str, Any] | None = None
    uri: str | None = None
    ready: bool | None = None
    metadata: dict[str, Any] | None = None
    last_iteration: int | None = None


class ModelFields(RequestModel):
    """The writable model fields shared by create and edit."""

    name: str | None = None
    uri: str | None = None
    comment: str | None = None
    tags: list[str] | None = None
    system_tags: list[str] | None = None
    framework: str | None = None
    design: Any = None
    labels: Any = None
    project: str | None = None
    parent: str | None = None
    task: str | None = None
    metadata: Any = None


class ModelsCreateRequest(ModelFields):
    name: str
    uri: str
    #: The reference's request model defaults ``ready`` to true (its schema text says false); the
    #: SDK always sends it.
    ready: bool = True
    public: bool = False


class ModelsCreateResponse(ResponseModel):
    id: str
    created: bool


class ModelIdRequest(RequestModel):
    model: str


class ModelsGetByIdResponse(ResponseModel):
    model: ModelDocument


class ModelsTaskRequest(RequestModel):
    task: str


class ModelsGetAllRequest(RequestModel):
    # extra keys are kept: ``metadata.<key>.value`` filters arrive as top-level keys
    model_config = ConfigDict(extra="allow", populate_by_name=True)
    id: StrList | None = None
    name: str | None = None
    comment: str | None = None
    user: StrList | None = None
    project: StrList | None = None
    include_subprojects: bool = False
    task: StrList | None = None
    parent: StrList | None = None
    framework: StrList | None = None
    uri: StrList | None = None
    ready: bool | None = None
    tags: TagList | None = None
    system_tags: TagList | None = None
    search_hidden: bool = False
    order_by: StrList | None = None
    page: int | None = None
    page_size: int | None = None
    only_fields: StrList | None = None


class ModelsGetAllResponse(ResponseModel):
    models: list[ModelDocument]


class ModelsEditRequest(ModelFields):
    model: str
    ready: bool | None = None
    iteration: int | None = None


class ModelsUpdateRequest(RequestModel):
    model: str
    name: str | None = None
    comment: str | None = None
    tags: list[str] | None = None
    system_tags: list[str] | None = None
    project: str | None = None
    uri: str | None = None
    task: str | None = None
    metadata: Any = None
    iteration: int | None = None


class ModelsUpdateResponse(ResponseModel):
    updated: int
    fields: dict[str, Any] = Field(default_factory=dict)


class ModelsUpdateForTaskRequest(RequestModel):
    task: str
    uri: str | None = None
    name: str | None = None
    comment: str | None = None
    tags: list[str] | None = None
    system_tags: list[str] | None = None
    override_model_id: str | None = None
    iteration: int | None = None


class ModelsUpdateForTaskResponse(ResponseModel):
    id: str
    created: bool
    updated: int | None = None
    fields: dict[str, Any] | None = None


class ModelsSetReadyRequest(RequestModel):
    model: str
    publish_task: bool = True
    force_publish_task: bool = False


class PublishedTaskData(ResponseModel):
    updated: int
    fields: dict[str, Any]


class PublishedTask(ResponseModel):
    id: str
    data: PublishedTaskData


class ModelsSetReadyResponse(ResponseModel):
    updated: int
    published_task: PublishedTask | None = None


class ModelsPublishManyRequest(RequestModel):
    ids: list[str] = Field(min_length=1)
    publish_tasks: bool = True
    force_publish_task: bool = False


class ModelsDeleteRequest(RequestModel):
    model: str
    force: bool = False
    delete_external_artifacts: bool = True


class ModelsDeleteResponse(ResponseModel):
    deleted: bool
    url: str | None = None


class ModelsDeleteManyRequest(RequestModel):
    ids: list[str] = Field(min_length=1)
    force: bool = False
    delete_external_artifacts: bool = True


class ModelsIdsRequest(RequestModel):
    ids: list[str] = Field(min_length=1)


class ModelsCountResponse(ResponseModel):
    updated: int


class ModelsAddOrUpdateMetadataRequest(RequestModel):
    model: str
    metadata: list[Any] = Field(min_length=1)
    replace_metadata: bool = False


class ModelsDeleteMetadataRequest(RequestModel):
    model: str
    keys: list[str] = Field(min_length=1)


class ModelsGetFrameworksRequest(RequestModel):
    projects: list[str] | None = None


class ModelsGetFrameworksResponse(ResponseModel):
    frameworks: list[str]
