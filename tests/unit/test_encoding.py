"""JSON encoding of responses and stored documents (skiff.domain.encoding)."""

from __future__ import annotations

import datetime as dt

import orjson
import pytest

from skiff.domain.encoding import dumps


def test_string_keys_and_naive_datetimes() -> None:
    value = {"id": "t1", "created": dt.datetime(2026, 11, 27, 12, 30, 5), "tags": ["a"], "n": 1.5}
    assert dumps(value) == b'{"id":"t1","created":"2026-11-27T12:30:05+00:00","tags":["a"],"n":1.5}'


@pytest.mark.parametrize(("key", "written"), [(3, "3"), (2.5, "2.5"), (None, "null"), (True, "true")])
def test_non_string_keys_are_written_as_strings(key: object, written: str) -> None:
    assert orjson.loads(dumps({"data": {key: "v"}, "other": {"k": 1}})) == {"data": {written: "v"}, "other": {"k": 1}}


def test_values_json_cannot_hold_still_fail() -> None:
    with pytest.raises(TypeError):
        dumps({"a": {1, 2}})
    with pytest.raises(TypeError):
        dumps({1: object()})
