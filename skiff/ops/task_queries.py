"""``tasks.get_all_ex`` / ``tasks.get_by_id_ex``: the query of ``get_all`` plus reference
expansion and joins (spec tasks-queries §1, §3.4), in one read transaction."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection

from skiff.domain import clock
from skiff.domain import task_references as refs
from skiff.domain.errors import error
from skiff.domain.identity import Identity
from skiff.domain.ids import new_id
from skiff.domain.scrolls import PAGING_KEYS, TTL, parse_scroll
from skiff.domain.task_document import STORED_TASK_TYPES, read_form
from skiff.domain.task_query import TaskQuery, parse_query, project
from skiff.domain.versions import Version
from skiff.ops.tasks import PUBLIC
from skiff.storage.engine import Database
from skiff.storage.repos import accounts as accounts_repo
from skiff.storage.repos import models as models_repo
from skiff.storage.repos import projects as projects_repo
from skiff.storage.repos import queues as queues_repo
from skiff.storage.repos import scrolls as scrolls_repo
from skiff.storage.repos import task_queries as query_repo
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


@dataclass
class Selection:
    """The stored documents a query selected, its parsed form, and the scroll id in scroll mode."""

    docs: list[dict[str, Any]]
    query: TaskQuery
    scroll_id: str | None = None


def _find(conn: Connection, caller: Identity, companies: list[str], query: TaskQuery) -> list[dict[str, Any]]:
    projects = None
    condition = query.lists.get("project")
    if query.include_subprojects and condition is not None and condition.include_any:
        projects = projects_repo.subtree_ids(conn, caller.company, list(condition.include_any))
    try:
        return query_repo.find_tasks(conn, companies, query, projects=projects)
    except query_repo.UnsupportedField as exc:
        raise error("invalid_fields", "ordering by this field is not supported", field=str(exc)) from None
    except query_repo.BadPattern as exc:
        raise error("invalid_regex_error", err=str(exc)) from None


@contextmanager
def _selected(
    db: Database, caller: Identity, companies: list[str], request: dict[str, Any], *, by_id: bool = False
) -> Iterator[tuple[Connection, Selection]]:
    """Run the query of ``request`` in one transaction (a write one in scroll mode, which moves the
    stored position) and yield the connection for follow-up reads."""
    scroll = parse_scroll(request)
    if scroll is not None:
        request = {k: v for k, v in request.items() if k not in PAGING_KEYS}
    query = parse_query(request)
    if by_id:
        query.search_hidden = True
    if scroll is None:
        with db.read() as conn:
            yield conn, Selection(_find(conn, caller, companies, query), query)
        return
    with db.write() as conn:
        now = clock.now()
        scroll_id = scroll.scroll_id
        position = scrolls_repo.position(conn, scroll_id, now) if scroll_id else None
        if scroll_id is None or position is None:
            scroll_id, position = new_id(), 0
            scrolls_repo.create(conn, scroll_id, position, now + TTL, now)
        query.offset, query.limit = scroll.window(position)
        docs = _find(conn, caller, companies, query)
        scrolls_repo.move(conn, scroll_id, scroll.advanced(position, len(docs)), now + TTL)
        yield conn, Selection(docs, query, scroll_id)


def list_tasks(db: Database, caller: Identity, request: dict[str, Any]) -> Selection:
    """``tasks.get_all``: stored documents matching the request, in order (own and public tasks);
    the caller applies ``selection.query.projection`` to their read form."""
    with _selected(db, caller, [caller.company, PUBLIC], request) as (_, selection):
        return selection


def list_tasks_ex(
    db: Database, caller: Identity, request: dict[str, Any], version: Version, *, by_id: bool
) -> tuple[list[dict[str, Any]], str | None]:
    """``get_all_ex`` / ``get_by_id_ex``: the read forms under the projection, references expanded
    and joined; and the scroll id in scroll mode."""
    if by_id:
        if "id" not in request:
            raise error("missing_required_fields", "id is required", field="id")
        request = {k: v for k, v in request.items() if k != "include_subprojects"}
    companies = [caller.company]
    if by_id or request.get("allow_public", True):
        companies.append(PUBLIC)
    with _selected(db, caller, companies, request, by_id=by_id) as (conn, selection):
        split = refs.split_projection(selection.query.projection)
        everything = split.task_paths is not None and "*" in split.task_paths
        task_paths = None if everything else split.task_paths
        shown = []
        for doc in selection.docs:
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
    return shown, selection.scroll_id


def task_types(db: Database, caller: Identity, projects: list[str] | None) -> list[str]:
    """Distinct known types of own and public tasks, in the projects and all their subprojects."""
    with db.read() as conn:
        scope = projects_repo.subtree_ids(conn, caller.company, projects) if projects else None
        found = repo.distinct_types(conn, [caller.company, PUBLIC], scope)
    return [t for t in found if t in STORED_TASK_TYPES]
