"""The ``models`` service: what the SDK's model workflows call (create, edit, get_by_id, get_all,
set_ready, delete, archive, metadata) and the legacy endpoints older clients use.

Deliberate deviation: the reference answers ``update_for_task`` and ``get_by_task_id`` only up
to API 2.13 and with HTTP 301/1 above it; skiff serves them at every version (a 301 is cacheable
by proxies, and newer clients never call them).
"""

from __future__ import annotations

from skiff.api.context import Call
from skiff.api.registry import EndpointSet
from skiff.domain import model_document as docs
from skiff.ops import models as ops
from skiff.ops.batch import run_batch
from skiff.schemas import models as s
from skiff.schemas.tasks import BatchResponse

endpoints = EndpointSet("models")


def _read(doc: dict, only_fields: tuple[str, ...] = ()) -> dict:
    shown = docs.read_form(doc)
    return docs.project_fields(shown, only_fields) if only_fields else shown


@endpoints.add("create", request=s.ModelsCreateRequest, response=s.ModelsCreateResponse)
def create(call: Call, req: s.ModelsCreateRequest) -> dict:
    """Create a model (draft unless ready), optionally public."""
    fields = req.model_dump(exclude={"public"})
    return {"id": ops.create_model(call.db, call.user, fields, public=req.public), "created": True}


@endpoints.add("get_by_id", request=s.ModelIdRequest, response=s.ModelsGetByIdResponse)
def get_by_id(call: Call, req: s.ModelIdRequest) -> dict:
    """One model of the caller's company, or a public one."""
    return {"model": _read(ops.get_model(call.db, call.user, req.model))}


@endpoints.add("get_by_task_id", request=s.ModelsTaskRequest, response=s.ModelsGetByIdResponse)
def get_by_task_id(call: Call, req: s.ModelsTaskRequest) -> dict:
    """Legacy: the last output model of a task."""
    return {"model": _read(ops.get_by_task_id(call.db, call.user, req.task))}


@endpoints.add("get_all", request=s.ModelsGetAllRequest, response=s.ModelsGetAllResponse)
def get_all(call: Call, req: s.ModelsGetAllRequest) -> dict:
    """Models of the company and public ones: list filters, name regex, tags, metadata values,
    projection, order, paging."""
    query = docs.build_query(
        ids=req.id,
        name=req.name,
        comment=req.comment,
        user=req.user,
        project=req.project,
        include_subprojects=req.include_subprojects,
        task=req.task,
        parent=req.parent,
        framework=req.framework,
        uri=req.uri,
        ready=req.ready,
        tags=req.tags,
        system_tags=req.system_tags,
        search_hidden=req.search_hidden,
        order_by=req.order_by,
        page=req.page,
        page_size=req.page_size,
        only_fields=req.only_fields,
        extra=req.model_extra,
    )
    found = ops.list_models(call.db, call.user, query)
    return {"models": [_read(doc, query.only_fields) for doc in found]}


@endpoints.add("get_frameworks", request=s.ModelsGetFrameworksRequest, response=s.ModelsGetFrameworksResponse)
def get_frameworks(call: Call, req: s.ModelsGetFrameworksRequest) -> dict:
    """The frameworks used by the company's and public models (optionally of some projects)."""
    return {"frameworks": ops.frameworks(call.db, call.user, req.projects)}


@endpoints.add("edit", request=s.ModelsEditRequest, response=s.ModelsUpdateResponse)
def edit(call: Call, req: s.ModelsEditRequest) -> dict:
    """Change any model field; ``iteration`` moves the creating task's last_iteration."""
    fields = req.model_dump(exclude={"model", "iteration"})
    return ops.edit_model(call.db, call.user, req.model, fields, req.iteration)


@endpoints.add("update", request=s.ModelsUpdateRequest, response=s.ModelsUpdateResponse)
def update(call: Call, req: s.ModelsUpdateRequest) -> dict:
    """Change name, comment, tags, project, uri or metadata."""
    fields = req.model_dump(exclude={"model", "iteration"})
    return ops.update_model(call.db, call.user, req.model, fields, req.iteration)


@endpoints.add("update_for_task", request=s.ModelsUpdateForTaskRequest, response=s.ModelsUpdateForTaskResponse)
def update_for_task(call: Call, req: s.ModelsUpdateForTaskRequest) -> dict:
    """Legacy: create or update a task's output model and link it to the task."""
    return ops.update_for_task(call.db, call.user, req.model_dump())


@endpoints.add("set_ready", request=s.ModelsSetReadyRequest, response=s.ModelsSetReadyResponse)
def set_ready(call: Call, req: s.ModelsSetReadyRequest) -> dict:
    """Publish a model and (by default) the task that created it."""
    return ops.set_ready(
        call.db, call.user, req.model, publish_task=req.publish_task, force_publish_task=req.force_publish_task
    )


@endpoints.add("publish_many", request=s.ModelsPublishManyRequest, response=BatchResponse, min_version="2.13")
def publish_many(call: Call, req: s.ModelsPublishManyRequest) -> dict:
    """models.set_ready for each id."""

    def publish(model: str) -> dict:
        result = ops.set_ready(
            call.db, call.user, model, publish_task=req.publish_tasks, force_publish_task=req.force_publish_task
        )
        return {"updated": bool(result["updated"]), "published_task": result.get("published_task")}

    return run_batch(req.ids, publish)


@endpoints.add("delete", request=s.ModelsDeleteRequest, response=s.ModelsDeleteResponse)
def delete(call: Call, req: s.ModelsDeleteRequest) -> dict:
    """Delete a model (force: also when tasks use it or its creating task is published)."""
    return ops.delete_model(call.db, call.user, req.model, force=req.force)


@endpoints.add("delete_many", request=s.ModelsDeleteManyRequest, response=BatchResponse, min_version="2.13")
def delete_many(call: Call, req: s.ModelsDeleteManyRequest) -> dict:
    """models.delete for each id."""
    return run_batch(req.ids, lambda m: ops.delete_model(call.db, call.user, m, force=req.force))


@endpoints.add("archive_many", request=s.ModelsIdsRequest, response=BatchResponse, min_version="2.13")
def archive_many(call: Call, req: s.ModelsIdsRequest) -> dict:
    """Add the archived system tag to each model."""
    return run_batch(req.ids, lambda m: ops.archive_model(call.db, call.user, m))


@endpoints.add("unarchive_many", request=s.ModelsIdsRequest, response=BatchResponse, min_version="2.13")
def unarchive_many(call: Call, req: s.ModelsIdsRequest) -> dict:
    """Remove the archived system tag from each model."""
    return run_batch(req.ids, lambda m: ops.unarchive_model(call.db, call.user, m))


@endpoints.add("make_public", request=s.ModelsIdsRequest, response=s.ModelsCountResponse, min_version="2.9")
def make_public(call: Call, req: s.ModelsIdsRequest) -> dict:
    """Make the company's models readable by every company (and writable by none)."""
    return {"updated": ops.make_public(call.db, call.user, req.ids)}


@endpoints.add("make_private", request=s.ModelsIdsRequest, response=s.ModelsCountResponse, min_version="2.9")
def make_private(call: Call, req: s.ModelsIdsRequest) -> dict:
    """Return public models to the company that published them."""
    return {"updated": ops.make_private(call.db, call.user, req.ids)}


@endpoints.add(
    "add_or_update_metadata",
    request=s.ModelsAddOrUpdateMetadataRequest,
    response=s.ModelsCountResponse,
    min_version="2.13",
)
def add_or_update_metadata(call: Call, req: s.ModelsAddOrUpdateMetadataRequest) -> dict:
    """Add or replace metadata items by key (or replace all with ``replace_metadata``)."""
    return {"updated": ops.add_or_update_metadata(call.db, call.user, req.model, req.metadata, req.replace_metadata)}


@endpoints.add(
    "delete_metadata", request=s.ModelsDeleteMetadataRequest, response=s.ModelsCountResponse, min_version="2.13"
)
def delete_metadata(call: Call, req: s.ModelsDeleteMetadataRequest) -> dict:
    """Delete metadata items by key."""
    return {"updated": ops.delete_metadata(call.db, call.user, req.model, req.keys)}
