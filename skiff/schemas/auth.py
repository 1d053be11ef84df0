"""auth.* and users.* models."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import Field

from skiff.schemas.base import RequestModel, ResponseModel


class LoginRequest(RequestModel):
    expiration_sec: int | None = Field(None, description="Requested token lifetime in seconds")


class LoginResponse(ResponseModel):
    token: str


class CreateCredentialsRequest(RequestModel):
    label: str | None = None


class Credentials(ResponseModel):
    access_key: str
    secret_key: str
    label: str | None = None


class CreateCredentialsResponse(ResponseModel):
    credentials: Credentials


class CredentialKey(ResponseModel):
    access_key: str
    label: str | None = None
    last_used: datetime | None = None
    last_used_from: str | None = None


class GetCredentialsResponse(ResponseModel):
    credentials: list[CredentialKey]


class RevokeCredentialsRequest(RequestModel):
    access_key: str


class RevokeCredentialsResponse(ResponseModel):
    revoked: int


class EditUserRequest(RequestModel):
    user: str | None = None
    role: str | None = None


class EditUserResponse(ResponseModel):
    updated: int
    fields: dict[str, Any]


class CompanyRef(ResponseModel):
    id: str
    name: str


class CurrentUser(ResponseModel):
    id: str
    name: str
    given_name: str | None = None
    family_name: str | None = None
    email: str | None = None
    avatar: str | None = None
    role: str
    company: CompanyRef
    created: datetime
    preferences: dict[str, Any]


class GetCurrentUserResponse(ResponseModel):
    user: CurrentUser
    getting_started: dict[str, Any]
    settings: dict[str, Any]
