"""The ``queues`` service: execution queues as clearml-agent (get_all, get_next_task, get_default),
the SDK (get_by_id, get_all, get_num_entries) and the UI's queue pages use them."""

from __future__ import annotations

from skiff.api.context import Call
from skiff.api.registry import EndpointSet
from skiff.domain.queues import build_query
from skiff.ops import queues as ops
from skiff.schemas import queues as s
from skiff.schemas.base import EmptyRequest

endpoints = EndpointSet("queues")


def _query(req: s.GetAllRequest):  # type: ignore[no-untyped-def]
    return build_query(
        ids=req.id,
        name=req.name,
        tags=req.tags,
        system_tags=req.system_tags,
        search_hidden=req.search_hidden,
        order_by=req.order_by,
        page=req.page,
        page_size=req.page_size,
        only_fields=req.only_fields,
        max_task_entries=req.max_task_entries,
    )


@endpoints.add("create", request=s.CreateRequest, response=s.IdResponse, min_version="2.4")
def create(call: Call, req: s.CreateRequest) -> dict:
    """Create a queue; names are unique in the company (400/801) and 3+ characters (400/800)."""
    queue = ops.create_queue(
        call.db,
        call.user,
        name=req.name,
        display_name=req.display_name,
        tags=req.tags,
        system_tags=req.system_tags,
        metadata=req.metadata,
    )
    return {"id": queue}


@endpoints.add("get_by_id", request=s.GetByIdRequest, response=s.GetByIdResponse, min_version="2.4")
def get_by_id(call: Call, req: s.GetByIdRequest) -> dict:
    """One queue with its entries; an unknown id answers 400/701 (the SDK relies on it)."""
    return {"queue": ops.get_queue(call.db, call.user, req.queue, max_entries=req.max_task_entries)}


@endpoints.add("get_all", request=s.GetAllRequest, response=s.GetAllResponse, min_version="2.4")
def get_all(call: Call, req: s.GetAllRequest) -> dict:
    """The company's queues: id/name-regex/tag filters, projection, order, paging."""
    return {"queues": ops.list_queues(call.db, call.user, _query(req))}


@endpoints.add("get_all_ex", request=s.GetAllRequest, response=s.GetAllExResponse, min_version="2.4")
def get_all_ex(call: Call, req: s.GetAllRequest) -> dict:
    """get_all with each entry's task name and the queue's workers (the UI's queue page)."""
    return {"queues": ops.list_queues(call.db, call.user, _query(req), ex=True)}


@endpoints.add("get_default", request=EmptyRequest, response=s.GetDefaultResponse, min_version="2.4")
def get_default(call: Call, req: EmptyRequest) -> dict:
    """The company's default queue (system tag "default"): 400/707 if none, 400/708 if several."""
    return ops.get_default(call.db, call.user)


@endpoints.add("update", request=s.UpdateRequest, response=s.UpdateResponse, min_version="2.4")
def update(call: Call, req: s.UpdateRequest) -> dict:
    """Change name, display name, tags, system tags or metadata."""
    changes = req.model_dump(include=req.model_fields_set - {"queue"})
    return ops.update_queue(call.db, call.user, req.queue, changes)


@endpoints.add("delete", request=s.DeleteRequest, response=s.DeletedResponse, min_version="2.4")
def delete(call: Call, req: s.DeleteRequest) -> dict:
    """Delete a queue; a non-empty one needs force (400/702) and its tasks leave the queue."""
    ops.delete_queue(call.db, call.user, req.queue, force=req.force)
    return {"deleted": 1}


@endpoints.add("add_task", request=s.AddTaskRequest, response=s.AddedResponse, min_version="2.4")
def add_task(call: Call, req: s.AddTaskRequest) -> dict:
    """Append a task to the queue (400/706 if it is already queued)."""
    added = ops.add_task(call.db, call.user, req.queue, req.task, update_execution_queue=req.update_execution_queue)
    return {"added": added}


@endpoints.add("get_next_task", request=s.GetNextTaskRequest, response=s.GetNextTaskResponse)
def get_next_task(call: Call, req: s.GetNextTaskRequest) -> dict:
    """Atomically pop the front entry (what clearml-agent polls); ``{}`` when the queue is empty."""
    return ops.get_next_task(call.db, call.user, req.queue, task=req.task, get_task_info=req.get_task_info)


@endpoints.add("remove_task", request=s.RemoveTaskRequest, response=s.RemovedResponse, min_version="2.4")
def remove_task(call: Call, req: s.RemoveTaskRequest) -> dict:
    """Take a task out of the queue (400/703 if it is not there)."""
    removed = ops.remove_task(call.db, call.user, req.queue, req.task, update_task_status=req.update_task_status)
    return {"removed": removed}


@endpoints.add("clear_queue", request=s.QueueRequest, response=s.ClearQueueResponse, min_version="2.31")
def clear_queue(call: Call, req: s.QueueRequest) -> dict:
    """Empty the queue; its tasks go back to their status before enqueueing (or created)."""
    return {"removed_tasks": ops.clear_queue(call.db, call.user, req.queue)}


@endpoints.add("move_task_forward", request=s.MoveTaskRequest, response=s.PositionResponse, min_version="2.4")
def move_task_forward(call: Call, req: s.MoveTaskRequest) -> dict:
    """Move a task ``count`` places towards the front; answers its new position."""
    return {"position": ops.move_task(call.db, call.user, req.queue, req.task, "forward", req.count)}


@endpoints.add("move_task_backward", request=s.MoveTaskRequest, response=s.PositionResponse, min_version="2.4")
def move_task_backward(call: Call, req: s.MoveTaskRequest) -> dict:
    """Move a task ``count`` places towards the back; answers its new position."""
    return {"position": ops.move_task(call.db, call.user, req.queue, req.task, "backward", req.count)}


@endpoints.add("move_task_to_front", request=s.TaskRequest, response=s.PositionResponse, min_version="2.4")
def move_task_to_front(call: Call, req: s.TaskRequest) -> dict:
    """Move a task to the front of the queue (position 0)."""
    return {"position": ops.move_task(call.db, call.user, req.queue, req.task, "front")}


@endpoints.add("move_task_to_back", request=s.TaskRequest, response=s.PositionResponse, min_version="2.4")
def move_task_to_back(call: Call, req: s.TaskRequest) -> dict:
    """Move a task to the back of the queue; answers its new position."""
    return {"position": ops.move_task(call.db, call.user, req.queue, req.task, "back")}


@endpoints.add("get_num_entries", request=s.QueueRequest, response=s.NumEntriesResponse, min_version="2.15")
def get_num_entries(call: Call, req: s.QueueRequest) -> dict:
    """How many tasks wait in the queue."""
    return {"num": ops.count_entries(call.db, call.user, req.queue)}


@endpoints.add("peek_task", request=s.QueueRequest, response=s.PeekTaskResponse, min_version="2.15")
def peek_task(call: Call, req: s.QueueRequest) -> dict:
    """The task at the front of the queue, left in place (null when empty)."""
    return {"task": ops.peek_task(call.db, call.user, req.queue)}


@endpoints.add("get_queue_metrics", request=s.GetMetricsRequest, response=s.GetMetricsResponse, min_version="2.4")
def get_queue_metrics(call: Call, req: s.GetMetricsRequest) -> dict:
    """Queue length and average waiting time over time, in ``interval``-second buckets."""
    queues = ops.get_queue_metrics(
        call.db,
        call.user,
        from_date=req.from_date,
        to_date=req.to_date,
        interval=req.interval,
        queue_ids=req.queue_ids,
        refresh=req.refresh,
    )
    return {"queues": queues}


@endpoints.add(
    "add_or_update_metadata", request=s.AddOrUpdateMetadataRequest, response=s.UpdatedResponse, min_version="2.13"
)
def add_or_update_metadata(call: Call, req: s.AddOrUpdateMetadataRequest) -> dict:
    """Add or replace metadata items by key (all of them with replace_metadata)."""
    updated = ops.add_or_update_metadata(call.db, call.user, req.queue, req.metadata, replace=req.replace_metadata)
    return {"updated": updated}


@endpoints.add("delete_metadata", request=s.DeleteMetadataRequest, response=s.UpdatedResponse, min_version="2.13")
def delete_metadata(call: Call, req: s.DeleteMetadataRequest) -> dict:
    """Delete metadata items by key."""
    return {"updated": ops.delete_metadata(call.db, call.user, req.queue, req.keys)}
