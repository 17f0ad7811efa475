"""What the HTTP API reads (web/api/): lists with counts, sends and their reports, articles.

Plain frozen dataclasses built from the same store queries ``syndicate status``, ``sends``
and ``report`` use, so the API and the CLI cannot tell different stories.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from itertools import islice

from sqlalchemy import Connection, and_, or_, select

from syndicate.config import Settings
from syndicate.models import Status
from syndicate.service import clickrate, sendstate
from syndicate.store import clicks as click_repo
from syndicate.store import deliveries as ledger
from syndicate.store import desk as desk_store
from syndicate.store import digests as digest_repo
from syndicate.store import feedback_views, history
from syndicate.store import sends as send_repo
from syndicate.store import subscribers as subscriber_repo
from syndicate.store.deliveries import DeliveryStatus
from syndicate.store.sends import SendRow, SendStatus
from syndicate.store.tables import articles, sends

MAX_FAILURES = 500  # recipients listed in one report (``failures_truncated`` says there are more)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# "a1." + first seen (µs since 1970, hex) + "." + the article id (UTF-8, base64url unpadded): the
# articles table has no number to continue from, and several articles can share a time.
ARTICLE_CURSOR_PATTERN = re.compile(r"a1\.[0-9a-f]{1,15}\.[A-Za-z0-9_-]{1,344}")


class ArticleCursorError(ValueError):
    """A text that is not a cursor :class:`ArticleCursor` made."""


@dataclass(frozen=True, slots=True, kw_only=True)
class ArticleCursor:
    """Where the next page of articles starts: after (``first_seen``, ``id``), newest first."""

    first_seen: datetime
    id: str

    def encode(self) -> str:
        """The opaque text form (for a ``cursor=`` query parameter)."""
        micros = (self.first_seen - _EPOCH) // timedelta(microseconds=1)
        name = base64.urlsafe_b64encode(self.id.encode("utf-8")).decode("ascii").rstrip("=")
        return f"a1.{micros:x}.{name}"

    @classmethod
    def decode(cls, text: str) -> ArticleCursor:
        """The cursor :meth:`encode` made; :class:`ArticleCursorError` for anything else."""
        if ARTICLE_CURSOR_PATTERN.fullmatch(text) is None:
            raise ArticleCursorError("not a cursor from a `next` link")
        _, micros, name = text.split(".")
        try:
            seen = _EPOCH + timedelta(microseconds=int(micros, 16))
            raw = base64.urlsafe_b64decode(name + "=" * (-len(name) % 4))
            return cls(first_seen=seen, id=raw.decode("utf-8"))
        except (OverflowError, ValueError, binascii.Error):  # UnicodeDecodeError is a ValueError
            raise ArticleCursorError("not a cursor from a `next` link") from None


@dataclass(frozen=True, slots=True, kw_only=True)
class ListView:
    """A declared list and how many subscribers it has in each status."""

    name: str
    title: str
    description: str | None
    counts: dict[str, int]  # every status, 0 included


@dataclass(frozen=True, slots=True, kw_only=True)
class SendView:
    """One send and where it stands."""

    id: int
    digest: str
    list_name: str
    title: str | None
    state: str
    created_at: datetime
    finished_at: datetime | None
    counts: dict[str, int]


@dataclass(frozen=True, slots=True, kw_only=True)
class Failure:
    """A recipient who has not (yet) got a send, with the server's last reply."""

    email: str
    status: str
    code: int | None
    reply: str | None
    attempts: int
    at: datetime
    next_attempt: datetime | None
    bounced: bool


@dataclass(frozen=True, slots=True, kw_only=True)
class Feedback:
    """One reader's bounce, complaint or refusal after the server took the copy."""

    email: str
    outcome: str
    diagnostic: str
    at: datetime


@dataclass(frozen=True, slots=True, kw_only=True)
class LinkClicks:
    """One counted link of a send's mail and how often readers followed it."""

    url: str
    clicks: int


@dataclass(frozen=True, slots=True, kw_only=True)
class SendReport:
    """``syndicate report``: the send, its outcome counts, who did not get it and why."""

    send: SendView
    delivered: int
    deferred: int
    failed: int
    bounced: int
    complaints: int
    failures: tuple[Failure, ...]
    failures_truncated: bool
    feedback: tuple[Feedback, ...]
    clicks: int | None  # None: the send's mail carried no counted link (count_clicks off)
    clickers: int | None  # distinct readers who clicked; None without per_subscriber
    links: tuple[LinkClicks, ...]  # most clicked first
    topic_skipped: int | None = None  # readers passed over by their topics; None: not known


@dataclass(frozen=True, slots=True, kw_only=True)
class ArticleView:
    """An article as the store keeps it: the metadata, not the body."""

    id: str
    title: str
    url: str | None
    date: str | None
    author: str | None
    tags: tuple[str, ...]
    first_seen: datetime


def lists(conn: Connection, settings: Settings) -> list[ListView]:
    """Every declared list with its counts per status."""
    found = subscriber_repo.counts(conn)
    return [
        ListView(
            name=name,
            title=declared.title,
            description=declared.description,
            counts={s.value: found.get(name, {}).get(s, 0) for s in Status},
        )
        for name, declared in settings.config.lists.items()
    ]


def state(
    conn: Connection, sent: SendRow, counts: dict[DeliveryStatus, int], *, now: datetime
) -> str:
    """Where a send stands, in the words ``syndicate sends`` uses (whether a process is at
    it is asked only of a send still open)."""
    if sent.status not in (SendStatus.PREPARING, SendStatus.SENDING):
        return sendstate.state_of(sent, counts)
    return sendstate.state_of(sent, counts, busy=sendstate.is_busy(conn, sent, now=now))


_FINAL = {
    DeliveryStatus.SENT: "sent",
    DeliveryStatus.FAILED: "failed",
    DeliveryStatus.SKIPPED: "skipped",
    DeliveryStatus.ABANDONED: "abandoned",
}


def _from_totals(totals: desk_store.Totals) -> dict[DeliveryStatus, int] | None:
    """A finished send's ledger by status, from its frozen totals (what ``ledger.counts``
    would count: every copy has its final answer); None when the totals do not add up to
    that, and the ledger itself must be counted."""
    found = {status: getattr(totals, name) for status, name in _FINAL.items()}
    if sum(found.values()) != totals.recipients:
        return None
    return {status: n for status, n in found.items() if n}


def ledger_counts(conn: Connection, found: list[SendRow]) -> dict[int, dict[DeliveryStatus, int]]:
    """Each send's ledger by status: a finished send's from ``send_totals`` (one query for
    all of them; its ledger no longer changes, and a send to a million readers has a
    million rows), a running one's (or one without totals) counted from its ledger."""
    closed = [r.id for r in found if r.status in (SendStatus.DONE, SendStatus.ABANDONED)]
    frozen = desk_store.frozen_totals(conn, closed)
    counts: dict[int, dict[DeliveryStatus, int]] = {}
    for r in found:
        totals = frozen.get(r.id)
        known = _from_totals(totals) if totals is not None else None
        counts[r.id] = known if known is not None else ledger.counts(conn, r.id)
    return counts


def _view(
    conn: Connection, sent: SendRow, now: datetime, counts: dict[DeliveryStatus, int] | None = None
) -> SendView:
    if counts is None:
        counts = ledger.counts(conn, sent.id)
    return SendView(
        id=sent.id,
        digest=sent.digest_id,
        list_name=sent.list_name,
        title=digest_repo.digest_kind(conn, sent.digest_id)[1],
        state=state(conn, sent, counts, now=now),
        created_at=sent.created_at,
        finished_at=sent.finished_at,
        counts={k.value: v for k, v in sorted(counts.items())},
    )


def recent_sends(
    conn: Connection, *, list_name: str | None, before: int | None, limit: int, now: datetime
) -> tuple[list[SendView], int | None]:
    """Sends newest first (ids below ``before``), and the id to continue before (or None)."""
    stmt = select(sends.c.id).order_by(sends.c.id.desc()).limit(limit + 1)
    if list_name is not None:
        stmt = stmt.where(sends.c.list_name == list_name)
    if before is not None:
        stmt = stmt.where(sends.c.id < before)
    ids = list(conn.execute(stmt).scalars())
    rows = [r for i in ids[:limit] if (r := send_repo.send_by_id(conn, i)) is not None]
    counts = ledger_counts(conn, rows)
    found = [_view(conn, r, now, counts[r.id]) for r in rows]
    return found, (ids[limit - 1] if len(ids) > limit else None)


def find_send(conn: Connection, name: str) -> SendRow | None:
    """A send by its id (digits) or its digest id (``weekly-3``)."""
    if name.isdigit() and len(name) < 19:
        return send_repo.send_by_id(conn, int(name))
    return send_repo.find_send(conn, name)


def report(
    conn: Connection, sent: SendRow, *, now: datetime, per_subscriber: bool = False
) -> SendReport:
    """The report of one send (what ``syndicate report SEND`` prints), with its clicks per
    link when its mail carried counted links, and the readers who clicked when
    ``per_subscriber`` names them (:mod:`syndicate.service.clickrate`)."""
    view = _view(conn, sent, now)
    counts = view.counts
    found = feedback_views.per_send(conn, sent.id)
    problems = history.problems(conn, sent.id, sent.list_name)
    listed = list(islice(problems, MAX_FAILURES + 1))
    failures = tuple(
        Failure(
            email=p.email,
            status=p.status.value,
            code=p.code,
            reply=p.reply,
            attempts=p.attempts,
            at=p.at,
            next_attempt=p.next_attempt,
            bounced=p.bounced,
        )
        for p in listed[:MAX_FAILURES]
    )
    readers = tuple(
        Feedback(email=r.email, outcome=r.outcome, diagnostic=r.diagnostic, at=r.received_at)
        for r in feedback_views.readers_of_send(conn, sent.id)[:MAX_FAILURES]
    )
    links = click_repo.send_clicks(conn, sent.id)
    delivered = counts.get(DeliveryStatus.SENT.value, 0)
    told = clickrate.figures(conn, [(sent.id, delivered)], per_subscriber=per_subscriber)
    figure = told.get(sent.id)
    return SendReport(
        send=view,
        delivered=delivered,
        deferred=counts.get(DeliveryStatus.DEFERRED.value, 0),
        failed=counts.get(DeliveryStatus.FAILED.value, 0),
        bounced=found.bounced,
        complaints=found.complained,
        failures=failures,
        failures_truncated=len(listed) > MAX_FAILURES,
        feedback=readers,
        clicks=None if figure is None else figure.clicks,
        clickers=None if figure is None else figure.clickers,
        links=tuple(LinkClicks(url=link.url, clicks=link.clicks) for link in links or ()),
        topic_skipped=sent.topic_skipped,
    )


def recent_articles(
    conn: Connection, *, since: datetime | None, after: ArticleCursor | None = None, limit: int
) -> tuple[list[ArticleView], ArticleCursor | None]:
    """Articles newest first (first seen after ``since``, if given; past ``after``, the
    cursor of the previous page), and the cursor of the next page (None on the last)."""
    a = articles.c
    stmt = (
        select(a.id, a.payload, a.link, a.first_seen)
        .order_by(a.first_seen.desc(), a.id.desc())
        .limit(limit + 1)
    )
    if since is not None:
        stmt = stmt.where(a.first_seen > since)
    if after is not None:
        stmt = stmt.where(
            or_(
                a.first_seen < after.first_seen,
                and_(a.first_seen == after.first_seen, a.id < after.id),
            )
        )
    rows = conn.execute(stmt).all()
    out = []
    for id_, payload, link, first_seen in rows[:limit]:
        meta = json.loads(payload)
        out.append(
            ArticleView(
                id=id_,
                title=str(meta.get("title") or ""),
                url=meta.get("url") or link,
                date=meta.get("date"),
                author=meta.get("author"),
                tags=tuple(str(t) for t in meta.get("tags") or ()),
                first_seen=first_seen,
            )
        )
    more = len(rows) > limit
    return out, (ArticleCursor(first_seen=out[-1].first_seen, id=out[-1].id) if more else None)
