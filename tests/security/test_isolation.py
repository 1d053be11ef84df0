"""No one sees what is not theirs: company A's admin calls EVERY registered endpoint with company
B's ids, and nothing of B's leaks or changes.

The bodies are generated from the endpoint registry: each request field is classified once below
as a reference (filled with B's object of that kind) or as plain data, so a new endpoint is
covered automatically, and a new field name fails ``test_every_request_field_is_classified``
until it is classified here.
"""

from __future__ import annotations

import json
import typing
import uuid
from typing import Any

import pytest

from skiff.api.services import build_registry
from skiff.ops import accounts
from tests.support import Api

ENDPOINTS = build_registry().newest()

#: request fields naming objects, by kind ("by service": the kind of the endpoint's own service)
REFERENCES = {
    "task": "task", "tasks": "task", "new_task_parent": "task",
    "model": "model", "models": "model", "override_model_id": "model",
    "project": "project", "projects": "project", "new_task_project": "project",
    "queue": "queue", "queues": "queue", "queue_ids": "queue",
    "worker": "worker", "user": "user", "access_key": "access_key",
    "id": "by service", "ids": "by service", "parent": "by service",
}  # fmt: skip
#: request fields that name no object of another company (data, flags, names, patterns, paging)
PLAIN = set(
    "active_users add_tags allow_locked allow_public artifacts basename batch_size check_own_contents children_type "
    "clear_all comment configuration container count default_output_destination delete_contents "
    "delete_external_artifacts delete_output_models description design display_name event_type execution "
    "execution_overrides expiration_sec filters force force_publish_task framework from_date from_timestamp "
    "get_task_info hyperparams include_pipeline_steps include_stats include_stats_filter include_subprojects "
    "interval iteration iters key keys label labels last_seen machine_stats max_task_entries metadata metric "
    "metrics model_events model_metrics move_to_trash name names navigate_current_metric navigate_earlier "
    "new_location new_project_name new_status new_task_comment new_task_configuration new_task_container "
    "new_task_hyperparams new_task_input_models new_task_name new_task_system_tags new_task_tags no_scroll "
    "non_public only_fields order order_by output__error output_dest page page_size pattern project_name "
    "projection public publish publish_model publish_task publish_tasks queue_name ready refresh refresh_scroll "
    "remove_from_all_queues remove_tags replace_configuration replace_hyperparams replace_metadata requirements "
    "return_file_urls role runtime runtime_properties samples script scroll_id search_hidden section "
    "shallow_search size skip_empty stats_for_state stats_with_children status status_message status_reason "
    "system_tags tags task_name tasks_state timeout timestamp to_date type update_execution_queue "
    "update_task_status uri validate_references validate_tasks variant verify_watched_queue worker_pattern".split()
)
SERVICE_KINDS = {"tasks": "task", "models": "model", "projects": "project", "queues": "queue", "workers": "worker"}
#: values for required plain fields, so a call reaches the object lookup instead of stopping early
REQUIRED_VALUES = {"name": "isolation probe", "type": "training", "section": "Args", "metric": "m", "variant": "v",
                   "event_type": "log", "uri": "file:///x", "status": "completed", "role": "user",
                   "key": "k"}  # fmt: skip


def _is_list(annotation: Any) -> bool:
    return any(typing.get_origin(a) in (list, tuple) or a in (list, tuple)
               for a in (annotation, *typing.get_args(annotation)))  # fmt: skip


def test_every_request_field_is_classified() -> None:
    unknown = sorted({f"{e.name}.{name}" for e in ENDPOINTS for name in e.request.model_fields
                      if name not in REFERENCES and name not in PLAIN})  # fmt: skip
    assert not unknown, f"classify these request fields in {__file__}: {unknown}"


@pytest.fixture
def company_b(client, db) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    """Company B with one object of every kind, all named with a marker nobody else uses."""
    marker = f"bsecret{uuid.uuid4().hex[:10]}"
    company = accounts.create_company(db, f"{marker} company")
    admin = accounts.add_user(db, company, f"{marker} admin", role="admin")
    b = Api(client, key=admin.access_key, secret=admin.secret_key)
    project = b("projects.create", {"name": f"{marker} project", "description": marker})["id"]
    task = b("tasks.create", {"name": f"{marker} task", "type": "training", "project": project, "comment": marker,
                              "hyperparams": {"Args": {"lr": {"section": "Args", "name": "lr", "value": marker}}}})["id"]
    b("events.add_batch", content=json.dumps({"task": task, "type": "log", "msg": marker, "level": "info"}).encode(),
      headers={"Content-Type": "application/json-lines"})  # fmt: skip
    model = b("models.create", {"name": f"{marker} model", "uri": f"file:///{marker}", "task": task})["id"]
    queue = b("queues.create", {"name": f"{marker} queue"})["id"]
    worker = f"bworker-{uuid.uuid4().hex[:8]}"
    b("workers.register", {"worker": worker, "queues": [queue]})
    user = b("users.get_current_user", {})["user"]["id"]
    ids = {"task": task, "model": model, "project": project, "queue": queue, "worker": worker, "user": user,
           "access_key": admin.access_key}  # fmt: skip
    return {"api": b, "marker": marker, "ids": ids}


def b_view(b: Api, ids: dict[str, str]) -> Any:
    """Everything B can read about its objects (compared before and after A's calls)."""
    return (
        b("tasks.get_all_ex", {"id": [ids["task"]]})["tasks"],
        b("models.get_all", {})["models"],
        b("projects.get_all", {})["projects"],
        b("queues.get_all", {})["queues"],
        [w["id"] for w in b("workers.get_all", {})["workers"]],
        b("events.get_task_log", {"task": ids["task"]})["events"],
        [c["access_key"] for c in b("auth.get_credentials", {})["credentials"]],
        b("users.get_current_user", {})["user"]["role"],
    )


def body_for(endpoint: Any, ids: dict[str, str]) -> dict[str, Any]:
    body: dict[str, Any] = {}
    for name, field in endpoint.request.model_fields.items():
        kind = REFERENCES.get(name)
        if kind == "by service":
            kind = SERVICE_KINDS.get(endpoint.service)
        if kind in ids:
            body[name] = [ids[kind]] if _is_list(field.annotation) else ids[kind]
        elif field.is_required():
            body[name] = REQUIRED_VALUES.get(name, "x")
    return body


def test_company_a_never_sees_or_changes_company_b(api: Api, company_b: dict[str, Any]) -> None:
    b, marker, ids = company_b["api"], company_b["marker"], company_b["ids"]
    before = b_view(b, ids)
    leaks, accepted = [], []
    for endpoint in ENDPOINTS:
        body = body_for(endpoint, ids)
        if endpoint.batch:
            reply = api.call(endpoint.name, content=json.dumps(body).encode(),
                             headers={"Content-Type": "application/json-lines"})  # fmt: skip
        else:
            reply = api.call(endpoint.name, body)
        assert reply.status < 500, (endpoint.name, body, reply.body)
        text = reply.raw.decode()
        echoed = {v for v in ids.values() if v in json.dumps(body)}
        if marker in text or any(v in text for v in set(ids.values()) - echoed):
            leaks.append((endpoint.name, body, text[:500]))
        if reply.status == 200 and echoed:
            accepted.append(endpoint.name)
    assert not leaks, leaks
    assert b_view(b, ids) == before
    # calls that named B's objects and still answered 200 did nothing to them (checked above) and
    # returned none of them; list them so a reviewer sees which endpoints answer that way
    print(f"{len(ENDPOINTS)} endpoints called with company B's ids; 200 without effect: {sorted(accepted)}")
