"""Request decoding: the ``/[vX.Y/]service.action`` path, JSON / json-lines / form bodies and
query-string parameters (spec tasks-model §1.1–1.2, clients §1)."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import parse_qsl

import orjson

from skiff import API_VERSION
from skiff.domain.errors import error, raw_error
from skiff.domain.versions import InvalidVersion, Version

MAX_VERSION = Version.parse(API_VERSION)

_PATH = re.compile(
    r"^/?(?:v(?P<version>\d+\.?\d+)/)?(?P<service>[A-Za-z_]\w+)\.(?P<action>[A-Za-z_]\w+)/?$",
    re.ASCII,
)


def parse_path(path: str) -> tuple[str, str | None]:
    """The endpoint name and the version text (None when the path has no version)."""
    match = _PATH.match(path)
    if match is None:
        raise raw_error("bad_request", f"Invalid request path {path}")
    return f"{match['service']}.{match['action']}", match["version"]


def parse_version(text: str | None) -> Version:
    if text is None:
        return MAX_VERSION
    try:
        return Version.parse(text)
    except InvalidVersion as exc:
        raise error("request_path_has_invalid_version", version=text, reason=str(exc)) from None


_TRUE = {"true", "True", "TRUE"}
_FALSE = {"false", "False", "FALSE"}
_NUMBER = re.compile(r"^-?\d+(\.\d+)?([eE][-+]?\d+)?$")


def _convert(value: str) -> Any:
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    if _NUMBER.match(value):
        try:
            return int(value)
        except ValueError:
            return float(value)
    return value


def _put(target: dict[str, Any], dotted: str, value: Any, as_list: bool) -> None:
    *parents, last = dotted.split(".")
    node = target
    for part in parents:
        child = node.get(part)
        if not isinstance(child, dict):
            child = node[part] = {}
        node = child
    if as_list:
        existing = node.get(last)
        if isinstance(existing, list):
            existing.append(value)
        else:
            node[last] = [value] if existing is None else [existing, value]
    elif last in node:
        existing = node[last]
        node[last] = existing + [value] if isinstance(existing, list) else [existing, value]
    else:
        node[last] = value


def parse_params(query: str) -> dict[str, Any]:
    """Query-string (or form) parameters: dotted keys nest, ``k[]`` and repeated keys make lists,
    numbers and true/false are converted."""
    result: dict[str, Any] = {}
    for key, value in parse_qsl(query, keep_blank_values=True):
        as_list = key.endswith("[]")
        if as_list:
            key = key[:-2]
        if key:
            _put(result, key, _convert(value), as_list)
    return result


def _loads(raw: bytes) -> Any:
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise raw_error("bad_request", f"Failed to decode JSON object: {exc}") from None


def parse_body(raw: bytes, content_type: str) -> dict[str, Any] | list[dict[str, Any]]:
    """The request data: a dict, or a list of dicts for a json-lines batch."""
    ctype = content_type.split(";", 1)[0].strip().lower()
    if ctype == "application/x-www-form-urlencoded":
        try:
            return parse_params(raw.decode("utf-8"))
        except UnicodeDecodeError:
            raise raw_error("bad_request", "Form body is not valid UTF-8") from None
    if ctype in ("application/json-lines", "application/jsonlines", "application/x-ndjson"):
        try:  # one parser call for the whole batch; line by line only for blank or bad lines
            items = orjson.loads(b"[" + raw.strip().replace(b"\r\n", b"\n").replace(b"\n", b",") + b"]")
        except orjson.JSONDecodeError:
            items = [_loads(line) for line in raw.splitlines() if line.strip()]
        for number, item in enumerate(items, 1):
            if not isinstance(item, dict):
                raise raw_error("bad_request", f"Line {number} of the batch is not a JSON object")
        return items
    if not raw.strip():
        return {}
    data = _loads(raw)
    if isinstance(data, list) and all(isinstance(item, dict) for item in data):
        return data
    if not isinstance(data, dict):
        raise raw_error("bad_request", "Data should be a dict")
    return data


#: The deepest nesting of objects and arrays a request may carry. ClearML documents need a handful
#: of levels; much deeper data (still under the JSON parser's own limit of 1024) would exhaust
#: Python's recursion limit in validation, storage or serialisation, on this call or on a later read.
MAX_DEPTH = 64


def too_deep(value: Any, limit: int = MAX_DEPTH) -> bool:
    """Does ``value`` nest objects/arrays more than ``limit`` levels? Iterative on purpose."""
    stack = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > limit:
            return True
        for child in node.values() if isinstance(node, dict) else node:
            if isinstance(child, (dict, list)):
                stack.append((child, depth + 1))
    return False


def contains_nul(value: Any) -> bool:
    """Does any string (key or value) inside ``value`` hold a NUL character? PostgreSQL can store
    none in text or JSONB, so skiff refuses them everywhere alike."""
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(contains_nul(k) or contains_nul(v) for k, v in value.items())
    if isinstance(value, list):
        return any(contains_nul(v) for v in value)
    return False


def may_contain_nul(raw: bytes, query: str) -> bool:
    """Cheap pre-check on the raw request before walking the parsed data."""
    return b"\\u0000" in raw or b"\x00" in raw or "%00" in query
