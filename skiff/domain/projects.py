"""Projects: name and path rules, and the parsed form of a ``projects.get_all`` query.

A project's name is its full path in the tree, parts joined by ``/`` ("a/b/c"); ``basename`` is
the last part, and the parts before it name the ancestors, which exist as projects of their own.
Pure functions only: the storage side lives in ``storage/repos/projects.py``.

Name rules (what the reference server does, spec clients.md §3a):

* The name is whitespace-stripped, empty parts are dropped (``"/a//b/"`` is ``"a/b"``), and a
  name with no part left (``""``, ``"///"``) is refused with 400/407. Parts keep their inner
  spaces, so the name the SDK looks up (``^<re.escape(name)>$``) finds the project it created.
* At most ``MAX_DEPTH`` parts (400/409), as the reference's default ``max_depth``.
* **Deliberate deviation:** the reference refuses full names shorter than 3 characters (a storage
  validation, 400/800), which makes ``Task.init(project_name="ML")`` fail there. skiff accepts them.
* Names are limited to ``MAX_NAME_LENGTH`` characters so that the unique index stays within
  PostgreSQL's B-tree row limit (the reference has no limit).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from skiff.domain.errors import ApiError, error
from skiff.domain.paging import page_offset
from skiff.domain.patterns import pattern_problem

SEPARATOR = "/"
MAX_DEPTH = 10
MAX_NAME_LENGTH = 512
MAX_TAG_LENGTH = 255
RESERVED_TAG_PREFIX = "__$"
HIDDEN_TAG = "hidden"
ARCHIVED_TAG = "archived"
REPORTS_TAG = "reports"  # a task carrying it is a report (counted apart by validate_delete)

#: get_all answers at most this many projects per page (spec tasks-queries F4, as for tasks).
MAX_PAGE_SIZE = 500

#: Every field of the project document, in the order documents are rendered.
FIELDS = (
    "id", "name", "basename", "description", "user", "company", "created", "tags", "system_tags",
    "default_output_destination", "last_update", "parent", "path",
)  # fmt: skip
TAG_KINDS = ("tags", "system_tags")
#: Fields ``order_by`` sorts on (every scalar field).
ORDER_FIELDS = frozenset(FIELDS) - {"tags", "system_tags", "path"}
#: Fields whose empty value is ``""`` as well as missing (spec tasks-queries §4.2).
STRING_FIELDS = frozenset(ORDER_FIELDS) - {"created", "last_update"}


# names --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ProjectName:
    """A normalised full project name."""

    parts: tuple[str, ...]

    @property
    def full(self) -> str:
        return SEPARATOR.join(self.parts)

    @property
    def basename(self) -> str:
        return self.parts[-1]

    @property
    def location(self) -> str:
        """The parent's full name ("" at the top level)."""
        return SEPARATOR.join(self.parts[:-1])

    @property
    def depth(self) -> int:
        return len(self.parts)

    def ancestors(self) -> list[str]:
        """Full names of every ancestor, root first: ``a/b/c`` -> ``[a, a/b]``."""
        return [SEPARATOR.join(self.parts[:i]) for i in range(1, len(self.parts))]

    def under(self, location: str) -> ProjectName:
        """The same basename below another location ("" = top level)."""
        base = split_parts(location)
        return ProjectName((*base, self.basename))


def split_parts(raw: str) -> tuple[str, ...]:
    """The non-blank parts of a ``/``-separated name, outer whitespace of the whole name removed."""
    joined = SEPARATOR.join(p for p in raw.split(SEPARATOR) if p.strip()).strip()
    return tuple(joined.split(SEPARATOR)) if joined else ()


def parse_name(raw: str) -> ProjectName:
    """Normalise a project name sent by a client, or refuse it (400/407, 400/409)."""
    parts = split_parts(raw)
    if not parts:
        raise error("invalid_project_name", name=raw)
    if len(parts) > MAX_DEPTH:
        raise error("project_path_exceeds_max", max_depth=MAX_DEPTH)
    name = ProjectName(parts)
    if len(name.full) > MAX_NAME_LENGTH:
        raise error("invalid_project_name", f"longer than {MAX_NAME_LENGTH} characters", name=raw)
    return name


def location_depth(location: str | None) -> int:
    return len(split_parts(location or ""))


def check_move_depth(subtree_depths: Iterable[int], old_depth: int, location: str | None) -> None:
    """Moving a project of depth ``old_depth`` (with descendants of ``subtree_depths``, the
    project's own included) below ``location`` must keep every one within ``MAX_DEPTH``."""
    new_base = location_depth(location)
    for depth in subtree_depths:
        if depth - old_depth + 1 + new_base > MAX_DEPTH:
            raise error("project_path_exceeds_max", max_depth=MAX_DEPTH)


def renamed(descendant: str, old_prefix: str, new_prefix: str) -> str:
    """A descendant's full name after its ancestor ``old_prefix`` became ``new_prefix``."""
    assert descendant.startswith(old_prefix + SEPARATOR), (descendant, old_prefix)
    return new_prefix + descendant[len(old_prefix) :]


# The reference has subcodes 410 ("Project has the same source and destination paths") and 411
# ("Project can not be moved under itself in the projects hierarchy") for these two refusals; the
# skiff catalogue does not list them yet, so they answer the nearest entry, 400/408, with the
# reason as extra text.
def same_location_error(location: str) -> ApiError:
    return error("cannot_update_project_location", "same source and destination", location=location)


def moved_under_itself_error(project: str, parent: str) -> ApiError:
    return error("cannot_update_project_location", "cannot move a project under itself", project=project, parent=parent)


# tags ---------------------------------------------------------------------------------------------
def normalize_tags(tags: Sequence[str] | None, kind: str) -> list[str]:
    """Tags as stored: unique and sorted; the ``__$`` prefix is reserved for query operators."""
    if not tags:
        return []
    bad = [t for t in tags if t.startswith(RESERVED_TAG_PREFIX)]
    if bad:
        raise error("fields_value_error", "unsupported tag prefix", field=kind, values=tuple(bad))
    long = [t for t in tags if len(t) > MAX_TAG_LENGTH]
    if long:
        raise error("fields_value_error", f"tags longer than {MAX_TAG_LENGTH} characters", field=kind)
    return sorted(set(tags))


@dataclass(frozen=True)
class TagFilter:
    """``tags``/``system_tags`` in get_all: any of ``include``, none of ``exclude``, and, if
    ``empty``, OR "has no tags of this kind" (a ``null`` in the list)."""

    include: frozenset[str] = frozenset()
    exclude: frozenset[str] = frozenset()
    empty: bool = False


def parse_tag_filter(values: Sequence[str | None] | str | None, kind: str) -> TagFilter | None:
    """The simple form of the tag language (spec tasks-queries §2.4): ``"x"`` includes, ``"-x"``
    and ``"__$not", "x"`` exclude, ``null`` admits untagged projects. The other ``__$`` operators
    (``__$all``, ``__$any``, ``__$nop``) belong to the full query language and answer 400/16."""
    if values is None:
        return None
    if isinstance(values, str):
        values = [values]
    include: set[str] = set()
    exclude: set[str] = set()
    empty = False
    negate = False
    for value in values:
        if value is None:
            empty, negate = True, False
        elif value == "__$not":
            negate = True
        elif value.startswith(RESERVED_TAG_PREFIX):
            raise error("fields_value_error", "Unsupported operator", field=kind, operator=value)
        elif negate:
            exclude.add(value)
            negate = False
        elif value.startswith("-"):
            if value == "-":
                raise error("fields_value_error", "Missing value after the exclude prefix -", field=kind)
            exclude.add(value[1:])
        else:
            include.add(value)
    if negate:
        raise error("fields_value_error", "Value is expected after", operator="__$not", field=kind)
    if not (include or exclude or empty):
        return None
    return TagFilter(frozenset(include), frozenset(exclude), empty)


# get_all ------------------------------------------------------------------------------------------
def check_pattern(pattern: str | None, what: str) -> str | None:
    """A regex filter (unanchored search, case-sensitive), checked with Python ``re`` first so a
    malformed one answers 400/21; empty means no condition."""
    if not pattern:
        return None
    problem = pattern_problem(pattern)
    if problem is not None:
        raise error("invalid_regex_error", field=what, pattern=pattern, err=problem)
    return pattern


def as_list(value: Sequence[str] | str | None) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    return list(value)


def parse_order(order_by: Sequence[str] | str | None) -> tuple[tuple[str, bool], ...]:
    """``order_by`` entries as (field, descending); ``id`` is appended as the tie-break.

    Fields skiff does not store (``featured``, ``@text_score``, joined paths) are skipped: the
    reference sorts on them as "missing everywhere", which is no order at all.
    """
    keys: list[tuple[str, bool]] = []
    for entry in as_list(order_by):
        descending = entry.startswith("-")
        name = entry.lstrip("-+")
        if name in ORDER_FIELDS and all(name != k for k, _ in keys):
            keys.append((name, descending))
    if keys and all(k != "id" for k, _ in keys):
        keys.append(("id", False))
    return tuple(keys)


def parse_paging(page: int | None, page_size: int | None) -> tuple[int, int]:
    """(offset, limit); ``page_size`` is capped at ``MAX_PAGE_SIZE`` (spec tasks-queries §5.1)."""
    if page is not None and page < 0:
        raise error("validation_error", "page must be >=0", field="page")
    if page_size is not None and page_size < 1:
        raise error("validation_error", "page_size must be >0", field="page_size")
    size = min(page_size or MAX_PAGE_SIZE, MAX_PAGE_SIZE)
    return page_offset(page or 0, size), size


@dataclass(frozen=True)
class Projection:
    """``only_fields``: ``include`` None means every field; ``-x`` entries exclude."""

    include: frozenset[str] | None = None
    exclude: frozenset[str] = frozenset()

    def fields(self) -> tuple[str, ...]:
        chosen = FIELDS if self.include is None else [f for f in FIELDS if f in self.include]
        return tuple(f for f in chosen if f not in self.exclude)


def parse_projection(only_fields: Sequence[str] | str | None) -> Projection:
    """Unknown names are ignored (they would only be missing from the result anyway); dotted
    paths keep their top-level field, as project fields have no sub-documents."""
    include: set[str] = set()
    exclude: set[str] = set()
    for entry in as_list(only_fields):
        target = exclude if entry.startswith("-") else include
        target.add(entry.lstrip("-").split(".", 1)[0])
    return Projection(frozenset(include) if include else None, frozenset(exclude))


@dataclass(frozen=True)
class ProjectQuery:
    """A parsed ``projects.get_all`` request (company scope is added by the caller)."""

    ids: tuple[str, ...] = ()
    name: str | None = None  # regex
    description: str | None = None  # regex
    basename: str | None = None  # exact
    tags: TagFilter | None = None
    system_tags: TagFilter | None = None
    parents: tuple[str, ...] = ()
    shallow: bool = False  # parents: direct children only; no parents: top level only
    include_hidden: bool = False
    order: tuple[tuple[str, bool], ...] = ()
    offset: int = 0
    limit: int = MAX_PAGE_SIZE
    projection: Projection = field(default_factory=Projection)


def build_query(
    *,
    ids: Sequence[str] | str | None = None,
    name: str | None = None,
    description: str | None = None,
    basename: str | None = None,
    tags: Sequence[str | None] | str | None = None,
    system_tags: Sequence[str | None] | str | None = None,
    parent: Sequence[str] | str | None = None,
    shallow_search: bool = False,
    search_hidden: bool = False,
    order_by: Sequence[str] | str | None = None,
    page: int | None = None,
    page_size: int | None = None,
    only_fields: Sequence[str] | str | None = None,
) -> ProjectQuery:
    id_list = tuple(as_list(ids))
    offset, limit = parse_paging(page, page_size)
    return ProjectQuery(
        ids=id_list,
        name=check_pattern(name, "name"),
        description=check_pattern(description, "description"),
        basename=basename or None,
        tags=parse_tag_filter(tags, "tags"),
        system_tags=parse_tag_filter(system_tags, "system_tags"),
        parents=tuple(as_list(parent)),
        shallow=shallow_search,
        # Hidden projects are left out unless asked for, or unless ids are named (as the reference).
        include_hidden=search_hidden or bool(id_list),
        order=parse_order(order_by),
        offset=offset,
        limit=limit,
        projection=parse_projection(only_fields),
    )


# documents ----------------------------------------------------------------------------------------
def project_document(row: dict[str, Any], tags: dict[str, list[str]] | None = None) -> dict[str, Any]:
    """The project as clients read it. Unset scalars are omitted rather than null (as the
    reference); ``tags``/``system_tags`` are always lists (sorted)."""
    doc: dict[str, Any] = {}
    for name in FIELDS:
        if name in TAG_KINDS:
            if tags is not None:
                doc[name] = sorted(tags.get(name, []))
        elif name in row and row[name] is not None:
            doc[name] = list(row[name]) if name == "path" else row[name]
    return doc


def project_fields(doc: dict[str, Any], projection: Projection) -> dict[str, Any]:
    wanted = projection.fields()
    return {k: doc[k] for k in wanted if k in doc}
