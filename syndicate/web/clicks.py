"""``GET /c/{id}``: a counted link of a mail, redirected to where that mail's link led.

The id is signed (``subscribers/clickids.py``) and names a send and one of its recorded
links: the redirect goes only to the URL stored for that link when the send's mail was
built, never to anything the request holds (no open redirect). An altered or unknown id,
or a link of a send whose record is gone, is a 404 page. Counting is one small write
after one lookup; scanner-like requests (``web/scanners.py``) are redirected uncounted.
Nothing about the request (address, user agent, referrer) is stored.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import datetime

from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from syndicate.config import Settings
from syndicate.store import clicks as click_repo
from syndicate.subscribers.clickids import ClickClaims, ClickIds
from syndicate.web.render import Renderer
from syndicate.web.scanners import scanner_agent, too_soon

HEADERS = {"Referrer-Policy": "no-referrer", "Cache-Control": "no-store"}
log = logging.getLogger(__name__)


def click_route(
    settings: Settings,
    engine: Engine,
    ids: ClickIds,
    *,
    clock: Callable[[], datetime],
    renderer: Renderer,
) -> Callable[[Request], Awaitable[Response]]:
    """The handler of ``GET|HEAD /c/{cid}``."""
    analytics = settings.config.analytics

    def look_up(claims: ClickClaims) -> str | None:
        with engine.connect() as conn:
            found = click_repo.target(conn, claims.send_id, claims.link_id)
            return None if found is None else found.url

    def follow(claims: ClickClaims, count: bool) -> str | None:
        if not count:
            return look_up(claims)
        with engine.begin() as conn:
            found = click_repo.target(conn, claims.send_id, claims.link_id)
            if found is None:
                return None
            now = clock()
            since = found.send_started
            reader = claims.subscriber_id if analytics.per_subscriber else None
            if claims.subscriber_id is not None:
                delivered = click_repo.delivered_at(conn, claims.send_id, claims.subscriber_id)
                since = delivered or since
            if not too_soon(now, since, analytics.scanner_window):
                click_repo.count_click(conn, claims.link_id, subscriber_id=reader, now=now)
            return found.url

    def not_found() -> Response:
        return renderer.error(
            404, "Not found", "This link is not (or no longer) known here.", headers=HEADERS
        )

    async def handle(request: Request) -> Response:
        claims = ids.read(request.path_params["cid"])
        if claims is None:
            return not_found()
        count = request.method == "GET" and not scanner_agent(request.headers.get("user-agent"))
        try:
            url = await run_in_threadpool(follow, claims, count)
        except SQLAlchemyError:
            if not count:
                raise
            log.warning("a click could not be counted; redirected uncounted", exc_info=True)
            url = await run_in_threadpool(look_up, claims)
        if url is None:
            return not_found()
        return RedirectResponse(url, status_code=302, headers=HEADERS)

    return handle
