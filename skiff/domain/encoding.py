"""JSON encoding shared by responses and stored documents (orjson)."""

from __future__ import annotations

import orjson

_PLAIN = orjson.OPT_NAIVE_UTC
#: orjson's option for dict keys that are not strings (written as strings) makes every dict slower
#: to encode: ~1.8x for a page of 50 task documents. Only the rare value that needs it pays.
_NON_STR_KEYS = _PLAIN | orjson.OPT_NON_STR_KEYS


def dumps(value: object) -> bytes:
    """``value`` as JSON; naive datetimes as UTC ISO strings, non-string dict keys as strings."""
    try:
        return orjson.dumps(value, option=_PLAIN)
    except TypeError:
        return orjson.dumps(value, option=_NON_STR_KEYS)
