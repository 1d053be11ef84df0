"""``search_text``: what a task's text index holds and how a search string reads (spec
tasks-queries §2.10).

Pure code. The storage layer renders a ``TextSearch`` as an FTS5 MATCH expression (SQLite) or a
``tsquery`` (PostgreSQL) from these word tokens, never from the raw string, so quotes and
operators typed by a user are only ever separators.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from typing import Any

#: The indexed fields with their weights (§2.10), in index column order.
TEXT_FIELDS: tuple[tuple[str, int], ...] = (
    ("name", 10),
    ("id", 10),
    ("comment", 10),
    ("report", 10),
    ("models.input.model", 2),
    ("models.output.model", 2),
    ("script.repository", 1),
    ("script.entry_point", 1),
)

#: Common English function words, ignored as search terms (as the reference's English text index
#: ignores them); PostgreSQL's 'english' configuration drops its own list on top of this one.
STOP_WORDS = frozenset(
    """a about above after again against all am an and any are as at be because been before being
    below between both but by can could did do does doing down during each few for from further
    had has have having he her here hers herself him himself his how i if in into is it its itself
    just me more most my myself no nor not now of off on once only or other our ours ourselves out
    over own same she should so some such than that the their theirs them themselves then there
    these they this those through to too under until up very was we were what when where which
    while who whom why will with would you your yours yourself yourselves""".split()
)

_WORD = re.compile(r"[^\W_]+")
_PHRASE = re.compile(r'"([^"]*)"')


def fold(text: str) -> str:
    """Text as both sides of a search compare it: without diacritics (``é`` -> ``e``)."""
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def words(text: str) -> tuple[str, ...]:
    """Word tokens (runs of letters and digits), lowercased and folded."""
    return tuple(_WORD.findall(fold(text).lower()))


def _model_ids(doc: dict[str, Any], kind: str) -> str:
    items = (doc.get("models") or {}).get(kind) or []
    return " ".join(m["model"] for m in items if isinstance(m, dict) and isinstance(m.get("model"), str))


def text_index_values(doc: dict[str, Any]) -> tuple[str, ...]:
    """The text a task document contributes to each field of ``TEXT_FIELDS``, as space-separated
    ``words``: both databases then see the words a search string is split into (PostgreSQL's
    parser would otherwise keep ``repo/vision.git`` or ``segment.py`` whole)."""
    script = doc.get("script") if isinstance(doc.get("script"), dict) else {}
    values = {
        "name": doc.get("name"),
        "id": doc.get("id"),
        "comment": doc.get("comment"),
        "report": doc.get("report"),
        "models.input.model": _model_ids(doc, "input"),
        "models.output.model": _model_ids(doc, "output"),
        "script.repository": script.get("repository"),
        "script.entry_point": script.get("entry_point"),
    }
    # the id stays as is: it is also the key of the task's text row
    return tuple(values[f] if f == "id" else index_text(values[f]) for f, _ in TEXT_FIELDS)


def index_text(value: Any) -> str:
    """One field's indexed text: its ``words``, space-separated ("" for a missing value)."""
    return " ".join(words(value)) if isinstance(value, str) else ""


@dataclass(frozen=True)
class TextSearch:
    """A parsed ``search_text``: any of ``terms`` (OR), every one of ``phrases`` (each a word
    sequence), none of ``excluded``. With phrases, the terms only add to the score."""

    terms: tuple[str, ...]
    phrases: tuple[tuple[str, ...], ...]
    excluded: tuple[str, ...]

    @property
    def matches_nothing(self) -> bool:
        """Only exclusions (or nothing searchable) left: the reference matches no task."""
        return not self.terms and not self.phrases


def parse_search_text(text: str) -> TextSearch:
    """Quoted phrases, then whitespace-separated terms; ``-term`` excludes. Punctuation inside a
    term separates words, stop words are dropped."""
    phrases = tuple(p for p in (words(m) for m in _PHRASE.findall(text)) if p)
    rest = _PHRASE.sub(" ", text).replace('"', " ")
    terms: list[str] = []
    excluded: list[str] = []
    for chunk in rest.split():
        target = excluded if chunk.startswith("-") else terms
        target.extend(w for w in words(chunk) if w not in STOP_WORDS)
    return TextSearch(tuple(dict.fromkeys(terms)), tuple(dict.fromkeys(phrases)), tuple(dict.fromkeys(excluded)))
