"""Base models for requests and responses.

Requests: unknown keys are ignored (every SDK body carries ``"method": "get"``), and an explicit
``null`` for a field that does not admit None means "not given" (the agent sends
``"machine_stats": null``), so the field's default applies or, if required, it is reported missing.
"""

from __future__ import annotations

import types
import typing
from typing import Any

from pydantic import BaseModel, ConfigDict, model_validator


def _admits_none(annotation: Any) -> bool:
    if annotation is None or annotation is type(None) or annotation is Any:
        return True
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        return any(_admits_none(arg) for arg in typing.get_args(annotation))
    if origin is typing.Annotated:
        return _admits_none(typing.get_args(annotation)[0])
    return False


class RequestModel(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True)

    @model_validator(mode="before")
    @classmethod
    def _drop_nulls(cls, data: Any) -> Any:
        if isinstance(data, dict) and None in data.values():
            drop = _non_nullable_keys(cls)
            return {k: v for k, v in data.items() if not (v is None and k in drop)}
        return data


_NON_NULLABLE: dict[type, frozenset[str]] = {}


def _non_nullable_keys(model: type[BaseModel]) -> frozenset[str]:
    """Field names (and aliases) of ``model`` whose annotation does not admit None (cached)."""
    keys = _NON_NULLABLE.get(model)
    if keys is None:
        names: set[str] = set()
        for name, info in model.model_fields.items():
            if not _admits_none(info.annotation):
                names.add(name)
                if info.alias:
                    names.add(info.alias)
        keys = _NON_NULLABLE[model] = frozenset(names)
    return keys


class EmptyRequest(RequestModel):
    pass


class ResponseModel(BaseModel):
    model_config = ConfigDict(extra="forbid")


class EmptyResponse(ResponseModel):
    pass
