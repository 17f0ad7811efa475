"""Pages from Jinja2 templates, with the security headers every page carries.

Templates are found like the digest templates: ``<site>/templates/web/NAME`` first, then
syndicate's default ``templates/web/NAME`` (see :mod:`syndicate.resources`); a site
overrides a page by putting a file of the same name in its own ``templates/web/``. HTML
templates are autoescaped, so anything a visitor typed is escaped wherever it is echoed.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import jinja2
from starlette.responses import HTMLResponse

from syndicate.config import Settings
from syndicate.digest import templating
from syndicate.digest.render import template_env

log = logging.getLogger(__name__)
# What a visitor sees when a (site-overridden) page template is broken: no template is
# used, since the error page's own template may be the broken one.
BROKEN_PAGE = (
    "<!doctype html><meta charset=utf-8><title>Temporarily unavailable</title>"
    "<h1>Temporarily unavailable</h1><p>This page cannot be shown right now. "
    "Please try again later.</p>"
)

# No scripts, no external anything; forms only post back here; never framed. Tokens are in
# page URLs: "same-origin" keeps them from other sites while our own form posts still carry
# an Origin header (under "no-referrer" browsers send "Origin: null", defeating the check).
PAGE_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; "
        "frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}


def web_env(site_root: Path | None) -> jinja2.Environment:
    """The Jinja2 environment of the web templates: the digests' own (site templates first,
    autoescaped HTML, strict undefined), cached per site."""
    return template_env(site_root)


class Renderer:
    """Renders the site's pages; every page gets the publication and its language."""

    def __init__(self, settings: Settings) -> None:
        self.env = web_env(settings.root)
        self.site_root = settings.root
        publication = settings.publication
        # Where the pages live on their host ([web] base_url may have a path): links use it.
        self.root = urlsplit(settings.web_url).path.rstrip("/")
        self._base: dict[str, Any] = {
            "publication": publication,
            "lang": publication.language,
            "root": self.root,
        }

    def html(self, template: str, **context: Any) -> str:
        """The page ``web/<template>.html.j2`` rendered with ``context``.

        A broken template raises :class:`~syndicate.digest.templating.TemplateError`
        (``templates/web/NAME:LINE: reason``)."""
        values = {**self._base, **context}
        found = templating.load(self.env, f"web/{template}.html.j2", self.site_root)
        return templating.render(found, values, self.site_root)

    def page(
        self,
        template: str,
        *,
        status: int = 200,
        headers: Mapping[str, str] | None = None,
        **context: Any,
    ) -> HTMLResponse:
        """An HTML response of the page, with :data:`PAGE_HEADERS` (and ``headers``)."""
        all_headers = {**PAGE_HEADERS, **(headers or {})}
        try:
            body = self.html(template, **context)
        except templating.TemplateError as exc:
            # One line naming the file and line for the editor; never a traceback, and the
            # visitor is told nothing about the template.
            log.error("page %s cannot be shown: %s", template, exc)
            return HTMLResponse(BROKEN_PAGE, 500, headers=PAGE_HEADERS)
        return HTMLResponse(body, status, headers=all_headers)

    def error(
        self,
        status: int,
        heading: str,
        message: str,
        *,
        link: tuple[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> HTMLResponse:
        """The error page: a heading, what happened, and where to go (``(path, text)``, the
        path below the pages' root)."""
        if link is not None:
            link = (self.root + link[0], link[1])
        return self.page(
            "error",
            status=status,
            headers=headers,
            heading=heading,
            message=message,
            link=link,
        )
