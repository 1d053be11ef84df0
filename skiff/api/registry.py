"""The endpoint registry: each endpoint declared once, as data.

Routing, request validation, authorization and the OpenAPI document are all derived from these
declarations; tests walk the registry rather than a hand-kept list.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import BaseModel

from skiff.domain.versions import Version

Handler = Callable[[Any, Any], Any]

#: An endpoint whose use case is exactly one transaction of this kind may declare it: the call's
#: credential is then checked inside that transaction and the use case joins it (see
#: ``skiff.ops.auth.authenticated``), saving a transaction per call on the hot paths.
Transaction = Literal["read", "write"]


@dataclass(frozen=True)
class Endpoint:
    name: str  # the literal ClearML name, "tasks.get_by_id"
    handler: Handler
    request: type[BaseModel]
    response: type[BaseModel]
    min_version: Version
    summary: str = ""
    authorize: bool = True  # False: callable without credentials
    admin_only: bool = False
    batch: bool = False  # the body may be a list of request items (json-lines)
    #: batch items reach the handler as plain dicts (it validates them itself, item by item);
    #: the request model then only documents an item
    raw_items: bool = False
    transaction: Transaction | None = None

    @property
    def service(self) -> str:
        return self.name.split(".", 1)[0]


@dataclass
class EndpointSet:
    """What one service module declares: ``@endpoints.add("login", ...)`` on each handler."""

    service: str
    items: list[Endpoint] = field(default_factory=list)

    def add(
        self,
        action: str,
        *,
        request: type[BaseModel],
        response: type[BaseModel],
        min_version: str = "1.0",
        authorize: bool = True,
        admin_only: bool = False,
        batch: bool = False,
        raw_items: bool = False,
        transaction: Transaction | None = None,
    ) -> Callable[[Handler], Handler]:
        if transaction is not None and (not authorize or batch):
            raise ValueError(f"{self.service}.{action}: only a single authorized call joins its credential check")

        def register(handler: Handler) -> Handler:
            self.items.append(
                Endpoint(
                    name=f"{self.service}.{action}",
                    handler=handler,
                    request=request,
                    response=response,
                    min_version=Version.parse(min_version),
                    summary=(handler.__doc__ or "").strip().split("\n")[0],
                    authorize=authorize,
                    admin_only=admin_only,
                    batch=batch,
                    raw_items=raw_items,
                    transaction=transaction,
                )
            )
            return handler

        return register


#: How many (name, version) resolutions a registry remembers (clients use a handful of versions;
#: the bound is for clients that send arbitrary ones).
_RESOLVED_SIZE = 4096


class Registry:
    def __init__(self, endpoints: Iterable[Endpoint] = ()) -> None:
        self._by_name: dict[str, list[Endpoint]] = {}
        self._resolved: dict[tuple[str, Version], Endpoint | None] = {}
        for endpoint in endpoints:
            self.add(endpoint)

    def add(self, endpoint: Endpoint) -> None:
        versions = self._by_name.setdefault(endpoint.name, [])
        if any(e.min_version == endpoint.min_version for e in versions):
            raise ValueError(f"{endpoint.name} v{endpoint.min_version} declared twice")
        versions.append(endpoint)
        versions.sort(key=lambda e: e.min_version)
        self._resolved.clear()

    def resolve(self, name: str, version: Version) -> Endpoint | None:
        """The handler with the highest min_version not above ``version`` (remembered: every
        call resolves one)."""
        key = (name, version)
        if key in self._resolved:
            return self._resolved[key]
        found = None
        for endpoint in self._by_name.get(name, ()):
            if endpoint.min_version <= version:
                found = endpoint
        if len(self._resolved) < _RESOLVED_SIZE:
            self._resolved[key] = found
        return found

    def names(self) -> list[str]:
        return sorted(self._by_name)

    def newest(self) -> list[Endpoint]:
        return [self._by_name[name][-1] for name in self.names()]

    def all(self) -> list[Endpoint]:
        return [e for name in self.names() for e in self._by_name[name]]
