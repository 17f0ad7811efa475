"""What the scheduled jobs do: send a list's digest, poll content (what one poll does:
``polling.py``), retry deferred copies.

A digest never waits for the retries of an older send: deferred copies are retried by the
retry job (one pass over every send whose retries are due, without any list's lock), while
the digest job sends the next issue. Only a send interrupted before every row was tried once
(a crash) is resumed first, under the list's lock, by whichever job comes first.

Blocking work (reading content, building feeds) runs in a thread so the web app stays
responsive. Each job body runs as a task of its own, shielded from the scheduler: shutting the
scheduler down cancels its job tasks, but a send in progress finishes its messages in flight.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Engine
from sqlalchemy.exc import SQLAlchemyError

from syndicate.config import Settings
from syndicate.content.reader import next_due, read_site
from syndicate.delivery.engine import Sender, SendLocked, SendReport
from syndicate.delivery.quota import allowance
from syndicate.delivery.setup import dkim_key, make_policy, make_transport
from syndicate.delivery.transport import Transport
from syndicate.delivery.worker import Worker, retries_due
from syndicate.errors import SyndicateError
from syndicate.models import Article, ReadReport
from syndicate.service import onpublish
from syndicate.service.feedbackjobs import FeedbackJobs
from syndicate.service.polling import log_poll, poll_content
from syndicate.service.queue import SendQueue
from syndicate.service.sendlog import describe
from syndicate.store import sends as send_repo
from syndicate.subscribers.tokens import Signer
from syndicate.text import plural

log = logging.getLogger(__name__)
Clock = Callable[[], datetime]


def _now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


def resume_due(conn: Connection, list_name: str) -> bool:
    """Whether the list has an interrupted send (rows never tried) to resume first."""
    return send_repo.interrupted_send(conn, list_name) is not None


def request_stop(sender: object) -> None:
    """Ask a running send to stop after the messages in flight, if the engine can."""
    stop = getattr(sender, "request_stop", None)
    if callable(stop):
        stop()


class Work:
    """The job bodies for one site; registered with ``scheduler.register``."""

    def __init__(
        self,
        settings: Settings,
        engine: Engine,
        signer: Signer,
        *,
        clock: Clock = _now,
        transport: Callable[[Settings], Transport] = make_transport,
    ) -> None:
        self.settings, self.engine, self.signer, self.clock = settings, engine, signer, clock
        self.make_transport = transport
        # The service retries deferred copies itself (``retries``): a send never waits.
        self.policy = replace(make_policy(settings), wait_for_retries=timedelta(0))
        self.content = asyncio.Lock()  # one reader of the sources at a time
        self.sending: dict[str, asyncio.Lock] = {}
        self.retrying = asyncio.Lock()  # one retry pass at a time
        # Lists whose due digest waits for an interrupted send that could not be resumed
        # (server unreachable, stop): sent by the retry job right after it resumes that one.
        self.waiting: set[str] = set()
        self.senders: set[Sender | Worker] = set()
        self.tasks: set[asyncio.Task[None]] = set()
        self.problems: set[str] = set()  # content problems already logged
        self.feedback = FeedbackJobs(settings, engine, clock=clock)
        self.stopped = False
        self._due: asyncio.TimerHandle | None = None  # the rebuild when a scheduled post is due
        self._due_polls: set[asyncio.Task[None]] = set()
        self.sendqueue = SendQueue(self)  # `send --at` and digests waiting for approval
        self.on_outbox: Callable[[], None] | None = None  # rings the outbox (from any thread)

    async def tracked(self, body: Coroutine[Any, Any, None], what: str = "job") -> None:
        """Run ``body`` as its own task (named ``what``, as the stop names it), which
        outlives a cancelled caller until drained."""
        task = asyncio.get_running_loop().create_task(body, name=what)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)
        await asyncio.shield(task)

    async def digest(self, list_name: str) -> None:
        """The list's scheduled digest (job ``digest:<list>``)."""
        what = f"digest of {list_name}"
        await self.tracked(self._guard(what, self._digest(list_name)), what)

    async def queued(self) -> None:
        """Start the queued sends that are due; decide approvals that timed out."""
        await self.tracked(self._guard("queued sends", self.sendqueue.tick()), "queued sends")

    def ring_outbox(self) -> None:
        """Mails were queued in the outbox: send them now rather than at the next round."""
        if self.on_outbox is not None:
            self.on_outbox()

    def lock(self, list_name: str) -> asyncio.Lock:
        """This process's lock of a list (one send of it at a time here)."""
        return self._lock(list_name)

    async def read(self, *, offline: bool) -> ReadReport:
        """Read the content sources (one reader at a time)."""
        return await self._read(offline=offline)

    async def send(
        self, list_name: str, articles: Sequence[Article], **options: Any
    ) -> SendReport | None:
        """One send of the list (``options`` go to :meth:`Sender.run`); None when another
        process holds the list."""
        return await self._send(list_name, articles, **options)

    async def poll(self) -> None:
        """Re-read the content sources and rebuild the feeds."""
        await self.tracked(self._guard("poll", self._poll()), "poll")

    async def retries(self) -> None:
        """Resume interrupted sends; retry every deferred copy that is due."""
        await self.tracked(self._guard("retries", self._retries()), "retries")

    async def bounces(self) -> None:
        """Take the bounces delivered into ``[bounces] maildir``."""
        await self.tracked(self._guard("bounces", self._bounces()), "bounces")

    async def imap(self) -> None:
        """Take the bounces in the ``[bounces.imap]`` mailbox."""
        await self.tracked(self._guard("imap", self._imap()), "imap")

    async def _imap(self) -> None:
        if not self.stopped:
            await self.feedback.imap()

    async def _bounces(self) -> None:
        if not self.stopped:
            await self.feedback.maildir()

    def stop(self) -> None:
        """Start no new work; ask running sends to stop."""
        self.stopped = True
        self.cancel_due()
        for sender in list(self.senders):
            request_stop(sender)

    def cancel_due(self) -> None:
        """Drop the rebuild planned for a scheduled article (this process stopped polling)."""
        if self._due is not None:
            self._due.cancel()
            self._due = None

    async def drain(self, grace: timedelta, force: asyncio.Event | None = None) -> None:
        """Wait for running job bodies, at most ``grace`` (or until ``force``); cancel the rest."""
        loop = asyncio.get_running_loop()
        pending = {t for t in self.tasks if not t.done()}
        forced = asyncio.ensure_future(force.wait()) if force is not None else None
        extra: set[asyncio.Future[Any]] = {forced} if forced is not None else set()
        deadline = loop.time() + grace.total_seconds()
        if pending:
            log.info(
                "stopping: waiting up to %g s for %s (%s)",
                grace.total_seconds(),
                plural(len(pending), "running job"),
                ", ".join(sorted(t.get_name() for t in pending)),
            )
        while pending and not (forced and forced.done()) and (left := deadline - loop.time()) > 0:
            await asyncio.wait(
                {*pending, *extra}, timeout=left, return_when=asyncio.FIRST_COMPLETED
            )
            pending = {t for t in pending if not t.done()}
        if forced is not None:
            forced.cancel()
        for task in pending:
            log.warning("cancelling a job still running after the grace period")
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)

    async def _guard(self, what: str, body: Coroutine[Any, Any, None]) -> None:
        # A job body never raises: nobody may be left to retrieve its exception.
        try:
            await body
        except (SyndicateError, SQLAlchemyError, OSError) as exc:
            log.error("%s failed: %s", what, exc)
        except Exception:
            log.exception("%s failed", what)

    def _lock(self, list_name: str) -> asyncio.Lock:
        # One send per list in this process: every Sender here has the same lock owner.
        return self.sending.setdefault(list_name, asyncio.Lock())

    async def _read(self, *, offline: bool) -> ReadReport:
        async with self.content:
            return await asyncio.to_thread(
                read_site, self.settings, self.engine, now=self.clock(), offline=offline
            )

    async def _digest(self, list_name: str) -> None:
        if self.stopped:
            return
        if self.settings.mailing_list(list_name).approve:
            async with self._lock(list_name):  # prepared and kept until an editor answers
                await self.sendqueue.hold(list_name, row=None, due=self.clock())
            return
        async with self._lock(list_name):
            articles = (await self._read(offline=False)).articles
            report = await self._send(list_name, articles)
            if report is None or not report.resumed:
                self.waiting.discard(list_name)
            elif (
                report.error is not None
                or report.stopped
                or self.stopped
                or report.paused is not None
            ):
                self.waiting.add(list_name)
                log.info("%s: the digest waits for %s to be resumed", list_name, report.digest_id)
            else:  # the interrupted send was resumed first; now this schedule's own digest
                self.waiting.discard(list_name)
                await self._send(list_name, articles)

    async def _retries(self) -> None:
        await self.feedback.prune()
        if self.for_workers:
            return  # workers retry deferred copies themselves
        if self._used_up():
            return  # paused by [smtp] daily_limit / warmup: a later pass goes on with it
        for name in self.settings.config.lists:
            lock = self._lock(name)
            if self.stopped or lock.locked():
                continue
            with self.engine.connect() as conn:
                interrupted = resume_due(conn, name)
            if interrupted:
                async with lock:
                    articles = (await self._read(offline=True)).articles
                    report = await self._send(name, articles, resume_only=True)
                    resumed = report is not None and report.resumed and not report.error
                    if resumed and name in self.waiting and not self.stopped:
                        self.waiting.discard(name)  # the digest that waited for it, now
                        await self._send(name, (await self._read(offline=False)).articles)
        await self._retry_pass()

    async def _retry_pass(self) -> None:
        """Deferred copies of every send that are due now: one pass, no list lock held, so
        a digest (here or from `syndicate send`) never waits for it."""
        if self.stopped or self.retrying.locked():
            return
        async with self.retrying:
            with self.engine.connect() as conn:
                due = retries_due(conn, now=self.clock())
            if not due:
                return
            transport = self.make_transport(self.settings)
            worker = Worker(
                self.settings,
                self.engine,
                transport,
                self.signer,
                clock=self.clock,
                policy=self.policy,
                dkim=dkim_key(self.settings),
            )
            self.senders.add(worker)
            try:
                answered = await worker.pass_over(due)
            finally:
                self.senders.discard(worker)
                await transport.close()
            if worker.report.error is not None:
                log.error("retries: %s; trying again at the next pass", worker.report.error)
            names = ", ".join(s.digest_id for s in due)
            done = ", ".join(worker.report.finished)
            log.info(
                "retries: %s of %s answered%s",
                plural(answered, "copy", "copies"),
                names,
                f"; {done} finished" if done else "",
            )

    def _used_up(self) -> bool:
        """Whether the day's allowance is used up (then a pass would only render copies
        that cannot be sent yet)."""
        quota = self.policy.quota
        if quota is None:
            return False
        with self.engine.connect() as conn:
            return allowance(conn, quota, now=self.clock()).used_up

    @property
    def for_workers(self) -> bool:
        smtp = self.settings.config.smtp
        return smtp is not None and smtp.workers

    async def _send(
        self,
        list_name: str,
        articles: Sequence[Article],
        *,
        resume_only: bool = False,
        **options: Any,
    ) -> SendReport | None:
        transport = self.make_transport(self.settings)
        try:
            sender = Sender(
                self.settings,
                self.engine,
                transport,
                self.signer,
                clock=self.clock,
                policy=self.policy,
                dkim=dkim_key(self.settings),
            )
            self.senders.add(sender)
            try:
                # With [smtp] workers, `syndicate worker` processes deliver (and retry).
                report = await sender.run(
                    list_name,
                    articles,
                    deliver=not self.for_workers,
                    resume_only=resume_only,
                    **options,
                )
            finally:
                self.senders.discard(sender)
        except SendLocked as exc:
            log.info("%s: skipped: %s", list_name, exc)
            return None
        finally:
            await transport.close()
        if report.send_id is not None or report.nothing_new:
            log.info("%s: %s", list_name, describe(report))
        if report.error is not None:
            log.error("%s: %s", list_name, report.error)
        return report

    async def _poll(self) -> None:
        if self.stopped:
            return
        async with self.content:
            read, built = await asyncio.to_thread(
                poll_content, self.settings, self.engine, self.clock
            )
        log_poll(read, built)
        problems = {str(p) for p in read.problems}
        for problem in sorted(problems - self.problems):  # each once, not every poll
            log.warning("%s", problem)
        self.problems = problems
        self._rebuild_at(next_due(read))
        for name in onpublish.on_publish_lists(self.settings):  # sent beside the next poll
            if not self.stopped and onpublish.due(
                self.settings, self.engine, name, read.articles, now=self.clock()
            ):
                what = f"posts of {name}"
                body = self._guard(what, self._publish(name, read.articles))
                self._spawn(self.tracked(body, what))

    async def _publish(self, list_name: str, articles: Sequence[Article]) -> None:
        if self.stopped or self._lock(list_name).locked():
            return  # the run in progress, or the next poll, mails what is new
        async with self._lock(list_name):
            await self._send(list_name, articles)

    def _rebuild_at(self, due: datetime | None) -> None:
        """Poll again when the next scheduled article is due, not up to a poll interval late."""
        self.cancel_due()
        if due is None or self.stopped:
            return
        # A second late: the article is due once ``now >= published``, never a moment early.
        delay = max(0.0, (due - self.clock()).total_seconds()) + 1.0
        self._due = asyncio.get_running_loop().call_later(delay, self._poll_due)

    def _poll_due(self) -> None:
        self._due = None
        if not self.stopped:
            self._spawn(self.poll())

    def _spawn(self, body: Coroutine[Any, Any, None]) -> None:
        task = asyncio.ensure_future(body)
        self._due_polls.add(task)  # a reference, so the task is not collected mid-run
        task.add_done_callback(self._due_polls.discard)
