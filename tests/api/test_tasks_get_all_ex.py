"""tasks.get_all_ex / get_by_id_ex (reference expansion and joins) and tasks.get_types
(spec tasks-queries §1, §3.4, §8)."""

from __future__ import annotations

from typing import Any

from tests.support import Api


def create(api: Api, name: str, **fields: Any) -> str:
    return api("tasks.create", {"name": name, "type": "training", **fields})["id"]


def test_references_expand_and_join(api: Api) -> None:
    project = api("projects.create", {"name": "ex project"})["id"]
    model = api("models.create", {"name": "ex model", "uri": "s3://m", "project": project})["id"]
    parent = create(api, "ex parent")
    task = create(api, "ex child", project=project, parent=parent, models={"input": [{"name": "in", "model": model}]})
    api("tasks.enqueue", {"task": task, "queue_name": "ex queue"})
    got = api("tasks.get_all_ex", {
        "id": [task],
        "only_fields": ["name", "project.name", "parent.name", "execution.queue.name", "models.input.model.name", "user.name"],
    })["tasks"][0]  # fmt: skip
    assert got["id"] == task  # added with inclusions
    assert got["project"] == {"id": project, "name": "ex project"}
    assert got["parent"] == {"id": parent, "name": "ex parent"}
    assert got["execution"]["queue"]["name"] == "ex queue"
    assert got["models"]["input"] == [{"model": {"id": model, "name": "ex model"}}]
    assert got["user"]["name"] == "admin"
    # without joins: plain {"id": …} objects; get_all keeps plain ids
    plain = api("tasks.get_all_ex", {"id": [task], "only_fields": ["project", "parent"]})["tasks"][0]
    assert plain == {"id": task, "project": {"id": project}, "parent": {"id": parent}}
    assert api("tasks.get_all", {"id": [task], "only_fields": ["project"]})["tasks"][0] == {"project": project}


def test_get_by_id_ex(api: Api) -> None:
    hidden = create(api, "ex hidden", system_tags=["hidden"])
    got = api("tasks.get_by_id_ex", {"id": [hidden], "only_fields": ["name"]})["tasks"]
    assert got == [{"id": hidden, "name": "ex hidden"}]
    assert api.call("tasks.get_by_id_ex", {"only_fields": ["name"]}).code == (400, 11)
    everything = api("tasks.get_by_id_ex", {"id": [hidden], "only_fields": ["*"]})["tasks"][0]
    assert everything["company"]["id"] and "script" in everything


def test_allow_public(api: Api, client, db) -> None:  # type: ignore[no-untyped-def]
    from skiff.ops import accounts

    company = accounts.create_company(db, "ex other")
    new = accounts.add_user(db, company, "o", role="admin")
    other = Api(client, key=new.access_key, secret=new.secret_key)
    shared = create(api, "ex shared")
    api("tasks.make_public", {"ids": [shared]})
    try:
        assert [t["id"] for t in other("tasks.get_all_ex", {"id": [shared], "only_fields": ["id"]})["tasks"]] == [shared]
        assert other("tasks.get_all_ex", {"id": [shared], "allow_public": False})["tasks"] == []
        public = other("tasks.get_all_ex", {"id": [shared], "only_fields": ["company"]})["tasks"][0]
        assert public["company"] == {}  # "" expands to {}
    finally:
        api("tasks.make_private", {"ids": [shared]})


def test_get_types(api: Api) -> None:
    top = api("projects.create", {"name": "types top"})["id"]
    sub = api("projects.create", {"name": "types top/sub"})["id"]
    create(api, "types one", type="testing", project=sub)
    create(api, "types two", type="inference", project=top, system_tags=["hidden", "archived"])
    assert sorted(api("tasks.get_types", {"projects": [top]})["types"]) == ["inference", "testing"]
    assert sorted(api("tasks.get_types", {})["types"]) == ["inference", "testing"]
    assert api("tasks.get_types", {"projects": [sub]})["types"] == ["testing"]
