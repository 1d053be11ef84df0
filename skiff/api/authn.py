"""The Authorization header: HTTP Basic key:secret or a Bearer token (spec clients §2)."""

from __future__ import annotations

import base64
import binascii

from skiff.api.context import AppContext
from skiff.domain.errors import error
from skiff.domain.identity import Identity
from skiff.ops import auth


def credentials(app: AppContext, header: str | None) -> auth.Credentials:
    """What the header carries, checked as far as it can be without the database (a token's
    signature and expiry); the 401 errors of a missing, malformed or bad header."""
    if not header or not header.strip():
        raise error("no_credentials")
    scheme, _, value = header.strip().partition(" ")
    scheme = scheme.lower()
    value = value.strip()
    if scheme == "bearer":
        if not value:
            raise error("invalid_token")
        return auth.verify_token(app.signing_key, value)
    if scheme == "basic":
        try:
            decoded = base64.b64decode(value, validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError, ValueError):
            raise error("bad_credentials") from None
        key, sep, secret = decoded.partition(":")
        if not sep or not key or not secret:
            raise error("bad_credentials")
        return auth.BasicCredentials(key, secret)
    raise error("bad_auth_type")


def authenticate(app: AppContext, header: str | None) -> Identity:
    return auth.authenticate(app.db, credentials(app, header))
