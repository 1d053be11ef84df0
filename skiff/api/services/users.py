"""The ``users`` service (what clients and the operator need so far)."""

from __future__ import annotations

from skiff.api.context import Call
from skiff.api.registry import EndpointSet
from skiff.ops import accounts
from skiff.schemas.auth import GetCurrentUserResponse
from skiff.schemas.base import EmptyRequest

endpoints = EndpointSet("users")


@endpoints.add("get_current_user", request=EmptyRequest, response=GetCurrentUserResponse)
def get_current_user(call: Call, req: EmptyRequest) -> dict:
    """The calling user with its company."""
    found = accounts.get_current_user(call.db, call.user)
    user, company = found["user"], found["company"]
    return {
        "user": {
            "id": user["id"],
            "name": user["name"],
            "given_name": user["given_name"],
            "family_name": user["family_name"],
            "email": user["email"],
            "avatar": user["avatar"],
            "role": user["role"],
            "company": {"id": company["id"], "name": company["name"]},
            "created": user["created"],
            "preferences": user["preferences"] or {},
        },
        "getting_started": {},
        "settings": {"max_download_items": 1000},
    }
