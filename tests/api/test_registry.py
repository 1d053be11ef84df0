"""Tests generated from the endpoint registry: every endpoint is documented and guarded."""

from __future__ import annotations

import pytest

from skiff.api.services import build_registry
from tests.support import Api

REGISTRY = build_registry()
ENDPOINTS = REGISTRY.newest()


def test_openapi_lists_every_registered_endpoint(api: Api) -> None:
    response = api.client.get("/openapi.json")
    assert response.status_code == 200
    doc = response.json()
    assert doc["openapi"].startswith("3.")
    assert set(doc["paths"]) == {f"/{name}" for name in REGISTRY.names()}
    schemas = doc["components"]["schemas"]
    for endpoint in ENDPOINTS:
        operation = doc["paths"][f"/{endpoint.name}"]["post"]
        assert operation["operationId"] == endpoint.name
        assert operation["x-min-version"] == str(endpoint.min_version)
        data = operation["responses"]["200"]["content"]["application/json"]["schema"]["properties"]["data"]
        ref = data["$ref"].rsplit("/", 1)[-1]
        assert ref in schemas
        assert ("401" in operation["responses"]) == endpoint.authorize


def test_every_ref_resolves(api: Api) -> None:
    doc = api.client.get("/openapi.json").json()
    schemas = doc["components"]["schemas"]

    def walk(node):  # type: ignore[no-untyped-def]
        if isinstance(node, dict):
            ref = node.get("$ref")
            if ref:
                assert ref.startswith("#/components/schemas/")
                assert ref.rsplit("/", 1)[-1] in schemas, ref
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(doc)


@pytest.mark.parametrize("endpoint", [e for e in ENDPOINTS if e.authorize], ids=lambda e: e.name)
def test_every_authorized_endpoint_refuses_anonymous_calls(api: Api, endpoint) -> None:  # type: ignore[no-untyped-def]
    reply = api.call(endpoint.name, {}, auth=None)
    assert reply.code == (401, 20)
    assert reply.data == {}


@pytest.mark.parametrize("endpoint", ENDPOINTS, ids=lambda e: e.name)
def test_every_endpoint_answers_an_envelope_for_garbage(api: Api, endpoint) -> None:  # type: ignore[no-untyped-def]
    reply = api.call(endpoint.name, content=b"\xff\xfe{", headers={"Content-Type": "application/json"})
    assert reply.code == (400, 0)
    assert reply.data == {}
