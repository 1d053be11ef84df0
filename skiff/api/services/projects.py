"""The ``projects`` service: what tasks, the SDK (Task.init's lookup-or-create) and the UI's
project tree need."""

from __future__ import annotations

from skiff.api.context import Call
from skiff.api.registry import EndpointSet
from skiff.domain.projects import build_query
from skiff.ops import projects
from skiff.schemas.projects import (
    ProjectIdRequest,
    ProjectsCreateRequest,
    ProjectsCreateResponse,
    ProjectsDeleteRequest,
    ProjectsDeleteResponse,
    ProjectsGetAllRequest,
    ProjectsGetAllResponse,
    ProjectsGetByIdResponse,
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


@endpoints.add("get_all", request=ProjectsGetAllRequest, response=ProjectsGetAllResponse)
def get_all(call: Call, req: ProjectsGetAllRequest) -> dict:
    """The company's projects: id/name-regex/tag/parent filters, projection, order, paging."""
    query = build_query(
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
    return {"projects": projects.list_projects(call.db, call.user, query)}


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
