"""Project name and path rules, tag filters and get_all query parsing (skiff.domain.projects)."""

from __future__ import annotations

from datetime import datetime

import pytest

from skiff.domain import projects as rules
from skiff.domain.errors import ApiError


def refused(call, *args, **kwargs) -> ApiError:  # type: ignore[no-untyped-def]
    with pytest.raises(ApiError) as caught:
        call(*args, **kwargs)
    return caught.value


# names ------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "raw, full",
    [
        ("plain", "plain"),
        ("  padded  ", "padded"),
        ("a/b/c", "a/b/c"),
        ("/a//b/", "a/b"),
        ("a/ /b", "a/b"),  # a blank part is dropped like an empty one
        ("a / b", "a / b"),  # inner spaces are kept, so the SDK's exact lookup finds the project
        (" a/b ", "a/b"),
        ("x", "x"),  # shorter than the reference's 3 characters: accepted (deliberate)
    ],
)
def test_names_are_normalised(raw: str, full: str) -> None:
    assert rules.parse_name(raw).full == full


@pytest.mark.parametrize("raw", ["", "   ", "/", "///", " / / "])
def test_empty_names_are_refused_400_407(raw: str) -> None:
    err = refused(rules.parse_name, raw)
    assert (err.code, err.subcode) == (400, 407)
    assert err.message == f"Invalid project name: name={raw}"


def test_depth_is_limited_400_409() -> None:
    assert rules.parse_name("/".join("p" * 10)).depth == rules.MAX_DEPTH == 10
    err = refused(rules.parse_name, "/".join("p" * 11))
    assert (err.code, err.subcode) == (400, 409)
    assert err.message == "Project path exceed the maximum allowed depth: max_depth=10"


def test_overlong_names_are_refused() -> None:
    assert rules.parse_name("n" * rules.MAX_NAME_LENGTH).full == "n" * 512
    err = refused(rules.parse_name, "n" * (rules.MAX_NAME_LENGTH + 1))
    assert (err.code, err.subcode) == (400, 407)


def test_parts_of_a_name() -> None:
    name = rules.parse_name("a/b/c")
    assert name.basename == "c"
    assert name.location == "a/b"
    assert name.depth == 3
    assert name.ancestors() == ["a", "a/b"]
    top = rules.parse_name("top")
    assert (top.location, top.ancestors()) == ("", [])
    assert name.under("x/y").full == "x/y/c"
    assert name.under("").full == "c"
    assert name.under("/x//").full == "x/c"


def test_descendant_renaming() -> None:
    assert rules.renamed("a/b/c", "a/b", "a/z") == "a/z/c"
    assert rules.renamed("a/b/c/d", "a", "q/r") == "q/r/b/c/d"
    with pytest.raises(AssertionError):
        rules.renamed("ab/c", "a", "x")  # "ab" is not below "a"


def test_move_depth() -> None:
    # a project at depth 2 with descendants down to depth 4 moves below a location of depth 7:
    # the deepest lands at 4 - 2 + 1 + 7 = 10
    rules.check_move_depth([2, 3, 4], 2, "1/2/3/4/5/6/7")
    err = refused(rules.check_move_depth, [2, 3, 4], 2, "1/2/3/4/5/6/7/8")
    assert (err.code, err.subcode) == (400, 409)
    rules.check_move_depth([5], 5, None)  # to the top level


def test_move_refusals_use_catalogue_entries() -> None:
    same = rules.same_location_error("x")
    assert (same.code, same.subcode) == (400, 408)
    under = rules.moved_under_itself_error("p", "q")
    assert (under.code, under.subcode) == (400, 408)


# tags -------------------------------------------------------------------------------------------
def test_tags_are_stored_sorted_and_unique() -> None:
    assert rules.normalize_tags(["b", "a", "b"], "tags") == ["a", "b"]
    assert rules.normalize_tags(None, "tags") == []
    err = refused(rules.normalize_tags, ["ok", "__$not"], "system_tags")
    assert (err.code, err.subcode) == (400, 16)
    err = refused(rules.normalize_tags, ["t" * 256], "tags")
    assert (err.code, err.subcode) == (400, 16)


@pytest.mark.parametrize(
    "values, expected",
    [
        (["a", "b"], rules.TagFilter(frozenset({"a", "b"}))),
        (["a", "-b"], rules.TagFilter(frozenset({"a"}), frozenset({"b"}))),
        (["-archived"], rules.TagFilter(exclude=frozenset({"archived"}))),
        (["__$not", "x", "__$not", "y"], rules.TagFilter(exclude=frozenset({"x", "y"}))),
        ("single", rules.TagFilter(frozenset({"single"}))),
        ([None], rules.TagFilter(empty=True)),
        (["a", None], rules.TagFilter(frozenset({"a"}), empty=True)),
        ([], None),
        (None, None),
    ],
)
def test_tag_filters(values, expected) -> None:  # type: ignore[no-untyped-def]
    assert rules.parse_tag_filter(values, "tags") == expected


@pytest.mark.parametrize("values", [["__$all", "a"], ["__$any", "a"], ["__$nop"], ["-"], ["a", "__$not"]])
def test_unsupported_tag_filters_400_16(values) -> None:  # type: ignore[no-untyped-def]
    err = refused(rules.parse_tag_filter, values, "tags")
    assert (err.code, err.subcode) == (400, 16)


# get_all ----------------------------------------------------------------------------------------
def test_patterns_are_checked_with_python_re() -> None:
    assert rules.check_pattern(r"^proj\-x$", "name") == r"^proj\-x$"
    assert rules.check_pattern("", "name") is None
    assert rules.check_pattern(None, "name") is None
    err = refused(rules.check_pattern, "(unclosed", "name")
    assert (err.code, err.subcode) == (400, 21)
    assert err.message.startswith("Malformed regular expression")


def test_order_by() -> None:
    assert rules.parse_order(None) == ()
    assert rules.parse_order(["-last_update"]) == (("last_update", True), ("id", False))
    assert rules.parse_order("name") == (("name", False), ("id", False))
    assert rules.parse_order(["-id", "name"]) == (("id", True), ("name", False))
    # fields skiff does not store are no order at all
    assert rules.parse_order(["featured", "@text_score", "-name"]) == (("name", True), ("id", False))
    assert rules.parse_order(["name", "-name"]) == (("name", False), ("id", False))


@pytest.mark.parametrize(
    "page, size, expected",
    [(None, None, (0, 500)), (0, 10, (0, 10)), (2, 10, (20, 10)), (1, None, (500, 500)), (0, 10_000, (0, 500))],
)
def test_paging(page, size, expected) -> None:  # type: ignore[no-untyped-def]
    assert rules.parse_paging(page, size) == expected


def test_paging_refusals_400_12() -> None:
    err = refused(rules.parse_paging, -1, None)
    assert (err.code, err.subcode) == (400, 12)
    assert "page must be >=0" in err.message
    err = refused(rules.parse_paging, 0, 0)
    assert (err.code, err.subcode) == (400, 12)
    assert "page_size must be >0" in err.message


def test_projection() -> None:
    assert rules.parse_projection(None).fields() == rules.FIELDS
    assert rules.parse_projection(["name", "id", "nonsense"]).fields() == ("id", "name")
    assert rules.parse_projection(["-description", "-path"]).fields() == tuple(
        f for f in rules.FIELDS if f not in ("description", "path")
    )
    assert rules.parse_projection(["name", "-name"]).fields() == ()
    assert rules.parse_projection("tags.whatever").fields() == ("tags",)


def test_hidden_projects_are_included_when_asked_or_named() -> None:
    assert not rules.build_query().include_hidden
    assert rules.build_query(search_hidden=True).include_hidden
    assert rules.build_query(ids=["p1"]).include_hidden
    assert not rules.build_query(ids=[]).include_hidden


def test_document_omits_unset_scalars() -> None:
    when = datetime(2024, 1, 2, 3, 4, 5)
    row = {
        "id": "p", "name": "a/b", "basename": "b", "description": None, "user": "u", "company": "c",
        "created": when, "default_output_destination": None, "last_update": when, "parent": None, "path": [],
    }  # fmt: skip
    doc = rules.project_document(row, {"tags": ["z", "a"], "system_tags": []})
    assert doc == {
        "id": "p", "name": "a/b", "basename": "b", "user": "u", "company": "c", "created": when,
        "tags": ["a", "z"], "system_tags": [], "last_update": when, "path": [],
    }  # fmt: skip
    assert "tags" not in rules.project_document(row)  # tags not loaded: not rendered
    projected = rules.project_fields(doc, rules.parse_projection(["id", "description"]))
    assert projected == {"id": "p"}
