"""Use cases that may change any number of rows (a task's events go with a reset or a delete;
a project's delete changes or removes every task of its subtree) write in a bulk transaction:
on SQLite one of their own, outside any group commit (``Database.write(bulk=True)``)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import event

from tests.support import Api


@contextmanager
def write_kinds(db) -> Iterator[list[bool]]:  # type: ignore[no-untyped-def]
    """For each write transaction the engine begins inside the block: was it a bulk one?"""
    kinds: list[bool] = []

    def begun(conn) -> None:  # type: ignore[no-untyped-def]
        options = conn.get_execution_options()
        if options.get("skiff_write"):
            kinds.append(bool(options.get("skiff_bulk")))

    event.listen(db.engine, "begin", begun)
    try:
        yield kinds
    finally:
        event.remove(db.engine, "begin", begun)


def _task_with_events(api: Api, name: str, project: str | None = None) -> str:
    body = {"name": name, "type": "training", **({"project": project} if project else {})}
    task = api("tasks.create", body)["id"]
    api("tasks.started", {"task": task})
    events = [{"task": task, "type": "training_stats_scalar", "metric": "m", "variant": "v", "iter": i, "value": i} for i in range(5)]
    api("events.add_batch", events)
    return task


def test_writes_that_delete_events_or_a_subtree_are_bulk(api: Api, db) -> None:  # type: ignore[no-untyped-def]
    project = api("projects.create", {"name": "bulk-writes", "description": ""})["id"]
    calls = [
        ("events.delete_for_task", lambda: {"task": _task_with_events(api, "bulk-a"), "allow_locked": True}),
        ("tasks.reset", lambda: {"task": _task_with_events(api, "bulk-b"), "force": True}),
        ("tasks.delete", lambda: {"task": _task_with_events(api, "bulk-c"), "force": True}),
        ("projects.delete", lambda: {"project": project, "force": True, "delete_contents": True}),
    ]
    _task_with_events(api, "bulk-d", project)
    for name, body in calls:
        prepared = body()
        with write_kinds(db) as kinds:
            api(name, prepared)
        assert kinds == [True], (name, kinds)
    with write_kinds(db) as kinds:
        api("tasks.create", {"name": "bulk-e", "type": "training"})
        api("tasks.edit", {"task": _task_with_events(api, "bulk-f"), "comment": "x", "force": True})
    assert kinds and not any(kinds)
