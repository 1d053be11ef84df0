"""Signed session tokens (JWT, HS256) carrying the claims the ClearML clients read.

Clients decode the token without verifying it and read ``exp``, ``api_version``,
``server_version`` and ``feature_set`` (spec clients §2). skiff verifies the signature and
expiry, and names the credential (``cred``) so that a revoked credential stops its tokens at once.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone

import jwt

from skiff import API_VERSION, __version__
from skiff.domain.errors import error
from skiff.domain.identity import Identity

ALGORITHM = "HS256"


@dataclass(frozen=True)
class TokenClaims:
    access_key: str
    user: str
    company: str
    expires: datetime


def issue_token(identity: Identity, key: bytes, issued: datetime, lifetime_sec: int) -> str:
    iat = int(issued.replace(tzinfo=timezone.utc).timestamp())
    claims = {
        "iat": iat,
        "exp": iat + lifetime_sec,
        "api_version": API_VERSION,
        "server_version": __version__,
        "server_build": "",
        "feature_set": "basic",
        "env": "production",
        "cred": identity.access_key,
        "identity": {
            "user": identity.user,
            "company": identity.company,
            "role": identity.role,
            "user_name": identity.user_name,
            "company_name": identity.company_name,
        },
    }
    return jwt.encode(claims, key, algorithm=ALGORITHM)


def read_token(token: str, key: bytes) -> TokenClaims:
    """Verify signature and expiry; raise the ClearML 401 error otherwise."""
    try:
        claims = jwt.decode(
            token,
            key,
            algorithms=[ALGORITHM],
            options={"require": ["exp", "iat"]},
        )
    except jwt.ExpiredSignatureError:
        raise error("invalid_token", "token expired") from None
    except jwt.InvalidTokenError:
        raise error("invalid_token") from None
    ident = claims.get("identity")
    cred = claims.get("cred")
    if not isinstance(ident, dict) or not isinstance(cred, str):
        raise error("invalid_token", "missing claims")
    return TokenClaims(
        access_key=cred,
        user=str(ident.get("user", "")),
        company=str(ident.get("company", "")),
        expires=datetime.fromtimestamp(claims["exp"], timezone.utc).replace(tzinfo=None),
    )
