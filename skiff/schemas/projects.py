"""projects.* request and response models (field lists as in the SDK's ``v2_23/projects.py``)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from skiff.schemas.base import RequestModel, ResponseModel

#: A list field that also takes one bare string (spec tasks-queries F1).
StrList = list[str] | str
#: A tag filter list: ``null`` entries mean "has no tags of this kind".
TagList = list[str | None] | str


class ProjectDocument(ResponseModel):
    """A project document; get_all projects it, so every field may be absent."""

    id: str | None = None
    name: str | None = None
    basename: str | None = None
    description: str | None = None
    user: str | None = None
    company: str | None = None
    created: datetime | None = None
    tags: list[str] | None = None
    system_tags: list[str] | None = None
    default_output_destination: str | None = None
    last_update: datetime | None = None
    parent: str | None = None
    path: list[str] | None = None


class ProjectIdRequest(RequestModel):
    project: str


class ProjectsCreateRequest(RequestModel):
    name: str
    description: str | None = None
    tags: list[str] | None = None
    system_tags: list[str] | None = None
    default_output_destination: str | None = None


class ProjectsCreateResponse(ResponseModel):
    id: str


class ProjectsGetByIdResponse(ResponseModel):
    project: ProjectDocument


class ProjectsGetAllRequest(RequestModel):
    id: StrList | None = None
    name: str | None = None
    basename: str | None = None
    description: str | None = None
    tags: TagList | None = None
    system_tags: TagList | None = None
    parent: StrList | None = None
    order_by: StrList | None = None
    page: int | None = None
    page_size: int | None = None
    only_fields: StrList | None = None
    search_hidden: bool = False
    shallow_search: bool = False


class ProjectsGetAllResponse(ResponseModel):
    projects: list[ProjectDocument]


class ProjectsUpdateRequest(RequestModel):
    project: str
    name: str | None = None
    description: str | None = None
    tags: list[str] | None = None
    system_tags: list[str] | None = None
    default_output_destination: str | None = None


class ProjectsUpdateResponse(ResponseModel):
    updated: int
    fields: dict[str, Any]


class ProjectsMoveRequest(RequestModel):
    project: str
    new_location: str | None = None


class ProjectsMoveResponse(ResponseModel):
    moved: int


class ProjectsValidateDeleteResponse(ResponseModel):
    tasks: int
    non_archived_tasks: int
    models: int
    non_archived_models: int
    reports: int
    non_archived_reports: int
    pipelines: int
    datasets: int


class ProjectsDeleteRequest(RequestModel):
    project: str
    force: bool = False
    delete_contents: bool = False


class ProjectsDeleteUrls(ResponseModel):
    model_urls: list[str]
    event_urls: list[str]
    artifact_urls: list[str]


class ProjectsDeleteResponse(ResponseModel):
    deleted: int
    disassociated_tasks: int
    deleted_models: int
    deleted_tasks: int
    urls: ProjectsDeleteUrls | None = None
