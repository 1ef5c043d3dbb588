"""The pieces the OpenAPI description is built from: shared schemas and answer helpers."""
from __future__ import annotations

ERROR = {"$ref": "#/components/schemas/Error"}
VECTOR = {"type": "array", "items": {"type": "number"}, "description": "unit embedding of the server's model"}
BOX = {"type": "array", "items": {"type": "integer"}, "minItems": 4, "maxItems": 4, "description": "[x, y, w, h]"}
HASH = {"name": "hash", "in": "path", "required": True, "schema": {"type": "string"},
        "description": "identity hash (64 hex digits)"}


def json_answer(schema: dict, description: str) -> dict:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def error_answers(*codes: int) -> dict:
    text = {400: "malformed request", 401: "API key missing or wrong (`needs_key`: true), or face not recognised",
            403: "sent by another site's page", 404: "no such identity",
            409: "conflict", 413: "too large", 415: "not an image or video we can read", 422: "no face found",
            429: "too many failed sign-ins lately: wait the seconds in Retry-After"}
    return {str(code): json_answer(ERROR, text[code]) for code in codes}


def multipart_body(properties: dict, required: list[str]) -> dict:
    return {"required": True, "content": {"multipart/form-data": {
        "schema": {"type": "object", "properties": properties, "required": required}}}}


IMAGE = {"type": "string", "format": "binary", "description": "a JPEG, PNG, BMP or WebP photo"}
TEXT = {"type": "string"}
