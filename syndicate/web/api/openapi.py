"""The OpenAPI 3.1 document of the API, generated from the operations table and the same
pydantic models that validate requests and build answers (web/api/models.py): it cannot
describe an API other than the one that runs."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from syndicate import __version__
from syndicate.config import LIST_NAME
from syndicate.web.api.auth import RATE_CAPACITY, RATE_PERIOD
from syndicate.web.api.models import ErrorOut
from syndicate.web.api.operations import MAX_JSON, Operation

_REF = "#/components/schemas/{model}"
_ERRORS = {
    400: "The body is not valid JSON.",
    401: "No token, or an unknown or revoked one.",
    403: "The token lacks the scope this operation needs (the message names it).",
    404: "No such resource.",
    405: "This path does not accept that method.",
    413: f"The body is larger than {MAX_JSON} bytes.",
    415: "The body is not application/json.",
    422: "The input is not valid (the message names each field and what is wrong).",
    429: f"More than {RATE_CAPACITY} requests per {RATE_PERIOD:.0f} s with this token.",
    503: "The publication cannot send email (no [email] section).",
}
_HEADERS = {
    401: {"WWW-Authenticate": {"schema": {"type": "string"}, "required": True}},
    429: {
        "Retry-After": {
            "description": "Seconds to wait.",
            "schema": {"type": "string", "pattern": "^[0-9]+$"},
            "required": True,
        }
    },
}


def _models(operations: Sequence[Operation]) -> list[tuple[type[BaseModel], Any]]:
    found: dict[tuple[type[BaseModel], str], None] = {(ErrorOut, "serialization"): None}
    for op in operations:
        for model, _ in op.responses.values():
            found[(model, "serialization")] = None
        if op.body is not None:
            found[(op.body, "validation")] = None
    return list(found)


def _parameters(op: Operation) -> list[dict[str, Any]]:
    params: list[dict[str, Any]] = [
        {"name": n, "in": "path", "required": True, "description": d, "schema": {"type": "string"}}
        for n, d in op.path_params.items()
    ]
    if op.query is not None:
        schema = op.query.model_json_schema(ref_template=_REF)
        required = set(schema.get("required", ()))
        for name, prop in schema["properties"].items():
            prop = dict(prop)
            description = prop.pop("description", None)
            prop.pop("title", None)
            param: dict[str, Any] = {
                "name": name,
                "in": "query",
                "required": name in required,
                "schema": prop,
            }
            if description:
                param["description"] = description
            params.append(param)
    return params


def _error(status: int) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "description": _ERRORS[status],
        "content": {"application/json": {"schema": {"$ref": _REF.format(model="ErrorOut")}}},
    }
    if status in _HEADERS:
        doc["headers"] = _HEADERS[status]
    return doc


def _enum_lists(schema: Any, lists: Sequence[str]) -> None:
    """Every list-name schema (known by the pattern) narrowed to the declared names: the
    lists come from syndicate.toml at start, so the document can name them."""
    if isinstance(schema, dict):
        if schema.get("pattern") == LIST_NAME and schema.get("type") == "string":
            schema["enum"] = list(lists)
        for value in schema.values():
            _enum_lists(value, lists)
    elif isinstance(schema, list):
        for value in schema:
            _enum_lists(value, lists)


def openapi_document(
    operations: Sequence[Operation], *, title: str, lists: Sequence[str] = ()
) -> dict[str, Any]:
    """The document, ready for ``json.dumps``; ``lists``: the declared list names (none:
    list names are only described by their pattern)."""
    keys, defs = models_json_schema(_models(operations), ref_template=_REF)
    paths: dict[str, dict[str, Any]] = {}
    for op in operations:
        responses: dict[str, Any] = {
            str(status): {
                "description": description,
                "content": {"application/json": {"schema": keys[(model, "serialization")]}},
            }
            for status, (model, description) in op.responses.items()
        }
        for status in sorted({401, 403, 405, 422, 429, *op.errors}):
            responses[str(status)] = _error(status)
        item: dict[str, Any] = {
            "operationId": op.operation_id,
            "summary": op.summary,
            "description": f"Needs the scope `{op.scope}`.",
            "parameters": _parameters(op),
            "responses": responses,
            "x-scope": op.scope,
        }
        if op.body is not None:
            item["requestBody"] = {
                "required": True,
                "content": {"application/json": {"schema": keys[(op.body, "validation")]}},
            }
        paths.setdefault("/api/v1" + op.path, {})[op.method.lower()] = item
    document: dict[str, Any] = {
        "openapi": "3.1.0",
        "info": {
            "title": f"{title} — syndicate API",
            "version": __version__,
            "description": (
                "Bearer tokens from `syndicate admin token create`; every failure answers "
                '`{"error": {"code": "...", "message": "..."}}`. '
                f"Rate limit: {RATE_CAPACITY} requests per {RATE_PERIOD:.0f} s per token."
            ),
        },
        "servers": [{"url": "/"}],
        "security": [{"bearer": []}],
        "paths": paths,
        "components": {
            "schemas": defs.get("$defs", {}),
            "securitySchemes": {
                "bearer": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "A token made by `syndicate admin token create`.",
                }
            },
        },
    }
    if lists:
        _enum_lists(document, lists)
    return document
