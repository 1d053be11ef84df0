"""Path rules of the files endpoint: which names may address a file under the files root.

Pure code. A stored file is named by a relative path of ``/``-separated segments; this module turns
the text a client sent (the URL path after ``/files/``, or a multipart part name) into segments or
refuses it. The file system checks (symlinks pointing out of the root) live in ``skiff.ops.files``.

Each company has its own area under the root, named by its id: the paths a client sends are
relative to that area, so the same URL names different files for different companies and no path
reaches another company's files (``company_area``).

The SDK names each uploaded part by its target path *with* a leading slash
(``/<project>/<task>.<id>/artifacts/<key>/<file>``, relative to the upload URL), so part names may
start with one slash; URL paths may not (``/files//etc/passwd`` is absolute).
"""

from __future__ import annotations


class UnsafePath(ValueError):
    """A path that would leave the files root or cannot name a file there."""


def relative_parts(text: str, *, leading_slash: bool = False, allow_empty: bool = False) -> tuple[str, ...]:
    """The segments of a relative path, or ``UnsafePath``.

    Refused: NUL, backslashes (a separator on some systems), ``.`` and ``..`` segments, empty
    segments (``a//b``), absolute paths. ``leading_slash`` accepts one leading ``/`` as relative
    (multipart part names); ``allow_empty`` accepts ``""`` as the root itself (an upload URL).
    """
    if "\x00" in text:
        raise UnsafePath("NUL characters are not allowed in file paths")
    if "\\" in text:
        raise UnsafePath("backslashes are not allowed in file paths")
    if leading_slash and text.startswith("/") and not text.startswith("//"):
        text = text[1:]
    if text.startswith("/"):
        raise UnsafePath("absolute paths are not allowed")
    if not text:
        if allow_empty:
            return ()
        raise UnsafePath("empty file path")
    parts = tuple(text.split("/"))
    for part in parts:
        if part in (".", ".."):
            raise UnsafePath("'.' and '..' are not allowed in file paths")
        if not part:
            raise UnsafePath("empty path segments are not allowed")
    return parts


def company_area(company: str) -> str:
    """The directory (one segment under the root) that holds ``company``'s files."""
    parts = relative_parts(company)
    if len(parts) != 1:
        raise UnsafePath("a company id must be one path segment")
    return parts[0]


def join_parts(parts: tuple[str, ...]) -> str:
    return "/".join(parts)
