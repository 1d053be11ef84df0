"""Queues: name and tag rules, the parsed form of a ``queues.get_all`` query, the queue document,
and the queue-metrics arithmetic. Pure functions only: storage lives in ``storage/repos/queues.py``.

A queue holds an ordered list of entries ``{task, added}``; a task is in at most one queue. The
company's *default* queue is the one carrying the system tag ``default`` (``tasks.enqueue``
without a queue and ``clearml-agent`` without ``--queue`` use it).

Metrics (``queues.get_queue_metrics``): a sample ``(timestamp, queue length, average waiting
time)`` is stored whenever a queue's entries change. A request buckets the samples of
``[from_date - METRICS_LOOKBACK, to_date]`` into ``interval``-second buckets aligned to the epoch;
each bucket keeps the sample with the longest average wait (ties: the longer queue), as the
reference does. Bucket keys (``dates``) are epoch **milliseconds**, as the reference answers,
although its schema text says seconds.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from skiff.domain.errors import error
from skiff.domain.projects import (
    MAX_PAGE_SIZE,
    TagFilter,
    as_list,
    check_pattern,
    normalize_tags,
    parse_paging,
    parse_tag_filter,
)

DEFAULT_TAG = "default"
DEFAULT_NAME = "default"
#: Queues with one of these system tags are left out of get_all/get_all_ex unless ``search_hidden``,
#: ``id`` or ``name`` is given (the reference's default ``services.queues.hidden_tags``).
HIDDEN_TAGS = ("k8s-glue",)
MIN_NAME_LENGTH = 3  # the reference's storage rule (400/800 below it)
MAX_NAME_LENGTH = 256  # keeps the unique (company, name) index within PostgreSQL's row limit
#: get_queue_metrics looks this far before ``from_date`` so sparse samples still draw a line.
METRICS_LOOKBACK_SECONDS = 3600
#: The ``queue`` value of the company-wide series when no queue ids are asked for.
TOTAL_SERIES = "total"

#: Every field of the queue document, in the order documents are rendered.
FIELDS = (
    "id", "name", "display_name", "company", "created", "last_update", "tags", "system_tags",
    "entries", "metadata",
)  # fmt: skip
TAG_KINDS = ("tags", "system_tags")
ORDER_FIELDS = frozenset({"id", "name", "display_name", "company", "created", "last_update"})
STRING_FIELDS = frozenset({"id", "name", "display_name", "company"})


# names, tags, metadata ---------------------------------------------------------------------------
def parse_name(raw: str | None) -> str:
    """A queue name as stored: outer whitespace removed, 3 to 256 characters (400/800 otherwise)."""
    name = (raw or "").strip()
    if len(name) < MIN_NAME_LENGTH:
        raise error(
            "data_validation_error",
            f"queue name must be at least {MIN_NAME_LENGTH} characters long",
            name=raw,
        )
    if len(name) > MAX_NAME_LENGTH:
        raise error("data_validation_error", f"queue name longer than {MAX_NAME_LENGTH} characters", name=raw)
    return name


def normalize_queue_tags(tags: Sequence[str] | None, kind: str) -> list[str]:
    """Unique and sorted; the ``__$`` prefix is reserved for query operators (400/16)."""
    return normalize_tags(tags, kind)


def normalize_metadata(items: Any, what: str = "metadata") -> dict[str, dict[str, Any]]:
    """Metadata as stored: ``{key: {key, type, value}}``. Clients send either that mapping or a
    list of items (``add_or_update_metadata``); every item needs a non-empty string key."""
    if items is None:
        return {}
    if isinstance(items, dict):
        pairs: Iterable[tuple[Any, Any]] = items.items()
    elif isinstance(items, list):
        pairs = ((item.get("key") if isinstance(item, dict) else None, item) for item in items)
    else:
        raise error("fields_value_error", "expecting a list or a dict of metadata items", field=what)
    result: dict[str, dict[str, Any]] = {}
    for key, item in pairs:
        if not isinstance(item, dict):
            raise error("fields_value_error", "metadata items must be objects", field=what)
        key = item.get("key", key)
        if not isinstance(key, str) or not key:
            raise error("validation_error", "metadata item key must be a non-empty string", field=what)
        clean = {"key": key}
        for part in ("type", "value"):
            value = item.get(part)
            if value is not None:
                if not isinstance(value, str):
                    raise error("fields_value_error", f"metadata {part} must be a string", key=key)
                clean[part] = value
        result[key] = clean
    return result


# get_all ------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Projection:
    """``only_fields``: ``include`` None means every field; ``-x`` entries exclude. Dotted paths
    keep their top-level field (``entries.task`` → ``entries``)."""

    include: frozenset[str] | None = None
    exclude: frozenset[str] = frozenset()

    def fields(self) -> tuple[str, ...]:
        chosen = FIELDS if self.include is None else [f for f in FIELDS if f in self.include]
        return tuple(f for f in chosen if f not in self.exclude)

    def wants(self, name: str) -> bool:
        return name in self.fields()


def parse_projection(only_fields: Sequence[str] | str | None) -> Projection:
    include: set[str] = set()
    exclude: set[str] = set()
    for entry in as_list(only_fields):
        target = exclude if entry.startswith("-") else include
        target.add(entry.lstrip("-").split(".", 1)[0])
    return Projection(frozenset(include) if include else None, frozenset(exclude))


def parse_order(order_by: Sequence[str] | str | None) -> tuple[tuple[str, bool], ...]:
    """``order_by`` entries as (field, descending), ``id`` appended as the tie-break; fields that
    are not stored scalars are skipped (as "missing everywhere" they order nothing)."""
    keys: list[tuple[str, bool]] = []
    for entry in as_list(order_by):
        descending = entry.startswith("-")
        name = entry.lstrip("-+")
        if name in ORDER_FIELDS and all(name != k for k, _ in keys):
            keys.append((name, descending))
    if keys and all(k != "id" for k, _ in keys):
        keys.append(("id", False))
    return tuple(keys)


@dataclass(frozen=True)
class QueueQuery:
    """A parsed ``queues.get_all`` / ``get_all_ex`` request (the company is added by the caller)."""

    ids: tuple[str, ...] = ()
    name: str | None = None  # regex, unanchored
    tags: TagFilter | None = None
    system_tags: TagFilter | None = None
    include_hidden: bool = False
    order: tuple[tuple[str, bool], ...] = ()
    offset: int = 0
    limit: int = MAX_PAGE_SIZE
    projection: Projection = field(default_factory=Projection)
    max_entries: int | None = None


def build_query(
    *,
    ids: Sequence[str] | str | None = None,
    name: str | None = None,
    tags: Sequence[str | None] | str | None = None,
    system_tags: Sequence[str | None] | str | None = None,
    search_hidden: bool = False,
    order_by: Sequence[str] | str | None = None,
    page: int | None = None,
    page_size: int | None = None,
    only_fields: Sequence[str] | str | None = None,
    max_task_entries: int | None = None,
) -> QueueQuery:
    id_list = tuple(as_list(ids))
    pattern = check_pattern(name, "name")
    offset, limit = parse_paging(page, page_size)
    return QueueQuery(
        ids=id_list,
        name=pattern,
        tags=parse_tag_filter(tags, "tags"),
        system_tags=parse_tag_filter(system_tags, "system_tags"),
        # Hidden queues show when asked for, or when ids or a name are given (as the reference).
        include_hidden=search_hidden or bool(id_list) or bool(pattern),
        order=parse_order(order_by),
        offset=offset,
        limit=limit,
        projection=parse_projection(only_fields),
        max_entries=max_task_entries if max_task_entries and max_task_entries > 0 else None,
    )


# documents ----------------------------------------------------------------------------------------
def entry_document(task: str, added: datetime) -> dict[str, Any]:
    return {"task": task, "added": added}


def queue_document(
    row: dict[str, Any],
    tags: dict[str, list[str]] | None = None,
    entries: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """The queue as clients read it: unset scalars omitted, tags sorted lists, ``entries`` in
    queue order, ``metadata`` a mapping (``{}`` when none)."""
    doc: dict[str, Any] = {}
    for name in FIELDS:
        if name in TAG_KINDS:
            if tags is not None:
                doc[name] = sorted(tags.get(name, []))
        elif name == "entries":
            if entries is not None:
                doc[name] = entries
        elif name == "metadata":
            if name in row:
                doc[name] = dict(row[name] or {})
        elif row.get(name) is not None:
            doc[name] = row[name]
    return doc


def project_fields(doc: dict[str, Any], projection: Projection) -> dict[str, Any]:
    return {k: doc[k] for k in projection.fields() if k in doc}


# metrics ------------------------------------------------------------------------------------------
def average_waiting_seconds(added: Sequence[datetime], now: datetime) -> float:
    """Mean time the given entries have waited so far (0 for an empty queue)."""
    if not added:
        return 0.0
    return sum((now - a).total_seconds() for a in added) / len(added)


def epoch_ms(value: datetime) -> int:
    """Naive UTC datetime → epoch milliseconds."""
    return int(round((value - datetime(1970, 1, 1)).total_seconds() * 1000))


def check_metrics_range(from_date: float, to_date: float) -> tuple[int, int]:
    """The sample window in epoch ms: ``[from_date - lookback, to_date]``; 400/16 if empty."""
    if from_date >= to_date:
        raise error("fields_value_error", "from_date must be less than to_date")
    start = int((from_date - METRICS_LOOKBACK_SECONDS) * 1000)
    return max(start, 0), int(to_date * 1000)


@dataclass(frozen=True)
class Point:
    date: int  # bucket start, epoch ms
    avg_waiting_time: float
    queue_length: int


def series(points: Iterable[Point]) -> dict[str, list[Any]]:
    """Points (in date order) as the response's parallel lists."""
    ordered = sorted(points, key=lambda p: p.date)
    return {
        "dates": [p.date for p in ordered],
        "avg_waiting_times": [p.avg_waiting_time for p in ordered],
        "queue_lengths": [p.queue_length for p in ordered],
    }


def company_total(per_queue: dict[str, list[Point]]) -> list[Point]:
    """One company-wide series from per-queue bucket points: in each bucket the waiting times are
    averaged weighted by queue length, and lengths summed; a queue with no sample in a bucket
    contributes its previous value (as the reference)."""
    by_date: dict[int, dict[str, Point]] = {}
    for queue, points in per_queue.items():
        for point in points:
            by_date.setdefault(point.date, {})[queue] = point
    last: dict[str, Point] = {}
    totals: list[Point] = []
    for date in sorted(by_date):
        last.update(by_date[date])
        length = sum(p.queue_length for p in last.values())
        wait = sum(p.avg_waiting_time * p.queue_length for p in last.values()) / length if length else 0.0
        totals.append(Point(date, wait, length))
    return totals
