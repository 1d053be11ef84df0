"""Identifier and secret generation."""

from __future__ import annotations

import secrets
import string
import uuid

_KEY_ALPHABET = string.ascii_uppercase + string.digits
_SECRET_ALPHABET = string.ascii_letters + string.digits


def new_id() -> str:
    """A 32-character lowercase hex id, as ClearML uses for tasks, projects, users …"""
    return uuid.uuid4().hex


def new_access_key() -> str:
    return "".join(secrets.choice(_KEY_ALPHABET) for _ in range(24))


def new_secret_key() -> str:
    return "".join(secrets.choice(_SECRET_ALPHABET) for _ in range(48))
