"""The trailing-slash redirect (``/subscribe/`` to ``/subscribe``), to the configured URL.

Starlette's own (``Router.redirect_slashes``) builds the ``Location`` from the request's
``Host`` header, so a forged Host turned it into a redirect to any site. This one builds
it from the pages' public URL (``[web] base_url``, else ``publication.base_url``).
"""

from __future__ import annotations

from urllib.parse import quote

from starlette.responses import RedirectResponse
from starlette.routing import Match, Router
from starlette.types import ASGIApp, Receive, Scope, Send


def slash_redirect(router: Router, web_url: str, fallback: ASGIApp) -> ASGIApp:
    """An ASGI app for requests no route matched: a 307 to ``web_url`` plus the path with
    (or without) its trailing slash when that matches a route, else ``fallback``."""
    base = web_url.rstrip("/")

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        full: str = scope["path"] if scope["type"] == "http" else "/"
        root: str = scope.get("root_path", "")
        path = full.removeprefix(root) if root and full.startswith(root + "/") else full
        if path != "/":
            other = path.rstrip("/") if path.endswith("/") else path + "/"
            probe = {**scope, "path": full.rstrip("/") if path.endswith("/") else full + "/"}
            if other and any(route.matches(probe)[0] is not Match.NONE for route in router.routes):
                query = scope.get("query_string", b"").decode("latin-1")
                location = base + quote(other) + (f"?{query}" if query else "")
                await RedirectResponse(location, status_code=307)(scope, receive, send)
                return
        await fallback(scope, receive, send)

    return app
