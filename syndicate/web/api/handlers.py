"""The API's endpoints: wiring only (the models check the input; service/ and store/ do
the work, in a worker thread)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any
from urllib.parse import urlencode

from sqlalchemy import Engine
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from syndicate.config import Settings
from syndicate.digest.welcome import welcome_lists
from syndicate.errors import SyndicateError
from syndicate.service import api_subscribers as subs
from syndicate.service import api_views as views
from syndicate.store.search import Cursor, CursorError, search_subscribers
from syndicate.subscribers.address import normalize_address
from syndicate.web.api import models as m
from syndicate.web.api.auth import ApiError
from syndicate.web.api.operations import Call, json_response

PREFIX = "/api/v1"


def _not_found(what: str) -> ApiError:
    return ApiError(404, "not_found", what)


def _detail(v: subs.SubscriberView) -> m.SubscriberDetail:
    return m.SubscriberDetail(
        id=v.id,
        email=v.email,
        name=v.name,
        created_at=v.created_at,
        lists=[
            m.Membership(list_name=x.list_name, status=x.status.value, topics=list(x.topics))
            for x in v.lists
        ],
        consent=[
            m.ConsentEvent(
                list_name=e.list_name,
                status=e.status.value,
                previous=e.previous.value if e.previous else None,
                at=e.at,
                source=e.source.value,
                detail=e.detail,
            )
            for e in v.trail
        ],
        consent_truncated=v.older > 0,
        consent_older=v.older,
    )


READ = "subscribers:read"


def _change(o: subs.Outcome, call: Call) -> Response:
    """A write's answer: the subscriber only if the token may also read subscribers (a
    write-only token, a signup widget's, must not be a way to look addresses up)."""
    if READ not in call.token.scopes:
        out = m.ChangeOut(subscriber=None, results=o.results, to_confirm=list(o.to_confirm))
        return json_response(out, omit=frozenset({"subscriber"}))
    return json_response(
        m.ChangeOut(
            subscriber=_detail(o.subscriber), results=o.results, to_confirm=list(o.to_confirm)
        )
    )


def _send(v: views.SendView) -> m.SendOut:
    return m.SendOut(
        id=v.id,
        digest=v.digest,
        list_name=v.list_name,
        title=v.title,
        state=v.state,
        created_at=v.created_at,
        finished_at=v.finished_at,
        counts=v.counts,
    )


class Api:
    """The endpoints of one site."""

    def __init__(
        self,
        settings: Settings,
        engine: Engine,
        *,
        clock: Callable[[], datetime],
        on_outbox: Callable[[], None] | None,
    ) -> None:
        self.settings, self.engine, self.clock, self.on_outbox = settings, engine, clock, on_outbox

    # -- helpers ---------------------------------------------------------------------------

    def _declared(self, names: Any, field: str) -> None:
        unknown = sorted(set(names) - set(self.settings.config.lists))
        if unknown:
            declared = ", ".join(sorted(self.settings.config.lists)) or "none"
            raise ApiError(
                422,
                "unknown_list",
                f"{field}: no list named {', '.join(unknown)}; declared lists: {declared}",
            )

    def _key(self, call: Call) -> str:
        raw = str(call.request.path_params["email"])
        try:
            return normalize_address(raw).key
        except SyndicateError:  # nobody can have subscribed with it
            raise _not_found("no subscriber with this address") from None

    def _ring(self) -> None:
        if self.on_outbox is not None:
            self.on_outbox()

    # -- subscribers -----------------------------------------------------------------------

    async def list_subscribers(self, call: Call) -> Response:
        """GET /subscribers."""
        q: m.SubscriberQuery = call.query
        if q.list is not None:
            self._declared([q.list], "list")
        try:
            after = Cursor.decode(q.cursor) if q.cursor else None
        except CursorError as exc:
            raise ApiError(422, "invalid_cursor", f"cursor: {exc}") from None

        def run() -> Any:
            with self.engine.connect() as conn:
                return search_subscribers(
                    conn, text=q.q, list_name=q.list, status=q.status, after=after, limit=q.limit
                )

        page = await run_in_threadpool(run)
        cursor = page.next.encode() if page.next else None
        link = None
        if cursor is not None:
            params = {k: v for k, v in q.model_dump(exclude_none=True).items() if k != "cursor"}
            link = f"{PREFIX}/subscribers?" + urlencode({**params, "cursor": cursor})
        items = [
            m.SubscriberOut(
                id=r.id,
                email=r.email,
                name=r.name,
                created_at=r.created_at,
                lists=[m.Membership(list_name=n, status=s.value, topics=[]) for n, s in r.lists],
            )
            for r in page.items
        ]
        return json_response(m.SubscriberPage(items=items, cursor=cursor, next=link))

    async def create_subscriber(self, call: Call) -> Response:
        """POST /subscribers."""
        body: m.SubscribeIn = call.body
        self._declared(body.lists, "lists")
        lists = list(dict.fromkeys(body.lists))
        now = self.clock()
        if body.status == "pending":
            if self.settings.config.email is None:
                raise ApiError(
                    503, "email_not_configured", "this publication cannot send email yet"
                )
            await run_in_threadpool(
                subs.request_opt_in,
                self.engine,
                email=body.email,
                name=body.name,
                lists=lists,
                token=call.token.name,
                now=now,
            )
            self._ring()
            message = "recorded: a confirmation mail goes to the address (unless it is suppressed)"
            return json_response(m.SubscribeAccepted(status="pending", message=message), 202)
        assert body.source is not None  # the model requires it with confirmed
        outcome = await run_in_threadpool(
            lambda: subs.subscribe_confirmed(
                self.engine,
                email=body.email,
                key=body.email.casefold(),
                name=body.name,
                lists=lists,
                source=body.source or "",
                token=call.token.name,
                now=now,
                welcome=welcome_lists(self.settings),
                hooks=self.settings.config.webhooks,
            )
        )
        if any(r == "active" for r in outcome.results.values()):
            self._ring()  # welcome mails, webhook events
        return _change(outcome, call)

    async def get_subscriber(self, call: Call) -> Response:
        """GET /subscribers/{email}."""
        key = self._key(call)

        def run() -> subs.SubscriberView | None:
            with self.engine.connect() as conn:
                return subs.view(conn, key)

        found = await run_in_threadpool(run)
        if found is None:
            raise _not_found("no subscriber with this address")
        return json_response(_detail(found))

    async def update_subscriber(self, call: Call) -> Response:
        """PATCH /subscribers/{email}."""
        key = self._key(call)
        body: m.PatchIn = call.body
        if body.lists is not None:
            self._declared(body.lists, "lists")
        if body.topics is not None:
            self._declared(body.topics, "topics")
            for name, chosen in body.topics.items():
                offered = set(self.settings.config.lists[name].tags)
                extra = sorted(set(chosen) - offered)
                if extra:
                    raise ApiError(
                        422,
                        "unknown_topic",
                        f"topics.{name}: {', '.join(extra)} not offered; the list offers: "
                        f"{', '.join(sorted(offered)) or 'no topics'}",
                    )
        new_name = (body.name,) if "name" in body.model_fields_set else None
        outcome = await run_in_threadpool(
            lambda: subs.update(
                self.engine,
                key,
                name=new_name,
                topics={n: list(dict.fromkeys(t)) for n, t in (body.topics or {}).items()}
                if body.topics is not None
                else None,
                lists=body.lists,
                token=call.token.name,
                now=self.clock(),
                hooks=self.settings.config.webhooks,
            )
        )
        if outcome is None:
            raise _not_found("no subscriber with this address")
        if outcome.to_confirm:
            self._ring()
        return _change(outcome, call)

    async def delete_subscriber(self, call: Call) -> Response:
        """DELETE /subscribers/{email}: unsubscribe; the record stays (suppression)."""
        q: m.DeleteQuery = call.query
        if q.list is not None:  # a typo must not answer 200 and unsubscribe nobody
            self._declared([q.list], "list")
        key = self._key(call)
        outcome = await run_in_threadpool(
            lambda: subs.unsubscribe(
                self.engine,
                key,
                list_name=q.list,
                token=call.token.name,
                now=self.clock(),
                hooks=self.settings.config.webhooks,
            )
        )
        if outcome is None:
            raise _not_found("no subscriber with this address")
        return _change(outcome, call)

    # -- lists, sends, articles ------------------------------------------------------------

    async def lists(self, call: Call) -> Response:
        """GET /lists."""

        def run() -> list[views.ListView]:
            with self.engine.connect() as conn:
                return views.lists(conn, self.settings)

        found = await run_in_threadpool(run)
        return json_response(
            m.ListsOut(
                lists=[
                    m.ListOut(
                        name=x.name, title=x.title, description=x.description, counts=x.counts
                    )
                    for x in found
                ]
            )
        )

    async def sends(self, call: Call) -> Response:
        """GET /sends."""
        q: m.SendsQuery = call.query
        if q.list is not None:
            self._declared([q.list], "list")

        def run() -> tuple[list[views.SendView], int | None]:
            with self.engine.connect() as conn:
                return views.recent_sends(
                    conn, list_name=q.list, before=q.before, limit=q.limit, now=self.clock()
                )

        found, before = await run_in_threadpool(run)
        link = None
        if before is not None:
            params = {k: v for k, v in q.model_dump(exclude_none=True).items() if k != "before"}
            link = f"{PREFIX}/sends?" + urlencode({**params, "before": before})
        return json_response(m.SendsOut(items=[_send(v) for v in found], before=before, next=link))

    async def send_report(self, call: Call) -> Response:
        """GET /sends/{id}: the report."""
        name = str(call.request.path_params["id"])
        per_subscriber = self.settings.config.analytics.per_subscriber

        def run() -> views.SendReport | None:
            with self.engine.connect() as conn:
                sent = views.find_send(conn, name)
                if sent is None:
                    return None
                return views.report(conn, sent, now=self.clock(), per_subscriber=per_subscriber)

        found = await run_in_threadpool(run)
        if found is None:
            raise _not_found("no send with this id or digest id")
        return json_response(
            m.ReportOut(
                send=_send(found.send),
                delivered=found.delivered,
                deferred=found.deferred,
                failed=found.failed,
                bounced=found.bounced,
                complaints=found.complaints,
                failures=[
                    m.FailureOut(
                        email=f.email,
                        status=f.status,
                        code=f.code,
                        reply=f.reply,
                        attempts=f.attempts,
                        at=f.at,
                        next_attempt=f.next_attempt,
                        bounced=f.bounced,
                    )
                    for f in found.failures
                ],
                failures_truncated=found.failures_truncated,
                feedback=[
                    m.FeedbackOut(
                        email=f.email, outcome=f.outcome, diagnostic=f.diagnostic, at=f.at
                    )
                    for f in found.feedback
                ],
                clicks=found.clicks,
                clickers=found.clickers,
                links=[m.LinkClicksOut(url=link.url, clicks=link.clicks) for link in found.links],
                topic_skipped=found.topic_skipped,
            )
        )

    async def articles(self, call: Call) -> Response:
        """GET /articles."""
        q: m.ArticlesQuery = call.query
        try:
            after = views.ArticleCursor.decode(q.cursor) if q.cursor else None
        except views.ArticleCursorError as exc:
            raise ApiError(422, "invalid_cursor", f"cursor: {exc}") from None

        def run() -> tuple[list[views.ArticleView], views.ArticleCursor | None]:
            with self.engine.connect() as conn:
                return views.recent_articles(conn, since=q.since, after=after, limit=q.limit)

        found, more = await run_in_threadpool(run)
        cursor = more.encode() if more is not None else None
        link = None
        if cursor is not None:
            params = {k: v for k, v in q.model_dump(exclude_none=True).items() if k != "cursor"}
            if q.since is not None:
                params["since"] = q.since.isoformat().replace("+00:00", "Z")
            link = f"{PREFIX}/articles?" + urlencode({**params, "cursor": cursor})
        return json_response(
            m.ArticlesOut(
                cursor=cursor,
                next=link,
                items=[
                    m.ArticleOut(
                        id=a.id,
                        title=a.title,
                        url=a.url,
                        date=a.date,
                        author=a.author,
                        tags=list(a.tags),
                        first_seen=a.first_seen,
                    )
                    for a in found
                ],
            )
        )
