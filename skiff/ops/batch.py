"""``*_many`` semantics (spec tasks-model §6): each id on its own, in request order, one
transaction each; API errors are collected per id, anything else aborts the call."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from skiff.domain.errors import ApiError


def run_batch(ids: list[str], operation: Callable[[str], dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    succeeded: list[dict[str, Any]] = []
    failed: list[dict[str, Any]] = []
    for id_ in ids:
        try:
            succeeded.append({"id": id_, **operation(id_)})
        except ApiError as exc:
            failed.append(
                {
                    "id": id_,
                    "error": {
                        "codes": [exc.code, exc.subcode],
                        "msg": exc.message,
                        "data": {k: _plain(v) for k, v in exc.data.items()},
                    },
                }
            )
    return {"succeeded": succeeded, "failed": failed}


def _plain(value: Any) -> Any:
    if isinstance(value, (tuple, set, frozenset)):
        return list(value)
    return value
