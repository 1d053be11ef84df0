"""projects.* over HTTP: success paths, every refusal with its exact code, nested names, the SDK's
lookup-or-create, paging, and isolation between companies."""

from __future__ import annotations

import re
import threading
from datetime import datetime

import pytest

from skiff.domain import clock, ids
from skiff.domain.identity import Identity
from skiff.ops import accounts
from skiff.ops import projects as project_ops
from skiff.storage.repos import projects as repo
from tests.support import Api

ISO = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{6})?\+00:00")
HEX_ID = re.compile(r"[0-9a-f]{32}")
DOC_FIELDS = {
    "id", "name", "basename", "description", "user", "company", "created", "tags", "system_tags",
    "last_update", "path",
}  # fmt: skip


def create(api: Api, name: str, **fields) -> str:  # type: ignore[no-untyped-def]
    return api("projects.create", {"name": name, **fields})["id"]


def get(api: Api, project: str) -> dict:
    return api("projects.get_by_id", {"project": project})["project"]


def names(api: Api, **query) -> list[str]:  # type: ignore[no-untyped-def]
    return [p["name"] for p in api("projects.get_all", {"only_fields": ["name"], **query})["projects"]]


def by_name(api: Api, name: str) -> dict:
    found = api("projects.get_all", {"name": f"^{re.escape(name)}$", "search_hidden": True})["projects"]
    assert len(found) == 1, found
    return found[0]


def when(text: str) -> datetime:
    return datetime.fromisoformat(text)


@pytest.fixture
def other_api(client, db) -> Api:  # type: ignore[no-untyped-def]
    """The admin of a second, unrelated company."""
    company = accounts.create_company(db, "other company")
    admin = accounts.add_user(db, company, "other admin", role="admin")
    return Api(client, key=admin.access_key, secret=admin.secret_key)


# create -----------------------------------------------------------------------------------------
def test_create_and_read_back(api: Api) -> None:
    me = api("users.get_current_user", {})["user"]
    project = create(
        api, "first project", description="about it", tags=["b", "a", "b"], system_tags=["s"],
        default_output_destination="s3://bucket/out",
    )  # fmt: skip
    assert HEX_ID.fullmatch(project)
    doc = get(api, project)
    assert set(doc) == DOC_FIELDS | {"default_output_destination"}
    assert doc["id"] == project
    assert doc["name"] == doc["basename"] == "first project"
    assert doc["description"] == "about it"
    assert doc["user"] == me["id"]
    assert doc["company"] == me["company"]["id"]
    assert doc["tags"] == ["a", "b"]
    assert doc["system_tags"] == ["s"]
    assert doc["default_output_destination"] == "s3://bucket/out"
    assert doc["path"] == []
    assert "parent" not in doc  # unset scalars are omitted, as the reference does
    assert ISO.fullmatch(doc["created"]) and doc["last_update"] == doc["created"]


def test_create_as_the_sdk_sends_it(api: Api) -> None:
    """Task.init: /v2.23/projects.create {name, description: "", system_tags: null} → id."""
    reply = api.call(
        "projects.create", {"name": "sdk project", "description": "", "system_tags": None, "method": "get"}, version="2.23"
    )
    assert reply.status == 200 and reply.meta["endpoint"]["actual_version"] == 1.0
    doc = get(api, reply.data["id"])
    assert doc["description"] == "" and doc["system_tags"] == [] and "default_output_destination" not in doc


def test_nested_names_create_missing_ancestors(api: Api) -> None:
    leaf = create(api, "root/mid/leaf")
    root, mid = by_name(api, "root"), by_name(api, "root/mid")
    doc = get(api, leaf)
    assert (doc["name"], doc["basename"]) == ("root/mid/leaf", "leaf")
    assert doc["parent"] == mid["id"] and doc["path"] == [root["id"], mid["id"]]
    assert (mid["basename"], mid["parent"], mid["path"]) == ("mid", root["id"], [root["id"]])
    assert root["path"] == [] and "parent" not in root
    assert mid["description"] == root["description"] == ""

    # a sibling reuses the existing ancestors
    sibling = create(api, "root/mid/other")
    assert get(api, sibling)["parent"] == mid["id"]
    assert sorted(names(api, name="^root")) == ["root", "root/mid", "root/mid/leaf", "root/mid/other"]


def test_names_are_stripped_and_slashes_collapsed(api: Api) -> None:
    assert get(api, create(api, "  padded name  "))["name"] == "padded name"
    doc = get(api, create(api, "/outer//inner/"))
    assert (doc["name"], doc["basename"]) == ("outer/inner", "inner")


@pytest.mark.parametrize("name", ["", "   ", "/", "///"])
def test_create_refuses_empty_names_400_407(api: Api, name: str) -> None:
    reply = api.call("projects.create", {"name": name})
    assert reply.code == (400, 407)
    assert reply.msg == f"Invalid project name: name={name}"
    assert reply.data == {}


def test_create_requires_a_string_name_400_12(api: Api) -> None:
    reply = api.call("projects.create", {"description": "no name"})
    assert reply.code == (400, 12)
    assert reply.msg == "Validation error (error for field 'name'. field is required!)"
    assert api.call("projects.create", {"name": 17}).code == (400, 12)


def test_duplicate_names_are_refused_400_801(api: Api) -> None:
    me = api("users.get_current_user", {})["user"]
    first = create(api, "dup")
    reply = api.call("projects.create", {"name": "dup"})
    assert reply.code == (400, 801)
    assert reply.msg == f"Value combination already exists: company={me['company']['id']}, name=dup"
    # the same name after normalisation, and an ancestor that was created implicitly
    assert api.call("projects.create", {"name": " dup/ "}).code == (400, 801)
    create(api, "implicit/child")
    assert api.call("projects.create", {"name": "implicit"}).code == (400, 801)
    assert [p["id"] for p in api("projects.get_all", {"name": "^dup$"})["projects"]] == [first]


def test_names_are_case_sensitive(api: Api) -> None:
    create(api, "Case")
    create(api, "case")
    assert sorted(names(api, name="^[Cc]ase$")) == ["Case", "case"]


def test_create_refuses_paths_deeper_than_10_400_409(api: Api) -> None:
    create(api, "/".join(f"d{i}" for i in range(10)))
    reply = api.call("projects.create", {"name": "/".join(f"e{i}" for i in range(11))})
    assert reply.code == (400, 409)
    assert reply.msg == "Project path exceed the maximum allowed depth: max_depth=10"
    assert names(api, name="^e0") == []


def test_create_refuses_reserved_tag_prefix_400_16(api: Api) -> None:
    reply = api.call("projects.create", {"name": "tagged", "tags": ["__$not"]})
    assert reply.code == (400, 16)
    assert names(api, name="^tagged$") == []


def test_racing_creators_get_one_project(db, api: Api) -> None:  # type: ignore[no-untyped-def]
    """Many threads create the same name, and siblings below one new parent, at once."""
    me = api("users.get_current_user", {})["user"]
    caller = Identity(me["company"]["id"], "c", me["id"], me["name"], "admin", "key")
    start = threading.Barrier(8)
    outcomes: list[str] = []

    def attempt(name: str) -> None:
        start.wait()
        try:
            project_ops.create_project(db, caller, name=name)
            outcomes.append("created")
        except Exception as exc:  # noqa: BLE001 - recorded and checked below
            outcomes.append(f"{getattr(exc, 'code', '?')}/{getattr(exc, 'subcode', '?')}")

    threads = [threading.Thread(target=attempt, args=("race",)) for _ in range(4)]
    threads += [threading.Thread(target=attempt, args=(f"fresh parent/kid {i}",)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes) == ["400/801"] * 3 + ["created"] * 5
    assert names(api, name="^race$") == ["race"]
    assert len(names(api, name="^fresh parent")) == 5


def test_the_unique_constraint_itself_refuses_duplicates(db, api: Api) -> None:  # type: ignore[no-untyped-def]
    """Bypassing the use case's lookup, the database still refuses a second row with the name."""
    company = api("users.get_current_user", {})["user"]["company"]["id"]
    row = dict(company=company, user="u", name="constrained", basename="constrained", path=[], created=clock.now())
    with pytest.raises(repo.NameTaken):
        with db.write() as conn:
            repo.insert_project(conn, id=ids.new_id(), **row)
            repo.insert_project(conn, id=ids.new_id(), **row)
    assert names(api, name="^constrained$") == []


# get_by_id --------------------------------------------------------------------------------------
def test_get_by_id_refuses_unknown_ids_400_401(api: Api) -> None:
    reply = api.call("projects.get_by_id", {"project": "nope"})
    assert reply.code == (400, 401)
    assert reply.msg == "Invalid project id: id=nope"
    assert reply.data == {}
    assert api.call("projects.get_by_id", {}).code == (400, 12)


# get_all ----------------------------------------------------------------------------------------
def test_get_all_finds_a_project_the_way_the_sdk_looks_it_up(api: Api) -> None:
    """Task.init: name "^<re.escape(name)>$", only_fields [id], search_hidden, shallow_search false."""
    wanted = create(api, "proj-x")
    create(api, "proj-xy")
    create(api, "proj-x/child")
    for name in ("proj-x", "weird (1).v2+[x]", "tab\tand space"):
        project = wanted if name == "proj-x" else create(api, name)
        reply = api.call(
            "projects.get_all",
            {"name": f"^{re.escape(name)}$", "only_fields": ["id"], "search_hidden": True, "shallow_search": False},
            version="2.23",
        )
        assert reply.data == {"projects": [{"id": project}]}
    assert api("projects.get_all", {"name": r"^proj\-x$"})["projects"][0]["id"] == wanted
    assert api("projects.get_all", {"name": "^nothing-like-it$"}) == {"projects": []}


def test_get_all_name_is_an_unanchored_case_sensitive_search(api: Api) -> None:
    for name in ("alpha proj", "proj beta", "other", "PROJ upper"):
        create(api, name)
    assert sorted(names(api, name="proj")) == ["alpha proj", "proj beta"]
    assert names(api, name="^proj") == ["proj beta"]
    assert names(api, name="proj$") == ["alpha proj"]
    assert sorted(names(api, name="")) == sorted(names(api))  # empty pattern: no condition


def test_get_all_refuses_malformed_patterns_400_21(api: Api) -> None:
    reply = api.call("projects.get_all", {"name": "(unclosed"})
    assert reply.code == (400, 21)
    assert reply.msg.startswith("Malformed regular expression")
    assert api.call("projects.get_all", {"description": "[z-a]"}).code == (400, 21)


def test_get_all_description_pattern_and_basename(api: Api) -> None:
    create(api, "described/one", description="the needle here")
    create(api, "described/two", description="nothing")
    create(api, "elsewhere/one")
    assert names(api, description="needle") == ["described/one"]
    assert sorted(names(api, basename="one")) == ["described/one", "elsewhere/one"]


def test_get_all_by_ids(api: Api) -> None:
    a, b = create(api, "ids a"), create(api, "ids b")
    create(api, "ids c")
    found = api("projects.get_all", {"id": [a, b], "only_fields": ["id"]})["projects"]
    assert sorted(p["id"] for p in found) == sorted([a, b])
    assert api("projects.get_all", {"id": a, "only_fields": ["id"]})["projects"] == [{"id": a}]


def test_get_all_projection(api: Api) -> None:
    project = create(api, "projected", description="d", tags=["t"])
    only = api("projects.get_all", {"id": [project], "only_fields": ["name", "tags"]})["projects"]
    assert only == [{"name": "projected", "tags": ["t"]}]  # no id unless asked for
    without = api("projects.get_all", {"id": [project], "only_fields": ["-description", "-tags"]})["projects"][0]
    assert "description" not in without and "tags" not in without and without["name"] == "projected"
    full = api("projects.get_all", {"id": [project]})["projects"][0]
    assert full == get(api, project)


def test_get_all_tag_filters(api: Api) -> None:
    create(api, "tags red", tags=["red"])
    create(api, "tags red blue", tags=["red", "blue"])
    create(api, "tags green", tags=["green"], system_tags=["archived"])
    create(api, "tags none")
    scope = {"name": "^tags "}
    assert sorted(names(api, tags=["red"], **scope)) == ["tags red", "tags red blue"]
    assert sorted(names(api, tags=["blue", "green"], **scope)) == ["tags green", "tags red blue"]
    assert sorted(names(api, tags=["red", "-blue"], **scope)) == ["tags red"]
    assert sorted(names(api, tags=["-red"], **scope)) == ["tags green", "tags none"]
    assert sorted(names(api, tags=[None], **scope)) == ["tags none"]
    assert sorted(names(api, system_tags=["-archived"], **scope)) == ["tags none", "tags red", "tags red blue"]
    assert names(api, system_tags=["__$not", "archived", "archived"], **scope) == []
    assert api.call("projects.get_all", {"tags": ["__$all", "red"]}).code == (400, 16)


def test_hidden_projects_need_search_hidden_or_ids(api: Api) -> None:
    hidden = create(api, "hidden one", system_tags=["hidden"])
    create(api, "visible one")
    assert names(api, name=" one$") == ["visible one"]
    assert sorted(names(api, name=" one$", search_hidden=True)) == ["hidden one", "visible one"]
    assert [p["id"] for p in api("projects.get_all", {"id": [hidden]})["projects"]] == [hidden]
    assert get(api, hidden)["system_tags"] == ["hidden"]


def test_get_all_order_by(api: Api) -> None:
    for name, description in (("ord b", "2"), ("ord a", ""), ("ord c", "1")):
        create(api, name, description=description)
    scope = {"name": "^ord "}
    assert names(api, order_by=["name"], **scope) == ["ord a", "ord b", "ord c"]
    assert names(api, order_by=["-name"], **scope) == ["ord c", "ord b", "ord a"]
    assert names(api, order_by="-name", **scope) == ["ord c", "ord b", "ord a"]
    # ascending on the first key puts empty values last (spec tasks-queries §4.2)
    assert names(api, order_by=["description"], **scope) == ["ord c", "ord b", "ord a"]
    assert names(api, order_by=["-description"], **scope) == ["ord b", "ord c", "ord a"]
    # no order_by: creation time (then id); unknown fields are no order at all
    unordered = api("projects.get_all", {**scope, "only_fields": ["created", "id"]})["projects"]
    assert unordered == sorted(unordered, key=lambda p: (when(p["created"]), p["id"]))
    assert names(api, order_by=["featured", "name"], **scope) == ["ord a", "ord b", "ord c"]
    # strings compare by code point, whatever the database's collation
    create(api, "ord B")
    assert names(api, order_by=["name"], **scope) == ["ord B", "ord a", "ord b", "ord c"]


def test_get_all_pages(api: Api) -> None:
    for i in range(7):
        create(api, f"page {i}")
    query = {"name": "^page ", "order_by": ["name"], "only_fields": ["name"]}
    pages = [names(api, page=p, page_size=3, **query) for p in range(4)]
    assert pages == [["page 0", "page 1", "page 2"], ["page 3", "page 4", "page 5"], ["page 6"], []]
    assert api("projects.get_all", {**query, "page": 10, "page_size": 3}) == {"projects": []}


def test_get_all_refuses_bad_paging_400_12(api: Api) -> None:
    reply = api.call("projects.get_all", {"page": -1})
    assert reply.code == (400, 12) and "page must be >=0" in reply.msg
    reply = api.call("projects.get_all", {"page_size": 0})
    assert reply.code == (400, 12) and "page_size must be >0" in reply.msg


def test_get_all_caps_page_size_at_500(db, api: Api) -> None:  # type: ignore[no-untyped-def]
    me = api("users.get_current_user", {})["user"]
    now = clock.now()
    with db.write() as conn:  # 501 projects in one transaction: setup only
        for i in range(501):
            name = f"bulk {i:03d}"
            repo.insert_project(
                conn, id=ids.new_id(), company=me["company"]["id"], user=me["id"], name=name, basename=name,
                path=[], created=now, last_update=now,
            )  # fmt: skip
    query = {"name": "^bulk ", "only_fields": ["name"], "order_by": ["name"]}
    first = api("projects.get_all", {**query, "page": 0, "page_size": 1000})["projects"]
    assert len(first) == 500 and first[-1]["name"] == "bulk 499"
    assert len(api("projects.get_all", query)["projects"]) == 500
    rest = api("projects.get_all", {**query, "page": 1, "page_size": 1000})["projects"]
    assert [p["name"] for p in rest] == ["bulk 500"]


def test_get_all_parents_and_shallow_search(api: Api) -> None:
    create(api, "tree/a/deep")
    create(api, "tree/b")
    tree = by_name(api, "tree")["id"]
    scope = {"name": "^tree", "order_by": ["name"]}
    assert names(api, parent=[tree], shallow_search=True, **scope) == ["tree/a", "tree/b"]
    assert names(api, parent=[tree], **scope) == ["tree/a", "tree/a/deep", "tree/b"]
    assert names(api, shallow_search=True, **scope) == ["tree"]


# update -----------------------------------------------------------------------------------------
def test_update_fields(api: Api) -> None:
    project = create(api, "to update", description="old", tags=["old"])
    before = get(api, project)
    result = api(
        "projects.update",
        {"project": project, "description": "new", "tags": ["y", "x"], "system_tags": ["s"],
         "default_output_destination": "file:///out"},
    )  # fmt: skip
    assert result == {
        "updated": 1,
        "fields": {"description": "new", "default_output_destination": "file:///out", "tags": ["x", "y"], "system_tags": ["s"]},
    }
    after = get(api, project)
    assert (after["description"], after["tags"], after["system_tags"]) == ("new", ["x", "y"], ["s"])
    assert after["default_output_destination"] == "file:///out"
    assert when(after["last_update"]) >= when(before["last_update"])
    assert after["created"] == before["created"] and after["name"] == "to update"

    # null clears the optional text fields; fields not sent stay
    api("projects.update", {"project": project, "description": None})
    cleared = get(api, project)
    assert "description" not in cleared and cleared["tags"] == ["x", "y"]


def test_rename_moves_the_subtree_names(api: Api) -> None:
    leaf = create(api, "ren/old/kid/leaf")
    old = by_name(api, "ren/old")
    result = api("projects.update", {"project": old["id"], "name": "ren/new"})
    assert result == {"updated": 1, "fields": {"name": "ren/new"}}
    renamed = get(api, old["id"])
    assert (renamed["name"], renamed["basename"], renamed["path"]) == ("ren/new", "new", old["path"])
    assert get(api, leaf)["name"] == "ren/new/kid/leaf"
    assert by_name(api, "ren/new/kid")["basename"] == "kid"
    assert names(api, name="^ren/old") == []


def test_update_refusals(api: Api) -> None:
    project = create(api, "upd/this")
    create(api, "upd/taken")
    reply = api.call("projects.update", {"project": project, "name": "elsewhere/this"})
    assert reply.code == (400, 408)
    assert reply.msg == "Cannot update project location: name=elsewhere/this"
    assert api.call("projects.update", {"project": project, "name": "upd/taken"}).code == (400, 801)
    assert api.call("projects.update", {"project": project, "name": "//"}).code == (400, 407)
    assert api.call("projects.update", {"project": project, "tags": ["__$x"]}).code == (400, 16)
    reply = api.call("projects.update", {"project": "missing", "description": "x"})
    assert reply.code == (400, 401) and reply.msg == "Invalid project id: id=missing"
    assert api.call("projects.update", {"description": "x"}).code == (400, 12)
    assert get(api, project)["name"] == "upd/this"


def test_sdk_rename_and_system_tag_updates(api: Api) -> None:
    """clearml's rename_project and Dataset's system_tags update, as sent at v2.23."""
    project = create(api, "sdk old")
    reply = api.call("projects.update", {"project": project, "name": "sdk new"}, version="2.23")
    assert reply.data["updated"] == 1
    api.call("projects.update", {"project": project, "system_tags": ["dataset"]}, version="2.23")
    assert get(api, project)["system_tags"] == ["dataset"]


# move -------------------------------------------------------------------------------------------
def test_move_a_subtree_to_a_new_location(api: Api) -> None:
    kid = create(api, "mv/src/kid")
    src, old_parent = by_name(api, "mv/src"), by_name(api, "mv")
    assert api("projects.move", {"project": src["id"], "new_location": "dest/inner"}) == {"moved": 2}
    dest, inner = by_name(api, "dest"), by_name(api, "dest/inner")
    moved = get(api, src["id"])
    assert (moved["name"], moved["basename"]) == ("dest/inner/src", "src")
    assert moved["parent"] == inner["id"] and moved["path"] == [dest["id"], inner["id"]]
    child = get(api, kid)
    assert child["name"] == "dest/inner/src/kid"
    assert child["path"] == [dest["id"], inner["id"], src["id"]] and child["parent"] == src["id"]
    # both the old and the new parent were touched
    assert when(get(api, old_parent["id"])["last_update"]) >= when(old_parent["last_update"])
    assert when(inner["last_update"]) >= when(moved["created"])


def test_move_to_the_top_level(api: Api) -> None:
    project = create(api, "lvl/solo")
    assert api("projects.move", {"project": project, "new_location": ""}) == {"moved": 1}
    doc = get(api, project)
    assert (doc["name"], doc["path"]) == ("solo", []) and "parent" not in doc
    back = api("projects.move", {"project": project, "new_location": "lvl"})
    assert back == {"moved": 1} and get(api, project)["name"] == "lvl/solo"
    assert api("projects.move", {"project": project}) == {"moved": 1}  # no location: the top level


def test_move_refusals(api: Api) -> None:
    create(api, "mvr/p/child")
    p = by_name(api, "mvr/p")["id"]
    create(api, "other/p")

    same = api.call("projects.move", {"project": p, "new_location": "mvr"})
    assert same.code == (400, 408)  # the reference: 400/410, not in the catalogue yet
    under = api.call("projects.move", {"project": p, "new_location": "mvr/p/child/sub"})
    assert under.code == (400, 408)  # the reference: 400/411
    assert names(api, name="^mvr/p/child/") == []  # the location made on the way was rolled back
    assert api.call("projects.move", {"project": p, "new_location": "mvr/p"}).code == (400, 408)
    taken = api.call("projects.move", {"project": p, "new_location": "other"})
    assert taken.code == (400, 801)
    deep = api.call("projects.move", {"project": p, "new_location": "/".join(f"x{i}" for i in range(9))})
    assert deep.code == (400, 409)  # p/child would be at depth 11
    assert names(api, name="^x0") == []
    assert api.call("projects.move", {"project": "missing", "new_location": "x"}).code == (400, 401)
    assert api.call("projects.move", {"new_location": "x"}).code == (400, 12)
    assert get(api, p)["name"] == "mvr/p"


# validate_delete / delete -----------------------------------------------------------------------
def test_validate_delete_counts(api: Api) -> None:
    project = create(api, "vd/sub")
    counts = api("projects.validate_delete", {"project": by_name(api, "vd")["id"]})
    # an empty tree (models, pipelines and datasets are always 0 for now: issue 3)
    assert counts == {
        "tasks": 0, "non_archived_tasks": 0, "models": 0, "non_archived_models": 0,
        "reports": 0, "non_archived_reports": 0, "pipelines": 0, "datasets": 0,
    }  # fmt: skip
    assert api("projects.validate_delete", {"project": project})["tasks"] == 0
    reply = api.call("projects.validate_delete", {"project": "missing"})
    assert reply.code == (400, 401) and reply.msg == "Invalid project id: id=missing"


def test_delete_removes_the_subtree(api: Api) -> None:
    keep = create(api, "del/keep")
    leaf = create(api, "del/gone/a/leaf", tags=["t"])
    gone = by_name(api, "del/gone")["id"]
    result = api("projects.delete", {"project": gone})
    assert result == {"deleted": 3, "disassociated_tasks": 0, "deleted_models": 0, "deleted_tasks": 0, "urls": None}
    for project in (gone, leaf):
        assert api.call("projects.get_by_id", {"project": project}).code == (400, 401)
    assert names(api, name="^del", order_by=["name"]) == ["del", "del/keep"]
    assert get(api, keep)["name"] == "del/keep"
    # the name is free again
    assert get(api, create(api, "del/gone"))["name"] == "del/gone"


def test_delete_with_contents_and_force(api: Api) -> None:
    project = create(api, "del contents")
    result = api("projects.delete", {"project": project, "force": True, "delete_contents": True})
    assert result == {
        "deleted": 1, "disassociated_tasks": 0, "deleted_models": 0, "deleted_tasks": 0,
        "urls": {"model_urls": [], "event_urls": [], "artifact_urls": []},
    }  # fmt: skip
    reply = api.call("projects.delete", {"project": project})
    assert reply.code == (400, 401) and reply.msg == f"Invalid project id: id={project}"
    assert api.call("projects.delete", {}).code == (400, 12)


def new_task(api: Api, name: str, project: str, **fields) -> str:  # type: ignore[no-untyped-def]
    return api("tasks.create", {"name": name, "type": "training", "project": project, **fields})["id"]


def test_tasks_in_the_subtree_are_counted_and_need_force(api: Api) -> None:
    sub = create(api, "busy/sub")
    root = by_name(api, "busy")["id"]
    active = new_task(api, "active task", sub)
    archived = new_task(api, "archived task", root, system_tags=["archived"])
    report = new_task(api, "a report", sub, system_tags=["reports"])
    counts = api("projects.validate_delete", {"project": root})
    assert {k: counts[k] for k in ("tasks", "non_archived_tasks", "reports", "non_archived_reports")} == {
        "tasks": 2, "non_archived_tasks": 1, "reports": 1, "non_archived_reports": 1,
    }  # fmt: skip
    assert api("projects.validate_delete", {"project": sub})["tasks"] == 1

    reply = api.call("projects.delete", {"project": root})
    assert reply.code == (400, 402)
    assert reply.msg == f"Project has associated tasks (use force=true): id={root}"
    result = api("projects.delete", {"project": root, "force": True})
    assert result == {"deleted": 2, "disassociated_tasks": 3, "deleted_models": 0, "deleted_tasks": 0, "urls": None}
    for task in (active, archived, report):
        assert "project" not in api("tasks.get_by_id", {"task": task})["task"]


def test_delete_contents_deletes_the_subtrees_tasks(api: Api) -> None:
    sub = create(api, "doomed/sub")
    root = by_name(api, "doomed")["id"]
    first = new_task(api, "doomed task", sub)
    second = new_task(api, "doomed root task", root)
    child = new_task(api, "child elsewhere", None, parent=first)
    api("tasks.add_or_update_artifacts", {"task": first, "artifacts": [{"key": "o", "type": "t", "uri": "s3://o"}]})
    api("tasks.enqueue", {"task": second, "queue_name": "doomed queue"})
    result = api("projects.delete", {"project": root, "force": True, "delete_contents": True})
    assert result["deleted"] == 2 and result["deleted_tasks"] == 2
    assert result["urls"]["artifact_urls"] == ["s3://o"]
    for task in (first, second):
        assert api.call("tasks.get_by_id", {"task": task}).code == (400, 101)
    assert api("tasks.get_by_id", {"task": child})["task"]["parent"] == f"__DELETED__{first}"
    queue = api("queues.get_all", {"name": "^doomed queue$"})["queues"][0]["id"]
    assert api("queues.get_num_entries", {"queue": queue})["num"] == 0


def test_archived_tasks_do_not_need_force(api: Api) -> None:
    project = create(api, "only archived")
    task = new_task(api, "old task", project, system_tags=["archived"])
    assert api("projects.delete", {"project": project})["disassociated_tasks"] == 1
    assert "project" not in api("tasks.get_by_id", {"task": task})["task"]


# isolation --------------------------------------------------------------------------------------
def test_companies_cannot_see_or_touch_each_others_projects(api: Api, other_api: Api) -> None:
    mine = create(api, "private/thing", description="mine")
    parent = by_name(api, "private")["id"]

    assert other_api("projects.get_all", {"name": "private"}) == {"projects": []}
    assert other_api("projects.get_all", {"id": [mine, parent]}) == {"projects": []}
    assert other_api("projects.get_all", {"parent": [parent]}) == {"projects": []}
    for endpoint, body in (
        ("projects.get_by_id", {"project": mine}),
        ("projects.update", {"project": mine, "description": "theirs"}),
        ("projects.move", {"project": mine, "new_location": "stolen"}),
        ("projects.validate_delete", {"project": mine}),
        ("projects.delete", {"project": parent, "force": True}),
    ):
        reply = other_api.call(endpoint, body)
        assert reply.code == (400, 401), endpoint
        assert reply.msg == f"Invalid project id: id={body['project']}"

    # the same names are free in the other company, and do not show up here
    theirs = create(other_api, "private/thing")
    assert theirs != mine
    assert [p["id"] for p in api("projects.get_all", {"name": "^private/thing$"})["projects"]] == [mine]
    doc = get(api, mine)
    assert (doc["name"], doc["description"]) == ("private/thing", "mine")
    assert other_api("projects.get_all", {"name": "stolen"}) == {"projects": []}
