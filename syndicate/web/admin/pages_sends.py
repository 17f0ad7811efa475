"""``/admin/sends``: every send with its rates (newest first, 50 a page), the digests that
wait for approval with their previews and the approve / reject buttons (reject asks
first, on a page of its own), and each send's report at ``/admin/sends/{id}`` (failures and
deferrals with the server's reply, bounces, complaints, clicks per link when click counting
is there)."""

from __future__ import annotations

import itertools
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlencode

from sqlalchemy import Engine
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from syndicate.config import Settings
from syndicate.errors import SyndicateError
from syndicate.service import approval, desk, desk_preview
from syndicate.store import clicks as click_repo
from syndicate.store import desk as desk_store
from syndicate.store import digests as digest_repo
from syndicate.store import feedback_views, history
from syndicate.store import queued as queued_repo
from syndicate.store import sends as send_repo
from syndicate.store.queued import QueuedRow, QueuedStatus
from syndicate.web.admin import format as formats
from syndicate.web.admin.approvals import approval_line, decided_notice
from syndicate.web.admin.gate import admin_form, signed_in
from syndicate.web.admin.render import AdminRenderer

log = logging.getLogger(__name__)

PAGE = 50  # sends per page
SHOWN = 200  # problems and feedback rows shown on a report (the CLI `report` has them all)
PREVIEW_HEADERS = {  # a mail's HTML: its own inline styles and remote images, never a script
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'unsafe-inline'; img-src https: http: data:; "
        "frame-ancestors 'none'; form-action 'none'; base-uri 'none'; sandbox"
    ),
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",
}
MAX_ID = 18  # digits of a send id; longer is nobody's
MAX_DIGEST = 120  # characters of a digest id (``weekly-12``) looked up


@dataclass(frozen=True, slots=True, kw_only=True)
class Waiting:
    """A list that asks for approval, and what waits on it."""

    list_name: str
    title: str
    row: QueuedRow | None


def sends_routes(
    settings: Settings, engine: Engine, renderer: AdminRenderer, *, clock: Callable[[], datetime]
) -> list[BaseRoute]:
    """The sends list, a send's report, previews, approve and reject."""
    lists = settings.config.lists
    zone = formats.zones(settings)
    per_subscriber = settings.config.analytics.per_subscriber

    def listing(
        before: int | None, decided: str | None
    ) -> tuple[list[desk.SendView], list[Waiting], QueuedRow | None]:
        with engine.connect() as conn:
            row = queued_repo.of_digest(conn, decided) if decided else None
            found = desk_store.last_sends(conn, limit=PAGE, before=before, live=desk.LIVE)
            views = desk.send_views(conn, found, per_subscriber=per_subscriber)
            waiting = [
                Waiting(list_name=n, title=c.title, row=queued_repo.waiting(conn, n))
                for n, c in sorted(lists.items())
                if c.approve
            ]
        return views, waiting, row

    async def sends_page(
        request: Request, *, status: int = 200, problem: str | None = None
    ) -> Response:
        raw = request.query_params.get("before", "")
        before = int(raw) if raw.isdigit() and len(raw) < 12 else None
        done = request.query_params.get("done", "")
        digest = request.query_params.get("digest", "")[:MAX_DIGEST]
        wanted = digest if done in ("approved", "rejected") and digest else None
        views, waiting, decided = await run_in_threadpool(listing, before, wanted)
        return renderer.page(
            request,
            "admin/sends.html.j2",
            status=status,
            rows=views,
            waits={w.list_name: w for w in waiting},
            lists=sorted(lists.items()),
            more=views[-1].send.id if len(views) == PAGE else None,
            notice=decided_notice(decided, done) if wanted else None,
            problem=problem,
            approval_line=lambda row: approval_line(row, zone),
        )

    async def sends(request: Request) -> Response:
        return await sends_page(request)

    def report(send_id: int) -> dict[str, Any] | None:
        with engine.connect() as conn:
            summary = desk_store.send_summary(conn, send_id, live=desk.LIVE)
            if summary is None:
                return None
            problems = list(
                itertools.islice(history.problems(conn, send_id, summary.list_name), SHOWN + 1)
            )
            readers = feedback_views.readers_of_send(conn, send_id)
            links = click_repo.send_clicks(conn, send_id)
            view = desk.send_views(conn, [summary], per_subscriber=per_subscriber)[0]
            clickers = click_repo.readers_who_clicked(conn, send_id, limit=SHOWN + 1)
            kind, title = digest_repo.digest_kind(conn, summary.digest_id)
        declared = lists.get(summary.list_name)
        post = kind == digest_repo.POST
        return {
            # The note about digest sends made before topic skips were counted: a post keeps
            # no count by design (its skips are "not their topics"), so it gets no note.
            "topics": declared is not None and bool(declared.tags) and not post,
            "post_title": title if post else None,
            "view": view,
            "problems": problems,
            "readers": readers,
            "links": links,
            "clickers": clickers,
        }

    def send_id_of(digest_id: str) -> int | None:
        with engine.connect() as conn:
            found = send_repo.find_send(conn, digest_id)
        return found.id if found is not None else None

    async def send_report(request: Request) -> Response:
        raw = str(request.path_params["send_id"])
        if not (raw.isascii() and raw.isdigit()) or len(raw) > MAX_ID:
            # A digest id (weekly-2), as `syndicate report` takes: on to its numbered page.
            found_id = None
            if 0 < len(raw) <= MAX_DIGEST and raw.isprintable():
                found_id = await run_in_threadpool(send_id_of, raw)
            if found_id is None:
                raise HTTPException(404, "There is no such send.")
            return RedirectResponse(f"{renderer.root}/admin/sends/{found_id}", status_code=303)
        found = await run_in_threadpool(report, int(raw))
        if found is None:
            raise HTTPException(404, "There is no such send.")
        headers = {"Refresh": "10"} if found["view"].send.running else None
        return renderer.page(request, "admin/send.html.j2", headers=headers, shown=SHOWN, **found)

    def known(request: Request) -> str:
        name = str(request.path_params["list_name"])
        if name not in lists:
            raise HTTPException(404, "There is no such list.")
        return name

    async def preview(request: Request) -> Response:
        name = known(request)
        try:
            found = await run_in_threadpool(
                desk_preview.preview, settings, engine, name, now=clock()
            )
        except SyndicateError as exc:
            return renderer.error(request, 409, "No preview", str(exc))
        # Named like the desk's other pages ("… · PUBLICATION admin"), not as the mail.
        title = f"Preview: {found.subject} · {settings.publication.title} admin"
        return HTMLResponse(desk_preview.retitled(found.html, title), headers=PREVIEW_HEADERS)

    def decide(action: str, request: Request, confirmed: str | None) -> Callable[[], QueuedRow]:
        name = known(request)
        who = f"{signed_in(request).user} (admin desk)"
        if action == "approved":
            return lambda: approval.approve(settings, engine, name, who=who, now=clock())
        return lambda: approval.reject(
            settings, engine, name, who=who, now=clock(), digest_id=confirmed
        )

    async def decided(request: Request, action: str) -> Response:
        form = await admin_form(request)
        # The digest the confirm page named (rejecting another one that waits since is refused).
        named = form.get("reject") if action == "rejected" else None
        confirmed = named[:MAX_DIGEST] if isinstance(named, str) and named else None
        try:
            row = await run_in_threadpool(decide(action, request, confirmed))
        except SyndicateError as exc:
            return await sends_page(request, status=409, problem=str(exc))
        log.info(  # the audit trail: who decided, from the desk
            "%s: %s %s by %s (admin desk)",
            row.list_name, row.digest_id, action, signed_in(request).user,
        )  # fmt: skip
        query = urlencode({"done": action, "digest": row.digest_id or ""})
        target = f"{renderer.root}/admin/sends?{query}"
        return RedirectResponse(target + "#approval", status_code=303)

    async def approve(request: Request) -> Response:
        return await decided(request, "approved")

    async def reject(request: Request) -> Response:
        if request.method == "POST":
            return await decided(request, "rejected")
        return await reject_page(request)

    def to_reject(name: str) -> QueuedRow:
        with engine.connect() as conn:
            row = approval.waiting(settings, conn, name)
        if row.status is not QueuedStatus.AWAITING:
            raise SyndicateError(f"{row.digest_id} is approved already: it cannot be rejected")
        return row

    async def reject_page(request: Request) -> Response:
        """The step before a reject (a GET: it changes nothing), so a slip of the mouse on
        the Sends page does not drop a digest; works without JavaScript."""
        name = known(request)
        try:
            row = await run_in_threadpool(to_reject, name)
        except SyndicateError as exc:
            return renderer.error(request, 409, "Nothing to reject", str(exc))
        return renderer.page(
            request,
            "admin/reject.html.j2",
            row=row,
            list_title=lists[name].title,
            approval_line=approval_line(row, zone),
        )

    return [
        Route("/admin/sends", sends, methods=["GET"], name="admin_sends"),
        Route("/admin/sends/{send_id}", send_report, methods=["GET"], name="admin_send"),
        Route("/admin/previews/{list_name}", preview, methods=["GET"], name="admin_preview"),
        Route("/admin/approve/{list_name}", approve, methods=["POST"], name="admin_approve"),
        Route("/admin/reject/{list_name}", reject, methods=["GET", "POST"], name="admin_reject"),
    ]
