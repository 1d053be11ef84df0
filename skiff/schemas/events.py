"""events.* request and response models."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from skiff.schemas.base import RequestModel, ResponseModel


class EventItem(RequestModel):
    """One event of a batch; validated by the events domain so a bad event is counted, not fatal."""

    model_config = {"extra": "allow"}
    task: Any = None
    type: Any = None


class AddBatchResponse(ResponseModel):
    added: int
    errors: int
    errors_info: dict[str, int]


class AddRequest(EventItem):
    pass


class TaskLogRequest(RequestModel):
    task: str
    batch_size: int = Field(500, ge=1, le=10_000)
    navigate_earlier: bool = True
    from_timestamp: int | None = None
    order: Literal["asc", "desc"] | None = None


class EventsResponse(ResponseModel):
    events: list[dict[str, Any]]
    returned: int
    total: int


class MetricVariants(RequestModel):
    metric: str | None = None
    variants: list[str] | None = None


class HistogramRequest(RequestModel):
    task: str
    key: Literal["iter", "timestamp", "iso_time"] = "iter"
    samples: int | None = Field(None, ge=0)
    metrics: list[dict[str, Any]] | None = None
    model_events: bool = False


class Histogram(ResponseModel):
    """``{metric: {variant: {name, x, y}}}``"""

    model_config = {"extra": "allow"}


class TaskEventsRequest(RequestModel):
    task: str
    event_type: str | None = None
    batch_size: int = Field(500, ge=1, le=10_000)
    scroll_id: str | None = None
    order: Literal["asc", "desc"] = "asc"
    model_events: bool = False


class TaskEventsResponse(EventsResponse):
    scroll_id: str | None


class TaskRequest(RequestModel):
    task: str


class MetricsAndVariantsResponse(ResponseModel):
    metrics: dict[str, Any]


class TaskMetricsRequest(RequestModel):
    tasks: list[str] = Field(min_length=1)
    event_type: str | None = None
    model_events: bool = False


class TaskMetricsResponse(ResponseModel):
    metrics: list[dict[str, Any]]


class TasksRequest(RequestModel):
    tasks: list[str] = Field(min_length=1)
    model_events: bool = False


class SingleValuesResponse(ResponseModel):
    tasks: list[dict[str, Any]]


class PlotsRequest(RequestModel):
    task: str
    iters: int | None = Field(None, ge=1)
    scroll_id: str | None = None
    metrics: list[dict[str, Any]] | None = None
    model_events: bool = False


class PlotsResponse(ResponseModel):
    plots: list[dict[str, Any]]
    returned: int
    total: int
    scroll_id: str | None


class DeleteForTaskRequest(RequestModel):
    task: str
    allow_locked: bool = False
    model: bool = False


class DeleteForTaskResponse(ResponseModel):
    deleted: int


class DebugImagesRequest(RequestModel):
    metrics: list[dict[str, Any]] = Field(min_length=1)
    iters: int = Field(1, ge=1)
    navigate_earlier: bool = True
    refresh: bool = False
    scroll_id: str | None = None
    model_events: bool = False


class DebugImagesResponse(ResponseModel):
    metrics: list[dict[str, Any]]
    scroll_id: str


class DebugImageSampleRequest(RequestModel):
    task: str
    metric: str
    variant: str
    iteration: int | None = None
    refresh: bool = False
    scroll_id: str | None = None
    navigate_current_metric: bool = True
    model_events: bool = False


class DebugImageSampleResponse(ResponseModel):
    event: dict[str, Any] | None
    min_iteration: int | None
    max_iteration: int | None
    scroll_id: str


class MultiTaskPlotsRequest(RequestModel):
    tasks: list[str] = Field(min_length=1)
    iters: int | None = Field(None, ge=1)
    scroll_id: str | None = None
    no_scroll: bool = False
    model_events: bool = False


class MultiTaskPlotsResponse(ResponseModel):
    plots: dict[str, Any]
    returned: int
    total: int
    scroll_id: str | None
