"""``tasks.get_all_ex`` / ``tasks.get_by_id_ex``: the query of ``get_all`` plus reference
expansion and joins (spec tasks-queries §1, §3.4), in one read transaction."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection

from skiff.domain import task_references as refs
from skiff.domain.errors import error
from skiff.domain.identity import Identity
from skiff.domain.task_document import STORED_TASK_TYPES, read_form
from skiff.domain.task_query import parse_query, project
from skiff.domain.versions import Version
from skiff.ops.tasks import PUBLIC
from skiff.storage.engine import Database
from skiff.storage.repos import accounts as accounts_repo
from skiff.storage.repos import models as models_repo
from skiff.storage.repos import projects as projects_repo
from skiff.storage.repos import queues as queues_repo
from skiff.storage.repos import tasks as repo

_HIDDEN_FIELDS = ("unique_metrics", "company_origin", "enqueue_status")


def _entities(conn: Connection, caller: Identity, kind: str, ids: list[str], version: Version) -> dict[str, dict[str, Any]]:
    visible = [caller.company, PUBLIC]
    if kind == "task":
        return {i: read_form(d, version) for i, d in repo.get_tasks(conn, visible, ids).items()}
    if kind == "model":
        return models_repo.get_models(conn, visible, ids)
    found: dict[str, dict[str, Any]] = {}
    for id_ in ids:
        if kind == "project":
            row = projects_repo.get_project(conn, caller.company, id_)
        elif kind == "queue":
            row = queues_repo.get_queue(conn, caller.company, id_)
        elif kind == "user":
            row = accounts_repo.get_user(conn, caller.company, id_)
            if row is not None:
                row = {k: v for k, v in row.items() if k != "preferences"}
        else:
            row = accounts_repo.get_company(conn, id_) if id_ == caller.company else None
        if row is not None:
            found[id_] = row
    return found


def list_tasks_ex(
    db: Database, caller: Identity, request: dict[str, Any], version: Version, *, by_id: bool
) -> list[dict[str, Any]]:
    if by_id:
        if "id" not in request:
            raise error("missing_required_fields", "id is required", field="id")
        request = {k: v for k, v in request.items() if k != "include_subprojects"}
    query = parse_query(request)
    if by_id:
        query.search_hidden = True
    companies = [caller.company]
    if by_id or request.get("allow_public", True):
        companies.append(PUBLIC)
    split = refs.split_projection(query.projection)
    everything = split.task_paths is not None and "*" in split.task_paths
    task_paths = None if everything else split.task_paths
    with db.read() as conn:
        projects = None
        condition = query.lists.get("project")
        if query.include_subprojects and condition is not None and condition.include_any:
            projects = projects_repo.subtree_ids(conn, caller.company, list(condition.include_any))
        try:
            docs = repo.find_tasks(conn, companies, query, projects=projects)
        except repo.UnsupportedField as exc:
            raise error("invalid_fields", "ordering by this field is not supported", field=str(exc)) from None
        shown = []
        for doc in docs:
            task = read_form(doc, version)
            if everything:
                task.update({k: doc[k] for k in _HIDDEN_FIELDS if k in doc})
            task = project(task, task_paths)
            if task_paths and any(not p.startswith("-") for p in task_paths):
                task = {"id": doc["id"], **task}
            shown.append(task)
        entities: dict[str, dict[str, dict[str, Any]]] = {}
        for ref, kind in refs.REFERENCES:
            if ref in split.joins:
                ids = sorted({i for task in shown for i in refs.referenced_ids(task, ref)})
                entities[ref] = _entities(conn, caller, kind, ids, version)
    for task in shown:
        refs.expand(task, entities, split.joins)
    return shown


def task_types(db: Database, caller: Identity, projects: list[str] | None) -> list[str]:
    """Distinct known types of own and public tasks, in the projects and all their subprojects."""
    with db.read() as conn:
        scope = projects_repo.subtree_ids(conn, caller.company, projects) if projects else None
        found = repo.distinct_types(conn, [caller.company, PUBLIC], scope)
    return [t for t in found if t in STORED_TASK_TYPES]
