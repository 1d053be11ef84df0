"""Natural ("ICU en_US numericOrdering") ordering of tasks.get_all (spec tasks-queries §4.3): when
it applies, and that it then orders every string key, the id tie-break included."""

from __future__ import annotations

from typing import Any

import pytest

from skiff.domain.natural_order import natural_key
from tests.support import Api

#: §4.3's cases, in natural order
NATURAL = ["-5", "-10", "0.5", "0.25", "1.5", "1.10", "2", "9", "10", "11", "a", "A", "ab9", "ab10", "B"]


def create(api: Api, name: str, **fields: Any) -> str:
    return api("tasks.create", {"name": name, "type": "training", **fields})["id"]


def param(value: str) -> dict[str, Any]:
    return {"test": {"param": {"section": "test", "name": "param", "value": value}}}


def ordered(api: Api, prefix: str, order_by: list[str], **query: Any) -> list[str]:
    body = {"name": f"^{prefix}", "order_by": order_by, "only_fields": ["name"], **query}
    return [t["name"] for t in api("tasks.get_all", body)["tasks"]]


def test_the_sqlite_collation_matches_icu_on_the_spec_cases() -> None:
    """The Python collation against ICU's order (checked on PostgreSQL by the API tests below)."""
    assert sorted(reversed(NATURAL), key=natural_key) == NATURAL
    assert sorted(["x.1", "x-1", "x_1", "x 1"], key=natural_key) == ["x 1", "x_1", "x-1", "x.1"]
    assert sorted(["é", "f", "e", "E"], key=natural_key) == ["e", "E", "é", "f"]


def test_hyperparameter_values_sort_naturally(api: Api) -> None:
    for value in reversed(NATURAL):
        create(api, f"hp {value}", hyperparams=param(value))
    create(api, "hp none")
    assert ordered(api, "hp ", ["hyperparams.test.param.value"]) == [f"hp {v}" for v in NATURAL] + ["hp none"]
    descending = ordered(api, "hp ", ["-hyperparams.test.param.value"])
    assert descending == [f"hp {v}" for v in reversed(NATURAL)] + ["hp none"]
    # the legacy path and a whole parameter object sort the same way
    assert ordered(api, "hp ", ["hyperparams.test.param"])[:3] == ["hp -5", "hp -10", "hp 0.5"]


def test_paging_over_numbered_values(api: Api) -> None:
    """The reference's paging test: values "0".."17" in pages of 5, ordered by the parameter."""
    for i in reversed(range(18)):
        create(api, f"pg {i}", hyperparams=param(str(i)))
    pages = [
        ordered(api, "pg ", ["hyperparams.test.param.value"], page=page, page_size=5) for page in range(4)
    ]
    assert sum(pages, []) == [f"pg {i}" for i in range(18)]


def test_natural_order_applies_to_every_string_key_when_triggered(api: Api) -> None:
    for name in ("nk B", "nk a", "nk 10", "nk 9"):
        create(api, name, hyperparams=param("same"))
    binary = ["nk 10", "nk 9", "nk B", "nk a"]
    natural = ["nk 9", "nk 10", "nk a", "nk B"]
    assert ordered(api, "nk ", ["name"]) == binary
    # first order key on a hyperparameter: the secondary name key is natural too
    assert ordered(api, "nk ", ["hyperparams.test.param.value", "name"]) == natural
    # a request key with the prefix switches it on for the whole query
    assert ordered(api, "nk ", ["name"], **{"hyperparams.test.param.value": ["same"]}) == natural
    assert ordered(api, "nk ", ["name"], **{"execution.parameters.x": None}) == natural
    # @text_score is skipped when looking at the first key
    assert ordered(api, "nk ", ["@text_score", "-last_metrics.a.b.value", "name"], search_text="nk") == natural
    # a later hyperparameter key alone does not switch it on
    assert ordered(api, "nk ", ["name", "hyperparams.test.param.value"]) == binary


def test_the_id_tie_break_is_natural_too(api: Api, db) -> None:  # type: ignore[no-untyped-def]
    """Ids chosen so that byte order and natural order differ ("tb-10" < "tb-9" byte-wise)."""
    ids = [create(api, f"tb {i}", hyperparams=param("same")) for i in range(3)]
    _rename_tasks(db, dict(zip(ids, ["tb-9", "tb-10", "tb-100"])))
    body = {"name": "^tb ", "only_fields": ["id"]}
    natural = api("tasks.get_all", {**body, "order_by": ["hyperparams.test.param.value"]})["tasks"]
    assert [t["id"] for t in natural] == ["tb-9", "tb-10", "tb-100"]
    binary = api("tasks.get_all", {**body, "order_by": ["type"]})["tasks"]
    assert [t["id"] for t in binary] == ["tb-10", "tb-100", "tb-9"]


def _rename_tasks(db, mapping: dict[str, str]) -> None:  # type: ignore[no-untyped-def]
    """Give tasks chosen ids (the API cannot): copy each row under the new id, move its side
    rows over, drop the old row."""
    from sqlalchemy import delete, insert, select, update

    from skiff.domain.natural_order import tie_key
    from skiff.storage.tables import task_hyperparams, task_search, task_tags, tasks

    with db.write() as conn:
        for old, new in mapping.items():
            row = conn.execute(select(tasks).where(tasks.c.id == old)).mappings().one()
            conn.execute(insert(tasks).values({**row, "id": new}))
            for side in (task_search, task_tags):
                conn.execute(update(side).where(side.c.task == old).values(task=new))
            # the parameter rows carry the id's natural order too
            conn.execute(update(task_hyperparams).where(task_hyperparams.c.task == old).values(task=new, task_key=tie_key(new)))
            conn.execute(delete(tasks).where(tasks.c.id == old))


@pytest.mark.parametrize("key", ["hyperparams.", "-hyperparams.", "last_metrics.", "execution.parameters."])
def test_prefix_rule(key: str) -> None:
    from skiff.domain.task_query import OrderKey, uses_natural_order

    assert uses_natural_order({f"{key}x.y": ["1"]}, [])
    assert uses_natural_order({}, [OrderKey("@text_score", False), OrderKey(key.lstrip("-") + "x.y", True)])
    assert not uses_natural_order({"name": "x"}, [OrderKey("name", False), OrderKey(key.lstrip("-") + "x.y", False)])
