"""The web app of ``syndicate run``: feeds and archive files, and the subscriber pages.

Routes::

    GET  /feeds/{path}                  built feeds (ETag, Last-Modified, gzip, 304)
    GET  /archive/{list}/               index of a list's sent issues, newest first
    GET  /archive/{list}/{issue}.html   view-in-browser copies of sent digests
    GET  /subscribe  POST /subscribe    the form; double opt-in through the outbox
    GET  /confirm/{token}  POST         one button; only the POST confirms (link scanners)
    GET  /unsubscribe/{token}           one button; POST: RFC 8058 one-click unsubscribe
    GET  /preferences/{token}  POST     topics and lists
    GET  /test-copy/{page}  POST        what the links of test copies and previews lead to
    POST /webhooks/{provider}           SES (via SNS), Postmark, Mailgun, SendGrid events
    GET  /c/{id}                        a counted link of a mail: 302 to its recorded URL
    /admin/...                          the editor's desk, behind the sign-in gate (web/admin/)
    /api/v1/...                         the HTTP API (web/api/; bearer tokens, JSON)
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Callable, Mapping
from datetime import UTC, datetime

from sqlalchemy import Engine
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from syndicate import config
from syndicate.config import Settings
from syndicate.digest.archive import ARCHIVE_FOLDER
from syndicate.feedback.providers.base import Fetcher
from syndicate.feedback.providers.registry import readers
from syndicate.subscribers.clickids import ClickIds
from syndicate.subscribers.tokens import Signer
from syndicate.web.admin import admin_routes
from syndicate.web.admin.desk import desk_pages
from syndicate.web.api import api_mount
from syndicate.web.api.auth import default_limiter
from syndicate.web.archive import ArchiveIndex
from syndicate.web.clicks import click_route
from syndicate.web.files import FileApp, FileCache
from syndicate.web.logs import redact, redact_logs
from syndicate.web.pages import Pages
from syndicate.web.proxy import ProxyHeaders
from syndicate.web.ratelimit import RateLimiter
from syndicate.web.redirect import slash_redirect
from syndicate.web.render import Renderer
from syndicate.web.testcopy import test_copy_page
from syndicate.web.webhooks import FeedbackSink, webhook_routes

MAX_BODY = 64 * 1024  # every form here is far smaller
_ARCHIVE_PATH = re.compile(
    config.LIST_NAME.removesuffix("$") + r"/[1-9][0-9]{0,9}\.html$", re.ASCII
)
_FEED_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": "default-src 'none'; sandbox",
    "Access-Control-Allow-Origin": "*",  # public files: browser-based readers may fetch them
}
# The archive copy is the sent email: images from anywhere, inline styles, no scripts.
_ARCHIVE_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": (
        "default-src 'none'; img-src https: http: data:; style-src 'unsafe-inline'; "
        "font-src https: data:; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
    ),
    "Referrer-Policy": "no-referrer",
}
log = logging.getLogger(__name__)


def _utc_now() -> datetime:
    return datetime.now(UTC)


def create_app(
    settings: Settings,
    engine: Engine,
    *,
    signer: Signer,
    clock: Callable[[], datetime] | None = None,
    on_outbox: Callable[[], None] | None = None,
    limiter: RateLimiter | None = None,
    feedback_sink: FeedbackSink | None = None,
    webhook_env: Mapping[str, str] | None = None,
    webhook_fetch: Fetcher | None = None,
    admin_pages: list[BaseRoute] | None = None,
    api_limiter: RateLimiter | None = None,
) -> Starlette:
    """The ASGI app of one site.

    ``clock`` gives the current time (default: the UTC wall clock); ``on_outbox`` is called
    after a subscribe request was recorded, so the running service's outbox sender carries
    it out and mails its confirmation soon (on its next tick);
    ``limiter`` limits subscribe posts per client (default: 5 per 10 minutes).
    ``feedback_sink`` receives verified provider webhook events (without it there are no
    webhook routes); their secrets come from ``webhook_env`` (default: the environment)
    and ``webhook_fetch`` gets SNS certificates (default: an HTTPS GET).
    ``admin_pages`` are the desk's page routes (``/admin/...``), all behind the sign-in gate.
    ``api_limiter`` limits requests per API token (default: web/api/auth.py's).
    """
    redact_logs()  # this app's loggers and uvicorn's: no token is ever written
    renderer = Renderer(settings)
    pages = Pages(
        settings,
        engine,
        signer=signer,
        clock=clock or _utc_now,
        renderer=renderer,
        limiter=limiter or RateLimiter(capacity=5, period=600),
        on_outbox=on_outbox,
    )
    not_found = renderer.html(
        "error", heading="Not found", message="There is no page at this address.", link=None
    ).encode("utf-8")
    cache = FileCache()
    feeds = FileApp(
        settings.feeds_dir,
        cache=cache,
        not_found=not_found,
        headers=_FEED_HEADERS,
        immutable=lambda rel: rel.startswith("media/"),  # content-hashed images (feeds/media.py)
    )
    archive = FileApp(
        settings.root / ARCHIVE_FOLDER,
        cache=cache,
        not_found=not_found,
        accept=_ARCHIVE_PATH.match,
        cache_control="public, max-age=3600",
        headers=_ARCHIVE_HEADERS,
        media_type="text/html; charset=utf-8",
    )

    archive_index = ArchiveIndex(settings, engine, renderer)

    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        if exc.status_code == 404:
            return renderer.error(404, "Not found", "There is no page at this address.")
        if exc.status_code == 405:
            return renderer.error(
                405, "Not allowed", "This page does not accept that request.", headers=exc.headers
            )
        return renderer.error(
            exc.status_code,
            "Your request could not be handled",
            str(exc.detail),
            headers=exc.headers,
        )

    async def server_error(request: Request, exc: Exception) -> Response:
        # Logs name the page, never the token (it acts as the reader): web/logs.py.
        path = redact(request.url.path)
        log.error("error handling %s %s", request.method, path, exc_info=exc)
        return renderer.error(
            500, "Something went wrong", "Nothing was lost; please try again in a moment."
        )

    async def client_gone(request: Request, exc: Exception) -> Response:
        # The client left (or was cut off: service/http.py) before its body was in; nobody
        # reads the answer, and it is not an error of ours.
        return Response(status_code=400)

    routes: list[BaseRoute] = [
        Route("/feeds/{path:path}", feeds),
        Route("/archive/{list_name}/", archive_index.index, methods=["GET"]),
        Route("/archive/{list_name}", archive_index.redirect, methods=["GET"]),
        Route("/archive/{path:path}", archive),
        Route("/subscribe", pages.subscribe_form, methods=["GET"]),
        Route("/subscribe", pages.subscribe, methods=["POST"]),
        Route("/confirm/{token}", pages.confirm_form, methods=["GET"]),
        Route("/confirm/{token}", pages.confirm, methods=["POST"]),
        Route("/unsubscribe/{token}", pages.unsubscribe_form, methods=["GET"]),
        Route("/unsubscribe/{token}", pages.unsubscribe, methods=["POST"]),
        Route("/preferences/{token}", pages.preferences_form, methods=["GET"]),
        Route("/preferences/{token}", pages.preferences, methods=["POST"]),
        Route("/unsubscribe", pages.no_token, methods=["GET"]),
        Route("/preferences", pages.no_token, methods=["GET"]),
        Route("/test-copy/{page}", test_copy_page(renderer), methods=["GET", "POST"]),
        Route(
            "/c/{cid}",
            click_route(
                settings, engine, ClickIds(signer), clock=clock or _utc_now, renderer=renderer
            ),
            methods=["GET"],
        ),
        api_mount(
            settings,
            engine,
            clock=clock or _utc_now,
            on_outbox=on_outbox,
            limiter=api_limiter or default_limiter(),
        ),
    ]
    if feedback_sink is not None:
        routes += webhook_routes(
            feedback_sink,
            readers=readers(fetch=webhook_fetch, engine=engine),
            env=os.environ if webhook_env is None else webhook_env,
            clock=clock or _utc_now,
        )
    if admin_pages is None:  # the desk's own pages (web/admin/desk.py)
        admin_pages = desk_pages(settings, engine, clock=clock or _utc_now)
    routes += admin_routes(settings, engine, clock=clock or _utc_now, pages=admin_pages)
    app = Starlette(
        routes=routes,
        middleware=[Middleware(ProxyHeaders, trusted=settings.config.web.trusted_proxies)],
        exception_handlers={
            HTTPException: http_error,
            ClientDisconnect: client_gone,
            Exception: server_error,
        },
        max_body_size=MAX_BODY,
    )
    # Starlette's own slash redirect builds its Location from the request's Host header.
    app.router.redirect_slashes = False
    app.router.default = slash_redirect(app.router, settings.web_url, app.router.default)
    return app
