"""Pure parsing: versions, query strings, error messages."""

from __future__ import annotations

import pytest

from skiff.api.transport import parse_params, parse_path
from skiff.domain.errors import CATALOGUE, ApiError, error, format_message
from skiff.domain.versions import InvalidVersion, Version


def test_versions_compare_component_wise() -> None:
    assert Version.parse("2.9") < Version.parse("2.13") < Version.parse("2.31") < Version.parse("999.0")
    assert Version.parse("2.13") == Version.parse("2.13.0")
    assert Version.parse("1.5").wire() == 1.5
    assert Version.parse("2.1").wire() == "2.1"
    assert Version.parse("21").wire() == "21"


@pytest.mark.parametrize("text", ["01.5", "2.x", "", "1.2.3.4", "2.05"])
def test_invalid_versions(text: str) -> None:
    with pytest.raises(InvalidVersion):
        Version.parse(text)


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("/tasks.get_all", ("tasks.get_all", None)),
        ("tasks.get_all", ("tasks.get_all", None)),
        ("/v2.13/tasks.get_all/", ("tasks.get_all", "2.13")),
        ("/v21/auth.login", ("auth.login", "21")),
    ],
)
def test_paths(path: str, expected: tuple[str, str | None]) -> None:
    assert parse_path(path) == expected


@pytest.mark.parametrize("path", ["/v2/tasks.get_all", "/tasks", "/t.get_all", "/a/b.c", "/tasks.get-all"])
def test_malformed_paths(path: str) -> None:
    with pytest.raises(ApiError) as exc:
        parse_path(path)
    assert (exc.value.code, exc.value.subcode) == (400, 0)


def test_query_params_conversion() -> None:
    assert parse_params("a.b.c=1&flag=true&off=FALSE&name=x&ids[]=a&ids[]=b&r=1&r=2&f=1.5&s=01a") == {
        "a": {"b": {"c": 1}},
        "flag": True,
        "off": False,
        "name": "x",
        "ids": ["a", "b"],
        "r": [1, 2],
        "f": 1.5,
        "s": "01a",
    }


def test_message_format() -> None:
    assert format_message("invalid task id", id="abc", company="c1") == "Invalid task id: id=abc, company=c1"
    assert (
        format_message("invalid task status", "Invalid status change", current_status="created", new_status="completed")
        == "Invalid task status (Invalid status change): current_status=created, new_status=completed"
    )
    assert format_message("invalid task id", ids=["a", "b"]) == "Invalid task id: ids=(a, b)"


@pytest.mark.parametrize("name", sorted(CATALOGUE))
def test_every_catalogue_entry_renders(name: str) -> None:
    kind = CATALOGUE[name]
    err = error(name, "extra", key="value")
    assert (err.code, err.subcode) == (kind.code, kind.subcode)
    assert err.message.endswith(" (extra): key=value")
    assert err.message[0] == kind.message[0].upper()
    assert err.data == {"key": "value"}
    assert 400 <= kind.code <= 500  # never another 5xx: clients retry those forever


def test_catalogue_codes_are_unique() -> None:
    pairs = [(k.code, k.subcode) for k in CATALOGUE.values()]
    assert len(pairs) == len(set(pairs))


def test_error_kwargs_may_be_called_name_or_extra() -> None:
    err = error("user_id_exists", name="bob", extra="x")
    assert err.message == "User id already exists: name=bob, extra=x"
