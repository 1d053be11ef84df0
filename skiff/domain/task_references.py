"""Reference fields of a task and their expansion in ``get_all_ex`` / ``get_by_id_ex``
(spec tasks-queries §3.4): ids become ``{"id": …}`` objects, and ``<ref>.<field>`` projections
join the referenced entity's fields. Pure code: the entities are fetched by the caller."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

#: reference path → entity kind, longest paths first so "models.input.model" wins over shorter ones
REFERENCES: tuple[tuple[str, str], ...] = (
    ("models.output.model", "model"),
    ("models.input.model", "model"),
    ("execution.queue", "queue"),
    ("project", "project"),
    ("parent", "task"),
    ("company", "company"),
    ("user", "user"),
)


@dataclass(frozen=True)
class SplitProjection:
    task_paths: list[str] | None  # what to project on the task itself (None: everything)
    joins: dict[str, list[str]]  # reference path → entity fields to merge in ("*": all)


def split_projection(paths: list[str] | None) -> SplitProjection:
    """Strip trailing ``.*``, and turn ``<ref>.<field>`` into the reference plus a join."""
    if paths is None:
        return SplitProjection(None, {})
    task_paths: list[str] = []
    joins: dict[str, list[str]] = {}
    for raw in paths:
        path = raw[:-2] if raw.endswith(".*") and raw != "*" else raw
        if path.startswith("-"):
            task_paths.append(path)
            continue
        for ref, _ in REFERENCES:
            if path.startswith(ref + "."):
                joins.setdefault(ref, []).append(path[len(ref) + 1 :])
                task_paths.append(ref)
                break
        else:
            task_paths.append(path)
    return SplitProjection(list(dict.fromkeys(task_paths)), joins)


#: each reference path split once (expansion walks every path of every task of a page)
_PARTS = {ref: tuple(ref.split(".")) for ref, _ in REFERENCES}


def _walk(doc: dict[str, Any], ref: str, replace: Any) -> None:
    """Apply ``replace(id) -> value`` at a reference path (of ``REFERENCES``), through lists of
    sub-documents."""
    parts = _PARTS[ref]
    _visit(doc, parts, 0, len(parts) - 1, replace)


def _visit(node: Any, parts: tuple[str, ...], index: int, last: int, replace: Any) -> None:
    if isinstance(node, list):
        for item in node:
            _visit(item, parts, index, last, replace)
        return
    if not isinstance(node, dict):
        return
    key = parts[index]
    if key not in node:
        return
    if index == last:
        value = node[key]
        if isinstance(value, str):
            node[key] = replace(value)
    else:
        _visit(node[key], parts, index + 1, last, replace)


def referenced_ids(doc: dict[str, Any], ref: str) -> list[str]:
    found: list[str] = []
    _walk(doc, ref, lambda value: found.append(value) or value)
    return [f for f in found if f]


def expand(doc: dict[str, Any], entities: dict[str, dict[str, dict[str, Any]]], joins: dict[str, list[str]]) -> None:
    """Replace every reference id in ``doc`` by ``{"id": …}`` ("" by ``{}``), merging the joined
    fields of the entity (``entities[ref][id]``) when the projection asked for them."""
    for ref, _ in REFERENCES:
        wanted = joins.get(ref)
        if not wanted:
            _walk(doc, ref, _bare)
            continue
        found = entities.get(ref, {})

        def replace(value: str, wanted: list[str] = wanted, found: dict = found) -> dict[str, Any]:
            if not value:
                return {}
            out: dict[str, Any] = {"id": value}
            entity = found.get(value)
            if entity is not None:
                for field in wanted:
                    if field == "*":
                        out.update(entity)
                    elif field in entity:
                        out[field] = entity[field]
            return out

        _walk(doc, ref, replace)


def _bare(value: str) -> dict[str, Any]:
    return {"id": value} if value else {}
