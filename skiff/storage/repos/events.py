"""Events: bulk appends, per-task reads, and the per-series metric summaries."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import orjson
from sqlalchemy import Connection, and_, delete, func, select, update

from skiff.domain.events import SCALAR, Event, MetricSummary, md5
from skiff.storage.engine import json_dumps
from skiff.storage.repos.common import insert_many
from skiff.storage.tables import scalar_events, task_events, task_metrics

_SUMMARY_FIELDS = (
    "metric", "variant", "value", "iter", "timestamp", "min_value", "min_value_iteration", "max_value",
    "max_value_iteration", "first_value", "first_value_iteration", "count", "total",
)  # fmt: skip


_SCALAR_COLUMNS = ("task", "metric", "variant", "iter", "timestamp", "value")
_EVENT_COLUMNS = ("task", "type", "timestamp", "iter", "metric", "variant", "payload")


#: reporting a point again replaces its value (the unique index on task, metric, variant, iter)
_SCALAR_UPSERT = (
    'ON CONFLICT ("task", "metric", "variant", "iter") '
    'DO UPDATE SET "value" = excluded."value", "timestamp" = excluded."timestamp"'
)


def append(conn: Connection, events: Sequence[Event]) -> None:
    """Insert a batch of valid events of one task (whose row the caller holds locked)."""
    scalars = [(e.task, e.metric, e.variant, e.iter, e.timestamp, e.value) for e in events if e.type == SCALAR]
    others = [
        (e.task, e.type, e.timestamp, e.iter, e.metric, e.variant, json_dumps(e.payload))
        for e in events
        if e.type != SCALAR
    ]
    if scalars:
        insert_many(conn, scalar_events.name, _SCALAR_COLUMNS, scalars, upsert=_SCALAR_UPSERT)
    others = _not_stored_yet(conn, others)
    if others:
        insert_many(conn, task_events.name, _EVENT_COLUMNS, others)


def _not_stored_yet(conn: Connection, rows: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
    """Leave out events already stored exactly (task, type, timestamp, iteration, metric, variant,
    payload): a client that lost the answer to a batch sends it again (the SDK and the agent
    stamp every log line, so a retry carries the same events). Scalars need no such check: their
    unique index makes a re-report replace the point. Only rows in the batch's time window of the
    same types are read (the (task, type, timestamp) index), which for a new batch is none."""
    if not rows:
        return rows
    stamps = [r[2] for r in rows]
    stored = conn.execute(
        select(task_events.c.type, task_events.c.timestamp, task_events.c.iter, task_events.c.metric,
               task_events.c.variant, task_events.c.payload)
        .where(task_events.c.task == rows[0][0], task_events.c.type.in_({r[1] for r in rows}),
               task_events.c.timestamp.between(min(stamps), max(stamps)))
    ).all()  # fmt: skip
    if not stored:
        return rows
    seen = {(*r[:5], _canonical(r[5])) for r in stored}
    return [r for r in rows if (*r[1:6], _canonical(orjson.loads(r[6]))) not in seen]


def _canonical(payload: Any) -> bytes:
    return orjson.dumps(payload, option=orjson.OPT_SORT_KEYS)


def summaries(conn: Connection, task: str) -> dict[tuple[str, str], MetricSummary]:
    rows = conn.execute(select(*[task_metrics.c[f] for f in _SUMMARY_FIELDS]).where(task_metrics.c.task == task))
    return {(r.metric, r.variant): MetricSummary(**dict(r._mapping)) for r in rows}


def save_summaries(
    conn: Connection, task: str, company: str, old: dict[tuple[str, str], MetricSummary], new: dict[tuple[str, str], MetricSummary]
) -> None:
    fresh = {}
    for key, summary in new.items():
        if key not in old:
            fresh[key] = summary
        elif old[key] != summary:
            conn.execute(
                update(task_metrics)
                .where(
                    task_metrics.c.task == task,
                    task_metrics.c.metric_hash == md5(key[0]),
                    task_metrics.c.variant_hash == md5(key[1]),
                )
                .values(**{f: getattr(summary, f) for f in _SUMMARY_FIELDS})
            )
    insert_summaries(conn, company, [(task, fresh)])


_SUMMARY_COLUMNS = ("task", "company", "metric_hash", "variant_hash", *_SUMMARY_FIELDS)


def _summary_row(task: str, company: str, key: tuple[str, str], summary: MetricSummary) -> tuple[Any, ...]:
    return (task, company, md5(key[0]), md5(key[1]), *[getattr(summary, f) for f in _SUMMARY_FIELDS])


def insert_summaries(
    conn: Connection, company: str, by_task: Sequence[tuple[str, dict[tuple[str, str], MetricSummary]]]
) -> None:
    """The first summaries of many tasks with one executemany (bulk loaders): what
    ``save_summaries`` writes for each with no old summaries."""
    rows = [_summary_row(task, company, key, s) for task, summaries in by_task for key, s in summaries.items()]
    if rows:
        insert_many(conn, task_metrics.name, _SUMMARY_COLUMNS, rows)


def move_summaries(conn: Connection, task: str, company: str) -> None:
    """Keep the summaries' company in step with the task's (make_public / make_private)."""
    conn.execute(update(task_metrics).where(task_metrics.c.task == task).values(company=company))


def delete_for_task(conn: Connection, task: str) -> int:
    deleted = conn.execute(delete(scalar_events).where(scalar_events.c.task == task)).rowcount
    deleted += conn.execute(delete(task_events).where(task_events.c.task == task)).rowcount
    conn.execute(delete(task_metrics).where(task_metrics.c.task == task))
    return deleted


# reads -------------------------------------------------------------------------------------------------
def log_events(
    conn: Connection, task: str, *, earlier: bool, from_timestamp: int | None, limit: int
) -> list[dict[str, Any]]:
    query = select(task_events).where(task_events.c.task == task, task_events.c.type == "log")
    if from_timestamp is not None:
        query = query.where(task_events.c.timestamp < from_timestamp if earlier else task_events.c.timestamp > from_timestamp)
    if earlier:
        query = query.order_by(task_events.c.timestamp.desc(), task_events.c.id.desc())
    else:
        query = query.order_by(task_events.c.timestamp, task_events.c.id)
    return [dict(r._mapping) for r in conn.execute(query.limit(limit))]


def count_events(conn: Connection, task: str, event_type: str | None, cap: int = 10_000) -> int:
    total = 0
    if event_type in (None, SCALAR):
        inner = select(scalar_events.c.id).where(scalar_events.c.task == task).limit(cap).subquery()
        total += conn.execute(select(func.count()).select_from(inner)).scalar_one()
    if event_type != SCALAR:
        query = select(task_events.c.id).where(task_events.c.task == task)
        if event_type is not None:
            query = query.where(task_events.c.type == event_type)
        inner = query.limit(cap).subquery()
        total += conn.execute(select(func.count()).select_from(inner)).scalar_one()
    return min(total, cap)


def series(conn: Connection, task: str) -> list[tuple[str, str, int]]:
    """(metric, variant, number of points) of a task's scalar series."""
    query = (
        select(scalar_events.c.metric, scalar_events.c.variant, func.count())
        .where(scalar_events.c.task == task)
        .group_by(scalar_events.c.metric, scalar_events.c.variant)
        .order_by(scalar_events.c.metric, scalar_events.c.variant)
    )
    return [(m, v, n) for m, v, n in conn.execute(query)]


def series_points(conn: Connection, task: str, metric: str, variant: str, *, key: str) -> list[tuple[Any, float]]:
    column = scalar_events.c.iter if key == "iter" else scalar_events.c.timestamp
    query = (
        select(column, scalar_events.c.value)
        .where(scalar_events.c.task == task, scalar_events.c.metric == metric, scalar_events.c.variant == variant)
        .order_by(column, scalar_events.c.id)
    )
    return [(x, y) for x, y in conn.execute(query)]


def series_buckets(
    conn: Connection, task: str, metric: str, variant: str, *, key: str, buckets: int
) -> list[tuple[Any, float]]:
    """A long series averaged into about ``buckets`` windows of the x axis."""
    column = scalar_events.c.iter if key == "iter" else scalar_events.c.timestamp
    where = and_(scalar_events.c.task == task, scalar_events.c.metric == metric, scalar_events.c.variant == variant)
    low, high = conn.execute(select(func.min(column), func.max(column)).where(where)).one()
    if low is None:
        return []
    width = max(1, -(-(high - low + 1) // buckets))  # ceiling division
    bucket = ((column - low) / width) if conn.dialect.name == "sqlite" else func.floor((column - low) / width)
    query = (
        select(func.min(column), func.avg(scalar_events.c.value))
        .where(where)
        .group_by(func.cast(bucket, scalar_events.c.iter.type))
        .order_by(func.min(column))
    )
    return [(x, y) for x, y in conn.execute(query)]


def events_page(
    conn: Connection, task: str, *, event_type: str | None, after: tuple[str, int] | None, descending: bool, limit: int
) -> list[dict[str, Any]]:
    """Events of a task for cursor paging: scalars then the other events (reversed when
    descending), each table in id order. ``after`` is the (table, id) cursor of the last row seen."""
    order = [(name, table) for name, table in (("s", scalar_events), ("o", task_events))
             if (table is scalar_events) == (event_type == SCALAR) or event_type is None]  # fmt: skip
    if descending:
        order.reverse()
    names = [name for name, _ in order]
    start = names.index(after[0]) if after is not None and after[0] in names else 0
    rows: list[dict[str, Any]] = []
    for name, table in order[start:]:
        query = select(table).where(table.c.task == task)
        if table is task_events and event_type is not None:
            query = query.where(table.c.type == event_type)
        if after is not None and name == after[0]:
            query = query.where(table.c.id < after[1] if descending else table.c.id > after[1])
        query = query.order_by(table.c.id.desc() if descending else table.c.id).limit(limit - len(rows))
        for r in conn.execute(query):
            row = dict(r._mapping)
            row["_cursor"] = (name, row["id"])
            row.setdefault("type", SCALAR)
            rows.append(row)
        if len(rows) >= limit:
            break
    return rows


def single_values(conn: Connection, task: str, iteration: int) -> list[dict[str, Any]]:
    query = (
        select(scalar_events.c.metric, scalar_events.c.variant, scalar_events.c.value, scalar_events.c.timestamp)
        .where(scalar_events.c.task == task, scalar_events.c.iter == iteration)
        .order_by(scalar_events.c.metric, scalar_events.c.variant, scalar_events.c.id)
    )
    latest: dict[tuple[str, str], dict[str, Any]] = {}
    for r in conn.execute(query):
        latest[(r.metric, r.variant)] = dict(r._mapping)
    return list(latest.values())


def metric_names(conn: Connection, task: str, event_type: str | None) -> list[str]:
    names: set[str] = set()
    if event_type in (None, SCALAR):
        names.update(conn.execute(select(scalar_events.c.metric).where(scalar_events.c.task == task).distinct()).scalars())
    if event_type != SCALAR:
        query = select(task_events.c.metric).where(task_events.c.task == task)
        if event_type is not None:
            query = query.where(task_events.c.type == event_type)
        names.update(conn.execute(query.distinct()).scalars())
    return sorted(names)


def plots(conn: Connection, task: str, *, iters: int | None, metrics: list[str] | None) -> list[dict[str, Any]]:
    query = select(task_events).where(task_events.c.task == task, task_events.c.type == "plot")
    if metrics:
        query = query.where(task_events.c.metric.in_(metrics))
    rows = [dict(r._mapping) for r in conn.execute(query.order_by(task_events.c.iter.desc(), task_events.c.id))]
    if iters:
        wanted = sorted({r["iter"] for r in rows if r["iter"] is not None}, reverse=True)[:iters]
        rows = [r for r in rows if r["iter"] in wanted]
    return rows


def image_iterations(conn: Connection, task: str, metric: str | None, *, before: int | None, after: int | None, earlier: bool, limit: int) -> list[int]:
    """Distinct iterations with debug images of a task (one metric or all), next page in order."""
    query = select(task_events.c.iter).where(task_events.c.task == task, task_events.c.type == "training_debug_image")
    if metric is not None:
        query = query.where(task_events.c.metric == metric)
    if before is not None:
        query = query.where(task_events.c.iter < before)
    if after is not None:
        query = query.where(task_events.c.iter > after)
    query = query.distinct().order_by(task_events.c.iter.desc() if earlier else task_events.c.iter).limit(limit)
    return [i for i in conn.execute(query).scalars() if i is not None]


def images_at(conn: Connection, task: str, metric: str | None, iterations: Sequence[int], variants: Sequence[str] | None = None) -> list[dict[str, Any]]:
    query = select(task_events).where(
        task_events.c.task == task, task_events.c.type == "training_debug_image", task_events.c.iter.in_(list(iterations))
    )
    if metric is not None:
        query = query.where(task_events.c.metric == metric)
    if variants:
        query = query.where(task_events.c.variant.in_(list(variants)))
    return [dict(r._mapping) for r in conn.execute(query.order_by(task_events.c.iter, task_events.c.metric, task_events.c.variant, task_events.c.id))]


def image_range(conn: Connection, task: str, metric: str, variant: str) -> tuple[int | None, int | None]:
    where = and_(
        task_events.c.task == task,
        task_events.c.type == "training_debug_image",
        task_events.c.metric == metric,
        task_events.c.variant == variant,
    )
    low, high = conn.execute(select(func.min(task_events.c.iter), func.max(task_events.c.iter)).where(where)).one()
    return low, high
