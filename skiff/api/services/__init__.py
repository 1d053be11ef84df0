"""One module per ClearML service; each declares an ``endpoints`` EndpointSet."""

from __future__ import annotations

from skiff.api.registry import Registry
from skiff.api.services import auth, debug, events, models, projects, queues, server, tasks, users, workers

SERVICES = (auth, users, server, debug, projects, tasks, models, queues, workers, events)


def build_registry() -> Registry:
    return Registry(e for module in SERVICES for e in module.endpoints.items)
