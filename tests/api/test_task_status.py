"""The status machine: every (from-status × action × force) pair, generated from the transition
table, and the stamping rules of the common status-change algorithm (spec tasks-model §3, §5.21–5.23)."""

from __future__ import annotations

import re
from typing import Any

import pytest

from skiff.domain.task_status import ALLOWED
from tests.support import Api

# Spec tasks-model §3.1, verbatim as a grid ("✓" allowed, "=" same state, "·" refused).
SPEC_GRID = """
from        created queued in_progress stopped publishing published closed failed completed
created     =       ✓      ✓           ·       ·          ·         ·      ·      ·
queued      ✓       =      ✓           ✓       ·          ·         ·      ·      ·
in_progress ✓       ·      =           ✓       ·          ·         ·      ✓      ✓
stopped     ✓       ✓      ✓           =       ✓          ✓         ✓      ✓      ✓
closed      ✓       ·      ·           ✓       ✓          ✓         =      ✓      ·
failed      ✓       ✓      ·           ✓       ·          ✓         ·      =      ·
publishing  ·       ·      ·           ·       =          ✓         ·      ·      ·
published   ·       ·      ·           ·       ·          =         ·      ·      ·
completed   ✓       ·      ✓           ·       ·          ✓         ·      ·      =
"""


def _grid() -> dict[str, dict[str, bool]]:
    lines = [line.split() for line in SPEC_GRID.strip().splitlines()]
    header = lines[0][1:]
    return {row[0]: {to: mark in "✓=" for to, mark in zip(header, row[1:])} for row in lines[1:]}


GRID = _grid()
STATUSES = list(GRID)

#: action endpoint → the status it moves to
ACTIONS = {
    "started": "in_progress",
    "stopped": "stopped",
    "completed": "completed",
    "failed": "failed",
    "close": "closed",
    "publish": "published",
    "reset": "created",
    "stop": "stopped",  # a task no live worker runs: stopped at once
}


def test_the_table_in_code_is_the_spec_table() -> None:
    for current, targets in GRID.items():
        assert {t for t, ok in targets.items() if ok} == set(ALLOWED[current]), current


def expected_allowed(current: str, action: str) -> bool:
    target = ACTIONS[action]
    if action == "publish" and current == "published":
        return False  # publish never accepts published → published
    if action == "reset" and current == "published":
        return False
    return GRID[current][target]


def new_task(api: Api, status: str) -> str:
    task = api("tasks.create", {"name": "status machine", "type": "training"})["id"]
    if status != "created":
        api("tasks.edit", {"task": task, "status": status, "force": True})
    return task


@pytest.mark.parametrize("force", [False, True], ids=["plain", "force"])
@pytest.mark.parametrize("action", list(ACTIONS))
@pytest.mark.parametrize("current", STATUSES)
def test_transition(api: Api, current: str, action: str, force: bool) -> None:
    task = new_task(api, current)
    reply = api.call(f"tasks.{action}", {"task": task, "force": force})
    after = api("tasks.get_by_id", {"task": task})["task"]["status"]
    if force or expected_allowed(current, action):
        assert reply.status == 200, reply.body
        assert reply.data["updated"] == 1
        assert after == ACTIONS[action]
    else:
        assert reply.code == (400, 110)
        if action == "reset" and current == "published":
            expected = f"Invalid task status: task_id={task}, status=published"
        else:
            expected = (
                f"Invalid task status (Invalid status change): current_status={current}, new_status={ACTIONS[action]}"
            )
        assert reply.msg == expected
        assert after == current


@pytest.mark.parametrize("action", list(ACTIONS))
def test_leaving_unknown_needs_force(api: Api, action: str) -> None:
    task = new_task(api, "unknown")
    reply = api.call(f"tasks.{action}", {"task": task})
    assert reply.code == (500, 1)
    assert reply.msg == "Internal server error (Current status unknown not supported by state machine)"
    assert api.call(f"tasks.{action}", {"task": task, "force": True}).status == 200


ISO = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{6})?\+00:00")


def test_status_change_fields(api: Api) -> None:
    task = new_task(api, "created")
    reply = api("tasks.started", {"task": task, "status_reason": "r", "status_message": "m"})
    assert reply["started"] == 1
    fields = reply["fields"]
    assert list(fields) == [
        "status", "status_reason", "status_message", "status_changed", "last_update", "last_change",
        "last_changed_by", "started",
    ]  # fmt: skip
    assert fields["status"] == "in_progress" and fields["status_reason"] == "r" and fields["status_message"] == "m"
    assert all(ISO.fullmatch(fields[k]) for k in ("status_changed", "last_update", "last_change", "started"))
    doc = api("tasks.get_by_id", {"task": task})["task"]
    assert doc["started"] == fields["started"]
    # started again (same state): allowed, keeps the first start, not echoed
    again = api("tasks.started", {"task": task})["fields"]
    assert "started" not in again
    assert api("tasks.get_by_id", {"task": task})["task"]["started"] == fields["started"]
    assert again["status_reason"] == "" and again["status_message"] == ""


def test_completed_and_stopped_set_completed(api: Api) -> None:
    task = new_task(api, "in_progress")
    fields = api("tasks.stopped", {"task": task})["fields"]
    assert "completed" in fields
    reply = api("tasks.completed", {"task": task})
    assert reply["published"] == 0 and "completed" in reply["fields"]


def test_failed_task_stays_failed_when_the_sdk_completes_it(api: Api) -> None:
    # the SDK's exit hook sends tasks.completed(force=false) even after mark_failed
    task = new_task(api, "in_progress")
    api("tasks.failed", {"task": task})
    assert api.call("tasks.completed", {"task": task}).code == (400, 110)
    assert api("tasks.get_by_id", {"task": task})["task"]["status"] == "failed"


def test_completed_with_publish(api: Api) -> None:
    task = new_task(api, "in_progress")
    reply = api("tasks.completed", {"task": task, "publish": True})
    assert reply["published"] == 1
    assert reply["fields"]["status"] == "published"
    doc = api("tasks.get_by_id", {"task": task})["task"]
    assert doc["status"] == "published" and "published" in doc


def test_publish_echoes_output(api: Api) -> None:
    task = api("tasks.create", {"name": "to publish", "type": "training", "output_dest": "s3://x"})["id"]
    api("tasks.edit", {"task": task, "status": "completed", "force": True})
    fields = api("tasks.publish", {"task": task})["fields"]
    assert fields["output"] == {"destination": "s3://x"}
    assert ISO.fullmatch(fields["published"])


def test_completed_needs_version_2_2(api: Api) -> None:
    task = new_task(api, "in_progress")
    assert api.call("tasks.completed", {"task": task}, version="2.1").code == (404, 0)
    assert api.call("tasks.completed", {"task": task}, version="2.2").status == 200


def test_ping(api: Api) -> None:
    task = new_task(api, "in_progress")
    api("tasks.started", {"task": task, "force": True})
    before = api("tasks.get_by_id", {"task": task})["task"]
    assert api("tasks.ping", {"task": task}) == {}
    after = api("tasks.get_by_id", {"task": task})["task"]
    assert after["last_update"] >= before["last_update"]
    assert "active_duration" in after
    # unknown ids are silently ignored
    assert api("tasks.ping", {"task": "no-such-task"}) == {}


def test_status_change_errors(api: Api) -> None:
    assert api.call("tasks.started", {"task": "nope"}).code == (400, 101)
    assert api.call("tasks.started", {}).code == (400, 12)


def task_doc(api: Api, task: str) -> dict[str, Any]:
    return api("tasks.get_by_id", {"task": task})["task"]


def test_status_docs_are_generated_from_the_table() -> None:
    from pathlib import Path

    from skiff.domain.task_status import render_markdown

    docs = Path(__file__).resolve().parents[2] / "docs" / "STATUS.md"
    assert docs.read_text() == render_markdown(), "regenerate: python -m skiff.domain.task_status > docs/STATUS.md"
