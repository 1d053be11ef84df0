"""The list-field language of spec tasks-queries §2.4 beyond the tag cases of test_tasks_get_all:
the worked examples on an array field and on a scalar field, ``__$nop``, literal ``-x`` after an
operator, the error messages, and the array fields ``models.input.model`` / scalar ``execution.queue``."""

from __future__ import annotations

from typing import Any

import pytest

from tests.support import Api


def create(api: Api, name: str, **fields: Any) -> str:
    return api("tasks.create", {"name": name, "type": "training", **fields})["id"]


def names(api: Api, **query: Any) -> list[str]:
    request = {"name": "^lang-", "only_fields": ["name"], "order_by": ["name"], **query}
    return [t["name"] for t in api("tasks.get_all", request)["tasks"]]


@pytest.fixture
def tagged(api: Api) -> None:
    for name, tags in (("lang-a", ["a"]), ("lang-ab", ["a", "b"]), ("lang-abc", ["a", "b", "c"]),
                       ("lang-bc", ["b", "c"]), ("lang-lit", ["-a"]), ("lang-none", [])):
        create(api, name, tags=tags)


@pytest.mark.parametrize(
    ("tags", "expected"),
    [
        (["__$all", "a", "__$any", "b", "c"], ["lang-ab", "lang-abc"]),  # ALL{a} AND IN{b,c}
        (["a", "__$all", "b", "c"], ["lang-abc"]),  # IN{a} AND ALL{b,c}
        (["__$all", "-a"], ["lang-lit"]),  # legacy off after an operator: the literal "-a"
        (["__$all", "a", "__$nop", "-b"], ["lang-a"]),  # ALL{a} AND NIN{b}
        (["__$not", "a", "__$not", "b"], ["lang-lit", "lang-none"]),
        (["__$any", "c", "__$not", "a"], ["lang-abc", "lang-bc", "lang-lit", "lang-none"]),
        (["__$or", "c", "__$and", "a", "b"], ["lang-ab", "lang-abc", "lang-bc"]),  # IN{c} OR ALL{a,b}
        (["__$not", None, "a"], ["lang-a", "lang-ab", "lang-abc", "lang-none"]),  # null cancels the __$not, allows empty
        (["-a", None], ["lang-bc", "lang-lit", "lang-none"]),  # NIN{a} OR empty
        (["a", "a", "-c", "-c"], ["lang-a", "lang-ab"]),  # values de-duplicated
    ],
)
def test_worked_examples_on_an_array_field(api: Api, tagged: None, tags: list[Any], expected: list[str]) -> None:
    assert names(api, tags=tags) == expected


@pytest.mark.parametrize(
    ("tags", "message"),
    [
        (["__$not"], "Value is expected after"),
        (["a", "__$not", "__$all", "b"], "Value is expected after"),
        (["__$xor", "a"], "Unsupported operator"),
        (["a", "-"], "Missing value after the exclude prefix -"),
        (["a", {"b": 1}], "invalid value type, string expected"),
    ],
)
def test_errors_name_the_problem(api: Api, tags: list[Any], message: str) -> None:
    reply = api.call("tasks.get_all", {"tags": tags})
    assert reply.code == (400, 16)
    assert message in reply.msg


def test_worked_examples_on_a_scalar_field(api: Api) -> None:
    create(api, "lang-created")
    stopped = create(api, "lang-stopped")
    api("tasks.edit", {"task": stopped, "status": "stopped", "force": True})
    assert names(api, status=["__$all", "created"]) == ["lang-created"]
    assert names(api, status=["__$all", "created", "stopped"]) == []  # equals two distinct values
    assert names(api, status=["__$any", "created", "__$not", "created"]) == ["lang-created", "lang-stopped"]
    assert names(api, status=["__$not", "created", "__$not", "stopped"]) == []
    assert names(api, status="stopped") == ["lang-stopped"]
    assert names(api, status=[]) == ["lang-created", "lang-stopped"]


def test_input_models_are_an_array_field(api: Api) -> None:
    m1 = api("models.create", {"name": "lang model 1", "uri": "file:///tmp/l1"})["id"]
    m2 = api("models.create", {"name": "lang model 2", "uri": "file:///tmp/l2"})["id"]
    create(api, "lang-m1", models={"input": [{"name": "a", "model": m1}]})
    create(api, "lang-m12", models={"input": [{"name": "a", "model": m1}, {"name": "b", "model": m2}]})
    create(api, "lang-m0")
    assert names(api, **{"models.input.model": [m2]}) == ["lang-m12"]
    assert names(api, **{"models.input.model": ["__$all", m1, m2]}) == ["lang-m12"]
    assert names(api, **{"models.input.model": ["-" + m2]}) == ["lang-m0", "lang-m1"]
    assert names(api, **{"models.input.model": [None]}) == ["lang-m0"]


def test_execution_queue_is_a_scalar_field(api: Api) -> None:
    queue = api("queues.create", {"name": "lang queue"})["id"]
    queued = create(api, "lang-queued")
    create(api, "lang-idle")
    api("tasks.enqueue", {"task": queued, "queue": queue})
    assert names(api, **{"execution.queue": [queue]}) == ["lang-queued"]
    assert names(api, **{"execution.queue": ["-" + queue]}) == ["lang-idle"]
    assert names(api, **{"execution.queue": [None]}) == ["lang-idle"]


def test_empty_strings_sort_last_on_string_fields_but_not_on_parameters(api: Api) -> None:
    """§4.2: on the first ascending key, "" is empty for a string field of the model (after the
    real values) but a real value for a hyperparameter (first ascending)."""
    for name, comment, lr in (("lang-s1", "b", "2"), ("lang-s2", "", ""), ("lang-s3", "a", None), ("lang-s4", None, "1")):
        params = {} if lr is None else {"Args": {"lr": {"section": "Args", "name": "lr", "value": lr}}}
        create(api, name, **({"comment": comment} if comment is not None else {}), hyperparams=params)
    by_comment = names(api, order_by=["comment", "name"])
    assert by_comment[:2] == ["lang-s3", "lang-s1"] and set(by_comment[2:]) == {"lang-s2", "lang-s4"}
    assert names(api, order_by=["hyperparams.Args.lr.value", "name"]) == ["lang-s2", "lang-s4", "lang-s1", "lang-s3"]
    assert names(api, order_by=["-hyperparams.Args.lr.value", "name"]) == ["lang-s1", "lang-s4", "lang-s2", "lang-s3"]


def test_a_whole_section_as_a_list_field_and_sort_key(api: Api) -> None:
    """§2.12: 2-part ``hyperparams.<section>`` paths are valid. As a filter a section object never
    equals a string, so only ``[null]`` (no such section) matches; as a sort key it orders by the
    section's first parameter value."""
    def params(value: str) -> dict[str, Any]:
        return {"S": {"p": {"section": "S", "name": "p", "value": value}}}

    create(api, "lang-sec10", hyperparams=params("10"))
    create(api, "lang-sec9", hyperparams=params("9"))
    create(api, "lang-nosec")
    assert names(api, **{"hyperparams.S": ["10"]}) == []
    assert names(api, **{"hyperparams.S": [None]}) == ["lang-nosec"]
    # (a hyperparams key orders every string key naturally: sec9 before sec10)
    assert names(api, **{"hyperparams.S": ["-10"]}) == ["lang-nosec", "lang-sec9", "lang-sec10"]
    # the filters map's null is the empty-array test, which a parameter (a scalar) never passes
    assert names(api, filters={"hyperparams.S": {"any": {"include": [None]}}}) == []
    assert names(api, order_by=["-hyperparams.S", "name"]) == ["lang-sec10", "lang-sec9", "lang-nosec"]
    assert api.call("tasks.get_all", {"hyperparams.S.p.value.x": ["1"]}).code == (400, 12)


def test_a_parameter_filter_compares_whole_values(api: Api) -> None:
    """A value filter finds candidates by the values' natural sort keys, which tie for values that
    agree on their first 255 key bytes, or differ only in ways the key folds; the value itself
    decides. Long values (kilobytes) are filtered like short ones."""
    from skiff.domain.natural_order import SORT_KEY_BYTES, sort_key

    prefix = "x" * SORT_KEY_BYTES
    values = {"lang-long1": prefix + "1", "lang-long2": prefix + "2", "lang-huge": "y" * 5000,
              "lang-lower": "adam", "lang-upper": "Adam", "lang-num": "10", "lang-num0": "010"}  # fmt: skip
    assert sort_key(values["lang-long1"]) == sort_key(values["lang-long2"])  # the keys do tie
    for name, value in values.items():
        create(api, name, hyperparams={"Args": {"v": {"section": "Args", "name": "v", "value": value}}})
    for name, value in values.items():
        assert names(api, **{"hyperparams.Args.v.value": [value]}) == [name], name
    assert names(api, **{"hyperparams.Args.v.value": [values["lang-long2"], "adam", "none"]}) == ["lang-long2", "lang-lower"]
    assert names(api, **{"hyperparams.Args.v.value": ["-" + values["lang-long1"], "-10"]}) == sorted(
        set(values) - {"lang-long1", "lang-num"}
    )
