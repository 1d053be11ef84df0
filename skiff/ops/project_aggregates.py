"""What the web UI reads about the contents of projects, one read transaction each:
``projects.get_all_ex`` (get_all plus task statistics, own contents, subprojects and the
active-users / children-type restrictions) and the distinct hyperparameter names and values, metric
series and parent tasks of the tasks in some projects (with their subprojects unless asked not to).

Project ids that are not the caller's select nothing: the answers are then empty, as the reference
answers them (its ``get_unique_metric_variants`` documents it), so the UI's "all projects" view and
a stale project id behave alike.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

from sqlalchemy import Connection

from skiff.domain import clock
from skiff.domain import projects as rules
from skiff.domain.errors import error
from skiff.domain.events import md5
from skiff.domain.identity import Identity
from skiff.domain.paging import page_offset
from skiff.domain.task_query import ARRAY_LIST_FIELDS, SCALAR_LIST_FIELDS, ListCondition, parse_list
from skiff.ops.projects import find_documents
from skiff.ops.tasks import PUBLIC
from skiff.storage.engine import Database
from skiff.storage.repos import projects as repo

#: Page size of get_hyper_parameters / get_hyperparam_values when none is asked (the reference's),
#: and the most one page holds: the web UI asks for 5000 parameter names at once.
AGGREGATE_PAGE_SIZE = 500
MAX_AGGREGATE_PAGE_SIZE = 10_000

#: Status counts of the statistics; any other status (``publishing``) counts as ``unknown``.
STATUS_KEYS = ("created", "queued", "in_progress", "stopped", "published", "closed", "failed", "completed", "unknown")
STATES = ("active", "archived")

#: ``children_type``: the tasks that make a project (and its ancestors) hold such children.
CHILDREN_TASKS: dict[str, dict[str, str]] = {
    "report": {"task_type": "report"},
    "pipeline": {"task_type": "controller", "system_tag": "pipeline"},
    "dataset": {"system_tag": "dataset"},
}
_STATS_FILTER_FIELDS = SCALAR_LIST_FIELDS + ARRAY_LIST_FIELDS


@dataclass(frozen=True)
class ExOptions:
    """What ``get_all_ex`` adds to a ``get_all`` query."""

    include_stats: bool = False
    stats_for_state: str | None = "active"  # None: both states
    stats_with_children: bool = True
    stats_filter: Mapping[str, ListCondition] = field(default_factory=dict)
    check_own_contents: bool = False
    active_users: tuple[str, ...] = ()
    children_type: str | None = None
    #: the request's flag itself (naming ids also finds hidden projects, but does not bring in
    #: hidden tasks and subprojects, nor the ``hidden`` mark)
    search_hidden: bool = False


def parse_stats_filter(raw: Mapping[str, Any] | None) -> dict[str, ListCondition]:
    """``include_stats_filter``: task list fields (``system_tags``, ``type``, ``status`` …) with
    the values allowed, ``-x`` excluding; other fields answer 400/14."""
    conditions: dict[str, ListCondition] = {}
    for name, value in (raw or {}).items():
        if name not in _STATS_FILTER_FIELDS:
            raise error("invalid_fields", "unsupported include_stats_filter field", field=name)
        condition = parse_list(value, name)
        if not condition.is_empty:
            conditions[name] = condition
    return conditions


def _with_id(query: rules.ProjectQuery) -> rules.ProjectQuery:
    """Every get_all_ex entry carries its id (what the statistics attach to, what the UI keys on)."""
    projection = query.projection
    if projection.include is None and "id" not in projection.exclude:
        return query
    kept = rules.Projection(
        None if projection.include is None else projection.include | {"id"}, projection.exclude - {"id"}
    )
    return dataclasses.replace(query, projection=kept)


def _epoch_ms(value: datetime | str) -> int:
    moment = value if isinstance(value, datetime) else datetime.fromisoformat(value)
    return int(moment.replace(tzinfo=timezone.utc).timestamp() * 1000)


def _empty_state() -> dict[str, Any]:
    return {
        "status_count": dict.fromkeys(STATUS_KEYS, 0),
        "total_tasks": 0,
        "total_runtime": 0,
        "completed_tasks_24h": 0,
        "last_task_run": None,
    }


def fold_stats(
    rows: Sequence[Mapping[str, Any]], members: Mapping[str, Sequence[str]], state: str | None
) -> dict[str, dict[str, Any]]:
    """Per project: the grouped task rows of every project in ``members[project]`` (itself and,
    with children, its subprojects) summed into ``{active, archived}`` statistics (only ``state``'s
    when given); ``last_task_run`` is the latest start in epoch milliseconds."""
    owners: dict[str, list[str]] = {}
    for project, group in members.items():
        for member in group:
            owners.setdefault(member, []).append(project)
    stats = {project: {name: _empty_state() for name in STATES} for project in members}
    for row in rows:
        kind = "archived" if row["archived"] else "active"
        status = row["status"] if row["status"] in STATUS_KEYS else "unknown"
        for project in owners.get(row["project"], ()):
            entry = stats[project][kind]
            entry["status_count"][status] += row["count"]
            entry["total_tasks"] += row["count"]
            entry["total_runtime"] += int(row["runtime"] or 0)
            entry["completed_tasks_24h"] += int(row["recent"] or 0)
            if row["started"] is not None:
                started = _epoch_ms(row["started"])
                entry["last_task_run"] = max(entry["last_task_run"] or started, started)
    for per_state in stats.values():
        for entry in per_state.values():
            if entry["last_task_run"] is None:
                del entry["last_task_run"]
    return {
        project: {name: per_state[name] for name in STATES if state in (None, name)}
        for project, per_state in stats.items()
    }


def _visible_children(
    conn: Connection, company: str, ids: Sequence[str], include_hidden: bool
) -> dict[str, list[dict[str, str]]]:
    """Every project's descendants at any depth, as ``{id, name}`` by name; hidden ones only with
    ``include_hidden``."""
    children: dict[str, list[dict[str, str]]] = {i: [] for i in ids}
    descendants = repo.subtree(conn, company, ids, include_roots=False)
    hidden = set() if include_hidden else repo.hidden_among(conn, [d["id"] for d in descendants])
    for row in descendants:
        if row["id"] in hidden:
            continue
        for ancestor in row["path"]:
            if ancestor in children:
                children[ancestor].append({"id": row["id"], "name": row["name"]})
    return children


def _restriction(conn: Connection, company: str, options: ExOptions) -> set[str] | None:
    """The projects ``active_users`` / ``children_type`` leave (None: no restriction)."""
    if not options.active_users and options.children_type is None:
        return None
    kinds = CHILDREN_TASKS.get(options.children_type or "", {})
    return repo.holding_tasks(conn, company, users=options.active_users, **kinds)


def list_projects_ex(
    db: Database, caller: Identity, query: rules.ProjectQuery, options: ExOptions
) -> list[dict[str, Any]]:
    """``projects.get_all_ex``. Projects are never public in skiff, so only the caller's
    company's tasks and models are counted (``allow_public``/``non_public`` change nothing)."""
    company = caller.company
    with db.read() as conn:
        within = _restriction(conn, company, options)
        if within is not None and not within:
            return []
        docs = find_documents(conn, company, _with_id(query), within)
        ids = [doc["id"] for doc in docs]
        extras: dict[str, dict[str, Any]] = {i: {} for i in ids}
        if options.search_hidden:
            for project in repo.hidden_among(conn, ids):
                extras[project]["hidden"] = True
        if options.check_own_contents:
            for project, counts in repo.count_own_contents(conn, company, ids).items():
                extras[project].update(counts)
        if options.include_stats:
            children = _visible_children(conn, company, ids, options.search_hidden)
            members = {
                i: [i, *(c["id"] for c in children[i])] if options.stats_with_children else [i] for i in ids
            }
            rows = repo.task_stats(
                conn,
                [company],
                sorted({m for group in members.values() for m in group}),
                since=clock.now() - timedelta(hours=24),
                users=options.active_users,
                include_hidden=options.search_hidden,
                filters=options.stats_filter,
            )
            for project, stats in fold_stats(rows, members, options.stats_for_state).items():
                extras[project].update(stats=stats, sub_projects=children[project])
    return [{**doc, **extras[doc["id"]]} for doc in docs]


# aggregates over the tasks of projects -------------------------------------------------------------
def _paging(page: int | None, page_size: int | None) -> tuple[int, int]:
    """(offset, limit) of an aggregate page: get_all's refusals, a larger cap."""
    rules.parse_paging(page, page_size)
    size = min(page_size or AGGREGATE_PAGE_SIZE, MAX_AGGREGATE_PAGE_SIZE)
    return page_offset(page or 0, size), size


def _scope(
    conn: Connection, company: str, projects: Sequence[str] | None, include_subprojects: bool
) -> list[str] | None:
    """The project ids to look in (None: everywhere); only the caller's projects expand."""
    if not projects:
        return None
    return repo.subtree_ids(conn, company, projects) if include_subprojects else list(projects)


def _visible(caller: Identity, allow_public: bool = True) -> list[str]:
    return [caller.company, PUBLIC] if allow_public else [caller.company]


def hyper_parameters(
    db: Database, caller: Identity, project: str | None, *, include_subprojects: bool, page: int | None, page_size: int | None
) -> dict[str, Any]:
    """``projects.get_hyper_parameters``: the distinct (section, name) of own and public tasks'
    hyperparameters, a page of them, with ``total`` and ``remaining`` after this page."""
    offset, limit = _paging(page, page_size)
    with db.read() as conn:
        scope = _scope(conn, caller.company, [project] if project else None, include_subprojects)
        total, names = repo.hyperparam_names(conn, _visible(caller), scope, offset=offset, limit=limit)
    return {
        "parameters": [{"section": section, "name": name} for section, name in names],
        "total": total,
        "remaining": max(total - offset - len(names), 0),
    }


def hyperparam_values(
    db: Database,
    caller: Identity,
    projects: Sequence[str] | None,
    section: str,
    name: str,
    *,
    include_subprojects: bool,
    allow_public: bool,
    pattern: str | None,
    page: int | None,
    page_size: int | None,
) -> dict[str, Any]:
    """``projects.get_hyperparam_values``: the distinct values of one hyperparameter, sorted,
    optionally matching a regular expression; ``total`` counts them all."""
    offset, limit = _paging(page, page_size)
    pattern = rules.check_pattern(pattern, "pattern")
    with db.read() as conn:
        scope = _scope(conn, caller.company, projects, include_subprojects)
        try:
            total, values = repo.hyperparam_values(
                conn, _visible(caller, allow_public), scope, section, name, pattern=pattern, offset=offset, limit=limit
            )
        except repo.BadPattern as exc:
            raise error("invalid_regex_error", err=str(exc)) from None
    return {"total": total, "values": values}


def unique_metric_variants(
    db: Database,
    caller: Identity,
    project: str | None,
    *,
    include_subprojects: bool,
    model_metrics: bool,
    ids: Sequence[str] | None,
) -> list[dict[str, str]]:
    """``projects.get_unique_metric_variants``: the scalar series reported by own and public
    tasks (or, with ``model_metrics``, models), with the hashes ``last_metrics`` is keyed by."""
    with db.read() as conn:
        scope = _scope(conn, caller.company, [project] if project else None, include_subprojects)
        if not model_metrics:
            return repo.metric_variants(conn, _visible(caller), scope, ids)
        pairs = repo.model_metric_variants(conn, _visible(caller), scope, ids)
    return [{"metric": m, "metric_hash": md5(m), "variant": v, "variant_hash": md5(v)} for m, v in pairs]


def task_parents(
    db: Database,
    caller: Identity,
    projects: Sequence[str] | None,
    *,
    include_subprojects: bool,
    tasks_state: str | None,
    task_name: str | None,
) -> list[dict[str, Any]]:
    """``projects.get_task_parents``: the distinct parents of the (active or archived, None: all)
    tasks in the projects, by name, each with its project's id and name."""
    pattern = rules.check_pattern(task_name, "task_name")
    archived = None if tasks_state is None else tasks_state == "archived"
    with db.read() as conn:
        scope = _scope(conn, caller.company, projects, include_subprojects)
        try:
            rows = repo.task_parents(
                conn, caller.company, _visible(caller), scope, archived=archived, name_pattern=pattern
            )
        except repo.BadPattern as exc:
            raise error("invalid_regex_error", err=str(exc)) from None
    parents = []
    for row in rows:
        parent: dict[str, Any] = {"id": row["id"], "name": row["name"]}
        if row["project"]:
            parent["project"] = {"id": row["project"], **({"name": row["project_name"]} if row["project_name"] else {})}
        parents.append(parent)
    return parents
