"""Admin pages from Jinja2 templates (``templates/web/admin/``, site overrides first, like
every web page), with the desk's security headers: no scripts at all, the stylesheet from
``/admin/admin.css`` only, never framed, never cached."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from starlette.requests import Request
from starlette.responses import HTMLResponse, Response

from syndicate.config import Settings
from syndicate.digest import templating
from syndicate.resources import templates_dir
from syndicate.web.render import BROKEN_PAGE, web_env

log = logging.getLogger(__name__)

ADMIN_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; "
        "frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
}
STYLESHEET = "web/admin/admin.css"


class AdminRenderer:
    """Renders the desk's pages: every page gets ``publication``, ``lang``, ``root``,
    ``admin`` (the :class:`~syndicate.web.admin.gate.AdminSession`, or None) and ``csrf``."""

    def __init__(self, settings: Settings) -> None:
        self.env = web_env(settings.root)
        self.site_root = settings.root
        self.root = urlsplit(settings.web_url).path.rstrip("/")
        self._base: dict[str, Any] = {
            "publication": settings.publication,
            "lang": settings.publication.language,
            "root": self.root,
        }

    def html(self, request: Request, template: str, **context: Any) -> str:
        """The template (a name under ``templates/web/``, e.g. ``admin/dashboard.html.j2``)
        rendered; a broken one raises :class:`~syndicate.digest.templating.TemplateError`."""
        admin = getattr(request.state, "admin", None)
        values = {
            **self._base,
            "admin": admin,
            "csrf": admin.csrf if admin is not None else "",
            "path": request.url.path,
            **context,
        }
        found = templating.load(self.env, f"web/{template}", self.site_root)
        return templating.render(found, values, self.site_root)

    def page(
        self,
        request: Request,
        template: str,
        *,
        status: int = 200,
        headers: Mapping[str, str] | None = None,
        **context: Any,
    ) -> HTMLResponse:
        """An HTML response of the page with :data:`ADMIN_HEADERS` (and ``headers``)."""
        try:
            body = self.html(request, template, **context)
        except templating.TemplateError as exc:
            log.error("admin page %s cannot be shown: %s", template, exc)
            return HTMLResponse(BROKEN_PAGE, 500, headers=ADMIN_HEADERS)
        return HTMLResponse(body, status, headers={**ADMIN_HEADERS, **(headers or {})})

    def error(
        self,
        request: Request,
        status: int,
        heading: str,
        message: str,
        *,
        headers: Mapping[str, str] | None = None,
    ) -> HTMLResponse:
        """The desk's error page."""
        return self.page(
            request,
            "admin/error.html.j2",
            status=status,
            headers=headers,
            heading=heading,
            message=message,
        )

    def stylesheet(self) -> Response:
        """``/admin/admin.css``: the site's own ``templates/web/admin/admin.css``, else ours."""
        for folder in (self.site_root / "templates", templates_dir()):
            path = folder / STYLESHEET
            if path.is_file():
                return Response(
                    path.read_bytes(),
                    media_type="text/css; charset=utf-8",
                    headers={
                        "Cache-Control": "no-cache",
                        "X-Content-Type-Options": "nosniff",
                        "Cross-Origin-Resource-Policy": "same-origin",
                    },
                )
        return Response("", media_type="text/css; charset=utf-8")
