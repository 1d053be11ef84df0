"""The model document: normalising what clients send, the read form, and ``models.get_all``
queries parsed into a ``ModelQuery`` (field lists as in the SDK's ``v2_23/models.py``).

Pure functions over plain dicts. A stored model is a dict with the promoted fields (id, company,
user, name, project, task, parent, framework, uri, ready, comment, timestamps) and the rest
(tags, system_tags, design, labels, metadata, ui_cache, last_iteration …).

Metadata is stored as the reference keeps it: a map ``key -> {key, type, value}``; requests may
send it as a list of items (what the SDK sends) or as that map.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from skiff.domain import projects as project_rules
from skiff.domain import task_document as task_docs
from skiff.domain.errors import error

ARCHIVED_TAG = "archived"
HIDDEN_TAG = "hidden"
DELETED_PREFIX = task_docs.DELETED_PARENT_PREFIX
#: ``tasks.models`` item names the reference uses for models linked by the legacy endpoints.
OUTPUT_MODEL_ITEM = "Output Model"

#: Not returned unless projected explicitly (the reference excludes them by default).
_OMITTED_BY_DEFAULT = ("company_origin", "ui_cache", "unique_metrics")
#: A models.edit/update that writes any of these also moves ``last_update`` (the rest only
#: ``last_change``), as the reference does.
LAST_UPDATE_FIELDS = frozenset({"uri", "framework", "design", "labels", "ready", "metadata", "system_tags", "tags"})

#: Scalar fields ``order_by`` may name (promoted columns).
ORDER_FIELDS = frozenset(
    {
        "id", "name", "user", "company", "project", "task", "parent", "framework", "uri", "ready",
        "comment", "created", "last_update", "last_change", "last_changed_by",
    }
)  # fmt: skip
STRING_ORDER_FIELDS = ORDER_FIELDS - {"ready", "created", "last_update", "last_change"}


# normalising ---------------------------------------------------------------------------------------
def _string(value: Any, field_name: str) -> str:
    if not isinstance(value, str):
        raise error("validation_error", f"error for field '{field_name}'. expected a string")
    return value


def clean_uri(value: Any) -> str:
    return _string(value, "uri").strip()


def normalize_labels(value: Any) -> dict[str, int]:
    """Label name -> integer id (400/12 as the reference's models.edit words it)."""
    if not isinstance(value, dict):
        raise error("fields_value_error", "expecting dict", field="labels")
    bad_keys = [k for k in value if not isinstance(k, str)]
    if bad_keys:
        raise error("validation_error", "labels keys must be strings", keys=tuple(bad_keys))
    bad_values = [v for v in value.values() if isinstance(v, bool) or not isinstance(v, int)]
    if bad_values:
        raise error("validation_error", "labels values must be integers", values=tuple(map(str, bad_values)))
    return dict(value)


def normalize_design(value: Any) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise error("fields_value_error", "expecting dict", field="design")
    return copy.deepcopy(value)


def _metadata_item(item: Any, key: Any = None) -> dict[str, str]:
    if not isinstance(item, dict):
        raise error("validation_error", "error for field 'metadata'. expected an object")
    key = item.get("key", key)
    if not isinstance(key, str) or not key.strip():
        raise error("validation_error", "error for field 'metadata.key'. field is required!")
    out = {"key": key}
    for name in ("type", "value"):
        value = item.get(name)
        if value is not None:
            out[name] = _string(value, f"metadata.{name}")
    return out


def normalize_metadata(value: Any) -> dict[str, dict[str, str]]:
    """A list of ``{key, type, value}`` items, or a map of them by key, as a map by key (a later
    item with the same key wins)."""
    if value is None:
        return {}
    if isinstance(value, dict):
        items = [_metadata_item(item, key) for key, item in value.items()]
    elif isinstance(value, list):
        items = [_metadata_item(item) for item in value]
    else:
        raise error("validation_error", "error for field 'metadata'. expected a list of metadata items")
    return {item["key"]: item for item in items}


#: The writable model fields and how each is normalised (create, edit, update).
_NORMALIZERS = {
    "name": task_docs.clean_name,
    "comment": lambda v: _string(v, "comment"),
    "uri": clean_uri,
    "framework": lambda v: _string(v, "framework"),
    "project": lambda v: _string(v, "project"),
    "parent": lambda v: _string(v, "parent"),
    "task": lambda v: _string(v, "task"),
    "tags": lambda v: task_docs.normalize_tags(v, "tags"),
    "system_tags": lambda v: task_docs.normalize_tags(v, "system_tags"),
    "design": normalize_design,
    "labels": normalize_labels,
    "metadata": normalize_metadata,
    "ready": bool,
}
WRITABLE = tuple(_NORMALIZERS)


def normalize_fields(fields: dict[str, Any], allowed: Sequence[str] = WRITABLE) -> dict[str, Any]:
    """The ``allowed`` fields present (not None) in ``fields``, normalised."""
    return {k: _NORMALIZERS[k](fields[k]) for k in allowed if fields.get(k) is not None}


def new_model(fields: dict[str, Any], *, id: str, user: str, company: str, now: datetime) -> dict[str, Any]:
    """The stored document of a model created with (normalised) ``fields``."""
    doc: dict[str, Any] = {
        "id": id,
        "company": company,
        "user": user,
        "created": now,
        "last_update": now,
        "last_change": now,
        "last_changed_by": user,
        "uri": "",
        "tags": [],
        "system_tags": [],
        "last_iteration": 0,
    }
    doc.update(fields)
    doc["ready"] = bool(doc.get("ready"))
    return doc


# reading -------------------------------------------------------------------------------------------
def read_form(doc: dict[str, Any]) -> dict[str, Any]:
    """A stored model as clients see it (internal fields left out, tags sorted)."""
    model = {k: v for k, v in doc.items() if k not in _OMITTED_BY_DEFAULT}
    model["tags"] = sorted(model.get("tags") or [])
    model["system_tags"] = sorted(model.get("system_tags") or [])
    model["ready"] = bool(model.get("ready"))
    model.setdefault("uri", "")
    model.setdefault("last_iteration", 0)
    return model


def _copy_path(source: dict[str, Any], target: dict[str, Any], path: list[str]) -> None:
    head, rest = path[0], path[1:]
    if head not in source:
        return
    if not rest:
        target[head] = copy.deepcopy(source[head])
    elif isinstance(source[head], dict):
        existing = target.get(head)
        if not isinstance(existing, dict):
            existing = target[head] = {}
        _copy_path(source[head], existing, rest)


def _drop_path(target: dict[str, Any], path: list[str]) -> None:
    head, rest = path[0], path[1:]
    if not rest:
        target.pop(head, None)
    elif isinstance(target.get(head), dict):
        _drop_path(target[head], rest)


def project_fields(doc: dict[str, Any], only_fields: Sequence[str]) -> dict[str, Any]:
    """``only_fields``: dotted paths to keep (``id`` always kept), ``-path`` entries to drop."""
    include = [p for p in only_fields if p and not p.startswith("-")]
    exclude = [p[1:] for p in only_fields if p.startswith("-") and len(p) > 1]
    if include:
        out: dict[str, Any] = {"id": doc["id"]} if "id" in doc else {}
        for path in include:
            _copy_path(doc, out, path.split("."))
    else:
        out = copy.deepcopy(doc)
    for path in exclude:
        _drop_path(out, path.split("."))
    return out


# get_all ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ModelQuery:
    """A parsed ``models.get_all`` request (the company scope is added by the caller)."""

    ids: tuple[str, ...] = ()
    name: str | None = None  # regex
    comment: str | None = None  # regex
    users: tuple[str, ...] = ()
    projects: tuple[str, ...] = ()
    include_subprojects: bool = False
    tasks: tuple[str, ...] = ()
    parents: tuple[str, ...] = ()
    frameworks: tuple[str, ...] = ()
    uris: tuple[str, ...] = ()
    ready: bool | None = None
    tags: project_rules.TagFilter | None = None
    system_tags: project_rules.TagFilter | None = None
    #: ``metadata.<key>.value`` filters: (key, accepted values)
    metadata: tuple[tuple[str, tuple[str, ...]], ...] = ()
    include_hidden: bool = False
    order: tuple[tuple[str, bool], ...] = ()
    offset: int = 0
    limit: int = project_rules.MAX_PAGE_SIZE
    only_fields: tuple[str, ...] = ()


def parse_order(order_by: Sequence[str] | str | None) -> tuple[tuple[str, bool], ...]:
    """(field, descending) pairs; unknown fields are skipped; ``id`` breaks ties."""
    keys: list[tuple[str, bool]] = []
    for entry in project_rules.as_list(order_by):
        descending = entry.startswith("-")
        name = entry.lstrip("-+")
        if name in ORDER_FIELDS and all(name != k for k, _ in keys):
            keys.append((name, descending))
    if keys and all(k != "id" for k, _ in keys):
        keys.append(("id", False))
    return tuple(keys)


def parse_metadata_filters(extra: dict[str, Any]) -> tuple[tuple[str, tuple[str, ...]], ...]:
    """Request keys ``metadata.<key>.value`` (what the SDK's ``Model.query_models`` sends)."""
    found = []
    for raw_key, values in extra.items():
        parts = raw_key.split(".")
        if len(parts) != 3 or parts[0] != "metadata" or parts[2] != "value" or not parts[1]:
            continue
        wanted = tuple(str(v) for v in project_rules.as_list(values) if v is not None)
        found.append((parts[1], wanted))
    return tuple(found)


def build_query(
    *,
    ids: Sequence[str] | str | None = None,
    name: str | None = None,
    comment: str | None = None,
    user: Sequence[str] | str | None = None,
    project: Sequence[str] | str | None = None,
    include_subprojects: bool = False,
    task: Sequence[str] | str | None = None,
    parent: Sequence[str] | str | None = None,
    framework: Sequence[str] | str | None = None,
    uri: Sequence[str] | str | None = None,
    ready: bool | None = None,
    tags: Sequence[str | None] | str | None = None,
    system_tags: Sequence[str | None] | str | None = None,
    search_hidden: bool = False,
    order_by: Sequence[str] | str | None = None,
    page: int | None = None,
    page_size: int | None = None,
    only_fields: Sequence[str] | str | None = None,
    extra: dict[str, Any] | None = None,
) -> ModelQuery:
    id_list = tuple(project_rules.as_list(ids))
    offset, limit = project_rules.parse_paging(page, page_size)
    return ModelQuery(
        ids=id_list,
        name=project_rules.check_pattern(name, "name"),
        comment=project_rules.check_pattern(comment, "comment"),
        users=tuple(project_rules.as_list(user)),
        projects=tuple(project_rules.as_list(project)),
        include_subprojects=include_subprojects,
        tasks=tuple(project_rules.as_list(task)),
        parents=tuple(project_rules.as_list(parent)),
        frameworks=tuple(project_rules.as_list(framework)),
        uris=tuple(project_rules.as_list(uri)),
        ready=ready,
        tags=project_rules.parse_tag_filter(tags, "tags"),
        system_tags=project_rules.parse_tag_filter(system_tags, "system_tags"),
        metadata=parse_metadata_filters(extra or {}),
        # hidden models are left out unless asked for, or unless ids are named (as for tasks)
        include_hidden=search_hidden or bool(id_list),
        order=parse_order(order_by),
        offset=offset,
        limit=limit,
        only_fields=tuple(project_rules.as_list(only_fields)),
    )


@dataclass
class ModelsCleanup:
    """What cleaning a task's models did (spec tasks-model §4 B6, steps 2–8)."""

    updated_models: int = 0
    deleted_models: int = 0
    model_urls: list[str] = field(default_factory=list)
