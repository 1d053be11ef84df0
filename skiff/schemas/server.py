"""server.* and debug.* models."""

from __future__ import annotations

from skiff.schemas.base import ResponseModel


class ServerInfoResponse(ResponseModel):
    version: str
    build: str
    commit: str
    uid: str
    api_version: str


class PingResponse(ResponseModel):
    msg: str
    pid: int
