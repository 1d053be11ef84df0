"""Request validation: pydantic errors rendered as ClearML's 400/12 messages naming the field."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ValidationError

from skiff.domain.errors import error


def _field(loc: tuple[Any, ...]) -> str:
    return ".".join(str(part) for part in loc if not str(part).startswith("function-"))


def describe(exc: ValidationError) -> str:
    first = exc.errors(include_url=False)[0]
    field = _field(first["loc"])
    kind = first["type"]
    if kind == "missing":
        detail = "field is required!"
    elif kind == "too_short":
        minimum = (first.get("ctx") or {}).get("min_length")
        detail = f"value '{first.get('input')}' length is lower than allowed minimum '{minimum}'."
    else:
        detail = f"{first['msg'].rstrip('.')} (got {first.get('input')!r:.80})."
    return f"error for field '{field}'. {detail}" if field else detail


def validate(model: type[BaseModel], data: Any) -> Any:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise error("validation_error", describe(exc)) from None


def check_response(model: type[BaseModel], data: Any, endpoint: str) -> None:
    """Raise if a handler answered something its declared response model does not admit."""
    try:
        model.model_validate(data)
    except ValidationError as exc:
        raise AssertionError(f"{endpoint} answered outside its response model: {exc}") from exc

