"""Sending a digest: the ledger first, then the mail, each row marked once the server answered.

Order of work, and why it survives ``kill -9`` anywhere:

1. the digest is recorded (its issue number and articles) with a send row, in one transaction
   (``delivery.begin``, which also finds an interrupted send to resume);
2. one ledger row per active subscriber is inserted in batches (idempotent, so an
   interrupted preparation simply runs again), then the send moves to SENDING;
3. couriers (this process, and helper processes for a large send) claim leased batches of
   due rows and deliver them ``connections`` at a time in all; each answer is committed
   before its connection takes the next message. A crash loses at most the answers of the
   messages in flight, which are then sent again: the only possible duplicates.

A send interrupted before every row was tried once (a crash, Ctrl-C) is resumed by the
list's next send, first; rows leased by a process that died are freed at once (same
machine) or when their lease runs out. A send whose rows were all tried once never blocks
the list: its deferred copies are retried in the background (``run``'s retry job, workers,
and each later ``send``, which retries what is due without waiting) while the next digest
is prepared and sent. A server that cannot be used (unreachable, TLS or login refused)
stops a send at once (:attr:`SendReport.error`): its rows stay queued or deferred.

When the day's allowance (``[smtp] daily_limit``, ``warmup``) is used up, couriers claim
nothing more and the send pauses (:attr:`SendReport.paused`): its rows stay queued, no
attempt is spent, and ``run``'s retry job, workers or the next ``send`` go on with it once
the allowance grows again (``delivery.quota``).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta

from sqlalchemy import Connection, Engine

from syndicate.config import Settings
from syndicate.config.mailhost import mail_host
from syndicate.delivery import spread
from syndicate.delivery.begin import begin_send
from syndicate.delivery.clicklinks import clicks_for
from syndicate.delivery.copies import Copies, variant_key
from syndicate.delivery.courier import Courier, Job, free_dead_leases
from syndicate.delivery.dkim import DkimKey
from syndicate.delivery.drain import drain_due
from syndicate.delivery.policy import Policy, retry_wait
from syndicate.delivery.posts import run_posts
from syndicate.delivery.report import SendLocked, SendReport
from syndicate.delivery.transport import Transport
from syndicate.delivery.worker import Worker, counts_by_digest, retries_due
from syndicate.digest.note import Note
from syndicate.digest.prepare import Prepared
from syndicate.events import finish_send
from syndicate.models import Article
from syndicate.processes import process_alive, process_owner
from syndicate.store import deliveries as ledger
from syndicate.store import locks
from syndicate.store import sends as send_repo
from syndicate.store import subscribers as subscriber_repo
from syndicate.store.deliveries import DeliveryStatus
from syndicate.subscribers.tokens import Signer
from syndicate.subscribers.verp import site_verp

__all__ = ["Policy", "SendLocked", "SendReport", "Sender", "variant_key"]

LOCK_STALE = timedelta(minutes=10)
LEASE_POLL = 0.2  # seconds between looks at rows another live process holds
BEAT = 0.5  # seconds between progress reports (and lock heartbeats) while delivering


class Sender:
    """One ``send`` of one list through one transport. Time comes from ``clock``."""

    def __init__(
        self,
        settings: Settings,
        engine: Engine,
        transport: Transport,
        signer: Signer,
        *,
        clock: Callable[[], datetime],
        policy: Policy | None = None,
        on_progress: Callable[[SendReport], None] | None = None,
        on_wait: Callable[[SendReport, float], None] | None = None,
        dkim: DkimKey | None = None,
    ) -> None:
        self.settings, self.engine, self.transport, self.signer = (
            settings,
            engine,
            transport,
            signer,
        )
        self.clock, self.policy, self.on_progress = clock, policy or Policy(), on_progress
        self.on_wait = on_wait  # before each wait for due retries: (report, seconds)
        self.owner = process_owner()
        self.dkim = dkim
        self.host = mail_host(settings)
        self.started = clock()  # replaced by the send's creation time once it is known
        self.prepared: Prepared | None = None
        self.copies: Copies | None = None
        self.stopping = False
        self.courier: Courier | None = None  # this process's, while a pass runs (drain.py)
        self.helpers: spread.Helpers | None = None  # the helper processes of that pass
        self._retrier: Worker | None = None
        self._wake = asyncio.Event()
        self._next_beat = 0.0

    async def run(
        self,
        list_name: str,
        articles: Sequence[Article],
        *,
        deliver: bool = True,
        prepared: Prepared | None = None,
        resume_only: bool = False,
        note: Note | None = None,
        article: Article | None = None,
        again: bool = False,
        exact: bool = False,
        on_record: Callable[[Connection, str], None] | None = None,
    ) -> SendReport:
        """Resume the list's interrupted send, else send its next digest; then retry what
        is due of its older sends, without waiting for them.

        ``deliver=False`` only records the send and its ledger, for ``syndicate worker``
        processes to deliver. ``prepared``: the digest the caller showed (used when the
        list's state has not changed since). ``resume_only``: never start a new digest.
        ``note``: the editor's note of a new digest (a resumed one keeps the note it was
        recorded with; a ``prepared`` digest carries its own). ``article``: mail this one
        article on its own (a post) instead of the next digest, once per list unless
        ``again`` (:class:`~syndicate.digest.post.AlreadyMailed`). A list with
        ``mode = "post"`` mails each new article on its own (:mod:`syndicate.delivery.posts`).
        ``exact``: send ``prepared`` or nothing (SyndicateError when the list sent another
        digest since it was prepared), never a digest assembled anew. ``on_record(conn,
        digest_id)`` runs in the transaction that records a new digest (a queued send marks
        itself started there: both happen, or neither).
        """
        report = SendReport(list_name=list_name)
        self._lock(list_name)
        if self.policy.processes > 1 and self._may_spread(list_name):
            spread.warm_up()  # start the process server while the ledger is written
        batch = article is None and not resume_only and prepared is None
        try:
            if batch and self.settings.mailing_list(list_name).mode == "post":
                await run_posts(self, list_name, articles, report, deliver=deliver)
            elif self.start(
                list_name,
                articles,
                report,
                prepared,
                resume_only=resume_only,
                note=note,
                article=article,
                again=again,
                exact=exact,
                on_record=on_record,
            ):
                await self.deliver(list_name, report, deliver=deliver)
            if deliver and not self.stopping and report.error is None:
                await self._retry_older(list_name, report)
            report.stopped = self.stopping
            return report
        finally:
            with self.engine.begin() as conn:
                locks.release_lock(conn, list_name, self.owner)

    def _lock(self, list_name: str) -> None:
        with self.engine.begin() as conn:
            holder = locks.lock_owner(conn, list_name)
            alive = process_alive(holder) if holder else None
            taken = locks.acquire_lock(
                conn, list_name, self.owner, now=self.clock(), stale_after=LOCK_STALE, alive=alive
            )
        if taken is not None:
            raise SendLocked(
                f"{list_name} is being sent by {taken}; wait for it to finish "
                "(a lock of a process that died is taken over automatically)"
            )

    def start(
        self,
        list_name: str,
        articles: Sequence[Article],
        report: SendReport,
        given: Prepared | None,
        *,
        resume_only: bool,
        note: Note | None = None,
        article: Article | None = None,
        again: bool = False,
        cursor: datetime | None = None,
        exact: bool = False,
        on_record: Callable[[Connection, str], None] | None = None,
    ) -> bool:
        """Find or begin the send; False when there is nothing to send. ``article``: a post
        of that article (``cursor``: recorded with it); see :meth:`run`."""
        begun = begin_send(
            self.settings,
            self.engine,
            self.signer,
            list_name,
            articles,
            report,
            given,
            clock=self.clock,
            resume_only=resume_only,
            note=note,
            article=article,
            again=again,
            cursor=cursor,
            exact=exact,
            on_record=on_record,
        )
        if begun is None:
            return False
        self.prepared, self.copies = begun.prepared, begun.copies
        return True

    def request_stop(self) -> None:
        """Start no new message (here and in helpers); those on the wire finish."""
        self.stopping = True
        self._wake.set()
        if self.courier is not None:
            self.courier.request_stop()
        if self.helpers is not None:
            self.helpers.stop()
        if self._retrier is not None:
            self._retrier.request_stop()

    async def deliver(self, list_name: str, report: SendReport, *, deliver: bool) -> None:
        """Deliver the send :meth:`start` found or began (``deliver=False``: leave it to
        workers, only report where it stands)."""
        if report.plan is not None and report.plan.title is not None:
            report.title = report.plan.title
        if deliver:
            await self._deliver(list_name, report)
        else:
            self._progress(report.send_id or 0, report)

    async def _deliver(self, list_name: str, report: SendReport) -> None:
        send_id = report.send_id or 0
        assert self.prepared is not None
        if self.copies is None:
            self.copies = Copies(self.settings, self.signer, self.prepared)
        # Counted links name the send: known only now that it is recorded.
        self.copies.attach_clicks(
            clicks_for(self.settings, self.engine, self.signer, list_name, send_id)
        )
        with self.engine.connect() as conn:
            self.started = send_repo.send_started(conn, send_id) or self.clock()
        job = Job(
            send_id=send_id,
            list_name=list_name,
            started=self.started,
            sender=self.settings.email.from_address,
            verp=site_verp(self.settings, self.signer),
            host=self.host,
            hooks=tuple(self.settings.config.webhooks),
        )
        deadline = self.clock() + self.policy.wait_for_retries
        waited_for: datetime | None = None  # the retry the last wait was for
        while not self.stopping:
            free_dead_leases(self.engine, send_id, now=self.clock())
            paused = await drain_due(self, job, report)
            if self.stopping or report.error is not None:
                break
            now = self.clock()
            with self.engine.connect() as conn:
                counts = ledger.counts(conn, send_id)
                retry = ledger.next_retry(conn, send_id)
                held = ledger.lease_holders(conn, send_id, now=now)
            if not counts.get(DeliveryStatus.QUEUED) and not counts.get(DeliveryStatus.DEFERRED):
                with self.engine.begin() as conn:
                    report.finished = finish_send(conn, job.hooks, send_id, now=now)
                break
            if paused is not None and (paused.resumes_at is None or paused.resumes_at > now):
                report.paused = paused  # the day's allowance is used up: continues later
                break
            if held or counts.get(DeliveryStatus.QUEUED):  # another process holds them
                await asyncio.sleep(LEASE_POLL)
                continue
            if retry is None or retry > deadline:
                break  # retried in the background (the retry job, workers, the next send)
            wait = retry_wait(retry, now, again=retry == waited_for)
            waited_for = retry
            self._progress(send_id, report)
            if self.on_wait is not None:
                self.on_wait(report, wait)
            with contextlib.suppress(TimeoutError):  # a stop request ends the wait
                await asyncio.wait_for(self._wake.wait(), wait)
        self._progress(send_id, report)

    def _may_spread(self, list_name: str) -> bool:
        """Whether the list has enough readers for helper processes (a send of fewer than
        :data:`spread.SPREAD_MIN` copies never spreads). Only then is the process server
        started early: it costs half a second of CPU, wasted on every small send. (Wrong
        only in the safe direction: a resumed ledger larger than the list starts it late.)"""
        with self.engine.connect() as conn:
            on_list = subscriber_repo.counts(conn, list_name).get(list_name, {})
        return sum(on_list.values()) >= spread.SPREAD_MIN

    async def _retry_older(self, list_name: str, report: SendReport) -> None:
        """One pass over the list's older sends whose retries are due (never a wait)."""
        with self.engine.connect() as conn:
            due = retries_due(conn, now=self.clock(), list_name=list_name, exclude=report.send_id)
        if not due:
            return
        self._retrier = Worker(
            self.settings,
            self.engine,
            self.transport,
            self.signer,
            clock=self.clock,
            policy=self.policy,
            dkim=self.dkim,
        )
        try:
            await self._retrier.pass_over(due)
            report.error = report.error or self._retrier.report.error
        finally:
            self._retrier = None
        report.retried = counts_by_digest(self.engine, due)

    def beat(self, job: Job, report: SendReport) -> None:
        """Keep the list lock fresh and report progress, at most every BEAT seconds."""
        moment = time.monotonic()
        if moment < self._next_beat:
            return
        with self.engine.begin() as conn:
            locks.heartbeat(conn, job.list_name, self.owner, now=self.clock())
        self._progress(job.send_id, report)
        # Counting a ledger of a million rows takes a while: never spend over 5 % on it.
        spent = time.monotonic() - moment
        self._next_beat = time.monotonic() + max(BEAT, 20 * spent)

    def _progress(self, send_id: int, report: SendReport) -> None:
        with self.engine.connect() as conn:
            report.counts = {k.value: v for k, v in ledger.counts(conn, send_id).items()}
            report.next_retry = ledger.next_retry(conn, send_id)
        if self.on_progress is not None:
            self.on_progress(report)
