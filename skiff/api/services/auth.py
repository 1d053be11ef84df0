"""The ``auth`` service: logins and credentials."""

from __future__ import annotations

from skiff.api.context import Call
from skiff.api.registry import EndpointSet
from skiff.ops import accounts, auth
from skiff.schemas.auth import (
    CreateCredentialsRequest,
    CreateCredentialsResponse,
    EditUserRequest,
    EditUserResponse,
    GetCredentialsResponse,
    LoginRequest,
    LoginResponse,
    RevokeCredentialsRequest,
    RevokeCredentialsResponse,
)
from skiff.schemas.base import EmptyRequest

endpoints = EndpointSet("auth")


@endpoints.add("login", request=LoginRequest, response=LoginResponse)
def login(call: Call, req: LoginRequest) -> dict:
    """Exchange Basic credentials (or a valid token) for a signed session token."""
    settings = call.app.settings
    token = auth.login(
        call.db,
        call.app.signing_key,
        call.user,
        requested_lifetime=req.expiration_sec,
        default_lifetime=settings.token_lifetime_sec,
        max_lifetime=settings.token_max_lifetime_sec,
        remote=call.remote,
    )
    return {"token": token}


@endpoints.add("create_credentials", request=CreateCredentialsRequest, response=CreateCredentialsResponse)
def create_credentials(call: Call, req: CreateCredentialsRequest) -> dict:
    """Create a new key/secret pair for the calling user; the secret is shown only here."""
    new = accounts.create_credentials(call.db, call.user, req.label)
    return {"credentials": {"access_key": new.access_key, "secret_key": new.secret_key, "label": req.label}}


@endpoints.add("get_credentials", request=EmptyRequest, response=GetCredentialsResponse)
def get_credentials(call: Call, req: EmptyRequest) -> dict:
    """List the calling user's credentials (never their secrets)."""
    rows = accounts.get_credentials(call.db, call.user)
    return {
        "credentials": [
            {
                "access_key": r["access_key"],
                "label": r["label"],
                "last_used": r["last_used"],
                "last_used_from": r["last_used_from"],
            }
            for r in rows
        ]
    }


@endpoints.add("revoke_credentials", request=RevokeCredentialsRequest, response=RevokeCredentialsResponse)
def revoke_credentials(call: Call, req: RevokeCredentialsRequest) -> dict:
    """Revoke a credential; tokens issued for it stop working at once."""
    return {"revoked": accounts.revoke_credentials(call.db, call.user, req.access_key)}


@endpoints.add("edit_user", request=EditUserRequest, response=EditUserResponse)
def edit_user(call: Call, req: EditUserRequest) -> dict:
    """Change a user's role (admins only)."""
    return accounts.edit_user(call.db, call.user, req.user, req.role)
