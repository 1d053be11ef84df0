"""The byte rendering of the natural order (``sort_key``, ``tie_key``) compares exactly as the
collation's tuples do, so the order index and the SQLite collation agree."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from skiff.domain.natural_order import (
    SORT_KEY_BYTES,
    TIE_KEY_BYTES,
    _ascii_primary,
    _primary,
    _sort_key,
    natural_key,
    sort_key,
    tie_key,
)

#: digits, letters of both cases with and without accents, a letter whose case folding is two
#: letters, symbols of the ranked set and outside it, spaces, a non-Latin letter
ALPHABET = "0123456789aAbBzZéÉèßﬁ.-_ ,~$€ΩωИ٣\n"
texts = st.text(alphabet=ALPHABET, max_size=12)


def _sign(x: object, y: object) -> int:
    return (x > y) - (x < y)  # type: ignore[operator]


@settings(max_examples=3000, deadline=None)
@given(texts, texts)
def test_sort_key_orders_as_the_collation(a: str, b: str) -> None:
    assert _sign(sort_key(a), sort_key(b)) == _sign(natural_key(a), natural_key(b))


@settings(max_examples=3000, deadline=None)
@given(texts | st.text(max_size=60), texts | st.text(max_size=60))
def test_a_whole_sort_key_names_one_text(a: str, b: str) -> None:
    """A hyperparameter filter matches by sort key alone while the key is not cut
    (``task_queries.param_value_in``): whole keys are equal only for equal texts."""
    if len(sort_key(a)) < SORT_KEY_BYTES and len(sort_key(b)) < SORT_KEY_BYTES:
        assert (sort_key(a) == sort_key(b)) == (a == b)


@settings(max_examples=1000, deadline=None)
@given(texts, texts)
def test_tie_key_never_contradicts_the_collation(a: str, b: str) -> None:
    if tie_key(a) < tie_key(b):
        assert natural_key(a) < natural_key(b)


@settings(max_examples=3000, deadline=None)
@given(st.text(alphabet=st.characters(max_codepoint=127), max_size=40) | st.text(alphabet="0123456789aZ.-_", max_size=40))
def test_ascii_text_takes_a_shorter_way_to_the_same_bytes(text: str) -> None:
    assert sort_key(text) == _sort_key(text)
    assert _ascii_primary(text) == _primary(natural_key(text)[0])


def test_examples() -> None:
    values = ["", "0.0003", "0.001", "0.01", "0.1", "0.25", "0.5", "1", "1.5", "1.10", "2", "11", "a", "A", "b", "é", "-10"]
    assert sorted(values, key=sort_key) == sorted(values, key=natural_key)
    assert sorted(["tb-100", "tb-9", "tb-10"], key=tie_key) == ["tb-9", "tb-10", "tb-100"]
    assert sort_key("2") < sort_key("11") and sort_key("1.5") < sort_key("1.10")


def test_keys_are_bounded() -> None:
    long = "x" * 1000 + "9" * 1000
    assert len(sort_key(long)) == SORT_KEY_BYTES
    assert len(tie_key("f" * 100)) == TIE_KEY_BYTES
    # a cut key still orders consistently: it is a prefix of the full rendering
    assert sort_key(long) <= sort_key(long + "y")
