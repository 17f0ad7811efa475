"""Sending a digest: the ledger first, then the mail, each row marked once the server answered.

Order of work, and why it survives ``kill -9`` anywhere:

1. the digest is recorded (its issue number and articles) with a send row, in one transaction;
2. one ledger row per active subscriber is inserted in batches (idempotent, so an
   interrupted preparation simply runs again), then the send moves to SENDING;
3. due rows are delivered ``connections`` at a time; each row is updated in its own
   transaction right after the server's answer. A crash loses at most the answers of the
   messages in flight, which are then sent again: the only possible duplicates.

Running the same command again finds the unfinished send and resumes it.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import socket
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import Engine

from syndicate.config import Settings
from syndicate.delivery.dkim import DkimKey
from syndicate.delivery.dkim import sign as dkim_sign
from syndicate.delivery.transport import Kind, Outcome, Transport
from syndicate.digest.archive import write_archive
from syndicate.digest.assemble import EVERYTHING, assemble
from syndicate.digest.message import mail_host, message_id
from syndicate.digest.personalize import Personalizer, Recipient
from syndicate.digest.prepare import prepare, prepare_recorded
from syndicate.digest.render import render_digest
from syndicate.digest.wire import WireTemplate
from syndicate.errors import SyndicateError
from syndicate.models import Article, Digest, Source, Status
from syndicate.store import deliveries as ledger
from syndicate.store import digests as digest_repo
from syndicate.store import subscribers as subscriber_repo
from syndicate.store.deliveries import DeliveryStatus, Due, SendStatus
from syndicate.store.subscribers import Change
from syndicate.subscribers.tokens import Signer

LOCK_STALE = timedelta(minutes=10)


class SendLocked(SyndicateError):
    """Another process is sending this list right now."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Policy:
    """Retries and bounces, per RFC 5321: 4xx and lost connections are retried with backoff."""

    connections: int = 4
    batch: int = 500
    retry_base: timedelta = timedelta(seconds=30)
    retry_max_delay: timedelta = timedelta(hours=1)
    retry_for: timedelta = timedelta(days=1)
    wait_for_retries: timedelta = timedelta(minutes=2)
    bounce_after: int = 2  # consecutive sends failing permanently make an address bounced


@dataclass(slots=True)
class SendReport:
    """What a run of ``send`` did."""

    list_name: str
    send_id: int | None = None
    digest_id: str | None = None
    resumed: bool = False
    nothing_new: bool = False
    finished: bool = False
    counts: dict[str, int] = field(default_factory=dict)
    next_retry: datetime | None = None


def variant_key(topics: frozenset[str]) -> str:
    """How a topic set is stored in the ledger."""
    return json.dumps(sorted(topics))


def _owner() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def _alive(owner: str) -> bool | None:
    """Whether the lock owner still runs: known only for processes on this host."""
    host, _, pid = owner.rpartition(":")
    if host != socket.gethostname() or not pid.isdigit():
        return None
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


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
        policy: Policy = Policy(),
        on_progress: Callable[[SendReport], None] | None = None,
        dkim: DkimKey | None = None,
    ) -> None:
        self.settings, self.engine, self.transport, self.signer = (
            settings,
            engine,
            transport,
            signer,
        )
        self.clock, self.policy, self.on_progress = clock, policy, on_progress
        self.owner = _owner()
        self.dkim = dkim
        self.host = mail_host(settings)
        self.started = clock()  # replaced by the send's creation time once it is known
        self._copies: dict[str, tuple[Digest, WireTemplate]] = {}

    async def run(self, list_name: str, articles: Sequence[Article]) -> SendReport:
        """Send (or resume sending) the list's next digest."""
        report = SendReport(list_name=list_name)
        self._lock(list_name)
        try:
            if not self._start(list_name, articles, report):
                return report
            await self._deliver(list_name, report)
            return report
        finally:
            with self.engine.begin() as conn:
                ledger.release_lock(conn, list_name, self.owner)

    def _lock(self, list_name: str) -> None:
        with self.engine.begin() as conn:
            holder = ledger.lock_owner(conn, list_name)
            alive = _alive(holder) if holder else None
            taken = ledger.acquire_lock(
                conn, list_name, self.owner, now=self.clock(), stale_after=LOCK_STALE, alive=alive
            )
        if taken is not None:
            raise SendLocked(
                f"{list_name} is being sent by {taken}; wait for it to finish "
                "(a lock of a process that died is taken over automatically)"
            )

    def _start(self, list_name: str, articles: Sequence[Article], report: SendReport) -> bool:
        """Find or begin the send; False when there is nothing to send."""
        now = self.clock()
        with self.engine.connect() as conn:
            unfinished = ledger.unfinished_send(conn, list_name)
        if unfinished is not None:
            report.resumed, report.send_id = True, unfinished.id
            report.digest_id = unfinished.digest_id
            self.prepared = prepare_recorded(
                self.settings, self.engine, list_name, unfinished.digest_id, articles
            )
            status = unfinished.status
        else:
            prepared = prepare(self.settings, self.engine, list_name, articles, now=now)
            cfg = self.settings.mailing_list(list_name)
            if not prepared.fresh and not cfg.send_empty:
                report.nothing_new = True
                return False
            self.prepared = prepared
            whole = prepared.digests[EVERYTHING]
            with self.engine.begin() as conn:
                digest_repo.record_digest(
                    conn,
                    digest_id=whole.id,
                    list_name=list_name,
                    issue=whole.issue,
                    created=now,
                    article_ids=[a.id for a in prepared.fresh],
                )
                report.send_id = ledger.create_send(conn, list_name, whole.id, now=now)
            report.digest_id = whole.id
            # The copy rendered for sending, reused: the archive is exactly what readers get.
            write_archive(self._copy(variant_key(EVERYTHING))[1].rendered, self.settings)
            status = SendStatus.PREPARING
        if status is SendStatus.PREPARING:
            self._enqueue(list_name, report.send_id or 0)
        return True

    def _enqueue(self, list_name: str, send_id: int) -> None:
        """One ledger row per active subscriber, streamed from the store in batches."""
        now = self.clock()
        batch: list[tuple[int, str]] = []
        with self.engine.connect() as reader:
            for sub, _ in subscriber_repo.iter_list(reader, list_name, Status.ACTIVE):
                topics = frozenset(t.casefold() for t in sub.topics)
                batch.append((sub.id, variant_key(topics)))
                if len(batch) >= 1000:
                    with self.engine.begin() as conn:
                        ledger.enqueue(conn, send_id, batch, now=now)
                    batch = []
        with self.engine.begin() as conn:
            ledger.enqueue(conn, send_id, batch, now=now)
            ledger.set_send_status(conn, send_id, SendStatus.SENDING, now=now)

    def _copy(self, variant: str) -> tuple[Digest, WireTemplate]:
        """The rendered version for a topic set, rendered once per send."""
        found = self._copies.get(variant)
        if found is None:
            topics = frozenset(json.loads(variant))
            prepared = self.prepared
            digest = prepared.digests.get(topics) or assemble(
                prepared.digests[EVERYTHING].list_name,
                self.settings.mailing_list(prepared.digests[EVERYTHING].list_name),
                prepared.fresh,
                state=prepared.state,
                publication=self.settings.publication,
                topics=topics,
                now=prepared.digests[EVERYTHING].created,
            )
            rendered = render_digest(digest, self.settings)
            filler = Personalizer(
                rendered,
                list_name=digest.list_name,
                web_url=self.settings.web_url,
                signer=self.signer,
                now=digest.created,
            )
            wire = WireTemplate(
                rendered,
                filler,
                settings=self.settings,
                list_name=digest.list_name,
                date=digest.created,
            )
            found = self._copies[variant] = (digest, wire)
        return found

    async def _deliver(self, list_name: str, report: SendReport) -> None:
        send_id = report.send_id or 0
        with self.engine.connect() as conn:
            self.started = ledger.send_started(conn, send_id) or self.clock()
        deadline = self.clock() + self.policy.wait_for_retries
        gate = asyncio.Semaphore(self.policy.connections)
        while True:
            now = self.clock()
            with self.engine.connect() as conn:
                rows = ledger.due(conn, send_id, list_name, now=now, limit=self.policy.batch)
            if rows:
                await asyncio.gather(*(self._one(send_id, list_name, row, gate) for row in rows))
                self._progress(send_id, report)
                with self.engine.begin() as conn:
                    ledger.heartbeat(conn, list_name, self.owner, now=self.clock())
                continue
            with self.engine.connect() as conn:
                counts = ledger.counts(conn, send_id)
                retry = ledger.next_retry(conn, send_id)
            if not counts.get(DeliveryStatus.QUEUED) and not counts.get(DeliveryStatus.DEFERRED):
                with self.engine.begin() as conn:
                    ledger.set_send_status(conn, send_id, SendStatus.DONE, now=now)
                    digest_repo.mark_sent(conn, report.digest_id or "", now)
                report.finished = True
                break
            if retry is None or retry > deadline:
                break  # the scheduler (or the next run) retries the rest
            await asyncio.sleep(max(0.0, (retry - now).total_seconds()))
        self._progress(send_id, report)

    async def _one(self, send_id: int, list_name: str, row: Due, gate: asyncio.Semaphore) -> None:
        async with gate:
            now = self.clock()
            if not row.still_subscribed:  # left while this send ran: nothing more for them
                with self.engine.begin() as conn:
                    ledger.record(
                        conn,
                        send_id,
                        row.subscriber_id,
                        DeliveryStatus.SKIPPED,
                        now=now,
                        reply="no longer subscribed",
                    )
                return
            digest, wire = self._copy(row.variant)
            recipient = Recipient(subscriber_id=row.subscriber_id, email=row.email, name=row.name)
            try:
                mid = message_id(digest, row.subscriber_id, self.host)
                data = wire.message(recipient, mid)
                if self.dkim is not None:  # RSA in Python: off the event loop
                    data = await asyncio.to_thread(dkim_sign, data, self.dkim)
            except (SyndicateError, ValueError) as exc:
                outcome = Outcome(kind=Kind.FAILED, code=None, reply=f"refused: {exc}")
            else:
                outcome = await self.transport.send(
                    self.settings.email.from_address, row.email, data
                )
            self._record(send_id, list_name, row, outcome)

    def _record(self, send_id: int, list_name: str, row: Due, outcome: Outcome) -> None:
        now = self.clock()
        status = DeliveryStatus(outcome.kind.value)
        retry_at = None
        if status is DeliveryStatus.DEFERRED:
            delay = self.policy.retry_base * (2**row.attempts) * random.uniform(0.5, 1.5)
            retry_at = now + min(delay, self.policy.retry_max_delay)
            if retry_at - self.started > self.policy.retry_for:
                status = DeliveryStatus.FAILED  # gave up: deferred for longer than retry_for
        with self.engine.begin() as conn:
            ledger.record(
                conn,
                send_id,
                row.subscriber_id,
                status,
                now=now,
                code=outcome.code,
                reply=outcome.reply,
                retry_at=retry_at,
            )
            if status is DeliveryStatus.FAILED and outcome.code and outcome.code >= 500:
                recent = ledger.recent_outcomes(
                    conn, row.subscriber_id, list_name, self.policy.bounce_after
                )
                if len(recent) == self.policy.bounce_after and all(
                    s is DeliveryStatus.FAILED and (c or 0) >= 500 for s, c in recent
                ):
                    subscriber_repo.apply_changes(
                        conn,
                        [
                            Change(
                                subscriber_id=row.subscriber_id,
                                list_name=list_name,
                                status=Status.BOUNCED,
                                previous=Status.ACTIVE,
                                source=Source.BOUNCE,
                                detail=outcome.reply[:200],
                            )
                        ],
                        now=now,
                    )

    def _progress(self, send_id: int, report: SendReport) -> None:
        with self.engine.connect() as conn:
            report.counts = {k.value: v for k, v in ledger.counts(conn, send_id).items()}
            report.next_retry = ledger.next_retry(conn, send_id)
        if self.on_progress is not None:
            self.on_progress(report)
