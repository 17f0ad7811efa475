"""``/admin/subscribers/{id}``: one subscriber's page — their lists with status and topics,
the consent trail (newest first), the last deliveries with the server's replies, and the
bounces and complaints received — and its actions: unsubscribe from a list or from every
list, resubscribe with a reason (``service/subscriber_actions.py``, as the HTTP API).

Every query is one index range on the subscriber (``subscriber_by_id``: the primary key;
subscriptions and topics: their primary key; the trail: ``ix_subscription_events_subscriber``;
feedback: ``ix_feedback_subscriber``; deliveries: the ledger's primary key per send, see
``store/history.py``) and bounded, so the page costs the same with a million readers.

Actions are POSTs checked by :func:`~syndicate.web.admin.gate.admin_form` (same origin, the
session's CSRF token) that answer 303 back to the page with what was done, or show the
page again with the problem (400: no reason; 409: not allowed) having changed nothing.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Container, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlencode

from sqlalchemy import Engine
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from syndicate.config import Settings
from syndicate.models import Source, Status, Subscriber
from syndicate.service import subscriber_actions as actions
from syndicate.service.subscriber_actions import ActionRefused, Actor, BadReason
from syndicate.store import feedback_views, history
from syndicate.store import subscribers as repo
from syndicate.store.feedback_views import SubscriberFeedback
from syndicate.store.history import DeliveryRecord
from syndicate.store.subscribers import Event
from syndicate.subscribers.address import display_address
from syndicate.web.admin.gate import admin_form, signed_in
from syndicate.web.admin.render import AdminRenderer

log = logging.getLogger(__name__)

TRAIL = 200  # trail entries shown (`syndicate subscribers show` has them all)
DELIVERIES = 100  # newest sends' copies shown
FEEDBACK = 50  # newest bounces and complaints shown
MAX_ID = 2**31 - 1  # the id column is a 32-bit integer on PostgreSQL
MAX_LIST = 63
DONE = {
    "unsubscribed": "Unsubscribed from {list}.",
    "all": "Unsubscribed from every list they were still on ({list}).",
    "resubscribed": "Resubscribed to {list}: they get its mail again.",
    "unchanged": "Nothing changed: they were not subscribed to {list} any more.",
    "unchanged-all": "Nothing changed: they were not subscribed to any list any more.",
}

LOGGED = {  # the run log's words for a change made
    "unsubscribed": "unsubscribed from",
    "all": "unsubscribed from",
    "resubscribed": "resubscribed to",
}


@dataclass(frozen=True, slots=True, kw_only=True)
class ListRow:
    """One of the subscriber's lists, and what the page offers for it."""

    list_name: str
    title: str | None  # None: the list is no longer in syndicate.toml
    status: Status
    topics: tuple[str, ...]  # empty: everything the list sends
    can_unsubscribe: bool
    can_resubscribe: bool
    why_not: str | None  # why there is no resubscribe button, when it is not active


@dataclass(frozen=True, slots=True, kw_only=True)
class Dossier:
    """What the page shows; each part bounded (``more_*``: there is more than shown)."""

    subscriber: Subscriber
    shown_as: str
    lists: tuple[ListRow, ...]
    trail: tuple[Event, ...]
    trail_total: int
    deliveries: tuple[DeliveryRecord, ...]
    more_deliveries: bool
    feedback: tuple[SubscriberFeedback, ...]
    more_feedback: bool


CANONICAL_ID = re.compile(r"[1-9][0-9]{0,9}")  # decimal, no sign, no leading zero


def subscriber_id(request: Request) -> int | None:
    """The path's id, when it can name a subscriber: only its canonical decimal spelling
    (``01``, ``+1`` and the like are not pages, so every subscriber has one URL)."""
    value = request.path_params.get("subscriber_id")
    if not isinstance(value, str) or not CANONICAL_ID.fullmatch(value):
        return None
    number = int(value)
    return number if number <= MAX_ID else None


def fits(done: str, named: str, statuses: Mapping[str, Status], declared: Container[str]) -> bool:
    """Whether the redirect's ``done`` / ``list`` (from the query string, so anyone's words)
    agree with the subscriber's statuses now: only then is the notice shown."""
    if done == "unchanged-all":
        return not named and all(s not in actions.ENDABLE for s in statuses.values())
    if done == "all":
        names = named.split(", ")
        return bool(named) and all(statuses.get(n) is Status.UNSUBSCRIBED for n in names)
    if named not in declared:
        return False
    wanted = {"unsubscribed": (Status.UNSUBSCRIBED,), "resubscribed": (Status.ACTIVE,)}
    allowed = wanted.get(done, (Status.UNSUBSCRIBED, Status.BOUNCED, Status.COMPLAINED, None))
    return statuses.get(named) in allowed


def subscriber_routes(
    settings: Settings, engine: Engine, renderer: AdminRenderer, *, clock: Callable[[], datetime]
) -> list[BaseRoute]:
    """A subscriber's page and its three actions."""
    titles = {name: cfg.title for name, cfg in settings.config.lists.items()}
    hooks = settings.config.webhooks

    def row(
        name: str, status: Status, topics: tuple[str, ...], blocked: tuple[str, Status] | None
    ) -> ListRow:
        declared = name in titles
        why_not = (
            None if status in (Status.ACTIVE, Status.UNSUBSCRIBED) else actions.REFUSED[status]
        )
        if status is Status.UNSUBSCRIBED and blocked is not None:
            why_not = actions.blocked_reason(*blocked)  # bounced or complained on another list
        return ListRow(
            list_name=name,
            title=titles.get(name),
            status=status,
            topics=topics,
            can_unsubscribe=status in actions.ENDABLE,
            can_resubscribe=declared and status is Status.UNSUBSCRIBED and blocked is None,
            why_not=why_not,
        )

    def dossier(sid: int) -> Dossier | None:
        with engine.connect() as conn:
            found = repo.subscriber_by_id(conn, sid)
            if found is None:
                return None
            statuses = repo.subscriptions_of(conn, sid)
            topics = repo.topics_of(conn, sid)
            trail = repo.recent_events(conn, sid, limit=TRAIL)
            total = repo.count_events(conn, sid) if len(trail) == TRAIL else len(trail)
            copies = history.delivery_history(conn, sid, limit=DELIVERIES + 1)
            feedback = feedback_views.feedback_of(conn, sid, limit=FEEDBACK + 1)
        return Dossier(
            subscriber=found,
            shown_as=display_address(found.email),
            lists=tuple(
                row(n, s, topics.get(n, ()), actions.blocked_by(statuses))
                for n, s in sorted(statuses.items())
            ),
            trail=tuple(trail),
            trail_total=total,
            deliveries=tuple(copies[:DELIVERIES]),
            more_deliveries=len(copies) > DELIVERIES,
            feedback=tuple(feedback[:FEEDBACK]),
            more_feedback=len(feedback) > FEEDBACK,
        )

    def not_found(request: Request) -> Response:
        return renderer.error(request, 404, "Not found", "There is no subscriber with this number.")

    async def show(
        request: Request, sid: int, *, status: int = 200, problem: str | None = None
    ) -> Response:
        found = await run_in_threadpool(dossier, sid)
        if found is None:
            return not_found(request)
        notice = None
        done = request.query_params.get("done", "")
        if status == 200 and done in DONE:
            named = request.query_params.get("list", "")[:500]
            current = {row.list_name: row.status for row in found.lists}
            if fits(done, named, current, titles):
                notice = DONE[done].format(list=named)
        return renderer.page(
            request,
            "admin/subscriber.html.j2",
            status=status,
            d=found,
            notice=notice,
            problem=problem,
            shown={"trail": TRAIL, "deliveries": DELIVERIES, "feedback": FEEDBACK},
            max_reason=actions.MAX_REASON,
        )

    async def page(request: Request) -> Response:
        sid = subscriber_id(request)
        return not_found(request) if sid is None else await show(request, sid)

    def actor(request: Request) -> Actor:
        return Actor(source=Source.ADMIN, name=f"admin {signed_in(request).user}")

    def back(sid: int, done: str, named: str) -> Response:
        query = urlencode({"done": done, "list": named})
        return RedirectResponse(f"{renderer.root}/admin/subscribers/{sid}?{query}", 303)

    def field(form: Any, name: str, limit: int) -> str:
        value = form.get(name)
        return value[:limit] if isinstance(value, str) else ""

    def change(sid: int, work: Callable[[Any], Any]) -> Any:
        """``work(conn)`` in one transaction, when the subscriber exists (else None)."""
        with engine.begin() as conn:
            if repo.subscriber_by_id(conn, sid) is None:
                return None
            return work(conn)

    async def act(request: Request, action: str) -> Response:
        form = await admin_form(request)
        sid = subscriber_id(request)
        if sid is None:
            return not_found(request)
        who, now = actor(request), clock()
        list_name = field(form, "list", MAX_LIST + 1).strip()
        reason = field(form, "reason", 4 * actions.MAX_REASON)
        if action != "all" and not list_name:
            return await show(request, sid, status=400, problem="Choose a list.")
        if action == "resubscribe" and list_name not in titles:
            problem = f"{list_name} is not a list in syndicate.toml."
            return await show(request, sid, status=409, problem=problem)

        def work(conn: Any) -> tuple[str, str]:
            if action == "resubscribe":
                actions.resubscribe(
                    conn, sid, list_name, actor=who, reason=reason, now=now, hooks=hooks
                )
                return "resubscribed", list_name
            wanted = None if action == "all" else list_name
            ended = ", ".join(
                actions.unsubscribe(
                    conn, sid, wanted, actor=who, now=now, hooks=hooks, reason=reason
                ).ended
            )
            if action == "all":
                return ("all", ended) if ended else ("unchanged-all", "")
            return ("unsubscribed" if ended else "unchanged"), list_name

        try:
            done = await run_in_threadpool(change, sid, work)
        except BadReason as exc:
            return await show(request, sid, status=400, problem=exc.reason)
        except ActionRefused as exc:
            return await show(request, sid, status=409, problem=f"{exc.list_name}: {exc.reason}")
        if done is None:
            return not_found(request)
        said = LOGGED.get(done[0])
        if said:  # the id, the lists and the admin: never the address or the reason
            log.info("%s: subscriber %d %s %s", who.name, sid, said, done[1])
        return back(sid, *done)

    async def unsubscribe(request: Request) -> Response:
        return await act(request, "unsubscribe")

    async def unsubscribe_all(request: Request) -> Response:
        return await act(request, "all")

    async def resubscribe(request: Request) -> Response:
        return await act(request, "resubscribe")

    base = "/admin/subscribers/{subscriber_id}"  # checked by subscriber_id()
    return [
        Route(base, page, methods=["GET"], name="admin_subscriber"),
        Route(f"{base}/unsubscribe", unsubscribe, methods=["POST"], name="admin_unsubscribe"),
        Route(
            f"{base}/unsubscribe-all",
            unsubscribe_all,
            methods=["POST"],
            name="admin_unsubscribe_all",
        ),
        Route(f"{base}/resubscribe", resubscribe, methods=["POST"], name="admin_resubscribe"),
    ]
