"""The editor's desk at ``/admin/``: accounts and the gate (this package's ``gate``,
``signin``), the renderer and layout every page uses, and the pages given to
:func:`admin_routes` (desk pages live in their own modules).

Every route returned sits behind the gate (web/admin/gate.py): without a session only
``/admin/sign-in`` and ``/admin/admin.css`` answer.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from datetime import datetime

from sqlalchemy import Engine
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from syndicate.accounts.keys import NoAdminSecret, admin_keys
from syndicate.accounts.signin import Accounts, SessionPolicy
from syndicate.config import Settings
from syndicate.web.admin.gate import AdminArea, AdminSession, Gate, admin_form, signed_in
from syndicate.web.admin.render import AdminRenderer
from syndicate.web.admin.signin import SignInPages

log = logging.getLogger(__name__)


def _has_dashboard(pages: Sequence[BaseRoute]) -> bool:
    return any(isinstance(r, Route) and r.path == "/admin/" for r in pages)


def admin_routes(
    settings: Settings,
    engine: Engine,
    *,
    clock: Callable[[], datetime],
    pages: Sequence[BaseRoute] = (),
    policy: SessionPolicy | None = None,
    accounts: Accounts | None = None,
) -> list[BaseRoute]:
    """The desk's routes: sign-in, sign-out and the stylesheet, plus ``pages`` (routes with
    their full paths, ``/admin/...``), all behind the gate. Without ``SYNDICATE_SECRET``
    every admin page answers 503 and says what to set. ``accounts`` (tests) replaces the
    sign-in checker, e.g. one with other backoff rules."""
    renderer = AdminRenderer(settings)
    problem = None
    keys = None
    try:
        keys = admin_keys(settings.secrets.secret)
    except NoAdminSecret as exc:
        problem = str(exc)
        log.info("the admin desk at /admin/ is off: %s", exc)
    if keys is not None and accounts is None:
        accounts = Accounts(engine, keys, policy=policy)
    gate = Gate(
        web_url=settings.web_url,
        root=renderer.root,
        keys=keys,
        accounts=accounts,
        problem=problem,
        clock=clock,
        renderer=renderer,
    )
    sign_in = SignInPages(gate)

    async def stylesheet(request: Request) -> Response:
        return renderer.stylesheet()

    async def dashboard(request: Request) -> Response:
        return renderer.page(request, "admin/dashboard.html.j2")

    routes: list[BaseRoute] = [
        Route("/admin/sign-in", sign_in.form, methods=["GET"], name="admin_sign_in_form"),
        Route("/admin/sign-in", sign_in.sign_in, methods=["POST"], name="admin_sign_in"),
        Route("/admin/sign-out", sign_in.sign_out, methods=["POST"], name="admin_sign_out"),
        Route("/admin/admin.css", stylesheet, methods=["GET"], name="admin_css"),
        *pages,
    ]
    if not _has_dashboard(pages):
        routes.append(Route("/admin/", dashboard, methods=["GET"], name="admin_dashboard"))
    return [AdminArea(gate, routes)]


__all__ = ["AdminRenderer", "AdminSession", "admin_form", "admin_routes", "signed_in"]
