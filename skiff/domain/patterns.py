"""Regular expressions that clients send as filters (``name``, ``_any_``/``_all_`` patterns, …).

A pattern is an unanchored search. Python's ``re`` backtracks, so ``(a+)+$`` against a long
``aaaa…!`` name takes exponential time; every pattern is therefore also compiled with RE2, which
matches in time linear in the text, and SQLite's ``REGEXP`` runs RE2 (``storage/dialects/sqlite``).
Patterns RE2 cannot run (backreferences, lookaround, ``\\Z``, repetition counts past 1000, patterns
too large for its memory budget) are refused up front on both dialects, so PostgreSQL only ever
sees the same backtracking-free subset, which its automaton-based engine also matches without
blowing up. RE2 reads ``\\w``/``\\d`` as ASCII classes.
"""

from __future__ import annotations

import re

import re2

_OPTIONS = re2.Options()
_OPTIONS.log_errors = False  # RE2 would print every refused pattern to stderr


def compile_linear(pattern: str) -> re2._Regexp:
    """The RE2 program for ``pattern`` (``re2.error`` when RE2 cannot run it)."""
    return re2.compile(pattern, _OPTIONS)


def pattern_problem(pattern: str, *, ignore_case: bool = False) -> str | None:
    """Why ``pattern`` cannot be used as a filter, or None. Python ``re`` speaks first (its
    messages are the familiar ones), then RE2 says whether it can match it in linear time."""
    try:
        re.compile(pattern, re.IGNORECASE if ignore_case else 0)
    except re.error as exc:
        return str(exc)
    try:
        compile_linear(pattern)
    except re2.error as exc:
        reason = exc.args[0] if exc.args else ""
        if isinstance(reason, bytes):
            reason = reason.decode("utf-8", "replace")
        return f"{reason} (only patterns that match in linear time are supported: no backreferences or lookaround)"
    return None
