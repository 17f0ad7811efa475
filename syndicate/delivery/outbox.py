"""Delivering the outbox: single queued mails (confirmation requests, welcome mails), each
marked once the server answered.

Each due row is claimed (leased) before it is sent and its outcome written in its own
transaction right after the answer: a crash loses at most the answers of the mails in
flight, which are sent again once their lease runs out (the only possible duplicates).
Outcomes follow RFC 5321 as the digest ledger does: 2xx sent; 4xx, timeouts and lost
connections retried with exponential backoff and jitter until the mail is older than
``retry_for``; 5xx failed with the reply kept. A claim names its process: the leases of a
sender that died (``kill -9``) are freed by the next round on the same machine, not after the
whole lease. A mail for one subscription (a welcome) whose subscription is no longer active
when it is claimed is dropped, not sent.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine

from syndicate.delivery.transport import Kind, Outcome, Transport, clean_reply
from syndicate.processes import process_alive, process_owner
from syndicate.store import outbox as repo
from syndicate.store.outbox import Claimed, OutboxStatus
from syndicate.subscribers.address import display_address
from syndicate.text import one_line, printable

__all__ = ["Answer", "OutboxRound", "OutboxSender", "log_round"]

REPLY_SHOWN = 300  # characters of an address or a server's reply a log line carries


@dataclass(frozen=True, slots=True, kw_only=True)
class Answer:
    """What became of one outbox mail this round (``retry_at``: when a deferred one is due)."""

    recipient: str
    status: OutboxStatus
    code: int | None
    reply: str | None
    retry_at: datetime | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class OutboxRound:
    """One :meth:`OutboxSender.run_round`: every mail attempted, with its outcome."""

    answers: tuple[Answer, ...] = field(default=())

    def of(self, status: OutboxStatus) -> list[Answer]:
        """The answers with ``status`` (``QUEUED``: deferred, each with its retry time)."""
        return [a for a in self.answers if a.status is status]


class OutboxSender:
    """Sends every due outbox mail through ``transport``; time comes from ``clock``.

    ``concurrency`` mails are in flight at once; a claimed row is left alone by other
    senders for ``lease`` (longer than any SMTP transaction takes). ``prepare``, when
    given, runs (in a thread, with the current time) before each round: it queues mails,
    such as the confirmations of recorded subscribe requests and the waiting welcomes.
    """

    def __init__(
        self,
        engine: Engine,
        transport: Transport,
        *,
        clock: Callable[[], datetime],
        retry_base: timedelta = timedelta(seconds=30),
        retry_for: timedelta = timedelta(days=1),
        retry_max_delay: timedelta = timedelta(hours=1),
        concurrency: int = 4,
        batch: int = 100,
        lease: timedelta = timedelta(minutes=10),
        prepare: Callable[[datetime], object] | None = None,
    ) -> None:
        if concurrency < 1 or batch < 1:
            raise ValueError("concurrency and batch must be at least 1")
        self.engine, self.transport, self.clock = engine, transport, clock
        self.retry_base, self.retry_for, self.retry_max_delay = (
            retry_base,
            retry_for,
            retry_max_delay,
        )
        self.concurrency, self.batch, self.lease = concurrency, batch, lease
        self.prepare = prepare
        self.owner = process_owner()

    async def run_due(self) -> int:
        """Attempt every mail due now; how many were attempted."""
        return len((await self.run_round()).answers)

    async def run_round(self) -> OutboxRound:
        """Attempt every mail due now; what became of each.

        Stops after ten full batches so one call stays bounded; the rest is due next call.
        """
        if self.prepare is not None:
            await asyncio.to_thread(self.prepare, self.clock())
        gate = asyncio.Semaphore(self.concurrency)
        answers: list[Answer] = []
        for _ in range(10):
            rows, dropped = await asyncio.to_thread(self._claim, self.clock())
            answers += dropped
            results = await asyncio.gather(
                *(self._one(row, gate) for row in rows), return_exceptions=True
            )
            for result in results:
                if isinstance(result, BaseException):
                    raise result
                answers.append(result)
            if len(rows) + len(dropped) < self.batch:
                break
        return OutboxRound(answers=tuple(answers))

    async def next_due(self) -> datetime | None:
        """When the earliest queued mail is due (None: the outbox is empty)."""
        return await asyncio.to_thread(self._next_due)

    def _claim(self, now: datetime) -> tuple[list[Claimed], list[Answer]]:
        """The due mails claimed for this round, and those dropped instead (their
        subscription ended): in one transaction, so the check is as late as it can be."""
        with self.engine.begin() as conn:
            dead = [o for o in repo.lease_holders(conn, now=now) if process_alive(o) is False]
            repo.release_leases(conn, dead, now=now)
            rows = repo.claim_due(
                conn, now=now, lease_until=now + self.lease, limit=self.batch, owner=self.owner
            )
            unwanted = repo.not_wanted(conn, rows)
            reply = "not sent: the subscription it was for is no longer active"
            for row_id in sorted(unwanted):
                repo.record(conn, row_id, OutboxStatus.DROPPED, now=now, code=None, reply=reply)
        dropped = [
            Answer(recipient=r.recipient, status=OutboxStatus.DROPPED, code=None, reply=reply)
            for r in rows
            if r.id in unwanted
        ]
        return [r for r in rows if r.id not in unwanted], dropped

    def _next_due(self) -> datetime | None:
        with self.engine.connect() as conn:
            return repo.next_due(conn)

    async def _one(self, row: Claimed, gate: asyncio.Semaphore) -> Answer:
        async with gate:
            try:
                outcome = await self.transport.send(row.sender, row.recipient, row.data)
            except Exception as exc:  # the Transport contract says never; keep the row anyway
                reply = clean_reply(f"transport error: {type(exc).__name__}: {exc}")
                outcome = Outcome(kind=Kind.DEFERRED, code=None, reply=reply)
            return await asyncio.to_thread(self._record, row, outcome)

    def _record(self, row: Claimed, outcome: Outcome) -> Answer:
        now = self.clock()
        retry_at = None
        if outcome.kind is Kind.SENT:
            status = OutboxStatus.SENT
        elif outcome.kind is Kind.FAILED:
            status = OutboxStatus.FAILED
        else:
            growth = 2 ** min(row.attempts, 20)  # capped: timedelta overflows long before
            delay = self.retry_base * growth * random.uniform(0.5, 1.5)
            retry_at = now + min(delay, self.retry_max_delay)
            status = OutboxStatus.QUEUED
            if retry_at - row.created_at > self.retry_for:
                status, retry_at = OutboxStatus.FAILED, None  # deferred for too long: give up
        with self.engine.begin() as conn:
            repo.record(
                conn,
                row.id,
                status,
                now=now,
                code=outcome.code,
                reply=outcome.reply,
                retry_at=retry_at,
            )
        return Answer(
            recipient=row.recipient,
            status=status,
            code=outcome.code,
            reply=outcome.reply,
            retry_at=retry_at,
        )


def log_round(done: OutboxRound, log: logging.Logger) -> None:
    """What an outbox round did: the counts (a WARNING when any mail was not sent), then
    one line per failed or deferred mail with its recipient and the server's reply."""
    if not done.answers:
        return
    sent, failed = done.of(OutboxStatus.SENT), done.of(OutboxStatus.FAILED)
    deferred = done.of(OutboxStatus.QUEUED)
    dropped = done.of(OutboxStatus.DROPPED)
    parts = [f"{len(sent)} sent"]
    parts += [f"{len(failed)} failed"] if failed else []
    parts += [f"{len(deferred)} deferred"] if deferred else []
    # A reader who left before their welcome went out: as it should be, not a problem.
    parts += [f"{len(dropped)} dropped (unsubscribed before it left)"] if dropped else []
    level = logging.WARNING if failed or deferred else logging.INFO
    log.log(level, "outbox: %s", ", ".join(parts))
    for answer in failed + deferred:
        # The address someone typed into a form, and a remote server's words: neither may
        # forge a log line; the message itself (with its confirmation link) is never logged.
        who = printable(display_address(answer.recipient))[:REPLY_SHOWN]
        said = f"{answer.code or ''} {answer.reply or 'no reply'}"
        reply = one_line(said, REPLY_SHOWN)
        if answer.retry_at is None:
            log.warning("outbox: mail to %s failed: %s", who, reply)
        else:
            log.warning(
                "outbox: mail to %s deferred: %s; retrying at %s",
                who,
                reply,
                f"{answer.retry_at.astimezone(UTC):%Y-%m-%d %H:%M:%S} UTC",
            )
