"""Task events (scalars, logs, plots, debug images): validating what clients send and folding
scalars into the task's ``last_metrics`` / ``last_iteration`` (spec clients §3(c)).

Pure code. ``last_metrics`` is keyed by md5(metric) → md5(variant) → event summary, the shape the
SDK and the web UI read.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass, field, replace
from typing import Any

SCALAR = "training_stats_scalar"
VECTOR = "training_stats_vector"
LOG = "log"
PLOT = "plot"
IMAGE = "training_debug_image"
EVENT_TYPES = (SCALAR, VECTOR, LOG, PLOT, IMAGE)

#: ``report_single_value`` reports at this iteration; it never moves last_iteration.
SINGLE_VALUE_ITERATION = -(2**31)
#: Resource-monitor metrics never move last_iteration either.
IGNORED_ITERATION_PREFIX = ":monitor:"

#: Payload keys kept per event type (everything else of the event is dropped).
_PAYLOAD_KEYS = {
    LOG: ("level", "msg", "worker"),
    PLOT: ("plot_str", "plot_data", "skip_validation"),
    IMAGE: ("key", "url", "width", "height"),
    VECTOR: ("values", "worker"),
    SCALAR: ("worker",),
}


def md5(text: str) -> str:
    return hashlib.md5(text.encode()).hexdigest()


class InvalidEvent(ValueError):
    """An event the batch reports in ``errors_info`` instead of storing."""


@dataclass
class Event:
    task: str
    type: str
    timestamp: int
    iter: int | None
    metric: str
    variant: str
    value: float | None
    payload: dict[str, Any]
    model_event: bool = False


_NUMBER = (int, float)


def _printable(value: Any) -> Any:
    """Console output may carry NUL characters, which no database text type holds: they become
    U+FFFD (the event is kept, unlike request strings, which are refused)."""
    if type(value) is str and "\x00" in value:
        return value.replace("\x00", "\ufffd")
    return value


def parse_event(raw: Any, now_ms: int, worker_header: str | None) -> Event:
    """Validate one raw event (hot path: ``type(x) in`` checks keep booleans out of numbers)."""
    if type(raw) is not dict:
        raise InvalidEvent("event is not an object")
    task = raw.get("task")
    if type(task) is not str or not task:
        raise InvalidEvent("missing task")
    kind = raw.get("type")
    if kind not in _PAYLOAD_KEYS:
        raise InvalidEvent(f"unsupported event type {kind!r}")
    timestamp = raw.get("timestamp")
    if timestamp is None:
        timestamp = now_ms
    elif type(timestamp) not in _NUMBER:
        raise InvalidEvent("timestamp must be a number of milliseconds")
    iteration = raw.get("iter")
    if iteration is not None:
        if type(iteration) not in _NUMBER:
            raise InvalidEvent("iter must be an integer")
        iteration = int(iteration)
    metric = raw.get("metric") or ""
    variant = raw.get("variant") or ""
    if type(metric) is not str or type(variant) is not str:
        raise InvalidEvent("metric and variant must be strings")
    if "\x00" in metric or "\x00" in variant:
        metric, variant = _printable(metric), _printable(variant)
    value = None
    if kind == SCALAR:
        value = raw.get("value")
        if type(value) not in _NUMBER:
            raise InvalidEvent("scalar value must be a number")
        value = float(value)
        if iteration is None:
            iteration = 0
        payload: dict[str, Any] = {}
    else:
        payload = {k: _printable(raw[k]) for k in _PAYLOAD_KEYS[kind] if raw.get(k) is not None}
        if kind == LOG:
            payload.setdefault("level", "info")
            payload.setdefault("msg", "")
            if worker_header and "worker" not in payload:
                payload["worker"] = worker_header
    return Event(task, kind, int(timestamp), iteration, metric, variant, value, payload, raw.get("model_event") is True)


def moves_last_iteration(event: Event) -> bool:
    return (
        event.iter is not None
        and event.iter != SINGLE_VALUE_ITERATION
        and not event.metric.startswith(IGNORED_ITERATION_PREFIX)
    )


@dataclass
class MetricSummary:
    """The running summary of one (metric, variant) series of a task."""

    metric: str
    variant: str
    value: float
    iter: int
    timestamp: int
    min_value: float
    min_value_iteration: int
    max_value: float
    max_value_iteration: int
    first_value: float
    first_value_iteration: int
    count: int = 0
    total: float = 0.0

    @classmethod
    def start(cls, event: Event) -> "MetricSummary":
        assert event.value is not None and event.iter is not None
        return cls(
            event.metric, event.variant, event.value, event.iter, event.timestamp,
            event.value, event.iter, event.value, event.iter, event.value, event.iter, 0, 0.0,
        )  # fmt: skip

    def add(self, event: Event) -> None:
        assert event.value is not None and event.iter is not None
        value, iteration = event.value, event.iter
        if not math.isfinite(value):
            return
        self.count += 1
        self.total += value
        if (iteration, event.timestamp) >= (self.iter, self.timestamp):
            self.value, self.iter, self.timestamp = value, iteration, event.timestamp
        if value < self.min_value:
            self.min_value, self.min_value_iteration = value, iteration
        if value > self.max_value:
            self.max_value, self.max_value_iteration = value, iteration
        if iteration < self.first_value_iteration:
            self.first_value, self.first_value_iteration = value, iteration

    def wire(self) -> dict[str, Any]:
        """The ``last_metrics_event`` clients read."""
        return {
            "metric": self.metric,
            "variant": self.variant,
            "value": self.value,
            "min_value": self.min_value,
            "min_value_iteration": self.min_value_iteration,
            "max_value": self.max_value,
            "max_value_iteration": self.max_value_iteration,
            "first_value": self.first_value,
            "first_value_iteration": self.first_value_iteration,
            "mean_value": round(self.total / self.count, 2) if self.count else self.value,
            "count": self.count,
        }


@dataclass
class TaskUpdate:
    """What one batch changes on one task."""

    summaries: dict[tuple[str, str], MetricSummary] = field(default_factory=dict)
    last_iteration: int | None = None
    last_timestamp_by_metric_type: dict[tuple[str, str], int] = field(default_factory=dict)
    events: int = 0


def fold(events: list[Event], existing: dict[tuple[str, str], MetricSummary]) -> TaskUpdate:
    """Fold a task's events of one batch into its metric summaries. ``existing`` is left as it
    was: the caller compares old and new to write only the series that changed."""
    update = TaskUpdate(summaries={key: replace(summary) for key, summary in existing.items()})
    by_series: dict[tuple[str, str], list[Event]] = {}
    last_iteration = None
    stamps = update.last_timestamp_by_metric_type
    for event in events:
        iteration = event.iter
        if iteration is not None and iteration != SINGLE_VALUE_ITERATION and not event.metric.startswith(
            IGNORED_ITERATION_PREFIX
        ):
            if last_iteration is None or iteration > last_iteration:
                last_iteration = iteration
        key = (event.metric, event.type)
        if stamps.get(key, 0) < event.timestamp:
            stamps[key] = event.timestamp
        if event.type == SCALAR and event.value is not None and math.isfinite(event.value):
            by_series.setdefault((event.metric, event.variant), []).append(event)
    update.events = len(events)
    update.last_iteration = last_iteration
    for series, points in by_series.items():
        summary = update.summaries.get(series)
        if summary is None:
            summary = update.summaries[series] = MetricSummary.start(points[0])
        for point in points:
            summary.add(point)
    return update


def last_metrics_document(summaries: dict[tuple[str, str], MetricSummary]) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for (metric, variant), summary in summaries.items():
        out.setdefault(md5(metric), {})[md5(variant)] = summary.wire()
    return out
