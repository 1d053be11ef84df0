"""Who is calling: the identity every authenticated call carries."""

from __future__ import annotations

from dataclasses import dataclass

ROLES = ("admin", "user")
ADMIN_ROLES = frozenset({"admin"})


@dataclass(frozen=True)
class Identity:
    company: str
    company_name: str
    user: str
    user_name: str
    role: str
    access_key: str

    @property
    def is_admin(self) -> bool:
        return self.role in ADMIN_ROLES
