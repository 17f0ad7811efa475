"""One table of the API's operations: the routes are built from it, and so is the OpenAPI
document (web/api/openapi.py). Each operation names its scope, its query and body models
and its success answers; the wrapper here checks the token, parses and validates the input
and turns every failure into the JSON error shape."""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ValidationError
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from syndicate.store.api_tokens import ApiToken
from syndicate.web.api.auth import SECURITY_HEADERS, ApiError, Authority, error_response

MAX_JSON = 16 * 1024  # far above any valid body (50 lists, a name, a source)
log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True, kw_only=True)
class Call:
    """What a handler gets: the request, the token, the validated query and body."""

    request: Request
    token: ApiToken
    query: Any
    body: Any


Handler = Callable[[Call], Awaitable[Response]]


@dataclass(frozen=True, slots=True, kw_only=True)
class Operation:
    """One method on one path."""

    method: str
    path: str  # under /api/v1, Starlette syntax: /subscribers/{email}
    operation_id: str
    summary: str
    scope: str
    handler: Handler
    responses: dict[int, tuple[type[BaseModel], str]]  # success status: model, description
    query: type[BaseModel] | None = None
    body: type[BaseModel] | None = None
    errors: tuple[int, ...] = ()  # besides 401, 403, 404, 405, 422, 429
    path_params: dict[str, str] = field(default_factory=dict)  # name: description


def json_response(
    model: BaseModel, status: int = 200, *, omit: frozenset[str] = frozenset()
) -> JSONResponse:
    """A model as the answer (aliases as the document names them), without the top-level
    fields in ``omit`` (optional ones the caller may not see)."""
    return JSONResponse(
        model.model_dump(mode="json", by_alias=True, exclude=set(omit) or None),
        status_code=status,
        headers=SECURITY_HEADERS,
    )


def _problem(exc: ValidationError, patterns: Mapping[str, str]) -> str:
    parts = []
    for e in exc.errors(include_url=False)[:5]:
        where = ".".join(str(p) for p in e["loc"]) or "body"
        message = str(e["msg"]).removeprefix("Value error, ")
        if e["type"] == "string_pattern_mismatch":  # a regex says nothing to an integrator
            message = patterns.get(str((e.get("ctx") or {}).get("pattern")), message)
        parts.append(f"{where}: {message}")
    return "; ".join(parts)


def validate(
    model: type[BaseModel], data: Any, what: str, patterns: Mapping[str, str] | None = None
) -> Any:
    """``data`` checked by ``model``; 422 naming each field's problem (a pattern's failure
    in the words ``patterns`` gives for it)."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise ApiError(422, "invalid_" + what, _problem(exc, patterns or {})) from None


def query_of(request: Request) -> dict[str, str]:
    """The query parameters, each given once (422 ``invalid_query`` for a repeated one:
    "last one wins" would silently drop what the caller meant)."""
    found: dict[str, str] = {}
    for key, value in request.query_params.multi_items():
        if key in found:
            raise ApiError(422, "invalid_query", f"{key[:40]} given twice")
        found[key] = value
    return found


async def read_json(request: Request) -> Any:
    """The request's JSON body: 415 for another type, 413 when too large, 400 unreadable."""
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind != "application/json":
        raise ApiError(415, "unsupported_media_type", "send the body as application/json")
    declared = request.headers.get("content-length")
    if declared is not None and (not declared.isdigit() or int(declared) > MAX_JSON):
        raise ApiError(413, "too_large", f"the body may be at most {MAX_JSON} bytes")
    raw = bytearray()
    async for chunk in request.stream():
        raw += chunk
        if len(raw) > MAX_JSON:
            raise ApiError(413, "too_large", f"the body may be at most {MAX_JSON} bytes")
    try:
        return json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise ApiError(400, "invalid_json", "the body is not valid UTF-8 JSON") from None
    except RecursionError:  # "[[[[…": the parser gives up; no valid body nests that deep
        raise ApiError(400, "invalid_json", "the body is nested too deeply") from None


def _endpoint(
    op: Operation, authority: Authority, patterns: Mapping[str, str]
) -> Callable[[Request], Awaitable[Response]]:
    async def endpoint(request: Request) -> Response:
        try:
            token = await authority.check(request, op.scope)
            given = query_of(request)
            query = validate(op.query, given, "query", patterns) if op.query is not None else None
            body = (
                validate(op.body, await read_json(request), "body", patterns) if op.body else None
            )
            return await op.handler(Call(request=request, token=token, query=query, body=body))
        except ApiError as exc:
            return error_response(exc)
        except HTTPException as exc:  # Starlette's own (e.g. the app's body limit)
            return error_response(ApiError(exc.status_code, "http_error", str(exc.detail)))
        except ClientDisconnect:
            return Response(status_code=400)

    endpoint.__name__ = op.operation_id
    return endpoint


def build_routes(
    operations: Sequence[Operation], authority: Authority, patterns: Mapping[str, str]
) -> list[BaseRoute]:
    """One Starlette route per path, taking each method an operation gives it: a 405 then
    names them all in ``Allow`` (a route per operation would name only its own)."""
    by_path: dict[str, dict[str, Callable[[Request], Awaitable[Response]]]] = {}
    for op in operations:
        by_path.setdefault(op.path, {})[op.method] = _endpoint(op, authority, patterns)
    routes: list[BaseRoute] = []
    for path, endpoints in by_path.items():

        async def dispatch(
            request: Request,
            endpoints: Mapping[str, Callable[[Request], Awaitable[Response]]] = endpoints,
        ) -> Response:
            method = "GET" if request.method == "HEAD" else request.method
            return await endpoints[method](request)

        routes.append(Route(path, dispatch, methods=list(endpoints)))
    return routes
