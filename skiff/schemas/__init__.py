"""Request and response models (pydantic v2). Requests ignore unknown keys, as clients send them."""
