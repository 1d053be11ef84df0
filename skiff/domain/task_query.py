"""Parsing ``tasks.get_all`` requests into a query description (spec tasks-queries §2–§5).

Pure code: the storage layer compiles a ``TaskQuery`` into SQL. What is parsed so far: list
fields with the operator language of §2.4, the ``filters`` map (§2.5), ``_any_``/``_all_``
(§2.9), pattern fields, hidden/public scope, project expansion flags, ordering keys, paging
(page/page_size/start/size) and projection.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from skiff.domain.errors import error
from skiff.domain.paging import clamp, page_offset
from skiff.domain.patterns import pattern_problem
from skiff.domain.task_document import unescape_key
from skiff.domain.text_search import TextSearch, parse_search_text
from skiff.domain.task_references import REFERENCES

MAX_PAGE_SIZE = 500

#: Scalar list fields and the document path each one filters.
SCALAR_LIST_FIELDS = ("id", "user", "project", "parent", "status", "type", "execution.queue")
ARRAY_LIST_FIELDS = ("tags", "system_tags", "models.input.model")
PATTERN_FIELDS = ("name", "comment")


@dataclass(frozen=True)
class ListCondition:
    """One list field's condition: buckets joined by ``operator``, OR-ed with "empty" if asked."""

    include_any: tuple[str, ...] = ()
    include_all: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()
    operator: str = "and"  # how the non-empty buckets combine
    or_empty: bool = False

    @property
    def is_empty(self) -> bool:
        return not (self.include_any or self.include_all or self.exclude or self.or_empty)

    @property
    def names_values(self) -> bool:
        """Whether matching rows hold one of given values (an exclusion alone does not say which)."""
        return bool(self.include_any or self.include_all)


def _dedupe(values: list[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(values))


def parse_list(value: Any, field_name: str) -> ListCondition:
    """The ``__$any/__$all/__$not/__$nop``, ``-x`` and ``null`` language of §2.4."""
    if value is None:
        return ListCondition()
    values = value if isinstance(value, list) else [value]
    context_all = False
    legacy = True
    global_op: str | None = None
    pending_not = False
    include_any: list[str] = []
    include_all: list[str] = []
    exclude: list[str] = []
    or_empty = False

    for token in values:
        if isinstance(token, str) and token.startswith("__$"):
            op = token[3:]
            if pending_not and op != "nop":
                raise error("fields_value_error", "Value is expected after __$not", field=field_name)
            if op in ("any", "or"):
                context_all, legacy = False, False
                global_op = global_op or "or"
            elif op in ("all", "and"):
                context_all, legacy = True, False
                global_op = global_op or "and"
            elif op == "not":
                pending_not = True
            elif op == "nop":
                pending_not = False
                context_all, legacy = False, True
                global_op = global_op or "and"
            else:
                raise error("fields_value_error", "Unsupported operator", field=field_name, operator=token)
            continue
        if token is None:
            pending_not = False
            or_empty = True
            global_op = global_op or "and"
            continue
        if not isinstance(token, str):
            raise error("fields_value_error", "invalid value type, string expected", field=field_name)
        global_op = global_op or "and"
        if pending_not:
            exclude.append(token)
            pending_not = False
        elif legacy and token.startswith("-"):
            if token == "-":
                raise error("fields_value_error", "Missing value after the exclude prefix -", field=field_name)
            exclude.append(token[1:])
        elif context_all:
            include_all.append(token)
        else:
            include_any.append(token)
    if pending_not:
        raise error("fields_value_error", "Value is expected after __$not", field=field_name)
    return ListCondition(
        _dedupe(include_any), _dedupe(include_all), _dedupe(exclude), global_op or "and", or_empty
    )


RANGE_FIELDS = ("created", "started", "active_duration", "last_iteration")
DATE_FIELDS = ("created", "started")
DATETIME_CONSTRAINT_FIELDS = ("status_changed", "last_update", "last_change")
#: last_metrics event fields that ranges and ordering reach (the running summary's columns)
METRIC_FIELDS = (
    "value", "min_value", "min_value_iteration", "max_value", "max_value_iteration",
    "first_value", "first_value_iteration", "count",
)  # fmt: skip
_OPERATORS = (">=", "<=", ">", "<")


@dataclass(frozen=True)
class Range:
    """Inclusive bounds; a missing ``low`` also matches tasks without the field (§2.6)."""

    low: Any
    high: Any


@dataclass(frozen=True)
class ParamPath:
    """``hyperparams.<section>[.<name>[.<field>]]``, with raw (unescaped) names. Only ``.value``
    paths hold comparable values; a whole section or parameter compares as an object (§2.12)."""

    section: str
    name: str | None
    field: str | None


@dataclass(frozen=True)
class MetricPath:
    """``last_metrics.<md5(metric)>.<md5(variant)>.<field>``."""

    metric_hash: str
    variant_hash: str
    field: str


def parse_datetime(value: Any) -> datetime | None:
    """An ISO-like date; naive means UTC, offsets are converted. None when it does not parse."""
    if not isinstance(value, str) or not value.strip():
        return None
    try:
        parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    if parsed.tzinfo is not None:
        parsed = parsed.astimezone(timezone.utc).replace(tzinfo=None)
    return parsed.replace(microsecond=parsed.microsecond - parsed.microsecond % 1000)


def _bound(value: Any, field: str, kind: str) -> Any:
    if value is None:
        return None
    if kind == "date":
        parsed = parse_datetime(value)
        if parsed is None:
            raise error("validation_error", f"Invalid date for range field {field}: {value!r}")
        return parsed
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise error("validation_error", f"Invalid value for range field {field}: {value!r}") from None
    return number


def parse_range(value: Any, field: str, kind: str) -> Range:
    if not isinstance(value, list) or len(value) != 2:
        raise error("validation_error", f"Min and max values should be specified for range field {field}")
    if value[0] is None and value[1] is None:
        raise error("validation_error", "At least one of min or max values should be provided")
    return Range(_bound(value[0], field, kind), _bound(value[1], field, kind))


def parse_date_constraint(value: Any, field: str) -> Range | dict[str, datetime]:
    """§2.7: a plain two-element list is a range; otherwise operator-prefixed dates, AND-ed."""
    items = value if isinstance(value, list) else [value]
    plain = all(not (isinstance(i, str) and i.startswith(_OPERATORS)) for i in items)
    if isinstance(value, list) and len(value) == 2 and plain:
        return parse_range(value, field, "date")
    if any(i is None for i in items):
        raise error("fields_value_error", "failed parsing query field", field=field)
    constraints: dict[str, datetime] = {}
    for item in items:
        if not isinstance(item, str):
            continue
        op = next((o for o in _OPERATORS if item.startswith(o)), "=")
        parsed = parse_datetime(item[len(op):] if op != "=" else item)
        if parsed is not None:
            constraints[op] = parsed  # the last one of an operator wins
    return constraints


def _path_parts(key: str) -> list[str]:
    parts = key.split(".")
    if not 2 <= len(parts) <= 4:
        raise error("validation_error", "invalid task field", field=key)
    out = [parts[0]]
    for part in parts[1:]:
        name = unescape_key(part).strip()
        if not name:
            raise error("validation_error", "Empty key is not allowed")
        out.append(name)
    return out


def parse_param_path(key: str) -> ParamPath:
    parts = _path_parts(key) + [None, None]
    return ParamPath(parts[1], parts[2], parts[3])


def parse_metric_path(key: str) -> MetricPath:
    parts = key.split(".")
    if len(parts) != 4 or parts[3] not in METRIC_FIELDS:
        raise error("invalid_fields", "unsupported last_metrics path", field=key)
    return MetricPath(parts[1], parts[2], parts[3])


def rewrite_key(key: str) -> str:
    """Legacy prefixes of §2.12."""
    return key.replace("execution.parameters", "hyperparams.Args").replace("execution.model_desc", "configuration")


# the filters map (§2.5) ------------------------------------------------------------------------
@dataclass(frozen=True)
class FilterPart:
    """The ``any`` or ``all`` part of a ``filters`` entry; ``null`` among the values becomes the
    ``*_empty`` flag (include: the array is empty; exclude: it is not)."""

    include: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()
    include_empty: bool = False
    exclude_empty: bool = False


@dataclass(frozen=True)
class FieldFilter:
    """One ``filters`` entry. ``any``: IN(include) OR NOT ALL(exclude); ``all``: ALL(include) AND
    NIN(exclude); the two parts are joined with ``operator``."""

    any: FilterPart = FilterPart()
    all: FilterPart = FilterPart()
    operator: str = "and"


def _filter_values(value: Any, where: str) -> tuple[tuple[str, ...], bool]:
    if value is None:
        return (), False
    if not isinstance(value, list) or not all(v is None or isinstance(v, str) for v in value):
        raise error("validation_error", "a list of strings and nulls is expected", field=where)
    return _dedupe([v for v in value if v is not None]), None in value


def _filter_part(value: Any, where: str) -> FilterPart:
    if value is None:
        return FilterPart()
    if not isinstance(value, dict) or not set(value) <= {"include", "exclude"}:
        raise error("validation_error", "only include and exclude are allowed", field=where)
    include, include_empty = _filter_values(value.get("include"), f"{where}.include")
    exclude, exclude_empty = _filter_values(value.get("exclude"), f"{where}.exclude")
    return FilterPart(include, exclude, include_empty, exclude_empty)


def parse_field_filter(value: Any, field: str) -> FieldFilter:
    if not isinstance(value, dict) or not set(value) <= {"any", "all", "op"}:
        raise error("validation_error", "a field filter has only any, all and op", field=field)
    operator = value.get("op") if value.get("op") is not None else "and"
    if operator not in ("and", "or"):
        raise error("validation_error", "op must be and or or", field=field)
    return FieldFilter(_filter_part(value.get("any"), f"{field}.any"), _filter_part(value.get("all"), f"{field}.all"), operator)


def parse_filters(request: dict[str, Any]) -> tuple[dict[str, FieldFilter], dict[ParamPath, FieldFilter]]:
    """The list fields of the ``filters`` map and its hyperparameter fields. Keys get no path
    processing (§2.12): each part is only unescaped to the stored name. Other keys are ignored."""
    if "filters" not in request:
        return {}, {}
    value = request["filters"]
    if not isinstance(value, dict):
        raise error("fields_value_error", "filters should be a dictionary")
    lists: dict[str, FieldFilter] = {}
    params: dict[ParamPath, FieldFilter] = {}
    for key, entry in value.items():
        spec = parse_field_filter(entry, key)
        parts = key.split(".")
        if key in SCALAR_LIST_FIELDS + ARRAY_LIST_FIELDS:
            lists[key] = spec
        elif parts[0] == "hyperparams" and len(parts) in (2, 3, 4):
            names = [unescape_key(p) for p in parts[1:]] + [None, None]
            params[ParamPath(names[0], names[1], names[2])] = spec
    return lists, params


# multi-field conditions (§2.9) -----------------------------------------------------------------
#: Top-level fields of a stored task document (spec tasks-model §2.1).
TASK_FIELDS = frozenset({
    "id", "name", "user", "company", "type", "status", "status_reason", "status_message", "status_changed",
    "comment", "report", "report_assets", "created", "started", "completed", "published", "active_duration",
    "duration", "parent", "project", "output", "execution", "script", "tags", "system_tags", "hyperparams",
    "configuration", "models", "container", "runtime", "last_worker", "last_worker_report", "last_update",
    "last_change", "last_changed_by", "last_iteration", "last_metrics", "metric_stats", "unique_metrics",
    "company_origin", "enqueue_status",
})  # fmt: skip
#: Maps whose keys the reference stores escaped (§6.4): a path's parts below them are unescaped.
ESCAPED_MAPS = ("hyperparams", "configuration", "container")
#: Arrays of objects inside a task document: a path through one reaches into every item.
OBJECT_ARRAYS = (("models", "input"), ("models", "output"))
_MULTI_FIELD_KEYS = (("_any_", "or"), ("_or_", "or"), ("_all_", "and"), ("_and_", "and"))


@dataclass(frozen=True)
class MultiField:
    """``_any_``/``_all_``: ``pattern`` (a case-insensitive regex) or ``dates`` (a §2.7 constraint)
    over literal field paths, joined with ``operator``."""

    operator: str
    paths: tuple[tuple[str, ...], ...]
    pattern: str | None = None
    dates: Range | dict[str, datetime] | None = None


def parse_field_path(path: str) -> tuple[str, ...]:
    """A literal path: a known top-level field, no reference join (400/14)."""
    parts = path.split(".")
    if parts[0] not in TASK_FIELDS:
        raise error("invalid_fields", "unknown task field", field=path)
    if any(path.startswith(ref + ".") for ref, _ in REFERENCES):
        raise error("invalid_fields", "joined fields cannot be used in a filter", field=path)
    if parts[0] in ESCAPED_MAPS:
        return (parts[0], *(unescape_key(p) for p in parts[1:]))
    return tuple(parts)


def parse_multi_field(value: Any, key: str, operator: str) -> MultiField | None:
    """One ``_any_``/``_all_`` key; None when it adds no condition (no fields, or no datetime field)."""
    if not isinstance(value, dict) or not set(value) <= {"fields", "pattern", "datetime"}:
        raise error("fields_value_error", "incorrect field format", field=key)
    fields = value.get("fields")
    has_pattern, has_dates = value.get("pattern") is not None, value.get("datetime") is not None
    if not isinstance(fields, list) or not all(isinstance(f, str) for f in fields) or has_pattern == has_dates:
        raise error("fields_value_error", "incorrect field format: fields and one of pattern or datetime", field=key)
    paths = tuple(parse_field_path(f) for f in fields)
    if has_pattern:
        pattern = value["pattern"]
        if not isinstance(pattern, str):
            raise error("fields_value_error", "incorrect field format: pattern must be a string", field=key)
        _check_pattern(pattern, re.IGNORECASE)
        return MultiField(operator, paths, pattern=pattern) if paths else None
    paths = tuple(p for p in paths if len(p) == 1 and p[0] in DATETIME_CONSTRAINT_FIELDS)
    dates = parse_date_constraint(value["datetime"], key)
    return MultiField(operator, paths, dates=dates) if paths else None


@dataclass(frozen=True)
class OrderKey:
    path: str
    descending: bool


@dataclass
class TaskQuery:
    lists: dict[str, ListCondition] = field(default_factory=dict)
    patterns: dict[str, str] = field(default_factory=dict)
    search_hidden: bool = False
    include_subprojects: bool = False
    order: list[OrderKey] = field(default_factory=list)
    offset: int = 0
    limit: int = MAX_PAGE_SIZE
    projection: list[str] | None = None
    text: TextSearch | None = None  # search_text (§2.10)
    natural_order: bool = False  # string sort keys use the natural collation (§4.3)
    ranges: dict[str, Range] = field(default_factory=dict)
    metric_ranges: dict[MetricPath, Range] = field(default_factory=dict)
    dates: dict[str, Range | dict[str, datetime]] = field(default_factory=dict)
    params: dict[ParamPath, ListCondition] = field(default_factory=dict)
    runtime: dict[str, Any] = field(default_factory=dict)
    filters: dict[str, FieldFilter] = field(default_factory=dict)
    param_filters: dict[ParamPath, FieldFilter] = field(default_factory=dict)
    multi_fields: list[MultiField] = field(default_factory=list)


def _check_pattern(pattern: str, flags: int = 0) -> str:
    problem = pattern_problem(pattern, ignore_case=bool(flags & re.IGNORECASE))
    if problem is not None:
        raise error("invalid_regex_error", pattern=pattern, reason=problem)
    return pattern


def _as_int(value: Any, name: str) -> int:
    if isinstance(value, bool) or value is None:
        raise error("validation_error", f"{name} must be an integer")
    try:
        return int(value)
    except (TypeError, ValueError):
        raise error("validation_error", f"{name} must be an integer") from None


def parse_paging(request: dict[str, Any]) -> tuple[int, int]:
    if "start" in request and request["start"] is not None:
        start = _as_int(request["start"], "start")
        size = request.get("size")
        if size is None or _as_int(size, "size") < 1:
            raise error("validation_error", "size must be provided and >0 when start is used")
        return clamp(start), clamp(_as_int(size, "size"))
    if "page_size" in request and request["page_size"] is None:
        raise error("missing_required_fields", "page_size is required when page is requested")
    page = _as_int(request.get("page", 0) if request.get("page") is not None else 0, "page")
    size = _as_int(request.get("page_size", MAX_PAGE_SIZE), "page_size")
    if page < 0:
        raise error("validation_error", "page must be >=0")
    if size < 1:
        raise error("validation_error", "page_size must be >0")
    size = min(size, MAX_PAGE_SIZE)
    return page_offset(page, size), size


#: The order key for text relevance (§4.4): best first; ``-@text_score`` is not recognised and
#: does nothing.
TEXT_SCORE = "@text_score"
#: Request keys and first order keys with these prefixes switch on natural ordering (§4.3).
NATURAL_ORDER_PREFIXES = ("hyperparams.", "last_metrics.", "execution.parameters.")


def parse_order(value: Any) -> list[OrderKey]:
    if value is None:
        return []
    items = value if isinstance(value, list) else [value]
    keys = []
    for item in items:
        if not isinstance(item, str) or not item.strip("-+"):
            raise error("fields_value_error", "order_by entries must be field names")
        if item == f"-{TEXT_SCORE}":
            continue
        keys.append(OrderKey(rewrite_key(item.lstrip("-+")), item.startswith("-")))
    if keys and not any(k.path == "id" for k in keys):
        keys.append(OrderKey("id", False))
    return keys


def parse_text(value: Any) -> TextSearch | None:
    """``search_text``: None when absent or blank."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if not isinstance(value, str):
        raise error("fields_value_error", "search_text must be a string")
    return parse_search_text(value)


def uses_natural_order(request: dict[str, Any], order: list[OrderKey]) -> bool:
    """§4.3: some top-level request key, or the first order key that is not ``@text_score``,
    starts with a hyperparams/last_metrics/execution.parameters prefix (``-`` allowed)."""
    def natural(key: str) -> bool:
        return key.lstrip("-").startswith(NATURAL_ORDER_PREFIXES)

    first = next((k for k in order if k.path != TEXT_SCORE), None)
    return any(natural(k) for k in request) or (first is not None and natural(first.path))


def parse_projection(request: dict[str, Any]) -> list[str] | None:
    value = request.get("projection") if request.get("projection") is not None else request.get("only_fields")
    if value is None:
        return None
    items = value if isinstance(value, list) else [value]
    if not all(isinstance(i, str) for i in items):
        raise error("fields_value_error", "only_fields entries must be strings")
    return [i for i in items if i]


def parse_query(request: dict[str, Any]) -> TaskQuery:
    query = TaskQuery()
    for name in SCALAR_LIST_FIELDS + ARRAY_LIST_FIELDS:
        condition = parse_list(request.get(name), name)
        if not condition.is_empty:
            query.lists[name] = condition
    for name in PATTERN_FIELDS:
        pattern = request.get(name)
        if pattern:
            if not isinstance(pattern, str):
                raise error("fields_value_error", "pattern must be a string", field=name)
            query.patterns[name] = _check_pattern(pattern)
    for key, value in request.items():
        if value is None:
            continue
        key = rewrite_key(key)
        if key in RANGE_FIELDS:
            query.ranges[key] = parse_range(value, key, "date" if key in DATE_FIELDS else "number")
        elif key in DATETIME_CONSTRAINT_FIELDS:
            query.dates[key] = parse_date_constraint(value, key)
        elif key.startswith("last_metrics."):
            query.metric_ranges[parse_metric_path(key)] = parse_range(value, key, "number")
        elif key.startswith("hyperparams."):
            path = parse_param_path(key)
            condition = parse_list(value, key)
            if not condition.is_empty:
                query.params[path] = condition
        elif key.startswith("runtime.") and len(key) > len("runtime."):
            query.runtime[key[len("runtime."):]] = value
    # a filters entry replaces the top-level key of the same name (§2.5)
    query.filters, query.param_filters = parse_filters(request)
    for name in query.filters:
        query.lists.pop(name, None)
    for path in query.param_filters:
        query.params.pop(path, None)
    for key, operator in _MULTI_FIELD_KEYS:
        if key in request:
            multi = parse_multi_field(request[key], key, operator)
            if multi is not None:
                query.multi_fields.append(multi)
    ids = request.get("id")
    query.search_hidden = bool(request.get("search_hidden")) or bool(ids)
    query.include_subprojects = bool(request.get("include_subprojects"))
    query.order = parse_order(request.get("order_by"))
    query.text = parse_text(request.get("search_text"))
    if query.text is None and any(k.path == TEXT_SCORE for k in query.order):
        raise error("fields_value_error", "text score cannot be used in order_by when search text is not used")
    query.natural_order = uses_natural_order(request, query.order)
    query.offset, query.limit = parse_paging(request)
    query.projection = parse_projection(request)
    return query


# projection -------------------------------------------------------------------------------------
_HIDDEN = ("unique_metrics", "company_origin", "enqueue_status")


def _get_path(doc: Any, parts: list[str]) -> tuple[bool, Any]:
    node = doc
    for part in parts:
        if isinstance(node, dict) and part in node:
            node = node[part]
        else:
            return False, None
    return True, node


def _include(target: dict[str, Any], source: dict[str, Any], parts: list[str]) -> None:
    head, rest = parts[0], parts[1:]
    if head not in source:
        return
    value = source[head]
    if not rest:
        target[head] = value
        return
    if isinstance(value, dict):
        child = target.setdefault(head, {})
        if isinstance(child, dict):
            _include(child, value, rest)
    elif isinstance(value, list):
        items = target.setdefault(head, [{} for _ in value])
        for out, item in zip(items, value):
            if isinstance(item, dict) and isinstance(out, dict):
                _include(out, item, rest)


def _exclude(target: dict[str, Any], parts: list[str]) -> None:
    head, rest = parts[0], parts[1:]
    if head not in target:
        return
    if not rest:
        target.pop(head)
    elif isinstance(target[head], dict):
        _exclude(target[head], rest)
    elif isinstance(target[head], list):
        for item in target[head]:
            if isinstance(item, dict):
                _exclude(item, rest)


def project(doc: dict[str, Any], paths: list[str] | None) -> dict[str, Any]:
    """Apply an ``only_fields`` projection to a task in read form (§3.1, §3.3)."""
    if not paths:
        return doc
    includes = [p.split(".") for p in paths if not p.startswith("-")]
    excludes = [p[1:].split(".") for p in paths if p.startswith("-")]
    if includes:
        # a parent path wins over its children
        chosen = sorted(includes, key=len)
        out: dict[str, Any] = {}
        kept: list[list[str]] = []
        for parts in chosen:
            if any(parts[: len(k)] == k for k in kept):
                continue
            kept.append(parts)
            _include(out, doc, parts)
    else:
        out = {k: v for k, v in doc.items() if k not in _HIDDEN}
    for parts in excludes:
        _exclude(out, parts)
    return out
