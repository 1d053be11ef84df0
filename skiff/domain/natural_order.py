"""The natural string order of spec tasks-queries §4.3 (ICU ``en_US`` with numeric ordering):
digit runs compare as integers, letters by base letter case-insensitively, then accents, then
case (lowercase first).

Pure code. ``natural_key`` is what the SQLite collation compares; ``sort_key`` renders the same
order as bytes, so that a plain binary index (on both dialects) can serve it: hyperparameter
values are stored with their sort key and the task id's ``tie_key`` (the id tie-break is natural
too), and ordering a project's tasks by a hyperparameter walks that index instead of sorting.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from typing import Any

#: Rank of the ASCII punctuation and symbols, in ICU's root order (they sort before digits, digits
#: before letters); other non-alphanumeric characters follow by code point.
_SYMBOL_ORDER = {c: i for i, c in enumerate(" _-,;:!?.'\"()[]{}@*/\\&#%`^+<=>|~$")}
#: ASCII digit runs (other scripts' digits rank as symbols), or any one other character
_RUNS = re.compile(r"([0-9]+)|(.)", re.DOTALL)

#: Longest stored ``sort_key``: values whose keys agree on this many bytes tie (and fall back to
#: the id order), which keeps index entries small on both dialects.
SORT_KEY_BYTES = 255
#: Longest ``tie_key``: ids that agree on it are put in order by the query's own id key.
TIE_KEY_BYTES = 16


@functools.lru_cache(maxsize=65536)
def natural_key(text: str) -> tuple[Any, ...]:
    """Sort key of the natural collation: digit runs compare as integers (so "2" < "11", "1.5" <
    "1.10"), symbols before digits before letters; letters by base letter (one code point of its
    case folding per element), then accents, then case (lowercase first), then code points."""
    primary: list[tuple[int, Any]] = []
    accents: list[str] = []
    cases: list[int] = []
    for digits, char in _RUNS.findall(text):
        if digits:
            value = digits.lstrip("0") or "0"
            primary.append((1, (len(value), value)))
        elif char.isalpha():
            base = unicodedata.normalize("NFD", char)
            primary.extend((2, folded) for folded in base[0].casefold())
            accents.append(base[1:])
            cases.append(0 if base[0].islower() or not base[0].isupper() else 1)
        else:
            primary.append((0, _SYMBOL_ORDER.get(char, 1000 + ord(char))))
    return tuple(primary), tuple(accents), tuple(cases), text


#: The key without the cache: the collation compares each string many times in one sort, but
#: ``sort_key`` and ``tie_key`` see each stored value and task id about once, so caching their keys
#: only filled the cache (up to 65,536 keys of 0.5-2.5 KB) as tasks were written (issue 8).
_uncached_natural_key = natural_key.__wrapped__


# Byte rendering. Primary elements occupy disjoint byte ranges in their kind's order: symbols
# 0x01-0x3F, digit runs 0x40-0x5F (the run's length, then its digits two per byte), letters their
# UTF-8 code point (>= 0x61 once case-folded), and 0x00 ends the sequence, so that a shorter
# sequence sorts first. Every element is self-delimiting, so bytes compare as the tuples do.
def _symbol(rank: int) -> bytes:
    return bytes((rank + 1,)) if rank < 0x3E else b"\x3f" + rank.to_bytes(3, "big")


def _digit_run(value: str) -> bytes:
    size = len(value)
    head = bytes((0x40 + size,)) if size < 0x1F else b"\x5f" + min(size, 0xFFFF).to_bytes(2, "big")
    # ASCII digits two per byte, the first in the high nibble: exactly what hex decoding makes of them
    return head + bytes.fromhex(value + "0" * (size % 2))


def _primary(elements: tuple[tuple[int, Any], ...]) -> bytes:
    parts = []
    for kind, payload in elements:
        if kind == 0:
            parts.append(_symbol(payload))
        elif kind == 1:
            parts.append(_digit_run(payload[1]))
        else:
            parts.append(payload.encode())
    parts.append(b"\x00")
    return b"".join(parts)


#: ASCII text (most stored values and every id) takes a shorter way to the same bytes: digit runs
#: split out by a regular expression, every other character mapped through a table (letters to
#: their lowercase, symbols to their rank's bytes), no accents. 3-5x faster; the property tests
#: compare both ways.
_DIGIT_RUNS = re.compile(r"([0-9]+)")
_ASCII_PRIMARY = {
    code: chr(code).lower() if chr(code).isalpha() else _symbol(_SYMBOL_ORDER.get(chr(code), 1000 + code)).decode("latin-1")
    for code in range(128)
    if not chr(code).isdigit()
}


def _ascii_primary(text: str) -> bytes:
    parts = []
    for i, piece in enumerate(_DIGIT_RUNS.split(text)):  # other characters, digits, other, ...
        if i % 2:
            parts.append(_digit_run(piece.lstrip("0") or "0"))
        elif piece:
            parts.append(piece.translate(_ASCII_PRIMARY).encode("latin-1"))
    parts.append(b"\x00")
    return b"".join(parts)


def sort_key(text: str) -> bytes:
    """``natural_key(text)`` as bytes that compare alike, cut at ``SORT_KEY_BYTES``. Accents and
    cases are only compared between equal primaries (so between equally long tuples): each is
    one byte when trivial (no accent, all lowercase), else a marker and the full sequence."""
    if text.isascii():
        if text == text.lower():
            cases = b"\x01"
        else:
            cases = b"\x02" + bytes(2 if c.isupper() else 1 for c in text if c.isalpha())
        return b"".join((_ascii_primary(text), b"\x01", cases, text.encode()))[:SORT_KEY_BYTES]
    return _sort_key(text)


def _sort_key(text: str) -> bytes:
    """``sort_key`` of any text, from its natural key."""
    primary, accents, cases, _ = _uncached_natural_key(text)
    parts = [_primary(primary)]
    if any(accents):
        parts.append(b"\x02" + b"".join(a.encode() + b"\x01" for a in accents))
    else:
        parts.append(b"\x01")
    parts.append(b"\x02" + bytes(1 + c for c in cases) if any(cases) else b"\x01")
    parts.append(text.encode())
    return b"".join(parts)[:SORT_KEY_BYTES]


def tie_key(task_id: str) -> bytes:
    """The start of the primary part of an id's natural key: consistent with the natural ``id``
    tie-break, which the query still applies to the ids it does not tell apart (same start,
    or only leading zeros or case differ); 16 bytes cover 16 or more characters of an id."""
    primary = _ascii_primary(task_id) if task_id.isascii() else _primary(_uncached_natural_key(task_id)[0])
    return primary[:TIE_KEY_BYTES]
