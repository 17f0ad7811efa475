"""``/archive/{list}/``: the index of a list's published issues, newest first.

An issue is listed once it was really sent (its digest is recorded, which test copies and
previews never do) and its archive copy exists. The subject shown is the archive copy's
own ``<title>`` (the default digest template puts the subject there), so the index always
names what readers got; the date is the issue's, in the list's time zone.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import Engine
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from syndicate.config import Settings
from syndicate.digest.archive import archive_path
from syndicate.digest.text import format_date
from syndicate.store import digests as digest_repo
from syndicate.web.render import Renderer

_TITLE = re.compile(rb"<title[^>]*>(.*?)</title>", re.I | re.S)
HEAD_BYTES = 16 * 1024  # the <title> is in the head, near the top
INDEX_CACHE = "public, max-age=300"


@dataclass(frozen=True, slots=True, kw_only=True)
class Issue:
    """One line of the index."""

    issue: int
    subject: str
    date: str
    url: str


class ArchiveIndex:
    """The index pages of every declared list."""

    def __init__(self, settings: Settings, engine: Engine, renderer: Renderer) -> None:
        self.settings, self.engine, self.render = settings, engine, renderer
        self._subjects: dict[Path, tuple[int, int, str]] = {}  # path -> mtime, size, subject

    def _declared(self, request: Request) -> str:
        name = str(request.path_params["list_name"])
        if name not in self.settings.config.lists:
            raise HTTPException(404)
        return name

    async def index(self, request: Request) -> Response:
        """``GET /archive/{list}/``: the list's issues, newest first (404 for no such list)."""
        name = self._declared(request)
        issues = await run_in_threadpool(self.issues, name)
        declared = self.settings.config.lists[name]
        return self.render.page(
            "archive_index",
            headers={"Cache-Control": INDEX_CACHE},
            list_name=name,
            list_title=declared.title,
            description=declared.description,
            issues=issues,
        )

    async def redirect(self, request: Request) -> Response:
        """``GET /archive/{list}``: to the index, with its slash."""
        name = self._declared(request)
        return RedirectResponse(f"{self.render.root}/archive/{name}/", status_code=308)

    def issues(self, list_name: str) -> list[Issue]:
        """The published issues of a list whose archive copy exists, newest first."""
        declared = self.settings.config.lists[list_name]
        timezone = declared.timezone or self.settings.publication.timezone
        with self.engine.connect() as conn:
            recorded = digest_repo.published_issues(conn, list_name)
        found = []
        for issue, created in recorded:
            path = archive_path(self.settings, list_name, issue)
            subject = self._subject(path)
            if subject is None:
                continue  # recorded, but its copy is not (yet) written: not published
            found.append(
                Issue(
                    issue=issue,
                    subject=subject or f"Issue {issue}",
                    date=format_date(created, timezone),
                    url=f"{self.render.root}/archive/{list_name}/{issue}.html",
                )
            )
        return found

    def _subject(self, path: Path) -> str | None:
        """The ``<title>`` of an archive copy ("" without one); None when there is no file."""
        try:
            stat = path.stat()
        except OSError:
            return None
        cached = self._subjects.get(path)
        if cached is not None and cached[:2] == (stat.st_mtime_ns, stat.st_size):
            return cached[2]
        with path.open("rb") as f:
            head = f.read(HEAD_BYTES)
        match = _TITLE.search(head)
        raw = match.group(1).decode("utf-8", "replace") if match else ""
        subject = " ".join(html.unescape(raw).split())
        self._subjects[path] = (stat.st_mtime_ns, stat.st_size, subject)
        return subject
