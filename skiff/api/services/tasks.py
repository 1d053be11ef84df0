"""The ``tasks`` service: the task document endpoints (spec tasks-model §5)."""

from __future__ import annotations

from typing import Any

from skiff.api.context import Call
from skiff.api.registry import EndpointSet
from skiff.domain.task_document import configuration_items, hyperparam_items, read_form
from skiff.domain.task_query import project
from skiff.ops import tasks as ops
from skiff.ops import task_lifecycle as lifecycle
from skiff.ops import task_queries
from skiff.ops import tasks_manage as manage
from skiff.ops.batch import run_batch
from skiff.schemas import tasks as s
from skiff.schemas.base import EmptyResponse

endpoints = EndpointSet("tasks")

_FIELDS = tuple(s.TaskFields.model_fields)


def _fields(req: s.TaskFields) -> dict[str, Any]:
    return {name: getattr(req, name) for name in _FIELDS if getattr(req, name) is not None}


@endpoints.add("create", request=s.CreateRequest, response=s.IdResponse, transaction="write")
def create(call: Call, req: s.CreateRequest) -> dict:
    """Create a new task (status created)."""
    return {"id": ops.create_task(call.db, call.user, _fields(req), call.version)}


@endpoints.add("validate", request=s.CreateRequest, response=EmptyResponse)
def validate(call: Call, req: s.CreateRequest) -> dict:
    """Check a task creation request without creating anything."""
    ops.validate_task(call.db, call.user, _fields(req), call.version)
    return {}


@endpoints.add("get_by_id", request=s.TaskRequest, response=s.GetByIdResponse, transaction="read")
def get_by_id(call: Call, req: s.TaskRequest) -> dict:
    """Get one task (the caller's company or public)."""
    return {"task": read_form(ops.get_task(call.db, call.user, req.task), call.version)}


@endpoints.add("edit", request=s.EditRequest, response=s.UpdateResponse)
def edit(call: Call, req: s.EditRequest) -> dict:
    """Edit a draft task (any status with force); objects merged one level, maps replaced."""
    fields = _fields(req)
    if req.status is not None:
        fields["status"] = req.status
    updated, doc, written = ops.edit_task(call.db, call.user, req.task, fields, force=req.force, version=call.version)
    shown = read_form(doc, call.version)
    return {"updated": updated, "fields": {name: shown.get(name) for name in written}}


@endpoints.add("update", request=s.UpdateRequest, response=s.UpdateResponse)
def update(call: Call, req: s.UpdateRequest) -> dict:
    """Update name, tags, comment, project, status_message or output error (any status)."""
    return ops.update_task(call.db, call.user, req.task, req.model_dump(exclude={"task"}))


@endpoints.add("update_batch", request=s.UpdateRequest, response=s.CountResponse, batch=True)
def update_batch(call: Call, items: list[s.UpdateRequest]) -> dict:
    """tasks.update for many tasks (json-lines), all or nothing."""
    return {"updated": ops.update_batch(call.db, call.user, [i.model_dump() for i in items])}


@endpoints.add("update_tags", request=s.UpdateTagsRequest, response=s.CountResponse)
def update_tags(call: Call, req: s.UpdateTagsRequest) -> dict:
    """Add and remove user tags on several tasks."""
    return {"updated": ops.update_tags(call.db, call.user, req.ids, req.add_tags, req.remove_tags)}


@endpoints.add("set_requirements", request=s.SetRequirementsRequest, response=s.UpdateResponse)
def set_requirements(call: Call, req: s.SetRequirementsRequest) -> dict:
    """Replace script.requirements (any status)."""
    ops.set_requirements(call.db, call.user, req.task, req.requirements)
    return {"updated": 1, "fields": {"script.requirements": req.requirements}}


@endpoints.add("get_hyper_params", request=s.TasksRequest, response=s.GetHyperParamsResponse)
def get_hyper_params(call: Call, req: s.TasksRequest) -> dict:
    """Hyperparameters of tasks, flat and sorted by (section, name)."""
    found = ops.get_tasks(call.db, call.user, req.tasks)
    return {"params": [{"task": d["id"], "hyperparams": hyperparam_items(d)} for d in found]}


@endpoints.add(
    "edit_hyper_params", request=s.EditHyperParamsRequest, response=s.CountResponse, transaction="write"
)
def edit_hyper_params(call: Call, req: s.EditHyperParamsRequest) -> dict:
    """Add or replace hyperparameters (replace modes none, section, all)."""
    ops.edit_hyper_params(call.db, call.user, req.task, req.hyperparams, req.replace_hyperparams, req.force)
    return {"updated": 1}


@endpoints.add("delete_hyper_params", request=s.DeleteHyperParamsRequest, response=s.DeletedResponse)
def delete_hyper_params(call: Call, req: s.DeleteHyperParamsRequest) -> dict:
    """Delete hyperparameters or whole sections."""
    ops.delete_hyper_params(call.db, call.user, req.task, req.hyperparams, req.force)
    return {"deleted": 1}


@endpoints.add("get_configurations", request=s.GetConfigurationsRequest, response=s.GetConfigurationsResponse)
def get_configurations(call: Call, req: s.GetConfigurationsRequest) -> dict:
    """Configuration items of tasks, sorted by name (optionally only some names)."""
    found = ops.get_tasks(call.db, call.user, req.tasks)
    return {"configurations": [{"task": d["id"], "configuration": configuration_items(d, req.names)} for d in found]}


@endpoints.add(
    "get_configuration_names", request=s.GetConfigurationNamesRequest, response=s.GetConfigurationNamesResponse
)
def get_configuration_names(call: Call, req: s.GetConfigurationNamesRequest) -> dict:
    """Configuration names of tasks (skipping empty values unless asked)."""
    out = []
    for doc in ops.find_tasks_by_id(call.db, call.user, req.tasks):  # no existence check (§8)
        config = doc.get("configuration") or {}
        names = [name for name, item in config.items() if not req.skip_empty or item.get("value") not in (None, "")]
        if names:  # a task with no remaining names is left out
            out.append({"task": doc["id"], "names": sorted(names)})
    return {"configurations": out}


@endpoints.add("edit_configuration", request=s.EditConfigurationRequest, response=s.CountResponse)
def edit_configuration(call: Call, req: s.EditConfigurationRequest) -> dict:
    """Add or replace configuration items."""
    ops.edit_configuration(call.db, call.user, req.task, req.configuration, req.replace_configuration, req.force)
    return {"updated": 1}


@endpoints.add("delete_configuration", request=s.DeleteConfigurationRequest, response=s.DeletedResponse)
def delete_configuration(call: Call, req: s.DeleteConfigurationRequest) -> dict:
    """Delete configuration items by name."""
    ops.delete_configuration(call.db, call.user, req.task, req.configuration, req.force)
    return {"deleted": 1}


@endpoints.add("add_or_update_artifacts", request=s.ArtifactsRequest, response=s.CountResponse, min_version="2.10")
def add_or_update_artifacts(call: Call, req: s.ArtifactsRequest) -> dict:
    """Add artifacts or replace them by (key, mode)."""
    ops.add_or_update_artifacts(call.db, call.user, req.task, req.artifacts)
    return {"updated": 1}


@endpoints.add("delete_artifacts", request=s.ArtifactsRequest, response=s.DeletedResponse, min_version="2.10")
def delete_artifacts(call: Call, req: s.ArtifactsRequest) -> dict:
    """Delete artifacts by (key, mode)."""
    ops.delete_artifacts(call.db, call.user, req.task, req.artifacts)
    return {"deleted": 1}


@endpoints.add("add_or_update_model", request=s.AddOrUpdateModelRequest, response=s.CountResponse, min_version="2.13")
def add_or_update_model(call: Call, req: s.AddOrUpdateModelRequest) -> dict:
    """Set the model of a named input or output model slot."""
    ops.add_or_update_model(call.db, call.user, req.task, req.name, req.model, req.type, req.iteration)
    return {"updated": 1}


@endpoints.add("delete_models", request=s.DeleteModelsRequest, response=s.CountResponse, min_version="2.13")
def delete_models(call: Call, req: s.DeleteModelsRequest) -> dict:
    """Remove named input/output model slots."""
    ops.delete_models(call.db, call.user, req.task, req.models)
    return {"updated": 1}


# whole-task operations -----------------------------------------------------------------------------
@endpoints.add("clone", request=s.CloneRequest, response=s.CloneResponse)
def clone(call: Call, req: s.CloneRequest) -> dict:
    """Copy a task into a new draft (spec §5.3)."""
    return manage.clone_task(call.db, call.user, req.model_dump(), call.version)


@endpoints.add("delete", request=s.DeleteRequest, response=s.DeleteResponse)
def delete(call: Call, req: s.DeleteRequest) -> dict:
    """Delete a task (drafts and archived tasks; others with force)."""
    return manage.delete_task(
        call.db,
        call.user,
        req.task,
        force=req.force,
        return_file_urls=req.return_file_urls,
        delete_output_models=req.delete_output_models,
    )


@endpoints.add("delete_many", request=s.DeleteManyRequest, response=s.BatchResponse)
def delete_many(call: Call, req: s.DeleteManyRequest) -> dict:
    """tasks.delete for each id."""
    return run_batch(
        req.ids,
        lambda t: manage.delete_task(
            call.db,
            call.user,
            t,
            force=req.force,
            return_file_urls=req.return_file_urls,
            delete_output_models=req.delete_output_models,
        ),
    )


@endpoints.add("archive", request=s.ArchiveRequest, response=s.ArchiveResponse, min_version="2.12")
def archive(call: Call, req: s.ArchiveRequest) -> dict:
    """Archive tasks (all or nothing), stopping running and dequeuing queued ones."""
    return {"archived": manage.archive_tasks(call.db, call.user, req.tasks, req.status_reason, req.status_message)}


@endpoints.add("archive_many", request=s.ArchiveManyRequest, response=s.BatchResponse, min_version="2.13")
def archive_many(call: Call, req: s.ArchiveManyRequest) -> dict:
    """Archive each task on its own."""
    return run_batch(
        req.ids, lambda t: manage.archive_task(call.db, call.user, t, req.status_reason, req.status_message)
    )


@endpoints.add("unarchive_many", request=s.ArchiveManyRequest, response=s.BatchResponse, min_version="2.13")
def unarchive_many(call: Call, req: s.ArchiveManyRequest) -> dict:
    """Remove the archived tag from each task."""
    return run_batch(
        req.ids, lambda t: manage.unarchive_task(call.db, call.user, t, req.status_reason, req.status_message)
    )


@endpoints.add("move", request=s.MoveRequest, response=s.MoveResponse, min_version="2.12")
def move(call: Call, req: s.MoveRequest) -> dict:
    """Move tasks to a project (by id, by name with creation, or to the root with project: null)."""
    target = manage.move_tasks(
        call.db,
        call.user,
        req.ids,
        project_given="project" in req.model_fields_set,
        project=req.project,
        project_name=req.project_name,
    )
    return {"project_id": target}


@endpoints.add("make_public", request=s.Ids, response=s.CountResponse, min_version="2.9")
def make_public(call: Call, req: s.Ids) -> dict:
    """Make the company's tasks readable by every company (and writable by none)."""
    return {"updated": manage.make_public(call.db, call.user, req.ids)}


@endpoints.add("make_private", request=s.Ids, response=s.CountResponse, min_version="2.9")
def make_private(call: Call, req: s.Ids) -> dict:
    """Return public tasks to the company that published them."""
    return {"updated": manage.make_private(call.db, call.user, req.ids)}


def _listing(tasks: list[dict[str, Any]], scroll_id: str | None) -> dict[str, Any]:
    """A get_all answer: ``scroll_id`` only in scroll mode (spec tasks-queries §5.2)."""
    return {"tasks": tasks} if scroll_id is None else {"tasks": tasks, "scroll_id": scroll_id}


@endpoints.add("get_all", request=s.GetAllRequest, response=s.GetAllResponse)
def get_all(call: Call, req: s.GetAllRequest) -> dict:
    """Query tasks: list filters with the tag operator language, name/comment patterns, ordering,
    paging and projection."""
    selection = task_queries.list_tasks(call.db, call.user, req.model_dump(exclude_unset=True))
    paths = selection.query.projection
    return _listing([project(read_form(doc, call.version), paths) for doc in selection.docs], selection.scroll_id)


# status changes ------------------------------------------------------------------------------------
def _status_args(req: s.StatusChangeRequest) -> dict[str, Any]:
    return {"force": req.force, "reason": req.status_reason, "message": req.status_message}


@endpoints.add("started", request=s.StatusChangeRequest, response=s.StartedResponse)
def started(call: Call, req: s.StatusChangeRequest) -> dict:
    """Mark a task as running (in_progress)."""
    return lifecycle.started(call.db, call.user, req.task, **_status_args(req))


@endpoints.add("stopped", request=s.StatusChangeRequest, response=s.StatusChangeResponse)
def stopped(call: Call, req: s.StatusChangeRequest) -> dict:
    """Mark a task as stopped (what a worker reports after a stop request)."""
    return lifecycle.stopped(call.db, call.user, req.task, **_status_args(req))


@endpoints.add("failed", request=s.StatusChangeRequest, response=s.StatusChangeResponse)
def failed(call: Call, req: s.StatusChangeRequest) -> dict:
    """Mark a task as failed."""
    return lifecycle.failed(call.db, call.user, req.task, **_status_args(req))


@endpoints.add("close", request=s.StatusChangeRequest, response=s.StatusChangeResponse)
def close(call: Call, req: s.StatusChangeRequest) -> dict:
    """Close a stopped task."""
    return lifecycle.close(call.db, call.user, req.task, **_status_args(req))


@endpoints.add("completed", request=s.CompletedRequest, response=s.CompletedResponse, min_version="2.2")
def completed(call: Call, req: s.CompletedRequest) -> dict:
    """Mark a task as completed (never from failed without force), optionally publishing it."""
    return lifecycle.completed(call.db, call.user, req.task, publish=req.publish, **_status_args(req))


@endpoints.add("publish", request=s.PublishRequest, response=s.StatusChangeResponse)
def publish(call: Call, req: s.PublishRequest) -> dict:
    """Publish a finished task and its last output model."""
    return lifecycle.publish_task(call.db, call.user, req.task, publish_model=req.publish_model, **_status_args(req))


@endpoints.add("ping", request=s.TaskRequest, response=EmptyResponse)
def ping(call: Call, req: s.TaskRequest) -> dict:
    """Keep a running task alive (refreshes last_update)."""
    lifecycle.ping(call.db, call.user, req.task)
    return {}


@endpoints.add("publish_many", request=s.PublishManyRequest, response=s.BatchResponse, min_version="2.13")
def publish_many(call: Call, req: s.PublishManyRequest) -> dict:
    """tasks.publish for each id."""
    return run_batch(
        req.ids,
        lambda t: lifecycle.publish_task(
            call.db, call.user, t, force=req.force, reason=req.status_reason, message=req.status_message,
            publish_model=req.publish_model,
        ),
    )  # fmt: skip


@endpoints.add("stop", request=s.StopRequest, response=s.StatusChangeResponse)
def stop(call: Call, req: s.StopRequest) -> dict:
    """Stop a task: at once when it is queued, a development run or not run by a live worker;
    otherwise ask its worker (status_message "stopping")."""
    return lifecycle.stop(call.db, call.user, req.task, force=req.force, reason=req.status_reason)


@endpoints.add("stop_many", request=s.ManyStatusRequest, response=s.BatchResponse, min_version="2.13")
def stop_many(call: Call, req: s.ManyStatusRequest) -> dict:
    """tasks.stop for each id."""
    return run_batch(req.ids, lambda t: lifecycle.stop(call.db, call.user, t, force=req.force, reason=req.status_reason))


def _enqueue_args(req: s.EnqueueRequest | s.EnqueueManyRequest) -> dict[str, Any]:
    return {
        "queue": req.queue,
        "queue_name": req.queue_name,
        "reason": req.status_reason,
        "message": req.status_message,
        "verify_watched_queue": req.verify_watched_queue,
    }


@endpoints.add("enqueue", request=s.EnqueueRequest, response=s.EnqueueResponse)
def enqueue(call: Call, req: s.EnqueueRequest) -> dict:
    """Put a task on a queue (by id, by name with creation, or the default queue)."""
    return lifecycle.enqueue(
        call.db, call.user, req.task, force=req.force, update_execution_queue=req.update_execution_queue,
        **_enqueue_args(req),
    )  # fmt: skip


@endpoints.add("enqueue_many", request=s.EnqueueManyRequest, response=s.EnqueueManyResponse, min_version="2.13")
def enqueue_many(call: Call, req: s.EnqueueManyRequest) -> dict:
    """tasks.enqueue for each id; ``queue_watched`` for the first queued one."""
    watched: list[bool] = []

    def one(task: str) -> dict[str, Any]:
        if req.validate_tasks:
            ops.validate_existing(call.db, call.user, task)
        result = lifecycle.enqueue(call.db, call.user, task, force=False, **_enqueue_args(req))
        if "queue_watched" in result:
            watched.append(result.pop("queue_watched"))
        return {"queued": True, **{k: v for k, v in result.items() if k != "queued"}}

    batch: dict[str, Any] = run_batch(req.ids, one)
    if req.verify_watched_queue and watched:
        batch["queue_watched"] = watched[0]
    return batch


def _dequeue_args(req: s.DequeueRequest | s.DequeueManyRequest) -> dict[str, Any]:
    return {
        "reason": req.status_reason,
        "message": req.status_message,
        "remove_from_all_queues": req.remove_from_all_queues,
        "new_status": req.new_status,
    }


def _reset_args(req: s.ResetRequest | s.ResetManyRequest) -> dict[str, Any]:
    return {
        "force": req.force,
        "clear_all": req.clear_all,
        "return_file_urls": req.return_file_urls,
        "delete_output_models": req.delete_output_models,
    }


@endpoints.add("dequeue", request=s.DequeueRequest, response=s.DequeueResponse)
def dequeue(call: Call, req: s.DequeueRequest) -> dict:
    """Take a task off its queue (back to its previous status); never fails on status."""
    return lifecycle.dequeue(call.db, call.user, req.task, **_dequeue_args(req))


@endpoints.add("dequeue_many", request=s.DequeueManyRequest, response=s.BatchResponse, min_version="2.13")
def dequeue_many(call: Call, req: s.DequeueManyRequest) -> dict:
    """tasks.dequeue for each id."""

    def one(task: str) -> dict[str, Any]:
        return {**lifecycle.dequeue(call.db, call.user, task, **_dequeue_args(req)), "dequeued": True}

    return run_batch(req.ids, one)


@endpoints.add("reset", request=s.ResetRequest, response=s.ResetResponse)
def reset(call: Call, req: s.ResetRequest) -> dict:
    """Return a task to a fresh draft: status created, no run results, events deleted."""
    return lifecycle.reset(call.db, call.user, req.task, **_reset_args(req))


@endpoints.add("reset_many", request=s.ResetManyRequest, response=s.BatchResponse, min_version="2.13")
def reset_many(call: Call, req: s.ResetManyRequest) -> dict:
    """tasks.reset for each id."""

    def one(task: str) -> dict[str, Any]:
        result = lifecycle.reset(call.db, call.user, task, **_reset_args(req))
        result.pop("events")
        return {**result, "dequeued": bool(result["dequeued"])}

    return run_batch(req.ids, one)


@endpoints.add("get_all_ex", request=s.GetAllExRequest, response=s.GetAllResponse)
def get_all_ex(call: Call, req: s.GetAllExRequest) -> dict:
    """tasks.get_all with reference expansion ({"id": …}) and joins such as ``project.name``."""
    request = req.model_dump(exclude_unset=True)
    found, scroll_id = task_queries.list_tasks_ex(call.db, call.user, request, call.version, by_id=False)
    return _listing(found, scroll_id)


@endpoints.add("get_by_id_ex", request=s.GetByIdExRequest, response=s.GetAllResponse)
def get_by_id_ex(call: Call, req: s.GetByIdExRequest) -> dict:
    """Tasks by id (hidden ones too) with reference expansion and joins."""
    request = req.model_dump(exclude_unset=True)
    found, _ = task_queries.list_tasks_ex(call.db, call.user, request, call.version, by_id=True)
    return {"tasks": found}  # get_by_id_ex advances a scroll but does not return its id


@endpoints.add("get_types", request=s.GetTypesRequest, response=s.GetTypesResponse)
def get_types(call: Call, req: s.GetTypesRequest) -> dict:
    """The task types in use (optionally within projects and their subprojects)."""
    return {"types": task_queries.task_types(call.db, call.user, req.projects)}
