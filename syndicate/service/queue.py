"""Sends that wait, carried out by ``syndicate run``: one-off sends queued for a time
(``send LIST --at``) and digests waiting for an editor's approval (``approve = true``).

A tick (every ``scheduler.QUEUE_EVERY``) decides approvals that timed out, then starts each row
that is due: a queued send whose time came, an approved digest. Starting one is
:meth:`SendQueue.start`, one row at a time: it claims the row in the store (one conditional
update, so two processes never both start it), then either prepares the digest for
approval (preview to ``[email] editors`` through the outbox, the digest frozen in the row)
or sends it — an approved one exactly as frozen. The row becomes ``sent`` in the
transaction that records the digest; a process that dies before that leaves its claim to
be taken over. A row found later than ``misfire_grace`` (a ``run`` was down) is skipped
and says so, as a missed cron digest is.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, tzinfo
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection

from syndicate.delivery.dkim import sign as dkim_sign
from syndicate.delivery.engine import SendReport
from syndicate.delivery.setup import dkim_key
from syndicate.digest.assemble import EVERYTHING
from syndicate.digest.frozen import freeze, thaw
from syndicate.digest.note import Note, parse_note
from syndicate.digest.post import AlreadyMailed
from syndicate.digest.prepare import Prepared, list_state, prepare
from syndicate.digest.preview import for_approval
from syndicate.digest.render import render_digest
from syndicate.digest.testcopy import TestCopies
from syndicate.errors import SyndicateError
from syndicate.models import ReadReport
from syndicate.processes import process_alive, process_owner
from syndicate.service.posts import choose_article
from syndicate.service.scheduler import list_timezone
from syndicate.store import digests as digest_repo
from syndicate.store import outbox as outbox_repo
from syndicate.store import queued as repo
from syndicate.store.queued import QueuedRow, QueuedStatus
from syndicate.text import one_line, plural

if TYPE_CHECKING:
    from syndicate.service.work import Work

log = logging.getLogger(__name__)


STALE_CLAIM = timedelta(minutes=10)  # a claim of a process on another host is taken over


def shown(moment: datetime, zone: tzinfo = UTC) -> str:
    """A time in log lines and a send's detail, in the list's zone as ``sends`` and
    ``status`` show times: ``2026-12-24 08:00:00 CET``."""
    return f"{moment.astimezone(zone):%Y-%m-%d %H:%M:%S %Z}"


def zone_of(work: Work, list_name: str) -> tzinfo:
    """The list's time zone (UTC for a list no longer declared)."""
    if list_name not in work.settings.config.lists:
        return UTC
    return list_timezone(work.settings, list_name)


def grace(work: Work, list_name: str) -> timedelta:
    """How late a waiting send of the list may still go out: its ``misfire_grace`` (at least
    60 s, as config requires: a busy loop delays a tick a little)."""
    return timedelta(seconds=work.settings.mailing_list(list_name).misfire_grace)


class SendQueue:
    """The waiting sends of one ``run``; its jobs call :meth:`tick` and :meth:`hold`."""

    def __init__(self, work: Work) -> None:
        self.work = work
        self.owner = process_owner()

    @property
    def clock(self) -> Callable[[], datetime]:
        return self.work.clock

    async def tick(self) -> None:
        """Decide the approvals that timed out; start every row that is due."""
        now = self.clock()
        with self.work.engine.connect() as conn:
            rows = repo.due(conn, now=now)
        for row in rows:
            if self.work.stopped:
                return
            if row.status is QueuedStatus.AWAITING:
                if row.wait_until is not None and row.wait_until <= now:
                    if self._timed_out(row, now):
                        await self._start_fresh(row.id)
            elif row.status is QueuedStatus.QUEUED and row.due_at > now:
                continue
            elif row.status is QueuedStatus.STARTING and not self._abandoned(row, now):
                continue
            else:
                await self.start(row)

    async def _start_fresh(self, row_id: int) -> None:
        with self.work.engine.connect() as conn:
            row = repo.get(conn, row_id)
        if row is not None:
            await self.start(row)

    def _abandoned(self, row: QueuedRow, now: datetime) -> bool:
        """Whether a row claimed for starting was left by a process that is gone."""
        alive = process_alive(row.claimed_by) if row.claimed_by else False
        if alive is False:
            return True
        old = row.claimed_at is None or row.claimed_at < now - STALE_CLAIM
        return alive is None and old

    def _timed_out(self, row: QueuedRow, now: datetime) -> bool:
        """An approval nobody answered: skipped, or approved (``on_timeout``); whether it
        is to be sent now."""
        assert row.wait_until is not None
        cfg = self.work.settings.config.lists.get(row.list_name)
        until = shown(row.wait_until, zone_of(self.work, row.list_name))
        if cfg is None or cfg.on_timeout == "skip":
            detail = f"nobody approved it by {until}; not sent (on_timeout = skip)"
            with self.work.engine.begin() as conn:
                moved = repo.move(
                    conn, row.id, from_=QueuedStatus.AWAITING, to=QueuedStatus.SKIPPED,
                    now=now, detail=detail,
                )  # fmt: skip
            if moved:
                log.info("%s: %s: %s", row.list_name, row.digest_id, detail)
            return False
        if now - row.wait_until > grace(self.work, row.list_name):
            detail = (
                f"its approval timed out at {until} while no `syndicate run` "
                "was scheduling; too late to send (misfire_grace)"
            )
            with self.work.engine.begin() as conn:
                repo.move(
                    conn, row.id, from_=QueuedStatus.AWAITING, to=QueuedStatus.SKIPPED,
                    now=now, detail=detail,
                )  # fmt: skip
            log.warning("%s: %s: %s", row.list_name, row.digest_id, detail)
            return False
        detail = f"nobody answered by {until}: sent (on_timeout = send)"
        with self.work.engine.begin() as conn:
            moved = repo.move(
                conn, row.id, from_=QueuedStatus.AWAITING, to=QueuedStatus.APPROVED,
                now=now, detail=detail,
            )  # fmt: skip
        if moved:
            log.info("%s: %s: %s", row.list_name, row.digest_id, detail)
        return moved

    def _skip(self, row: QueuedRow, detail: str, *, claimed: bool, level: int | None) -> None:
        """Record the row as skipped with ``detail``; log it at ``level`` (None: the send's
        own log line said it already)."""
        now = self.clock()
        with self.work.engine.begin() as conn:
            moved = repo.move(
                conn,
                row.id,
                from_=QueuedStatus.STARTING if claimed else row.status,
                to=QueuedStatus.SKIPPED,
                now=now,
                claimed_by=self.owner if claimed else None,
                detail=detail,
            )
        if moved and level is not None:
            log.log(level, "%s: queued send %d skipped: %s", row.list_name, row.id, detail)

    def _release(self, row: QueuedRow, why: str) -> None:
        """Give a claimed row back (the next tick tries again)."""
        back = QueuedStatus.APPROVED if row.prepared is not None else QueuedStatus.QUEUED
        with self.work.engine.begin() as conn:
            repo.move(
                conn, row.id, from_=QueuedStatus.STARTING, to=back, now=self.clock(),
                claimed_by=self.owner, detail=why,
            )  # fmt: skip

    async def start(self, row: QueuedRow) -> None:
        """Start one due row: a queued send, an approved digest, or a claim a dead process
        left. The step the ``--article`` sends plug into as well."""
        now = self.clock()
        settings = self.work.settings
        if row.list_name not in settings.config.lists:
            self._skip(row, "its list is no longer declared", claimed=False, level=logging.WARNING)
            return
        since = row.updated_at if row.prepared is not None else row.due_at
        if now - since > grace(self.work, row.list_name):
            what = "approved" if row.prepared is not None else "due"
            zone = zone_of(self.work, row.list_name)
            detail = (
                f"missed: {what} {shown(since, zone)}, and no `syndicate run` was scheduling "
                f"until {shown(now, zone)} (more than misfire_grace late); not sent"
            )
            self._skip(row, detail, claimed=False, level=logging.WARNING)
            return
        with self.work.engine.begin() as conn:
            if not repo.claim(conn, row, self.owner, now=now):
                return  # another process started it (or it was cancelled meanwhile)
        cfg = settings.mailing_list(row.list_name)
        try:
            async with self.work.lock(row.list_name):
                # approval holds digests; an article queued with --at is the editor's own pick
                if row.prepared is None and row.article_id is None and cfg.approve:
                    await self.hold(row.list_name, row=row, due=row.due_at)
                else:
                    await self._send(row)
        except SyndicateError as exc:  # a template mistake, a note that cannot be read…:
            # trying again every few seconds would only say it again
            self._skip(row, f"not sent: {one_line(str(exc), 300)}", claimed=True,
                       level=logging.ERROR)  # fmt: skip
        except Exception as exc:  # logged by the job; the claim goes back for the next tick
            self._release(row, one_line(str(exc) or type(exc).__name__, 300))
            raise

    async def _send(self, row: QueuedRow) -> None:
        """Send the row's digest: as frozen (approved), or the list's next one (queued)."""
        settings, engine = self.work.settings, self.work.engine
        articles = (await self.work.read(offline=row.prepared is not None)).articles
        prepared: Prepared | None = None
        if row.prepared is not None:
            with engine.connect() as conn:
                audience = digest_repo.topic_sets(conn, row.list_name)
            prepared = thaw(settings, row.prepared, audience, where=f"queued send {row.id}")
            if prepared.state != list_state(engine, row.list_name):
                detail = (
                    f"{row.digest_id} cannot be sent as it was approved: {row.list_name} "
                    "recorded another digest since it was prepared; its articles go in the "
                    "next digest"
                )
                self._skip(row, detail, claimed=True, level=logging.WARNING)
                return
        note = self._note(row)
        if row.article_id is not None:  # `send LIST --at … --article ID [--again]`
            with engine.connect() as conn:
                held = repo.waiting(conn, row.list_name)
            if held is not None:  # it would take the waiting digest's issue number
                detail = (
                    f"{held.digest_id} of {row.list_name} waited for approval when it came "
                    f"due; not sent (queue it again once `syndicate approve {row.list_name}` "
                    f"or `syndicate reject {row.list_name}` decided it)"
                )
                self._skip(row, detail, claimed=True, level=logging.WARNING)
                return
            read = ReadReport(articles=tuple(articles))
            try:
                article = choose_article(
                    engine, settings, row.list_name, read, row.article_id, again=row.again
                )
            except AlreadyMailed as exc:  # its advice is for the command line
                raise SyndicateError(
                    str(exc).replace(
                        "add --again to mail it to the list again",
                        "queue it again with --again to mail it once more",
                    )
                ) from None

        def started(conn: Connection, digest_id: str) -> None:
            moved = repo.move(
                conn, row.id, from_=QueuedStatus.STARTING, to=QueuedStatus.SENT,
                now=self.clock(), claimed_by=self.owner, digest_id=digest_id,
            )  # fmt: skip
            if not moved:  # taken over meanwhile: this transaction records nothing
                raise SyndicateError(f"queued send {row.id} was taken over by another process")

        options: dict[str, Any] = {"on_record": started, "note": note}
        if row.article_id is not None:
            options.update(article=article, again=row.again)
        if prepared is not None:
            options.update(prepared=prepared, exact=True)
        report = await self.work.send(row.list_name, articles, **options)
        if report is not None and report.resumed and not _failed(report):
            # An interrupted send of the list went first; now this one.
            report = await self.work.send(row.list_name, articles, **options)
        if report is None or report.resumed:
            self._release(row, "the list was busy; trying again")
        elif report.nothing_new:
            last = "post" if settings.mailing_list(row.list_name).mode == "post" else "digest"
            self._skip(  # not logged twice: the send's line said "nothing new …" (trial16 U6)
                row, f"nothing new since the last {last}; nothing sent", claimed=True,
                level=None,
            )  # fmt: skip
        elif report.send_id is None and report.error is not None:
            self._release(row, report.error)

    def _note(self, row: QueuedRow) -> Note | None:
        if row.note is None:
            return None
        base = self.work.settings.publication.base_url
        return parse_note(row.note, base_url=base, where=f"queued send {row.id}")

    async def hold(self, list_name: str, *, row: QueuedRow | None, due: datetime) -> None:
        """Prepare the list's next digest, mail its preview to the editors and keep it,
        frozen, until it is approved, rejected or times out (the caller holds the list)."""
        work = self.work
        with work.engine.connect() as conn:
            already = repo.waiting(conn, list_name)
        if already is not None:
            detail = (
                f"{already.digest_id} still waits for approval; `syndicate approve "
                f"{list_name}` or `syndicate reject {list_name}` it first"
            )
            if row is not None:
                self._skip(row, detail, claimed=True, level=logging.WARNING)
            else:
                log.warning("%s: this schedule's digest is skipped: %s", list_name, detail)
            return
        articles = (await work.read(offline=False)).articles
        note = self._note(row) if row is not None else None
        now = self.clock()
        held = await asyncio.to_thread(self._hold, list_name, articles, row, due, now, note)
        if held is None and row is not None:
            self._skip(row, "nothing new since the last digest; nothing to approve",
                       claimed=True, level=logging.INFO)  # fmt: skip
        elif held is None:
            log.info("%s: nothing new since the last digest; nothing to approve", list_name)

    def _hold(
        self,
        list_name: str,
        articles: Any,
        row: QueuedRow | None,
        due: datetime,
        now: datetime,
        note: Note | None,
    ) -> str | None:
        """The blocking part of :meth:`hold`; the digest id held, None when nothing is new."""
        settings, engine = self.work.settings, self.work.engine
        cfg = settings.mailing_list(list_name)
        prepared = prepare(settings, engine, list_name, articles, now=now, note=note)
        if not prepared.fresh and not cfg.send_empty:
            return None
        whole = prepared.digests[EVERYTHING]
        rendered = render_digest(whole, settings, note=note)  # a template mistake: said now
        until = now + timedelta(seconds=cfg.approve_timeout)
        local = until.astimezone(list_timezone(settings, list_name))
        preview = for_approval(
            rendered, list_name, until=f"{local:%Y-%m-%d %H:%M %Z}", on_timeout=cfg.on_timeout
        )
        copies = TestCopies(preview, settings, date=now)
        key = dkim_key(settings)
        editors = settings.email.editors
        mails: list[tuple[str, bytes]] = []
        for editor in editors:
            message = copies.message(editor, None)
            mails.append((editor, dkim_sign(message, key) if key is not None else bytes(message)))
        bounces = settings.config.bounces
        envelope = bounces.address if bounces is not None else settings.email.from_address
        frozen = freeze(
            prepared, list_name=list_name, known_urls=frozenset(a.url for a in articles)
        )
        with engine.begin() as conn:
            held = repo.hold_for_approval(
                conn,
                list_name=list_name,
                row_id=row.id if row is not None else None,
                owner=self.owner,
                due=due,
                now=now,
                digest_id=whole.id,
                prepared=frozen,
                wait_until=until,
            )
            if held is None:
                raise SyndicateError(f"{list_name}: another digest already waits for approval")
            for editor, mail in mails:  # queued with the row: both, or neither
                outbox_repo.enqueue(conn, sender=envelope, recipient=editor, data=mail, now=now)
        log.info(
            "%s: %s waits for approval until %s (then: %s); a preview went to %s: "
            "`syndicate approve %s` sends it, `syndicate reject %s` drops it",
            list_name,
            whole.id,
            shown(until, list_timezone(settings, list_name)),
            "sent" if cfg.on_timeout == "send" else "skipped",
            plural(len(editors), "editor"),
            list_name,
            list_name,
        )
        self.work.ring_outbox()
        return whole.id


def _failed(report: SendReport) -> bool:
    return report.error is not None or report.stopped or report.paused is not None
