"""The OpenAPI 3.1 document, generated from the endpoint registry (served at ``/openapi.json``)."""

from __future__ import annotations

from typing import Any

from pydantic.json_schema import models_json_schema

from skiff import API_VERSION, __version__
from skiff.api.registry import Registry

_REF = "#/components/schemas/{model}"

_META = {
    "type": "object",
    "required": [
        "id",
        "trx",
        "endpoint",
        "result_code",
        "result_subcode",
        "result_msg",
        "error_stack",
        "error_data",
    ],
    "properties": {
        "id": {"type": "string"},
        "trx": {"type": "string"},
        "endpoint": {
            "type": "object",
            "properties": {
                "name": {"type": "string"},
                "requested_version": {"type": ["string", "number"]},
                "actual_version": {"type": ["string", "number", "null"]},
            },
        },
        "result_code": {"type": "integer"},
        "result_subcode": {"type": "integer"},
        "result_msg": {"type": "string"},
        "error_stack": {"type": ["string", "null"]},
        "error_data": {"type": "object"},
    },
}

_ERROR_ENVELOPE = {
    "type": "object",
    "required": ["meta", "data"],
    "properties": {
        "meta": {"$ref": "#/components/schemas/Meta"},
        "data": {"type": "object", "maxProperties": 0},
    },
}


def _envelope(data_schema: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": "object",
        "required": ["meta", "data"],
        "properties": {"meta": {"$ref": "#/components/schemas/Meta"}, "data": data_schema},
    }


def _error_response(description: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorEnvelope"}}},
    }


def openapi_document(registry: Registry) -> dict[str, Any]:
    endpoints = registry.newest()
    inputs = [(e.request, "validation") for e in endpoints]
    outputs = [(e.response, "serialization") for e in endpoints]
    refs, defs = models_json_schema(list(dict.fromkeys(inputs + outputs)), ref_template=_REF)
    schemas: dict[str, Any] = dict(defs.get("$defs", {}))
    schemas["Meta"] = _META
    schemas["ErrorEnvelope"] = _ERROR_ENVELOPE

    paths: dict[str, Any] = {}
    for e in endpoints:
        request_schema = refs[(e.request, "validation")]
        if e.batch:
            request_schema = {"type": "array", "items": request_schema}
        responses: dict[str, Any] = {
            "200": {
                "description": "Success",
                "content": {
                    "application/json": {"schema": _envelope(refs[(e.response, "serialization")])}
                },
            },
            "400": _error_response("Invalid request (ClearML result_subcode tells which)"),
            "500": _error_response("Internal error"),
        }
        if e.authorize:
            responses["401"] = _error_response("Missing, invalid or expired credentials")
            responses["403"] = _error_response("Not allowed for this role")
        operation = {
            "operationId": e.name,
            "summary": e.summary or e.name,
            "tags": [e.service],
            "x-min-version": str(e.min_version),
            "requestBody": {
                "required": False,
                "content": {"application/json": {"schema": request_schema}},
            },
            "responses": responses,
            "security": [{"bearerAuth": []}, {"basicAuth": []}] if e.authorize else [],
        }
        paths[f"/{e.name}"] = {"post": operation}

    return {
        "openapi": "3.1.0",
        "info": {
            "title": "skiff — ClearML-compatible API",
            "version": __version__,
            "description": (
                "Every endpoint is also served under /v<version>/<name> (any version up to "
                f"{API_VERSION}; unversioned means {API_VERSION}) and accepts GET, POST and PUT "
                "with a JSON body."
            ),
        },
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": {
                "bearerAuth": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"},
                "basicAuth": {"type": "http", "scheme": "basic"},
            },
        },
    }
