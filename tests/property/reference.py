"""A small pure-Python evaluator of ``tasks.get_all`` semantics, written from the spec
(tasks-queries §2–§5, §12) and independent of skiff's query compiler.

It takes task documents in read form (as ``tasks.get_by_id`` returns them) and a request body,
and answers the ids the server should return, in order, or the error it should give. The
differential property test (``test_query_differential.py``) compares it with the real API.

Covered: the list-field operator language (§2.4) on scalar and array fields and on
``hyperparams.<S>.<N>[.value]``, pattern fields (§2.3), range fields including
``last_metrics.*`` (§2.6), datetime constraints (§2.7), hidden tasks and the ``id`` override
(§2.2), ``include_subprojects`` for plain id lists (§2.11), legacy key rewriting and escaped
hyperparameter paths (§2.12), ordering with empties last on the first ascending key, the ``id``
tie-break and natural string collation (§4.1–§4.3), page/page_size and the 500 cap (§5.1).
Without ``order_by`` the order is ``created`` then ``id`` (skiff's documented deviation from the
reference's storage order).
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

MAX_PAGE_SIZE = 500

#: Promoted string fields of the model: "" counts as empty for ordering (§4.2).
STRING_FIELDS = frozenset({"id", "name", "comment", "status", "type", "project", "parent", "user", "execution.queue"})
ARRAY_FIELDS = frozenset({"tags", "system_tags"})
SCALAR_LIST_FIELDS = ("id", "user", "project", "parent", "status", "type")
LIST_FIELDS = SCALAR_LIST_FIELDS + ("tags", "system_tags")
PATTERN_FIELDS = ("name", "comment")
DATE_RANGE_FIELDS = ("created", "started")
NUMBER_RANGE_FIELDS = ("last_iteration", "active_duration")
DATE_CONSTRAINT_FIELDS = ("status_changed", "last_update", "last_change")
DATE_FIELDS = frozenset({"created", "started", "completed", "published", "last_update", "status_changed", "last_change"})
NATURAL_PREFIXES = ("hyperparams.", "last_metrics.", "execution.parameters.")
OPERATORS = (">=", "<=", ">", "<")


class QueryError(Exception):
    """The request should fail with this (HTTP status, subcode)."""

    def __init__(self, status: int, subcode: int, why: str) -> None:
        super().__init__(f"{status}/{subcode}: {why}")
        self.code = (status, subcode)


@dataclass(frozen=True)
class Outcome:
    ids: list[str]
    #: whether ordering used the natural collation of §4.3
    natural: bool


# key escaping (§6.4) ---------------------------------------------------------------------------
def unescape(part: str) -> str:
    pieces = part.split("%%")
    restored = [p.replace("%2E", ".").replace("%24", "$").replace("%_", "_") for p in pieces]
    return "%".join(restored)


def rewrite(key: str) -> str:
    """Legacy prefixes of §2.12 (applied to top-level keys and order_by entries)."""
    return (
        key.replace("execution.parameters", "hyperparams.Args")
        .replace("execution.model_desc", "configuration")
        .replace("execution.docker_cmd", "container")
    )


def param_path(key: str) -> list[str]:
    """``hyperparams.<S>.<N>[.<F>]`` → [S, N(, F)] with raw names; 2–4 parts (§2.12)."""
    parts = key.split(".")
    if not 2 <= len(parts) <= 4:
        raise QueryError(400, 12, f"invalid task field {key}")
    names = [unescape(p).strip() for p in parts[1:]]
    if any(not n for n in names):
        raise QueryError(400, 12, "Empty key is not allowed")
    return names


# values ------------------------------------------------------------------------------------------
_MISSING = object()


def parse_date(text: Any) -> datetime | None:
    if not isinstance(text, str):
        return None
    try:
        value = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    if value.tzinfo is not None:
        value = value.astimezone(timezone.utc).replace(tzinfo=None)
    return value.replace(microsecond=value.microsecond // 1000 * 1000)


def value_at(doc: dict[str, Any], path: str) -> Any:
    """The value a filter or sort key sees; None when missing."""
    if path.startswith("hyperparams."):
        names = param_path(path)
        node: Any = doc.get("hyperparams") or {}
        for name in names:
            if not isinstance(node, dict) or name not in node:
                return None
            node = node[name]
        return node
    if path.startswith("last_metrics."):
        node = doc.get("last_metrics") or {}
        for name in path.split(".")[1:]:
            if not isinstance(node, dict) or name not in node:
                return None
            node = node[name]
        return node
    node = doc
    for name in path.split("."):
        if not isinstance(node, dict) or name not in node:
            return None
        node = node[name]
    if path in DATE_FIELDS:
        return parse_date(node)
    return node


# list fields (§2.4) -------------------------------------------------------------------------------
@dataclass
class ListCondition:
    any_of: set[str] = field(default_factory=set)
    all_of: set[str] = field(default_factory=set)
    none_of: set[str] = field(default_factory=set)
    conjunction: str = "and"
    or_empty: bool = False

    @property
    def buckets(self) -> bool:
        return bool(self.any_of or self.all_of or self.none_of)

    def matches(self, value: Any, *, array: bool) -> bool:
        parts = []
        if array:
            elements = set(value or [])
            if self.any_of:
                parts.append(bool(elements & self.any_of))
            if self.all_of:
                parts.append(self.all_of <= elements)
            if self.none_of:
                parts.append(not elements & self.none_of)
            empty = not elements
        else:
            # a whole hyperparameter object (a dict) equals no string
            if self.any_of:
                parts.append(any(value == v for v in self.any_of))
            if self.all_of:
                parts.append(all(value == v for v in self.all_of))
            if self.none_of:
                parts.append(value is None or all(value != v for v in self.none_of))
            empty = value is None
        result = (all(parts) if self.conjunction == "and" else any(parts)) if parts else None
        if self.or_empty:
            return empty if result is None else (result or empty)
        return True if result is None else result


def parse_list(value: Any) -> ListCondition | None:
    """The token language of §2.4; None when there is no condition."""
    if value is None:
        return None
    tokens = value if isinstance(value, list) else [value]
    cond = ListCondition()
    context_all, legacy, negate, conjunction = False, True, False, None
    for token in tokens:
        if isinstance(token, str) and token.startswith("__$"):
            op = token[3:]
            if op == "nop":
                negate, context_all, legacy = False, False, True
                conjunction = conjunction or "and"
                continue
            if negate:
                raise QueryError(400, 16, "Value is expected after __$not")
            if op in ("any", "or"):
                context_all, legacy = False, False
                conjunction = conjunction or "or"
            elif op in ("all", "and"):
                context_all, legacy = True, False
                conjunction = conjunction or "and"
            elif op == "not":
                negate = True
            else:
                raise QueryError(400, 16, "Unsupported operator")
            continue
        if token is None:
            negate = False
            cond.or_empty = True
            conjunction = conjunction or "and"
            continue
        if not isinstance(token, str):
            raise QueryError(400, 16, "invalid value type, string expected")
        conjunction = conjunction or "and"
        if negate:
            cond.none_of.add(token)
            negate = False
        elif legacy and token.startswith("-"):
            if token == "-":
                raise QueryError(400, 16, "Missing value after the exclude prefix -")
            cond.none_of.add(token[1:])
        elif context_all:
            cond.all_of.add(token)
        else:
            cond.any_of.add(token)
    if negate:
        raise QueryError(400, 16, "Value is expected after __$not")
    cond.conjunction = conjunction or "and"
    if not cond.buckets and not cond.or_empty:
        return None
    return cond


# ranges and datetime constraints (§2.6, §2.7) ------------------------------------------------------
def _bound(value: Any, kind: str) -> Any:
    if value is None:
        return None
    if kind == "date":
        parsed = parse_date(value)
        if parsed is None:
            raise QueryError(400, 12, "unparsable date bound")  # the spec allows 400/12 here
        return parsed
    try:
        return float(value)
    except (TypeError, ValueError):
        raise QueryError(400, 12, "bad numeric bound") from None


def parse_range(value: Any, kind: str) -> tuple[Any, Any]:
    if not isinstance(value, list) or len(value) != 2:
        raise QueryError(400, 12, "Min and max values should be specified")
    if value[0] is None and value[1] is None:
        raise QueryError(400, 12, "At least one of min or max values should be provided")
    return _bound(value[0], kind), _bound(value[1], kind)


def in_range(value: Any, low: Any, high: Any) -> bool:
    if value is None:
        return low is None
    return (low is None or value >= low) and (high is None or value <= high)


def date_constraint(value: Any) -> Any:
    """A (low, high) range, or {op: datetime} AND-ed constraints."""
    items = value if isinstance(value, list) else [value]
    plain = not any(isinstance(i, str) and i.startswith(OPERATORS) for i in items)
    if isinstance(value, list) and len(value) == 2 and plain:
        return parse_range(value, "date")
    if any(i is None for i in items):
        raise QueryError(400, 16, "failed parsing query field")
    constraints: dict[str, datetime] = {}
    for item in items:
        if not isinstance(item, str):
            continue
        op = next((o for o in OPERATORS if item.startswith(o)), "=")
        when = parse_date(item[len(op):] if op != "=" else item)
        if when is not None:
            constraints[op] = when
    return constraints


_COMPARE = {
    ">=": lambda a, b: a >= b, ">": lambda a, b: a > b, "<=": lambda a, b: a <= b,
    "<": lambda a, b: a < b, "=": lambda a, b: a == b,
}  # fmt: skip


def meets(value: Any, constraint: Any) -> bool:
    if isinstance(constraint, tuple):
        return in_range(value, *constraint)
    return all(value is not None and _COMPARE[op](value, when) for op, when in constraint.items())


# natural collation (§4.3) ----------------------------------------------------------------------------
_PUNCTUATION = " _-,;:!?.'\"()[]{}@*/\\&#%`^+<=>|~$"
_TOKENS = re.compile(r"\d+|.", re.S)


def natural_key(text: str) -> tuple[tuple[Any, ...], tuple[int, ...]]:
    """ICU ``en`` with ``numericOrdering``, for the alphabet the generator uses: at the primary
    level whitespace < punctuation < digit runs (by value) < letters (case-blind); then case,
    lowercase first. Leading zeros are not generated (ICU ignores them)."""
    primary: list[tuple[int, Any]] = []
    tertiary: list[int] = []
    for token in _TOKENS.findall(text):
        if token.isdigit():
            primary.append((1, int(token)))
        elif token.isalpha():
            primary.append((2, token.lower()))
            tertiary.append(0 if token.islower() else 1)
        else:
            rank = _PUNCTUATION.find(token)
            primary.append((0, rank if rank >= 0 else len(_PUNCTUATION) + ord(token)))
    return tuple(primary), tuple(tertiary)


# ordering (§4) ----------------------------------------------------------------------------------------
def order_keys(value: Any) -> list[tuple[str, bool]]:
    """(path, descending) pairs with the ``id`` tie-break appended (§4.1)."""
    items = value if isinstance(value, list) else ([value] if value is not None else [])
    keys = [(rewrite(item.lstrip("-")), item.startswith("-")) for item in items]
    if keys and not any(path == "id" for path, _ in keys):
        keys.append(("id", False))
    return keys


def _type_rank(value: Any, natural: bool) -> tuple[Any, ...]:
    """Database order across types: null < numbers < strings < … < dates (§4.2)."""
    if value is None:
        return (0,)
    if isinstance(value, bool):
        return (6, value)
    if isinstance(value, (int, float)):
        return (1, value)
    if isinstance(value, str):
        return (2, natural_key(value) if natural else value)
    if isinstance(value, datetime):
        return (7, value)
    raise TypeError(f"the reference does not order by {type(value).__name__} values")


def is_empty(path: str, value: Any) -> bool:
    if value is None:
        return True
    if path in STRING_FIELDS and value == "":
        return True
    return path in ARRAY_FIELDS and value == []


def sort_docs(docs: list[dict[str, Any]], keys: list[tuple[str, bool]], natural: bool) -> list[dict[str, Any]]:
    def compare(a: dict[str, Any], b: dict[str, Any]) -> int:
        for position, (path, descending) in enumerate(keys):
            va, vb = value_at(a, path), value_at(b, path)
            if position == 0 and not descending:
                ea, eb = is_empty(path, va), is_empty(path, vb)
                if ea != eb:
                    return 1 if ea else -1
            ka, kb = _type_rank(va, natural), _type_rank(vb, natural)
            if ka != kb:
                result = -1 if ka < kb else 1
                return -result if descending else result
        return 0

    return sorted(docs, key=functools.cmp_to_key(compare))


# the whole query ---------------------------------------------------------------------------------
def paging(request: dict[str, Any]) -> tuple[int, int]:
    if "page_size" in request and request["page_size"] is None:
        raise QueryError(400, 11, "page_size is required when page is requested")
    page = request.get("page") or 0
    size = request.get("page_size", MAX_PAGE_SIZE)
    if page < 0:
        raise QueryError(400, 12, "page must be >=0")
    if size < 1:
        raise QueryError(400, 12, "page_size must be >0")
    size = min(size, MAX_PAGE_SIZE)
    return page * size, size


def uses_natural_order(request: dict[str, Any], keys: list[tuple[str, bool]]) -> bool:
    top_level = any(rewrite(k.lstrip("-")).startswith(NATURAL_PREFIXES) for k in request)
    return top_level or bool(keys and keys[0][0].startswith(NATURAL_PREFIXES))


def evaluate(
    docs: list[dict[str, Any]], request: dict[str, Any], *, subprojects: dict[str, set[str]] | None = None
) -> Outcome:
    """The ids ``tasks.get_all`` answers for ``request`` over ``docs`` (one company, no public
    tasks); raises ``QueryError`` with the expected error. ``subprojects`` maps a project id to
    its descendants (for ``include_subprojects``)."""
    predicates = []
    for name in LIST_FIELDS:
        cond = parse_list(request.get(name))
        if cond is None:
            continue
        if name == "project" and request.get("include_subprojects") and subprojects is not None:
            expanded = set(cond.any_of)
            for project in cond.any_of:
                expanded |= subprojects.get(project, set())
            cond.any_of = expanded
        predicates.append(lambda d, n=name, c=cond: c.matches(value_at(d, n), array=n in ARRAY_FIELDS))
    for name in PATTERN_FIELDS:
        pattern = request.get(name)
        if not pattern:
            continue
        try:
            regex = re.compile(pattern)
        except re.error:
            raise QueryError(400, 21, "invalid regex") from None
        predicates.append(lambda d, n=name, r=regex: isinstance(d.get(n), str) and r.search(d[n]) is not None)
    for raw_key, value in request.items():
        if value is None:
            continue
        key = rewrite(raw_key)
        if key in DATE_RANGE_FIELDS or key in NUMBER_RANGE_FIELDS or key.startswith("last_metrics."):
            low, high = parse_range(value, "date" if key in DATE_RANGE_FIELDS else "number")
            predicates.append(lambda d, k=key, lo=low, hi=high: in_range(value_at(d, k), lo, hi))
        elif key in DATE_CONSTRAINT_FIELDS:
            constraint = date_constraint(value)
            predicates.append(lambda d, k=key, c=constraint: meets(value_at(d, k), c))
        elif key.startswith("hyperparams."):
            param_path(key)  # validates the path (400/12)
            cond = parse_list(value)
            if cond is not None:
                # ``.value`` compares strings; a shorter path compares a whole object, which never
                # equals a string (so only exclusions and [null] can match)
                predicates.append(lambda d, k=key, c=cond: c.matches(value_at(d, k), array=False))
    if not (request.get("search_hidden") or request.get("id")):
        predicates.append(lambda d: "hidden" not in (d.get("system_tags") or []))

    keys = order_keys(request.get("order_by"))
    natural = uses_natural_order(request, keys)
    offset, limit = paging(request)
    matching = [d for d in docs if all(p(d) for p in predicates)]
    if keys:
        ordered = sort_docs(matching, keys, natural)
    else:
        ordered = sorted(matching, key=lambda d: (value_at(d, "created"), d["id"]))
    return Outcome([d["id"] for d in ordered[offset : offset + limit]], natural)

