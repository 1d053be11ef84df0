"""projects.* request and response models (field lists as in the SDK's ``v2_23/projects.py``)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

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


# get_all_ex and the aggregates over a project's tasks (fields as in the reference's projects
# schema; get_all_ex is "internal": the web UI sends it, the SDK does not) -----------------------
class ProjectsGetAllExRequest(ProjectsGetAllRequest):
    include_stats: bool = False
    #: null asks for both states
    stats_for_state: Literal["active", "archived"] | None = "active"
    stats_with_children: bool = True
    include_stats_filter: dict[str, Any] | None = None
    check_own_contents: bool = False
    active_users: StrList | None = None
    children_type: Literal["pipeline", "report", "dataset"] | None = None
    allow_public: bool = True
    non_public: bool = False


class StatusCount(ResponseModel):
    """Tasks per status; any other status (``publishing``) counts as ``unknown``."""

    created: int = 0
    queued: int = 0
    in_progress: int = 0
    stopped: int = 0
    published: int = 0
    closed: int = 0
    failed: int = 0
    completed: int = 0
    unknown: int = 0


class StateStats(ResponseModel):
    status_count: StatusCount
    total_tasks: int
    total_runtime: int
    completed_tasks_24h: int
    last_task_run: int | None = None


class ProjectStats(ResponseModel):
    active: StateStats | None = None
    archived: StateStats | None = None


class SubProject(ResponseModel):
    id: str
    name: str


class ProjectExDocument(ProjectDocument):
    stats: ProjectStats | None = None
    sub_projects: list[SubProject] | None = None
    own_tasks: int | None = None
    own_models: int | None = None
    hidden: bool | None = None


class ProjectsGetAllExResponse(ResponseModel):
    projects: list[ProjectExDocument]


class ProjectsGetHyperParametersRequest(RequestModel):
    #: the reference requires it, but the web UI sends null for "all projects"
    project: str | None = None
    include_subprojects: bool = True
    page: int | None = None
    page_size: int | None = None


class HyperParameterName(ResponseModel):
    section: str
    name: str


class ProjectsGetHyperParametersResponse(ResponseModel):
    parameters: list[HyperParameterName]
    total: int
    remaining: int


class ProjectsGetHyperparamValuesRequest(RequestModel):
    section: str
    name: str
    projects: StrList | None = None
    include_subprojects: bool = True
    allow_public: bool = True
    pattern: str | None = None
    page: int | None = None
    page_size: int | None = None


class ProjectsGetHyperparamValuesResponse(ResponseModel):
    total: int
    values: list[str]


class ProjectsGetUniqueMetricVariantsRequest(RequestModel):
    project: str | None = None
    include_subprojects: bool = True
    model_metrics: bool = False
    ids: StrList | None = None


class MetricVariant(ResponseModel):
    metric: str
    metric_hash: str
    variant: str
    variant_hash: str


class ProjectsGetUniqueMetricVariantsResponse(ResponseModel):
    metrics: list[MetricVariant]


class ProjectsGetTaskParentsRequest(RequestModel):
    projects: StrList | None = None
    include_subprojects: bool = True
    #: null asks for parents of tasks in both states
    tasks_state: Literal["active", "archived"] | None = "active"
    task_name: str | None = None


class ParentProject(ResponseModel):
    id: str
    name: str | None = None


class TaskParent(ResponseModel):
    id: str
    name: str
    project: ParentProject | None = None


class ProjectsGetTaskParentsResponse(ResponseModel):
    parents: list[TaskParent]
