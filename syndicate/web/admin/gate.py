"""The gate in front of every path under ``/admin``.

Without a valid session a GET (or HEAD) is sent to ``/admin/sign-in?next=<path>`` (303) and
anything else is refused (403); only the sign-in page and the stylesheet answer without one.
With a session, ``request.state.admin`` is the :class:`AdminSession`. Without
``SYNDICATE_SECRET`` every admin page says so (503): there is no default key.

Every admin POST handler starts with ``form = await admin_form(request)``: a post from
another origin, or without the session's CSRF token in the hidden ``csrf`` field, is a 403.
"""

from __future__ import annotations

import hmac
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import quote, unquote, urlsplit

from starlette.datastructures import FormData
from starlette.exceptions import HTTPException
from starlette.formparsers import MultiPartException
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Match, NoMatchFound, Router
from starlette.types import Receive, Scope, Send

from syndicate.accounts.keys import AdminKeys
from syndicate.accounts.signin import Accounts
from syndicate.text import printable
from syndicate.throttle import Throttle
from syndicate.web.admin import cookies
from syndicate.web.admin.render import AdminRenderer
from syndicate.web.forms import client_address, read_form, same_origin

log = logging.getLogger(__name__)

PREFIX = "/admin"
SIGN_IN = "/admin/sign-in"
PUBLIC = frozenset({SIGN_IN, "/admin/admin.css"})
_GATE_KEY = "syndicate.admin.gate"


@dataclass(frozen=True, slots=True, kw_only=True)
class AdminSession:
    """Who is signed in, on this request: ``csrf`` is the token every form must post back."""

    user: str
    csrf: str
    id_hash: str
    signed_in_at: datetime


def route_path(scope: Scope) -> str:
    """The request's path below the app's ``root_path`` (as Starlette's routes see it)."""
    path: str = scope["path"]
    root: str = scope.get("root_path", "")
    if root and path.startswith(root) and (path == root or path[len(root)] == "/"):
        return path[len(root) :]
    return path


def safe_next(value: str | None) -> str:
    """Where to go after signing in: a path under /admin/ of this site, else /admin/."""
    if not value or len(value) > 1000 or not value.isprintable() or "\\" in value:
        return PREFIX + "/"
    parts = urlsplit(value)
    if parts.scheme or parts.netloc or value.startswith("//"):
        return PREFIX + "/"
    if not (parts.path == PREFIX + "/" or parts.path.startswith(PREFIX + "/")):
        return PREFIX + "/"
    # Browsers read %2e as a dot (WHATWG URL parsing): /admin/%2e%2e/feeds/ is /feeds/.
    lowered = parts.path.lower()
    if "%2f" in lowered or "%5c" in lowered:
        return PREFIX + "/"
    decoded = unquote(parts.path)
    if "\\" in decoded or any(s in (".", "..") for s in decoded.split("/")):
        return PREFIX + "/"
    if decoded == SIGN_IN:
        return PREFIX + "/"
    return value


class Gate:
    """What the desk's routes share: the keys, the accounts, the clock, the renderer."""

    def __init__(
        self,
        *,
        web_url: str,
        root: str,
        keys: AdminKeys | None,
        accounts: Accounts | None,
        problem: str | None,
        clock: Callable[[], datetime],
        renderer: AdminRenderer,
    ) -> None:
        self.web_url, self.root, self.keys, self.accounts = web_url, root, keys, accounts
        self.problem, self.clock, self.render = problem, clock, renderer
        self.cookie_path = root + PREFIX
        self.refusals = Throttle(60.0)  # refused posts: one log line per admin and address a minute

    def csrf_for(self, id_hash: str) -> str:
        """The CSRF token of a session (derived, so nothing more is stored)."""
        assert self.keys is not None
        return cookies.tag(self.keys.cookies, "csrf", id_hash)

    def session(self, request: Request) -> AdminSession | None:
        """The request's open session, or None."""
        if self.keys is None or self.accounts is None:
            return None
        raw = cookies.unsign(self.keys.cookies, "session", request.cookies.get(cookies.SESSION))
        if raw is None:
            return None
        found = self.accounts.session(raw, now=self.clock())
        if found is None:
            return None
        return AdminSession(
            user=found.user,
            csrf=self.csrf_for(found.id_hash),
            id_hash=found.id_hash,
            signed_in_at=found.created_at,
        )

    def secure(self, request: Request) -> bool:
        """Whether this request's cookies are ``Secure``."""
        return cookies.is_https(request, self.web_url)

    def forbidden(self, request: Request, message: str) -> Response:
        """The 403 page."""
        return self.render.error(request, 403, "Not allowed", message)


def gate_of(request: Request) -> Gate:
    """The gate that let this request in."""
    found = request.scope.get(_GATE_KEY)
    if not isinstance(found, Gate):
        raise RuntimeError("not an admin request: the route is not behind the admin gate")
    return found


def same_site(request: Request, web_url: str) -> bool:
    """Whether a post comes from our own pages: ``Sec-Fetch-Site`` (when the browser sends
    it) must be same-origin, and Origin (else Referer) must be this site's."""
    fetch_site = request.headers.get("sec-fetch-site")
    if fetch_site is not None and fetch_site not in ("same-origin", "none"):
        return False
    return same_origin(request, web_url)


def refused_post(request: Request, who: str | None, why: str) -> None:
    """A WARNING for a post the desk refused (cross-origin, no or a wrong CSRF token): at
    most one line per admin and address a minute; never the token or the form."""
    address = client_address(request)
    gate = gate_of(request)
    if not gate.refusals.allow(f"{who or ''} {address}", gate.clock().timestamp()):
        return
    log.warning(
        "admin post to %s refused from %s%s: %s",
        printable(request.url.path[:200]),
        address,
        f" (signed in as {who})" if who else "",
        why,
    )


TOO_LARGE = "The form is too large: a reason has at most 300 characters."


async def desk_form(request: Request) -> FormData:
    """:func:`read_form`, with the desk's words for a form it cannot read: Starlette's
    own ("Field exceeded maximum size of 4KB.") mean nothing to an editor."""
    try:
        return await read_form(request)
    except (HTTPException, MultiPartException) as exc:
        if isinstance(exc, HTTPException) and exc.status_code != 400:
            raise
        said = str(exc.detail if isinstance(exc, HTTPException) else exc.message)
        if "maximum size" in said or "Too many" in said:
            raise HTTPException(400, TOO_LARGE) from exc
        raise HTTPException(400, "The form could not be read; please send it again.") from exc


async def admin_form(request: Request) -> FormData:
    """The posted form of a signed-in admin, after the same-origin and CSRF checks (403)."""
    gate = gate_of(request)
    admin = getattr(request.state, "admin", None)
    if not isinstance(admin, AdminSession):
        raise HTTPException(403, "Please sign in first.")
    if not same_site(request, gate.web_url):
        refused_post(request, admin.user, "sent from another site")
        raise HTTPException(403, "This form was sent from another site; it was not accepted.")
    form = await desk_form(request)
    posted = form.get("csrf")
    if not isinstance(posted, str) or not hmac.compare_digest(
        posted.encode("utf-8", "replace"), admin.csrf.encode("ascii")
    ):
        refused_post(request, admin.user, "no valid CSRF token")
        raise HTTPException(
            403, "This form has expired or did not come from the admin pages; please reload it."
        )
    return form


class AdminArea(BaseRoute):
    """Every path under ``/admin``, behind the gate; ``routes`` are the desk's own (with
    their full paths: ``/admin/sign-in``, ``/admin/subscribers`` ...)."""

    def __init__(self, gate: Gate, routes: Sequence[BaseRoute]) -> None:
        self.gate = gate
        self.router = Router(routes=list(routes), default=self._not_found)

    @property
    def routes(self) -> list[BaseRoute]:
        """The routes behind the gate."""
        return self.router.routes

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        if scope["type"] == "http":
            path = route_path(scope)
            if path == PREFIX or path.startswith(PREFIX + "/"):
                return Match.FULL, {}
        return Match.NONE, {}

    def url_path_for(self, name: str, /, **path_params: Any) -> Any:
        return self.router.url_path_for(name, **path_params)

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        gate = self.gate
        scope[_GATE_KEY] = gate
        request = Request(scope, receive)
        path = route_path(scope)
        response: Response | None = None
        if path == PREFIX:
            response = RedirectResponse(gate.root + PREFIX + "/", status_code=307)
        elif gate.problem is not None and path != "/admin/admin.css":
            response = gate.render.error(request, 503, "The admin desk is off", gate.problem)
        elif path not in PUBLIC:
            admin = gate.session(request)
            if admin is not None:
                scope.setdefault("state", {})["admin"] = admin
            elif request.method in ("GET", "HEAD"):
                query = request.url.query
                wanted = quote(path + (f"?{query}" if query else ""), safe="")
                response = RedirectResponse(f"{gate.root}{SIGN_IN}?next={wanted}", status_code=303)
            else:
                refused_post(request, None, "not signed in")
                response = gate.forbidden(request, "Please sign in first.")
        if response is not None:
            response.headers.setdefault("Cache-Control", "no-store")
            await response(scope, receive, send)
            return
        # An HTTPException raised by a desk page (404, 405, 403) gets the desk's error page,
        # not the subscriber site's: the routes read their handlers from the scope.
        handlers, by_status = scope.get("starlette.exception_handlers", ({}, {}))
        scope["starlette.exception_handlers"] = (
            {**handlers, HTTPException: self._http_error},
            by_status,
        )
        try:
            await self.router(scope, receive, send)
        except HTTPException as exc:  # raised by the router itself (a method not allowed)
            await (await self._http_error(request, exc))(scope, receive, send)

    async def _http_error(self, request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        if exc.status_code == 404:
            said = str(exc.detail)
            return self.gate.render.error(
                request, 404, "Not found",
                said if said != "Not Found" else "There is no admin page at this address.",
            )  # fmt: skip
        if exc.status_code == 405:
            return self.gate.render.error(
                request, 405, "Not allowed", "This page does not accept that request.",
                headers=exc.headers,
            )  # fmt: skip
        heading = "Not allowed" if exc.status_code == 403 else "Your request could not be handled"
        return self.gate.render.error(
            request, exc.status_code, heading, str(exc.detail), headers=exc.headers
        )

    async def _not_found(self, scope: Scope, receive: Receive, send: Send) -> None:
        request = Request(scope, receive)
        response = self.gate.render.error(
            request, 404, "Not found", "There is no admin page at this address."
        )
        await response(scope, receive, send)


def signed_in(request: Request) -> AdminSession:
    """The signed-in admin of a request behind the gate."""
    admin = getattr(request.state, "admin", None)
    if not isinstance(admin, AdminSession):
        raise HTTPException(403, "Please sign in first.")
    return admin


__all__ = ["AdminArea", "AdminSession", "Gate", "NoMatchFound", "admin_form", "signed_in"]
