"""``syndicate worker``: drain every send in progress, beside any number of other workers.

A worker needs only the store: sends, ledger and the digests' articles are all there, so
workers may run on other machines than the one that made the send (with a PostgreSQL store).
Each loop takes the sends being sent, frees the leases of dead processes of this machine,
and drains each send with a :class:`Courier` (leased claims: no row is held by two workers).
A worker that dies mid-batch leaves its leased rows to be taken over when the lease
expires; the messages it had on the wire at that moment are the only possible duplicates.
The worker that finds a send with nothing left queued or deferred marks it done.

The same pass, over the sends whose every row was tried once, is how deferred copies are
retried in the background by ``syndicate run`` and by any later ``send`` of the list.
When the server cannot be used (unreachable, TLS or login refused), a pass stops at once,
the problem is logged and kept as the send's last error, and the worker waits a while
(doubling, up to ``PAUSE_MAX``) before it tries again: nothing is marked failed meanwhile.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import Connection, Engine

from syndicate.config import Settings
from syndicate.config.mailhost import mail_host
from syndicate.content.reader import stored_articles
from syndicate.delivery.adaptive import make_adapter, starting_point
from syndicate.delivery.clicklinks import clicks_for
from syndicate.delivery.copies import Copies
from syndicate.delivery.courier import Courier, Job, free_dead_leases
from syndicate.delivery.dkim import DkimKey
from syndicate.delivery.policy import Policy
from syndicate.delivery.quota import Allowance
from syndicate.delivery.transport import Transport
from syndicate.digest.prepare import prepare_recorded
from syndicate.events import finish_send
from syndicate.processes import process_owner
from syndicate.store import deliveries as ledger
from syndicate.store import sends as send_repo
from syndicate.store.sends import SendRow, SendStatus
from syndicate.subscribers.tokens import Signer
from syndicate.subscribers.verp import site_verp

log = logging.getLogger("syndicate.worker")
PAUSE_MIN, PAUSE_MAX = 5.0, 300.0  # seconds between tries while the server cannot be used
PAUSED_POLL = 60.0  # at most this many seconds between looks while the allowance is used up


def retries_due(
    conn: Connection, *, now: datetime, list_name: str | None = None, exclude: int | None = None
) -> list[SendRow]:
    """Sends (of ``list_name``) whose every row was tried once and that have deferred copies
    due now: what a background retry pass drains. The list's interrupted send is left to
    the sender that resumes it under the list's lock; ``exclude``: a send being sent."""
    found = []
    for sent in send_repo.unfinished_sends(conn, list_name):
        if sent.status is not SendStatus.SENDING or sent.id == exclude:
            continue
        if send_repo.interrupted_send(conn, sent.list_name) == sent:
            continue
        if ledger.due_count(conn, sent.id, now=now, limit=1):
            found.append(sent)
    return found


def counts_by_digest(engine: Engine, sends: list[SendRow]) -> dict[str, dict[str, int]]:
    """Each send's ledger counts, by digest id (what a retry pass left)."""
    with engine.connect() as conn:
        return {
            s.digest_id: {k.value: v for k, v in ledger.counts(conn, s.id).items()} for s in sends
        }


@dataclass(slots=True)
class WorkerReport:
    """What a worker did so far."""

    answered: int = 0
    finished_sends: int = 0
    error: str | None = None  # why the server could not be used, on the last pass
    paused: Allowance | None = None  # the day's allowance was used up, on the last pass
    finished: list[str] = field(default_factory=list)  # digest ids of the sends it finished


class Worker:
    """Delivers queued copies of every send in progress until stopped (or idle, once)."""

    def __init__(
        self,
        settings: Settings,
        engine: Engine,
        transport: Transport,
        signer: Signer,
        *,
        clock: Callable[[], datetime],
        policy: Policy,
        dkim: DkimKey | None = None,
        idle: float = 1.0,
    ) -> None:
        self.settings, self.engine, self.transport, self.signer = (
            settings,
            engine,
            transport,
            signer,
        )
        self.clock, self.policy, self.dkim, self.idle = clock, policy, dkim, idle
        self.owner = process_owner()
        self.report = WorkerReport()
        self.stopping = False
        self._copies: dict[int, Copies] = {}
        self._courier: Courier | None = None
        self._wake = asyncio.Event()
        self._pause = 0.0

    def request_stop(self) -> None:
        """Take no new message; those on the wire finish and are recorded."""
        self.stopping = True
        self._wake.set()
        if self._courier is not None:
            self._courier.request_stop()

    async def run(self, *, once: bool = False) -> WorkerReport:
        """Work until stopped; ``once``: until nothing is due right now (or the server
        cannot be used)."""
        while not self.stopping:
            answered = await self.pass_once()
            if once and (not answered or self.report.error):
                break
            if not answered or self.report.error:
                wait = self.idle
                paused = self.report.paused
                if paused is not None and paused.resumes_at is not None:
                    # nothing can be claimed before then: look again at most once a minute
                    until = (paused.resumes_at - self.clock()).total_seconds()
                    wait = max(wait, min(PAUSED_POLL, until))
                if self.report.error:  # the server cannot be used: wait longer each time
                    self._pause = min(PAUSE_MAX, max(PAUSE_MIN, self._pause * 2))
                    wait = max(wait, self._pause)
                    log.error("%s; trying again in %.0f s", self.report.error, wait)
                self._wake.clear()
                try:
                    await asyncio.wait_for(self._wake.wait(), wait)
                except TimeoutError:
                    pass
        return self.report

    async def pass_once(self) -> int:
        """One pass over the sends in progress; how many copies got an answer."""
        with self.engine.connect() as conn:
            active = send_repo.sends_in(conn, SendStatus.SENDING)
        answered = await self.pass_over(active)
        known = {send.id for send in active}
        for send_id in [k for k in self._copies if k not in known]:
            del self._copies[send_id]  # finished elsewhere: forget its rendering
        return answered

    async def pass_over(self, sends: list[SendRow]) -> int:
        """Deliver what is due now of each of ``sends``; stops at a server that cannot be
        used (``report.error``). How many copies got an answer."""
        answered = 0
        self.report.error = None
        was, self.report.paused = self.report.paused, None
        for send in sends:
            if self.stopping or self.report.error:
                break
            answered += await self._drain(send)
        if not self.report.error:
            self._pause = 0.0
        paused = self.report.paused
        if paused is not None and (was is None or was.resumes_at != paused.resumes_at):
            log.info("paused: %s", paused.sentence())  # once, not every pass
        return answered

    async def _drain(self, send: SendRow) -> int:
        free_dead_leases(self.engine, send.id, now=self.clock())
        job = Job(
            send_id=send.id,
            list_name=send.list_name,
            started=send.created_at,
            sender=self.settings.email.from_address,
            verp=site_verp(self.settings, self.signer),
            host=mail_host(self.settings),
            hooks=tuple(self.settings.config.webhooks),
        )
        start, known = starting_point(self.engine, self.policy)
        self._courier = Courier(
            self.engine,
            self.transport,
            self._copies_of(send),
            job,
            owner=self.owner,
            clock=self.clock,
            policy=self.policy,
            connections=start,
            dkim=self.dkim,
            adapter=make_adapter(self.transport, self.policy, start=start, known=known),
        )
        courier = self._courier
        try:
            answered = await courier.drain()
        finally:
            self._courier = None
        self.report.answered += answered
        if courier.paused is not None:
            with self.engine.connect() as conn:
                if ledger.due_count(conn, send.id, now=self.clock(), limit=1):
                    self.report.paused = courier.paused
        if courier.fatal is not None:
            self.report.error = courier.fatal
            return answered
        with self.engine.begin() as conn:
            done = finish_send(conn, job.hooks, send.id, now=self.clock())
        if done and answered:
            self.report.finished_sends += 1
            self.report.finished.append(send.digest_id)
            log.info("%s finished", send.digest_id)
        return answered

    def _copies_of(self, send: SendRow) -> Copies:
        found = self._copies.get(send.id)
        if found is None:
            articles = stored_articles(self.settings, self.engine)
            prepared = prepare_recorded(
                self.settings, self.engine, send.list_name, send.digest_id, articles
            )
            clicks = clicks_for(self.settings, self.engine, self.signer, send.list_name, send.id)
            found = self._copies[send.id] = Copies(self.settings, self.signer, prepared, clicks)
        return found
