"""The ``debug`` service."""

from __future__ import annotations

import os

from skiff.api.context import Call
from skiff.api.registry import EndpointSet
from skiff.schemas.base import EmptyRequest
from skiff.schemas.server import PingResponse

endpoints = EndpointSet("debug")


@endpoints.add("ping", request=EmptyRequest, response=PingResponse, authorize=False)
def ping(call: Call, req: EmptyRequest) -> dict:
    """Liveness check; ``pid`` tells which server process answered."""
    return {"msg": "ClearML server", "pid": os.getpid()}
