"""Event use cases: ingesting batches (one transaction, folding scalars into the tasks'
``last_metrics``) and the per-task reads the SDK and the web UI make."""

from __future__ import annotations

import base64
import binascii
import copy
import time
from collections import Counter
from datetime import datetime, timezone
from typing import Any

import orjson

from skiff.domain import clock
from skiff.domain import events as ev
from skiff.domain.errors import error
from skiff.domain.identity import Identity
from skiff.ops.tasks import load_for_write, visible
from skiff.storage.engine import Database
from skiff.storage.repos import events as repo
from skiff.storage.repos import tasks as tasks_repo

MAX_TOTAL = 10_000
DEFAULT_SAMPLES = 6000


def _now_ms() -> int:
    return int(time.time() * 1000)


def add_batch(db: Database, caller: Identity, raw_events: list[Any], worker: str | None) -> dict[str, Any]:
    if not raw_events:
        raise error("batch_contains_no_items")
    now_ms = _now_ms()
    errors: Counter[str] = Counter()
    by_task: dict[str, list[ev.Event]] = {}
    allow_locked: set[str] = set()
    for raw in raw_events:
        try:
            event = ev.parse_event(raw, now_ms, worker)
        except ev.InvalidEvent as exc:
            errors[str(exc)] += 1
            continue
        by_task.setdefault(event.task, []).append(event)
        if isinstance(raw, dict) and raw.get("allow_locked"):
            allow_locked.add(event.task)
    added = 0
    if by_task:
        now = clock.now()
        with db.write() as conn:
            found = tasks_repo.get_tasks(conn, [caller.company], list(by_task), for_update=True)
            for task, events in by_task.items():
                doc = found.get(task)
                if doc is None:
                    errors["Invalid task id"] += len(events)
                    continue
                if doc.get("status") == "published" and task not in allow_locked:
                    errors["Task is published (locked)"] += len(events)
                    continue
                existing = repo.summaries(conn, task)
                update = ev.fold(events, existing)
                repo.append(conn, events)
                repo.save_summaries(conn, task, doc["company"], existing, update.summaries)
                tasks_repo.replace_task(conn, doc, _task_after(doc, update, caller, now))
                added += len(events)
    return {"added": added, "errors": sum(errors.values()), "errors_info": dict(errors)}


def _task_after(doc: dict[str, Any], update: ev.TaskUpdate, caller: Identity, now: datetime) -> dict[str, Any]:
    new = copy.deepcopy(doc)
    if update.summaries:
        new["last_metrics"] = ev.last_metrics_document(update.summaries)
    if update.last_iteration is not None:
        new["last_iteration"] = max(int(new.get("last_iteration") or 0), update.last_iteration)
    stats = new.setdefault("metric_stats", {})
    for (metric, kind), stamp in update.last_timestamp_by_metric_type.items():
        entry = stats.setdefault(ev.md5(metric), {"metric": metric, "event_stats_by_type": {}})
        by_type = entry.setdefault("event_stats_by_type", {})
        previous = by_type.get(kind, {}).get("last_update", 0)
        by_type[kind] = {"last_update": max(previous, stamp)}
    new["last_update"] = now
    new["last_change"] = now
    new["last_changed_by"] = caller.user
    started = new.get("started")
    if new.get("status") == "in_progress" and started:
        started_at = started if isinstance(started, datetime) else datetime.fromisoformat(str(started)).replace(tzinfo=None)
        new["active_duration"] = int((now - started_at).total_seconds())
    return new


def _check_task(db: Database, caller: Identity, task: str) -> None:
    with db.read() as conn:
        if tasks_repo.get_task(conn, visible(caller), task) is None:
            raise error("invalid_task_id", id=task)


def _iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, timezone.utc).isoformat()


def event_wire(row: dict[str, Any], task: str) -> dict[str, Any]:
    out = {
        "timestamp": row["timestamp"],
        "type": row["type"],
        "task": task,
        "iter": row.get("iter"),
        "metric": row.get("metric", ""),
        "variant": row.get("variant", ""),
        "@timestamp": _iso(row["timestamp"]),
    }
    if "value" in row:
        out["value"] = row["value"]
    out.update(row.get("payload") or {})
    return out


def get_task_log(
    db: Database, caller: Identity, task: str, *, batch_size: int, navigate_earlier: bool, from_timestamp: int | None, order: str | None
) -> dict[str, Any]:
    _check_task(db, caller, task)
    with db.read() as conn:
        rows = repo.log_events(conn, task, earlier=navigate_earlier, from_timestamp=from_timestamp, limit=batch_size)
        total = repo.count_events(conn, task, "log", MAX_TOTAL)
    if (navigate_earlier and order == "asc") or (not navigate_earlier and order == "desc"):
        rows.reverse()
    events = [event_wire(r, task) for r in rows]
    return {"events": events, "returned": len(events), "total": total}


def scalar_histogram(
    db: Database, caller: Identity, task: str, *, key: str, samples: int | None, metrics: list[dict[str, Any]] | None
) -> dict[str, Any]:
    _check_task(db, caller, task)
    wanted: dict[str, set[str] | None] | None = None
    if metrics:
        wanted = {m.get("metric", ""): (set(m["variants"]) if m.get("variants") else None) for m in metrics}
    limit = DEFAULT_SAMPLES if samples is None else samples
    axis = "iter" if key == "iter" else "timestamp"
    out: dict[str, dict[str, Any]] = {}
    with db.read() as conn:
        for metric, variant, count in repo.series(conn, task):
            if wanted is not None and (metric not in wanted or (wanted[metric] is not None and variant not in wanted[metric])):
                continue
            if limit and count > limit:
                points = repo.series_buckets(conn, task, metric, variant, key=axis, buckets=limit)
            else:
                points = repo.series_points(conn, task, metric, variant, key=axis)
            xs = [_iso(x) if key == "iso_time" else x for x, _ in points]
            out.setdefault(metric, {})[variant] = {"name": variant, "x": xs, "y": [y for _, y in points]}
    return out


def _parse_cursor(scroll_id: str | None) -> tuple[str, int] | None:
    if not scroll_id:
        return None
    name, _, position = scroll_id.partition("-")
    if name not in ("s", "o") or not position.isdigit():
        raise error("invalid_scroll_id", scroll_id=scroll_id)
    return name, int(position)


def get_task_events(
    db: Database, caller: Identity, task: str, *, event_type: str | None, batch_size: int, scroll_id: str | None, order: str
) -> dict[str, Any]:
    _check_task(db, caller, task)
    after = _parse_cursor(scroll_id)
    with db.read() as conn:
        rows = repo.events_page(conn, task, event_type=event_type, after=after, descending=order == "desc", limit=batch_size)
        total = repo.count_events(conn, task, event_type, MAX_TOTAL)
    cursor = rows[-1]["_cursor"] if rows else after
    return {
        "events": [event_wire(r, task) for r in rows],
        "returned": len(rows),
        "total": total,
        "scroll_id": f"{cursor[0]}-{cursor[1]}" if cursor else None,
    }


def scalar_metrics_and_variants(db: Database, caller: Identity, task: str) -> dict[str, Any]:
    _check_task(db, caller, task)
    with db.read() as conn:
        found = repo.series(conn, task)
    metrics: dict[str, dict[str, Any]] = {}
    for metric, variant, _ in found:
        metrics.setdefault(metric, {})[variant] = {"name": variant}
    return {"metrics": metrics}


def task_metrics(db: Database, caller: Identity, tasks: list[str], event_type: str | None) -> dict[str, Any]:
    with db.read() as conn:
        found = tasks_repo.get_tasks(conn, visible(caller), tasks)
        return {"metrics": [{"task": t, "metrics": repo.metric_names(conn, t, event_type)} for t in tasks if t in found]}


def single_value_metrics(db: Database, caller: Identity, tasks: list[str]) -> dict[str, Any]:
    with db.read() as conn:
        found = tasks_repo.get_tasks(conn, visible(caller), tasks)
        out = []
        for task in tasks:
            if task not in found:
                continue
            values = repo.single_values(conn, task, ev.SINGLE_VALUE_ITERATION)
            out.append({"task": task, "values": [
                {"metric": v["metric"], "variant": v["variant"], "value": v["value"], "timestamp": v["timestamp"]}
                for v in values
            ]})  # fmt: skip
    return {"tasks": out}


def task_plots(db: Database, caller: Identity, task: str, *, iters: int | None, metrics: list[str] | None) -> dict[str, Any]:
    _check_task(db, caller, task)
    with db.read() as conn:
        rows = repo.plots(conn, task, iters=iters, metrics=metrics)
    plots = [event_wire(r, task) for r in rows]
    return {"plots": plots, "returned": len(plots), "total": len(plots), "scroll_id": None}


def delete_for_task(db: Database, caller: Identity, task: str, allow_locked: bool) -> int:
    with db.write(bulk=True) as conn:
        doc = load_for_write(conn, caller, task)
        if doc.get("status") == "published" and not allow_locked:
            raise error("invalid_task_status", "task is published (locked)", task=task)
        deleted = repo.delete_for_task(conn, task)
        new = copy.deepcopy(doc)
        new["last_metrics"] = {}
        new["metric_stats"] = {}
        new["last_iteration"] = 0
        tasks_repo.replace_task(conn, doc, new)
    return deleted


# debug images and multi-task plots ------------------------------------------------------------------
def _encode(state: dict[str, Any]) -> str:
    """Scroll ids are the position itself (base64 JSON): any process can continue a scroll."""
    return base64.urlsafe_b64encode(orjson.dumps(state)).decode()


def _decode(scroll_id: str | None) -> dict[str, Any]:
    if not scroll_id:
        return {}
    try:
        state = orjson.loads(base64.urlsafe_b64decode(scroll_id.encode()))
    except (binascii.Error, ValueError, orjson.JSONDecodeError):
        raise error("invalid_scroll_id", scroll_id=scroll_id) from None
    if not isinstance(state, dict):
        raise error("invalid_scroll_id", scroll_id=scroll_id)
    return state


def debug_images(
    db: Database, caller: Identity, metrics: list[dict[str, Any]], *, iters: int, navigate_earlier: bool, refresh: bool, scroll_id: str | None
) -> dict[str, Any]:
    """The latest ``iters`` iterations with debug images per (task, metric); the scroll id holds
    where each one stopped, so the next call continues from there."""
    state = {} if refresh else _decode(scroll_id)
    out = []
    with db.read() as conn:
        for entry in metrics:
            task = entry.get("task")
            if not isinstance(task, str) or tasks_repo.get_task(conn, visible(caller), task) is None:
                raise error("invalid_task_id", id=task)
            metric = entry.get("metric") or None
            key = f"{task}/{metric or ''}"
            position = state.get(key)
            iterations = repo.image_iterations(
                conn, task, metric,
                before=position if navigate_earlier else None,
                after=position if not navigate_earlier else None,
                earlier=navigate_earlier, limit=iters,
            )  # fmt: skip
            if iterations:
                state[key] = iterations[-1]
            events = repo.images_at(conn, task, metric, iterations, entry.get("variants"))
            grouped: dict[int, list[dict[str, Any]]] = {}
            for row in events:
                grouped.setdefault(row["iter"], []).append(event_wire(row, task))
            out.append({"task": task, "iterations": [{"iter": i, "events": grouped.get(i, [])} for i in iterations]})
    return {"metrics": out, "scroll_id": _encode(state)}


def debug_image_sample(
    db: Database, caller: Identity, task: str, metric: str, variant: str, iteration: int | None
) -> dict[str, Any]:
    _check_task(db, caller, task)
    with db.read() as conn:
        low, high = repo.image_range(conn, task, metric, variant)
        event = None
        if high is not None:
            target = high if iteration is None else iteration
            rows = repo.images_at(conn, task, metric, [target], [variant])
            event = event_wire(rows[-1], task) if rows else None
    state = {"task": task, "metric": metric, "variant": variant, "iteration": event["iter"] if event else None}
    return {"event": event, "min_iteration": low, "max_iteration": high, "scroll_id": _encode(state)}


def multi_task_plots(db: Database, caller: Identity, tasks: list[str], *, iters: int | None) -> dict[str, Any]:
    """Plots of several tasks: ``{metric: {variant: {task id: {name, plots: [...]}}}}``."""
    plots: dict[str, dict[str, dict[str, Any]]] = {}
    returned = 0
    with db.read() as conn:
        found = tasks_repo.get_tasks(conn, visible(caller), tasks)
        for task in tasks:
            doc = found.get(task)
            if doc is None:
                continue
            for row in repo.plots(conn, task, iters=iters or 1, metrics=None):
                entry = plots.setdefault(row["metric"], {}).setdefault(row["variant"], {}).setdefault(
                    task, {"name": doc.get("name", ""), "plots": []}
                )
                entry["plots"].append(event_wire(row, task))
                returned += 1
    return {"plots": plots, "returned": returned, "total": returned, "scroll_id": None}
