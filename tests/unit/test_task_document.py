"""The pure task-document rules: key escaping, normalisation, legacy conversions, read form."""

from __future__ import annotations

from datetime import datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from skiff.domain.errors import ApiError
from skiff.domain.task_document import (
    apply_legacy_write,
    escape_key,
    merge_artifacts,
    normalize_configuration,
    normalize_hyperparams,
    normalize_model_labels,
    normalize_script,
    normalize_tags,
    read_form,
    unescape_key,
)
from skiff.domain.versions import Version

NOW = datetime(2024, 1, 2, 3, 4, 5, 123000)
V = Version.parse


@pytest.mark.parametrize(
    ("raw", "stored"),
    [
        ("sec.tion1", "sec%2Etion1"),
        ("legacy$1", "legacy%241"),
        ("pa__ram1", "pa%_%_ram1"),
        ("_x", "%_x"),
        ("__x", "%_%_x"),
        ("a%b", "a%%b"),
        ("100%.5", "100%%%2E5"),
        (" lr ", "lr"),
    ],
)
def test_escape_examples(raw: str, stored: str) -> None:
    assert escape_key(raw) == stored
    assert unescape_key(stored) == raw.strip()


@given(st.text(min_size=1).filter(lambda s: s.strip() == s and s))
def test_escape_round_trips(key: str) -> None:
    assert unescape_key(escape_key(key)) == key


def test_hyperparams_keys_stripped_items_kept_raw() -> None:
    out = normalize_hyperparams({" Args ": {" lr ": {"section": "Args", "name": "lr", "value": "0.1"}}})
    assert out == {"Args": {"lr": {"section": "Args", "name": "lr", "value": "0.1"}}}


@pytest.mark.parametrize(
    ("value", "code"),
    [
        ({"": {}}, (400, 12)),
        ({"s": {"  ": {"value": "1"}}}, (400, 12)),
        ({"s": {"p": {"value": 1}}}, (400, 800)),
        ({"s": {"p": {"name": "p"}}}, (400, 800)),
        ({"s": "not a dict"}, (400, 16)),
        ("nope", (400, 16)),
    ],
)
def test_hyperparams_refusals(value: object, code: tuple[int, int]) -> None:
    with pytest.raises(ApiError) as exc:
        normalize_hyperparams(value)
    assert (exc.value.code, exc.value.subcode) == code


def test_configuration() -> None:
    assert normalize_configuration({"General": {"value": ""}}) == {"General": {"name": "General", "value": ""}}
    with pytest.raises(ApiError) as exc:
        normalize_configuration({" ": {"value": "x"}})
    assert exc.value.message == "Validation error (Empty configuration name is not allowed)"


def test_tags_sorted_unique_and_reserved_prefix() -> None:
    assert normalize_tags(["b", "a", "b"]) == ["a", "b"]
    with pytest.raises(ApiError) as exc:
        normalize_tags(["ok", "__$all"])
    assert (exc.value.code, exc.value.subcode) == (400, 16)
    assert exc.value.message == "Invalid value for fields (unsupported tag prefix): values=(__$all)"


def test_script_strings_stripped_diff_kept() -> None:
    assert normalize_script({"repository": " r ", "diff": " d \n", "branch": None}) == {"repository": "r", "diff": " d \n"}


def test_artifacts_keyed_by_key_and_mode() -> None:
    first = merge_artifacts([], [{"key": "a", "type": "t", "uri": "1"}, {"key": "a", "type": "t", "mode": "input"}])
    assert len(first) == 2
    second = merge_artifacts(first, [{"key": "a", "type": "t", "uri": "2"}])
    assert len(second) == 2
    assert {a["uri"] for a in second if a["mode"] == "output"} == {"2"}
    third = merge_artifacts(second, [{"key": "0", "type": "t"}])
    assert [a["key"] for a in third] == ["0", "a", "a"]  # returned sorted by key


def test_model_labels_unique_ids() -> None:
    assert normalize_model_labels({"cat": 1, "dog": 2.0, "x": None}) == {"cat": 1, "dog": 2, "x": None}
    with pytest.raises(ApiError) as exc:
        normalize_model_labels({"cat": 1, "dog": 1})
    assert exc.value.subcode == 800


def test_legacy_parameters_become_hyperparams() -> None:
    fields = {"execution": {"parameters": {"lr": 0.1, "TF_DEFINE/batch": 32}, "model_desc": {"net": "{}"}}}
    apply_legacy_write(fields, V("2.5"), None, NOW)
    assert fields["hyperparams"] == {
        "Args": {"lr": {"section": "Args", "name": "lr", "value": "0.1", "type": "legacy"}},
        "TF_DEFINE": {"batch": {"section": "TF_DEFINE", "name": "batch", "value": "32", "type": "legacy"}},
    }
    assert fields["configuration"] == {"net": {"name": "net", "value": "{}", "type": "legacy"}}
    assert fields["execution"] == {}


def test_legacy_parameters_replace_only_legacy_items_on_edit() -> None:
    existing = {
        "hyperparams": {
            "Args": {
                "old": {"section": "Args", "name": "old", "value": "1", "type": "legacy"},
                "modern": {"section": "Args", "name": "modern", "value": "2"},
            }
        }
    }
    fields = {"execution": {"parameters": {"new": 3}}}
    apply_legacy_write(fields, V("2.5"), existing, NOW)
    assert set(fields["hyperparams"]["Args"]) == {"modern", "new"}


def test_legacy_model_and_docker_cmd_below_2_13() -> None:
    fields = {"execution": {"model": "m1", "docker_cmd": "img:1 --ipc=host -e X"}}
    apply_legacy_write(fields, V("2.12"), None, NOW)
    assert fields["models"] == {"input": [{"name": "Input Model", "model": "m1"}]}
    assert fields["container"] == {"image": "img:1", "arguments": "--ipc=host -e X"}
    modern = {"execution": {"model": "m1", "docker_cmd": "img"}}
    apply_legacy_write(modern, V("2.13"), None, NOW)
    assert "models" not in modern and "container" not in modern and modern["execution"] == {}


def test_tags_split_below_2_3() -> None:
    fields = {"tags": ["development", "mine", "-archived", "Annotation"]}
    apply_legacy_write(fields, V("2.1"), None, NOW)
    assert fields["tags"] == ["mine"]
    assert fields["system_tags"] == ["development", "-archived", "Annotation"]


def test_read_form_defaults() -> None:
    task = read_form({"id": "t", "name": "n", "unique_metrics": []}, V("2.31"))
    assert task["execution"] == {"test_split": 0, "parameters": {}, "model_desc": {}, "model_labels": {}, "artifacts": []}
    assert task["script"] == {"binary": "python", "repository": "", "entry_point": "", "requirements": {}}
    assert task["models"] == {"input": [], "output": []}
    assert task["status"] == "created" and task["last_iteration"] == 0 and task["tags"] == []
    assert "unique_metrics" not in task and "comment" not in task and "project" not in task


def test_read_form_legacy_versions() -> None:
    doc = {
        "hyperparams": {"Args": {"lr": {"section": "Args", "name": "lr", "value": "0.1", "type": "legacy"}}},
        "models": {"input": [{"name": "a", "model": "m1"}], "output": [{"name": "o", "model": "m2"}, {"name": "p", "model": "m3"}]},
        "container": {"image": "img", "arguments": "--x"},
        "tags": ["t"],
        "system_tags": ["archived"],
    }
    old = read_form(doc, V("2.1"))
    assert old["execution"]["parameters"] == {"lr": "0.1"}
    assert old["execution"]["model"] == "m1"
    assert old["output"]["model"] == "m3"
    assert old["execution"]["docker_cmd"] == "img --x"
    assert old["tags"] == ["archived", "t"]
    new = read_form(doc, V("2.31"))
    assert new["execution"]["parameters"] == {} and "model" not in new["execution"]


@pytest.mark.parametrize("key", ["%_", "%_x", "a%_b", "_%_", "%%_"])
def test_percent_underscore_round_trips(key: str) -> None:
    assert unescape_key(escape_key(key)) == key


def test_copy_document_is_deep() -> None:
    from datetime import datetime

    from skiff.domain.task_document import copy_document

    doc = {"id": "t", "created": datetime(2024, 1, 2), "hyperparams": {"Args": {"lr": {"value": "0.1"}}},
           "tags": ["a"], "models": {"input": [{"name": "m", "model": "x"}]}, "last_iteration": 3, "x": None}  # fmt: skip
    copied = copy_document(doc)
    assert copied == doc
    copied["hyperparams"]["Args"]["lr"]["value"] = "1"
    copied["tags"].append("b")
    copied["models"]["input"][0]["name"] = "n"
    assert doc["hyperparams"]["Args"]["lr"]["value"] == "0.1"
    assert doc["tags"] == ["a"] and doc["models"]["input"][0]["name"] == "m"
