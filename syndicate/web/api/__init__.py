"""The HTTP API at ``/api/v1/`` (bearer tokens; JSON in and out; OpenAPI 3.1 at
``/api/v1/openapi.json``).

Routes::

    GET    /subscribers            search (q: address or name prefix), list, status; pages
    POST   /subscribers            subscribe: double opt-in, or confirmed with a consent source
    GET    /subscribers/{email}    one subscriber, their lists, topics and consent trail
    PATCH  /subscribers/{email}    name, topics, lists
    DELETE /subscribers/{email}    unsubscribe (every list, or ?list=); the record stays
    GET    /lists                  declared lists with counts per status
    GET    /sends                  sends, newest first
    GET    /sends/{id}             a send's report (id or digest id)
    GET    /articles               articles, newest first; pages
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable
from datetime import datetime

from sqlalchemy import Engine
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Mount, Route

from syndicate.config import Settings
from syndicate.web.api import models as m
from syndicate.web.api.auth import SECURITY_HEADERS, ApiError, Authority, error_response
from syndicate.web.api.handlers import Api
from syndicate.web.api.openapi import openapi_document
from syndicate.web.api.operations import Operation, build_routes
from syndicate.web.ratelimit import RateLimiter

log = logging.getLogger(__name__)
_BODY = (400, 413, 415)
_EMAIL = {"email": "The subscriber's address (URL-encoded)."}


def operations(api: Api) -> list[Operation]:
    """Every operation of the API (routes and document are built from this)."""
    return [
        Operation(
            method="GET",
            path="/subscribers",
            operation_id="listSubscribers",
            summary="Search subscribers (address or name prefix, list, status), by pages.",
            scope="subscribers:read",
            handler=api.list_subscribers,
            query=m.SubscriberQuery,
            responses={200: (m.SubscriberPage, "One page; `next` is the next page's URL.")},
        ),
        Operation(
            method="POST",
            path="/subscribers",
            operation_id="createSubscriber",
            summary="Subscribe: double opt-in (as the subscribe form), or confirmed.",
            scope="subscribers:write",
            handler=api.create_subscriber,
            body=m.SubscribeIn,
            responses={
                202: (m.SubscribeAccepted, "Double opt-in: recorded, a confirmation mail follows."),
                200: (m.ChangeOut, "Confirmed: what changed on each list."),
            },
            errors=(*_BODY, 503),
        ),
        Operation(
            method="GET",
            path="/subscribers/{email}",
            operation_id="getSubscriber",
            summary="One subscriber: lists, topics and consent trail.",
            scope="subscribers:read",
            handler=api.get_subscriber,
            path_params=_EMAIL,
            responses={200: (m.SubscriberDetail, "The subscriber.")},
            errors=(404,),
        ),
        Operation(
            method="PATCH",
            path="/subscribers/{email}",
            operation_id="updateSubscriber",
            summary="Change name, topics or lists (new lists need a confirmation mail).",
            scope="subscribers:write",
            handler=api.update_subscriber,
            path_params=_EMAIL,
            body=m.PatchIn,
            responses={200: (m.ChangeOut, "What changed.")},
            errors=(*_BODY, 404),
        ),
        Operation(
            method="DELETE",
            path="/subscribers/{email}",
            operation_id="unsubscribeSubscriber",
            summary="Unsubscribe from every list (or ?list=); the record stays, suppressed.",
            scope="subscribers:write",
            handler=api.delete_subscriber,
            path_params=_EMAIL,
            query=m.DeleteQuery,
            responses={200: (m.ChangeOut, "What changed.")},
            errors=(404,),
        ),
        Operation(
            method="GET",
            path="/lists",
            operation_id="listLists",
            summary="The declared lists with subscribers per status.",
            scope="lists:read",
            handler=api.lists,
            responses={200: (m.ListsOut, "Every list.")},
        ),
        Operation(
            method="GET",
            path="/sends",
            operation_id="listSends",
            summary="Sends, newest first.",
            scope="sends:read",
            handler=api.sends,
            query=m.SendsQuery,
            responses={200: (m.SendsOut, "One page of sends.")},
        ),
        Operation(
            method="GET",
            path="/sends/{id}",
            operation_id="getSendReport",
            summary="A send's report: outcomes, failures with the server's reply, feedback.",
            scope="sends:read",
            handler=api.send_report,
            path_params={"id": "The send's id, or its digest id (weekly-3)."},
            responses={200: (m.ReportOut, "The report.")},
            errors=(404,),
        ),
        Operation(
            method="GET",
            path="/articles",
            operation_id="listArticles",
            summary="Articles, newest first.",
            scope="articles:read",
            handler=api.articles,
            query=m.ArticlesQuery,
            responses={200: (m.ArticlesOut, "Articles.")},
        ),
    ]


def api_mount(
    settings: Settings,
    engine: Engine,
    *,
    clock: Callable[[], datetime],
    on_outbox: Callable[[], None] | None,
    limiter: RateLimiter,
) -> Mount:
    """``/api/v1``: its own small app, so every failure in it answers JSON."""
    api = Api(settings, engine, clock=clock, on_outbox=on_outbox)
    ops = operations(api)
    document = json.dumps(
        openapi_document(
            ops, title=settings.config.publication.title, lists=sorted(settings.config.lists)
        ),
        ensure_ascii=False,
    ).encode("utf-8")

    async def openapi(request: Request) -> Response:
        return Response(document, media_type="application/json", headers=SECURITY_HEADERS)

    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        codes = {404: "not_found", 405: "method_not_allowed", 413: "too_large"}
        messages = {
            404: "no such endpoint; /api/v1/openapi.json lists them",
            405: f"{request.url.path} does not accept {request.method}",
        }
        code = codes.get(exc.status_code, "http_error")
        message = messages.get(exc.status_code, str(exc.detail))
        return error_response(ApiError(exc.status_code, code, message, dict(exc.headers or {})))

    async def server_error(request: Request, exc: Exception) -> Response:
        log.error("error handling %s %s", request.method, request.url.path, exc_info=exc)
        return error_response(
            ApiError(500, "internal", "something went wrong; nothing was lost, try again")
        )

    authority = Authority(engine=engine, clock=clock, limiter=limiter)
    routes = [
        Route("/openapi.json", openapi, methods=["GET"]),
        *build_routes(ops, authority, m.PATTERN_MESSAGES),
    ]
    app = Starlette(
        routes=routes,
        exception_handlers={HTTPException: http_error, Exception: server_error},
    )
    mount = Mount("/api/v1", app=app)
    # Starlette's "(?P<path>.*)" stops at a newline: /api/v1/subscribers/a%0Ab would fall
    # through to the site's HTML 404; every path under /api/v1 answers JSON.
    mount.path_regex = re.compile(mount.path_regex.pattern, re.DOTALL)
    return mount
