"""The ``server`` service."""

from __future__ import annotations

from skiff import API_VERSION, __version__
from skiff.api.context import Call
from skiff.api.registry import EndpointSet
from skiff.ops import accounts
from skiff.schemas.base import EmptyRequest
from skiff.schemas.server import ServerInfoResponse

endpoints = EndpointSet("server")


@endpoints.add("info", request=EmptyRequest, response=ServerInfoResponse, authorize=False)
def info(call: Call, req: EmptyRequest) -> dict:
    """Server version, build and the newest API version it speaks."""
    return {
        "version": __version__,
        "build": "",
        "commit": "",
        "uid": accounts.install_id(call.db),
        "api_version": API_VERSION,
    }
