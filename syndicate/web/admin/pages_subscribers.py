"""``/admin/subscribers``: search by the start of an address or a name, filter by list and
status, 50 a page (api17's ``store/search.py``: keyset pages, one index range each).
Each row links to the subscriber's own page (``pages_subscriber.py``: lists, topics,
consent trail, deliveries, feedback, and the unsubscribe / resubscribe actions)."""

from __future__ import annotations

from sqlalchemy import Engine
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from syndicate.config import Settings
from syndicate.models import Status
from syndicate.store.search import Cursor, CursorError, SubscriberPage, search_subscribers
from syndicate.text import printable
from syndicate.web.admin.render import AdminRenderer

PAGE = 50
MAX_QUERY = 254


def subscribers_routes(
    settings: Settings, engine: Engine, renderer: AdminRenderer
) -> list[BaseRoute]:
    """The subscriber search page's route."""
    lists = sorted(settings.config.lists)
    statuses = [s.value for s in Status]

    def search(
        text: str | None, list_name: str | None, status: str | None, after: Cursor | None
    ) -> SubscriberPage:
        with engine.connect() as conn:
            return search_subscribers(
                conn, text=text, list_name=list_name, status=status, after=after, limit=PAGE
            )

    async def page(request: Request) -> Response:
        q = request.query_params
        text = q.get("q", "").strip()[:MAX_QUERY] or None
        list_name = q.get("list") if q.get("list") in lists else None
        status = q.get("status") if q.get("status") in statuses else None
        problems = [  # a filter that names nothing is said, not silently dropped
            f"unknown {what} {printable(given[:64])} (known: {', '.join(known)}); "
            f"showing every {what}"
            for what, given, known in (
                ("list", q.get("list", ""), lists),
                ("status", q.get("status", ""), statuses),
            )
            if given and given not in known
        ]
        after = None
        if q.get("after"):
            try:
                after = Cursor.decode(q.get("after", ""))
            except CursorError:
                problems.append("That page link is not valid any more; this is the first page.")
        found = await run_in_threadpool(search, text, list_name, status, after)
        more = None
        if found.next is not None:
            params = {"q": text or "", "list": list_name or "", "status": status or ""}
            more = {**params, "after": found.next.encode()}
        return renderer.page(
            request,
            "admin/subscribers.html.j2",
            found=found,
            text=text or "",
            list_name=list_name or "",
            wanted_status=status or "",
            lists=lists,
            statuses=statuses,
            more=more,
            problem=" ".join(problems) or None,
            searched=bool(text or list_name or status),
        )

    return [Route("/admin/subscribers", page, methods=["GET"], name="admin_subscribers")]
