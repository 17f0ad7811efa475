"""``POST /webhooks/{provider}``: provider events in, verified, handed to the intake.

The route parses and verifies (``syndicate.feedback.providers``) and hands the feedback
to ``sink(feedback, provider)`` in a worker thread; it never writes to the store itself.
A provider whose secret is not set answers 404, as an unknown one does; a refused
request answers the reader's status (401, 403, 400, 413) and the sink is not called; a
sink that raises is a 500, so the provider delivers the event again later.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime

from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from syndicate.feedback.providers.base import MAX_BODY, Reader, Refused, WebhookRequest
from syndicate.feedback.report import Feedback

FeedbackSink = Callable[[Sequence[Feedback], str], None]
log = logging.getLogger(__name__)


def webhook_routes(
    sink: FeedbackSink,
    *,
    readers: Mapping[str, Reader],
    env: Mapping[str, str],
    clock: Callable[[], datetime],
) -> list[Route]:
    """The webhook route, reading secrets from ``env`` and the time from ``clock``."""

    async def receive(request: Request) -> Response:
        name = request.path_params["provider"]
        reader = readers.get(name)
        if reader is None or not reader.configured(env):
            raise HTTPException(404)
        headers: dict[str, str] = {}
        for key, value in request.headers.items():
            headers.setdefault(key.lower(), value)
        try:
            body = await request.body()
        except HTTPException as exc:
            if exc.status_code != 413:
                raise
            # A chunked body past the limit is found only while reading it: the same plain
            # answer as a Content-Length over it gets (Starlette's), not the HTML page.
            return PlainTextResponse("Content Too Large", status_code=413)
        hook = WebhookRequest(body=body, headers=headers)
        try:
            found = await run_in_threadpool(reader.read, hook, env, clock())
        except Refused as exc:
            log.info("webhook %s refused (%d): %s", name, exc.status, exc.reason)
            return PlainTextResponse(exc.reason + "\n", status_code=exc.status)
        if found:
            await run_in_threadpool(sink, found, name)
        return JSONResponse({"accepted": len(found)})

    return [Route("/webhooks/{provider}", receive, methods=["POST"], max_body_size=MAX_BODY)]
