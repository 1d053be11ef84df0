"""The ``events`` service: metrics, console logs, plots and debug images of tasks."""

from __future__ import annotations

from skiff.api.context import Call
from skiff.api.registry import EndpointSet
from skiff.ops import events as ops
from skiff.schemas import events as s

endpoints = EndpointSet("events")


@endpoints.add("add_batch", request=s.EventItem, response=s.AddBatchResponse, batch=True, raw_items=True)
def add_batch(call: Call, items: list[dict]) -> dict:
    """Add events (json-lines); bad events are counted in ``errors``/``errors_info``."""
    return ops.add_batch(call.db, call.user, items, call.headers.get("x-clearml-worker"))


@endpoints.add("add", request=s.AddRequest, response=s.AddBatchResponse)
def add(call: Call, item: s.AddRequest) -> dict:
    """Add one event."""
    return ops.add_batch(call.db, call.user, [item.model_dump()], call.headers.get("x-clearml-worker"))


@endpoints.add("get_task_log", request=s.TaskLogRequest, response=s.EventsResponse)
def get_task_log(call: Call, req: s.TaskLogRequest) -> dict:
    """Console output of a task, paged by timestamp in either direction."""
    return ops.get_task_log(
        call.db, call.user, req.task, batch_size=req.batch_size, navigate_earlier=req.navigate_earlier,
        from_timestamp=req.from_timestamp, order=req.order,
    )  # fmt: skip


@endpoints.add("scalar_metrics_iter_histogram", request=s.HistogramRequest, response=s.Histogram)
def scalar_metrics_iter_histogram(call: Call, req: s.HistogramRequest) -> dict:
    """Scalar series of a task ({metric: {variant: {name, x, y}}}), averaged into ``samples`` windows
    when longer."""
    return ops.scalar_histogram(call.db, call.user, req.task, key=req.key, samples=req.samples, metrics=req.metrics)


@endpoints.add("get_task_events", request=s.TaskEventsRequest, response=s.TaskEventsResponse)
def get_task_events(call: Call, req: s.TaskEventsRequest) -> dict:
    """All events of a task (optionally of one type), paged with a scroll id."""
    return ops.get_task_events(
        call.db, call.user, req.task, event_type=req.event_type, batch_size=req.batch_size,
        scroll_id=req.scroll_id, order=req.order,
    )  # fmt: skip


@endpoints.add("get_scalar_metrics_and_variants", request=s.TaskRequest, response=s.MetricsAndVariantsResponse)
def get_scalar_metrics_and_variants(call: Call, req: s.TaskRequest) -> dict:
    """The scalar metric and variant names of a task."""
    return ops.scalar_metrics_and_variants(call.db, call.user, req.task)


@endpoints.add("get_task_metrics", request=s.TaskMetricsRequest, response=s.TaskMetricsResponse)
def get_task_metrics(call: Call, req: s.TaskMetricsRequest) -> dict:
    """Metric names per task (optionally of one event type)."""
    return ops.task_metrics(call.db, call.user, req.tasks, req.event_type)


@endpoints.add("get_task_single_value_metrics", request=s.TasksRequest, response=s.SingleValuesResponse)
def get_task_single_value_metrics(call: Call, req: s.TasksRequest) -> dict:
    """Values reported with report_single_value, per task."""
    return ops.single_value_metrics(call.db, call.user, req.tasks)


@endpoints.add("get_task_plots", request=s.PlotsRequest, response=s.PlotsResponse)
def get_task_plots(call: Call, req: s.PlotsRequest) -> dict:
    """Plot events of a task (the last ``iters`` iterations when given)."""
    names = [m["metric"] for m in req.metrics or [] if isinstance(m, dict) and m.get("metric")]
    return ops.task_plots(call.db, call.user, req.task, iters=req.iters, metrics=names or None)


@endpoints.add("delete_for_task", request=s.DeleteForTaskRequest, response=s.DeleteForTaskResponse)
def delete_for_task(call: Call, req: s.DeleteForTaskRequest) -> dict:
    """Delete all events of a task and clear its metric summaries."""
    return {"deleted": ops.delete_for_task(call.db, call.user, req.task, req.allow_locked)}


@endpoints.add("debug_images", request=s.DebugImagesRequest, response=s.DebugImagesResponse, min_version="2.14")
def debug_images(call: Call, req: s.DebugImagesRequest) -> dict:
    """Debug image events of tasks grouped by iteration, the latest ``iters`` first; scroll for more."""
    return ops.debug_images(
        call.db, call.user, req.metrics, iters=req.iters, navigate_earlier=req.navigate_earlier,
        refresh=req.refresh, scroll_id=req.scroll_id,
    )  # fmt: skip


@endpoints.add("get_debug_image_sample", request=s.DebugImageSampleRequest, response=s.DebugImageSampleResponse, min_version="2.12")
def get_debug_image_sample(call: Call, req: s.DebugImageSampleRequest) -> dict:
    """One debug image of a metric/variant (the latest, or at ``iteration``) with its iteration range."""
    return ops.debug_image_sample(call.db, call.user, req.task, req.metric, req.variant, req.iteration)


@endpoints.add("get_multi_task_plots", request=s.MultiTaskPlotsRequest, response=s.MultiTaskPlotsResponse)
def get_multi_task_plots(call: Call, req: s.MultiTaskPlotsRequest) -> dict:
    """Plots of several tasks, grouped by metric, variant and task (the last ``iters`` iterations)."""
    return ops.multi_task_plots(call.db, call.user, req.tasks, iters=req.iters)
