"""The ``projects`` service: what tasks, the SDK (Task.init's lookup-or-create) and the UI's
project tree need."""

from __future__ import annotations

from skiff.api.context import Call
from skiff.api.registry import EndpointSet
from skiff.domain.projects import ProjectQuery, as_list, build_query
from skiff.ops import project_aggregates as aggregates
from skiff.ops import projects
from skiff.schemas.projects import (
    ProjectIdRequest,
    ProjectsCreateRequest,
    ProjectsCreateResponse,
    ProjectsDeleteRequest,
    ProjectsDeleteResponse,
    ProjectsGetAllExRequest,
    ProjectsGetAllExResponse,
    ProjectsGetAllRequest,
    ProjectsGetAllResponse,
    ProjectsGetByIdResponse,
    ProjectsGetHyperParametersRequest,
    ProjectsGetHyperParametersResponse,
    ProjectsGetHyperparamValuesRequest,
    ProjectsGetHyperparamValuesResponse,
    ProjectsGetTaskParentsRequest,
    ProjectsGetTaskParentsResponse,
    ProjectsGetUniqueMetricVariantsRequest,
    ProjectsGetUniqueMetricVariantsResponse,
    ProjectsMoveRequest,
    ProjectsMoveResponse,
    ProjectsUpdateRequest,
    ProjectsUpdateResponse,
    ProjectsValidateDeleteResponse,
)

endpoints = EndpointSet("projects")


@endpoints.add("create", request=ProjectsCreateRequest, response=ProjectsCreateResponse)
def create(call: Call, req: ProjectsCreateRequest) -> dict:
    """Create a project; ``a/b/c`` creates missing ancestors; a taken name is refused (400/801)."""
    project = projects.create_project(
        call.db,
        call.user,
        name=req.name,
        description=req.description,
        tags=req.tags,
        system_tags=req.system_tags,
        default_output_destination=req.default_output_destination,
    )
    return {"id": project}


@endpoints.add("get_by_id", request=ProjectIdRequest, response=ProjectsGetByIdResponse)
def get_by_id(call: Call, req: ProjectIdRequest) -> dict:
    """One project of the caller's company."""
    return {"project": projects.get_project(call.db, call.user, req.project)}


def _query(req: ProjectsGetAllRequest) -> ProjectQuery:
    return build_query(
        ids=req.id,
        name=req.name,
        description=req.description,
        basename=req.basename,
        tags=req.tags,
        system_tags=req.system_tags,
        parent=req.parent,
        shallow_search=req.shallow_search,
        search_hidden=req.search_hidden,
        order_by=req.order_by,
        page=req.page,
        page_size=req.page_size,
        only_fields=req.only_fields,
    )


@endpoints.add("get_all", request=ProjectsGetAllRequest, response=ProjectsGetAllResponse)
def get_all(call: Call, req: ProjectsGetAllRequest) -> dict:
    """The company's projects: id/name-regex/tag/parent filters, projection, order, paging."""
    return {"projects": projects.list_projects(call.db, call.user, _query(req))}


@endpoints.add("get_all_ex", request=ProjectsGetAllExRequest, response=ProjectsGetAllExResponse)
def get_all_ex(call: Call, req: ProjectsGetAllExRequest) -> dict:
    """get_all plus task statistics, own contents, subprojects, active-user and children filters."""
    options = aggregates.ExOptions(
        include_stats=req.include_stats,
        stats_for_state=req.stats_for_state,
        stats_with_children=req.stats_with_children,
        stats_filter=aggregates.parse_stats_filter(req.include_stats_filter),
        check_own_contents=req.check_own_contents,
        active_users=tuple(as_list(req.active_users)),
        children_type=req.children_type,
        search_hidden=req.search_hidden,
    )
    return {"projects": aggregates.list_projects_ex(call.db, call.user, _query(req), options)}


@endpoints.add(
    "get_hyper_parameters",
    request=ProjectsGetHyperParametersRequest,
    response=ProjectsGetHyperParametersResponse,
    min_version="2.9",
)
def get_hyper_parameters(call: Call, req: ProjectsGetHyperParametersRequest) -> dict:
    """Distinct hyperparameter (section, name) pairs of the tasks in a project (or all), paged."""
    return aggregates.hyper_parameters(
        call.db,
        call.user,
        req.project,
        include_subprojects=req.include_subprojects,
        page=req.page,
        page_size=req.page_size,
    )


@endpoints.add(
    "get_hyperparam_values",
    request=ProjectsGetHyperparamValuesRequest,
    response=ProjectsGetHyperparamValuesResponse,
    min_version="2.13",
)
def get_hyperparam_values(call: Call, req: ProjectsGetHyperparamValuesRequest) -> dict:
    """Distinct values of one hyperparameter across the tasks of some projects (or all), paged."""
    return aggregates.hyperparam_values(
        call.db,
        call.user,
        as_list(req.projects),
        req.section,
        req.name,
        include_subprojects=req.include_subprojects,
        allow_public=req.allow_public,
        pattern=req.pattern,
        page=req.page,
        page_size=req.page_size,
    )


@endpoints.add(
    "get_unique_metric_variants",
    request=ProjectsGetUniqueMetricVariantsRequest,
    response=ProjectsGetUniqueMetricVariantsResponse,
)
def get_unique_metric_variants(call: Call, req: ProjectsGetUniqueMetricVariantsRequest) -> dict:
    """Distinct (metric, variant) series, with their hashes, reported in a project (or all)."""
    metrics = aggregates.unique_metric_variants(
        call.db,
        call.user,
        req.project,
        include_subprojects=req.include_subprojects,
        model_metrics=req.model_metrics,
        ids=as_list(req.ids) if req.ids is not None else None,
    )
    return {"metrics": metrics}


@endpoints.add(
    "get_task_parents",
    request=ProjectsGetTaskParentsRequest,
    response=ProjectsGetTaskParentsResponse,
    min_version="2.12",
)
def get_task_parents(call: Call, req: ProjectsGetTaskParentsRequest) -> dict:
    """Distinct parent tasks of the tasks in some projects (or all), by name."""
    parents = aggregates.task_parents(
        call.db,
        call.user,
        as_list(req.projects),
        include_subprojects=req.include_subprojects,
        tasks_state=req.tasks_state,
        task_name=req.task_name,
    )
    return {"parents": parents}


@endpoints.add("update", request=ProjectsUpdateRequest, response=ProjectsUpdateResponse)
def update(call: Call, req: ProjectsUpdateRequest) -> dict:
    """Change name (same location only), description, tags, default output destination."""
    changes = req.model_dump(include=req.model_fields_set - {"project"})
    return projects.update_project(call.db, call.user, req.project, changes)


@endpoints.add("move", request=ProjectsMoveRequest, response=ProjectsMoveResponse)
def move(call: Call, req: ProjectsMoveRequest) -> dict:
    """Move a project with its subprojects below another location (created if missing)."""
    return {"moved": projects.move_project(call.db, call.user, req.project, req.new_location)}


@endpoints.add("validate_delete", request=ProjectIdRequest, response=ProjectsValidateDeleteResponse)
def validate_delete(call: Call, req: ProjectIdRequest) -> dict:
    """Count what deleting the project and its subprojects would affect."""
    return projects.validate_delete(call.db, call.user, req.project)


@endpoints.add("delete", request=ProjectsDeleteRequest, response=ProjectsDeleteResponse)
def delete(call: Call, req: ProjectsDeleteRequest) -> dict:
    """Delete a project and its subprojects (non-archived contents need ``force``)."""
    return projects.delete_project(
        call.db, call.user, req.project, force=req.force, delete_contents=req.delete_contents
    )
