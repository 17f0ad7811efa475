"""``/test-copy/{page}``: where the links of test copies and previews lead.

A test copy carries no token, so these pages can act on nobody; they say what the link would
do in a reader's copy. POST answers too (a mail client's RFC 8058 one-click request) and
changes nothing.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from syndicate.web.render import Renderer

# What each link does in a reader's copy of the digest.
PAGES = {
    "unsubscribe": "unsubscribe the reader from this list in one click",
    "preferences": "let the reader choose their topics and lists",
}


def test_copy_page(renderer: Renderer) -> Callable[[Request], Awaitable[Response]]:
    """The handler of ``GET|POST /test-copy/{page}`` (404 for any other page)."""

    async def handle(request: Request) -> Response:
        page = request.path_params["page"]
        if page not in PAGES:
            raise HTTPException(404)
        return renderer.page("test_copy", link=page, action=PAGES[page])

    return handle
