"""The ``{meta, data}`` envelope every response carries (spec tasks-model §1.5), rendered once."""

from __future__ import annotations

from typing import Any

from skiff.domain.encoding import dumps
from skiff.domain.errors import ApiError
from skiff.domain.versions import Version


def _version(v: Version | None) -> str | float | None:
    return None if v is None else v.wire()


def render(
    *,
    call_id: str,
    trx: str,
    endpoint: str,
    requested: Version | float | None,
    actual: Version | None,
    data: Any = None,
    err: ApiError | None = None,
    stack: str | None = None,
) -> tuple[int, bytes]:
    """Return the HTTP status and the JSON body."""
    requested_wire = requested if isinstance(requested, float) else _version(requested)
    if err is None:
        meta = {
            "id": call_id,
            "trx": trx,
            "endpoint": {"name": endpoint, "requested_version": requested_wire, "actual_version": _version(actual)},
            "result_code": 200,
            "result_subcode": 0,
            "result_msg": "OK",
            "error_stack": "",
            "error_data": {},
        }
        status = 200
    else:
        meta = {
            "id": call_id,
            "trx": trx,
            "endpoint": {"name": endpoint, "requested_version": requested_wire, "actual_version": _version(actual)},
            "result_code": err.code,
            "result_subcode": err.subcode,
            "result_msg": err.message,
            "error_stack": stack,
            "error_data": {},
        }
        status = err.code
        data = {}
    return status, dumps({"meta": meta, "data": data if data is not None else {}})
