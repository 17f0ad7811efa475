"""Delivering the due rows of one send: claim a batch, send each copy, record each answer.

Any number of couriers (tasks, local processes, workers on other machines) may drain the
same send: rows are leased when claimed (see ``store.deliveries.claim``), so no two hold a
row at once. Each answer is committed before its connection ends the next message's data
(the next envelope, MAIL, RCPT and DATA, may go while the commit is in flight: see
``transport.Overlapping``), so the server takes no message while an earlier answer on the
same connection could still be lost: a crash loses at most the answers of the messages in
flight, one per connection. Answers that arrive together share one transaction (a group
commit).

When the server cannot be used at all (unreachable, TLS or login refused), the courier stops
at once: the row stays as it was (queued or deferred, never failed), the problem is kept as
the send's last error, and :attr:`Courier.fatal` says it.

With an :class:`~syndicate.delivery.adaptive.Adapter` the number of copies in flight follows
its controller (``[smtp] max_connections``): claims and group commits size themselves by the
current count, and what the relay tolerated is stored when the drain ends.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, Engine

from syndicate.delivery.adaptive import Adapter, Gate
from syndicate.delivery.copies import Copies
from syndicate.delivery.dkim import DkimKey
from syndicate.delivery.dkim import sign as dkim_sign
from syndicate.delivery.policy import Policy
from syndicate.delivery.quota import Allowance, allowance, mark_started
from syndicate.delivery.transport import Kind, Outcome, Overlapping, Transport, clean_reply
from syndicate.digest.message import message_id
from syndicate.digest.personalize import Recipient
from syndicate.errors import SyndicateError
from syndicate.events import Hooks, record_changes
from syndicate.models import Source, Status
from syndicate.processes import process_alive
from syndicate.store import deliveries as ledger
from syndicate.store import sends as send_repo
from syndicate.store import subscribers as subscriber_repo
from syndicate.store.deliveries import Answer, DeliveryStatus, Due
from syndicate.store.subscribers import Change
from syndicate.subscribers.verp import Verp

# How long an answer may wait for others to share its transaction. Fewer, larger commits
# matter most when several processes write one SQLite file: each waits for the write lock.
GROUP_WINDOW = 0.002


def free_dead_leases(engine: Engine, send_id: int, *, now: datetime) -> None:
    """Rows leased by processes of this machine that died are free again at once (others
    wait for their lease to run out: a process elsewhere cannot be asked)."""
    with engine.begin() as conn:
        held = ledger.lease_holders(conn, send_id, now=now)
        dead = [owner for owner in held if process_alive(owner) is False]
        ledger.release_leases(conn, send_id, dead)


class _Stream:
    """The copies of a drain in flight, as tasks: how many got an answer, and waiting until
    only a few are left (done callbacks and a counter: no scan of a thousand tasks per
    answer). The first error of any copy is raised by the next wait, as ``gather`` did."""

    def __init__(self) -> None:
        self.answered = 0
        self._tasks: set[asyncio.Task[bool]] = set()
        self._error: BaseException | None = None
        self._wake: asyncio.Event = asyncio.Event()
        self._want = 0

    def add(self, task: asyncio.Task[bool]) -> None:
        self._tasks.add(task)
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[bool]) -> None:
        self._tasks.discard(task)
        if task.cancelled():
            pass
        elif (exc := task.exception()) is not None:
            self._error = self._error or exc
        elif task.result():
            self.answered += 1
        if len(self._tasks) <= self._want or self._error is not None:
            self._wake.set()

    async def down_to(self, left: int) -> None:
        """Until at most ``left`` copies are in flight; raises a copy's error."""
        self._want = left
        while len(self._tasks) > left and self._error is None:
            self._wake.clear()
            await self._wake.wait()
        if self._error is not None:
            raise self._error

    async def close(self) -> None:
        """After an error or a cancellation: cancel what is left and wait for it."""
        for task in self._tasks:
            task.cancel()
        if self._tasks:
            await asyncio.wait(list(self._tasks))


@dataclass(frozen=True, slots=True, kw_only=True)
class Job:
    """Which send to deliver, and the facts every copy of it needs."""

    send_id: int
    list_name: str
    started: datetime  # when the send was created: retries stop ``retry_for`` after it
    sender: str  # the envelope sender
    host: str  # for Message-IDs
    verp: Verp | None = None  # each copy's own return path (``[bounces]``), else ``sender``
    hooks: Hooks = ()  # [[webhooks]]: told when an address bounced (``subscriber.bounced``)


class Courier:
    """Delivers rows of one send through one transport, ``connections`` at a time."""

    def __init__(
        self,
        engine: Engine,
        transport: Transport,
        copies: Copies,
        job: Job,
        *,
        owner: str,
        clock: Callable[[], datetime],
        policy: Policy,
        connections: int,
        dkim: DkimKey | None = None,
        adapter: Adapter | None = None,
    ) -> None:
        self.engine, self.transport, self.copies, self.job = engine, transport, copies, job
        self.owner, self.clock, self.policy, self.dkim = owner, clock, policy, dkim
        self.connections = adapter.limit if adapter is not None else connections
        self.adapter = adapter
        # Checked once: isinstance against a runtime-checkable Protocol walks its members
        # (~5 µs on Python 3.11), and this was asked twice a copy.
        self._overlapping = transport if isinstance(transport, Overlapping) else None
        self.stopping = False
        self.fatal: str | None = None  # why the server cannot be used, once it could not
        self.paused: Allowance | None = None  # the day's allowance ran out (rows stay queued)
        self._pending: list[tuple[Due, Answer, asyncio.Future[None]]] = []
        self._conn: Connection | None = None
        self._timer: asyncio.TimerHandle | None = None

    def request_stop(self) -> None:
        """Start no new message; the ones on the wire finish and are recorded."""
        self.stopping = True

    async def drain(self, on_batch: Callable[[], None] | None = None) -> int:
        """Deliver every row due now that nobody else holds; how many got an answer."""
        with self.engine.connect() as conn:  # one connection for the whole drain
            self._conn = conn
            try:
                return await self._drain(conn, on_batch)
            finally:
                self._conn = None

    async def _drain(self, conn: Connection, on_batch: Callable[[], None] | None) -> int:
        adapter = self.adapter
        gate: asyncio.Semaphore | Gate = asyncio.Semaphore(self.connections)
        tasks = [asyncio.create_task(self._keep_leases())]
        if adapter is not None:
            gate, adapter.on_change = adapter.gate, self._resized
            tasks.append(asyncio.create_task(adapter.run()))
        stream = _Stream()
        try:
            while not self.stopping:
                with conn.begin():
                    rows = self._claim(conn)
                if not rows:
                    break
                for row in rows:
                    stream.add(asyncio.create_task(self._one(row, gate)))
                # The next batch is claimed while the last round of this one is on the wire
                # (no connection idles at the end of a batch waiting for its slowest copy).
                await stream.down_to(self.connections)
                if on_batch is not None:
                    on_batch()
            await stream.down_to(0)
        finally:
            await stream.close()
            for task in tasks:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            with conn.begin():  # rows claimed but not started (a stop)
                ledger.release_leases(conn, self.job.send_id, [self.owner])
                if adapter is not None:
                    adapter.detach()
                    adapter.remember(conn, now=self.clock())
                if self.fatal is not None:
                    send_repo.record_error(conn, self.job.send_id, self.fatal, now=self.clock())
                elif stream.answered:  # the server answered again: an older error is history
                    send_repo.clear_error(conn, self.job.send_id)
        return stream.answered

    def _claim(self, conn: Connection) -> list[Due]:
        """The next batch: no more rows than the day's allowance leaves (counted inside
        this transaction, after taking the quota row's turn), else none and ``paused``."""
        now, want, quota = self.clock(), self.policy.claim_size(self.connections), None
        self.paused = None
        if self.policy.quota is not None:
            quota = allowance(conn, self.policy.quota, now=now, take_turn=True)
            if quota.left is not None:
                if quota.used_up:
                    self.paused = quota
                    return []
                want = min(want, quota.left)
        rows = ledger.claim(
            conn,
            self.job.send_id,
            self.job.list_name,
            self.owner,
            now=now,
            lease=self.policy.lease,
            limit=want,
        )
        if rows and self.policy.quota is not None:
            mark_started(conn, self.policy.quota, now=now)
        return rows

    async def _keep_leases(self) -> None:
        every = self.policy.lease.total_seconds() / 3
        while True:
            await asyncio.sleep(every)
            conn = self._conn
            if conn is None:
                return
            with conn.begin():
                ledger.renew_leases(
                    conn, self.job.send_id, self.owner, now=self.clock(), lease=self.policy.lease
                )

    def _resized(self, connections: int) -> None:
        self.connections = connections

    async def _one(self, row: Due, gate: asyncio.Semaphore | Gate) -> bool:
        # With an Overlapping transport the connection (and the gate) are free as soon as
        # the reply is in: the next copy's envelope overlaps this answer's commit, and the
        # transport holds that copy's end of data until ``recorded`` is resolved below.
        recorded: asyncio.Future[None] | None = None
        if self._overlapping is not None:
            recorded = asyncio.get_running_loop().create_future()
        try:
            async with gate:
                if self.stopping:
                    return False
                if not row.still_subscribed:  # left while this send ran: nothing more for them
                    skipped = Answer(
                        subscriber_id=row.subscriber_id,
                        status=DeliveryStatus.SKIPPED,
                        reply="no longer subscribed",
                    )
                    await self._commit(row, skipped, recorded)
                    return True
                outcome = await self._send(row, recorded)
                if outcome.fatal is not None:  # not tried: the row stays as it was
                    self.fatal = self.fatal or outcome.fatal
                    self.request_stop()
                    return False
                answer = self._answer(row, outcome)
                if recorded is None:  # the connection waits for the commit
                    await self._commit(row, answer, None)
                    return True
            await self._commit(row, answer, recorded)
            return True
        except BaseException:  # cancelled: the answer may not be durable; send no more there
            if recorded is not None and not recorded.done():
                recorded.set_exception(RuntimeError("the answer was not recorded"))
                recorded.exception()  # seen: nobody else need retrieve it
            raise
        finally:
            if recorded is not None and not recorded.done():  # nothing of this copy pending
                recorded.set_result(None)

    async def _send(self, row: Due, recorded: asyncio.Future[None] | None) -> Outcome:
        recipient = Recipient(subscriber_id=row.subscriber_id, email=row.email, name=row.name)
        try:
            # A version that cannot be built fails its own copies, never the whole send.
            digest, wire = self.copies.get(row.variant)
            data = wire.message(recipient, message_id(digest, row.subscriber_id, self.job.host))
            if self.dkim is not None:  # RSA in Python: off the event loop
                data = await asyncio.to_thread(dkim_sign, data, self.dkim)
        except (SyndicateError, ValueError) as exc:
            # The reason may quote a subscriber's own data: stored and shown like a reply.
            return Outcome(kind=Kind.FAILED, code=None, reply=clean_reply(f"refused: {exc}"))
        verp = self.job.verp
        sender = (
            self.job.sender if verp is None else verp.sender(self.job.send_id, row.subscriber_id)
        )
        if recorded is not None and self._overlapping is not None:
            return await self._overlapping.send_overlapped(
                sender, row.email, data, recorded=recorded
            )
        return await self.transport.send(sender, row.email, data)

    def _answer(self, row: Due, outcome: Outcome) -> Answer:
        now = self.clock()
        status = DeliveryStatus(outcome.kind.value)
        retry_at = None
        if status is DeliveryStatus.DEFERRED:
            delay = self.policy.retry_base * (2**row.attempts) * random.uniform(0.5, 1.5)
            retry_at = now + min(delay, self.policy.retry_max_delay)
            if retry_at - self.job.started > self.policy.retry_for:
                status, retry_at = DeliveryStatus.FAILED, None  # deferred for too long
        return Answer(
            subscriber_id=row.subscriber_id,
            status=status,
            code=outcome.code,
            reply=outcome.reply,
            retry_at=retry_at,
        )

    async def _commit(self, row: Due, answer: Answer, done: asyncio.Future[None] | None) -> None:
        """Queue the answer for the next group commit and wait until it is durable
        (``done``, made here unless given, is resolved then)."""
        loop = asyncio.get_running_loop()
        if self.adapter is not None:
            self.adapter.answered()
        if done is None:
            done = loop.create_future()
        self._pending.append((row, answer, done))
        if len(self._pending) >= self.connections:  # every connection waits: write now
            if self._timer is not None:
                self._timer.cancel()
            self._flush()
        elif len(self._pending) == 1:  # wait a moment for the others' answers
            self._timer = loop.call_later(GROUP_WINDOW, self._flush)
        await done

    def _flush(self) -> None:
        self._timer = None
        batch, self._pending = self._pending, []
        if not batch:
            return
        try:
            conn = self._conn
            if conn is None:
                raise RuntimeError("answers recorded outside drain()")
            with conn.begin():
                ledger.record_many(
                    conn, self.job.send_id, [answer for _, answer, _ in batch], now=self.clock()
                )
                for row, answer, _ in batch:
                    if answer.status is DeliveryStatus.FAILED and (answer.code or 0) >= 500:
                        self._maybe_bounced(conn, row, answer)
        except Exception as exc:  # every waiter learns it: their rows stay leased, unsent
            for _, _, done in batch:
                if not done.done():
                    done.set_exception(exc)
            return
        for _, _, done in batch:
            if not done.done():
                done.set_result(None)

    def _maybe_bounced(self, conn: Connection, row: Due, answer: Answer) -> None:
        """After ``bounce_after`` consecutive sends failing with 5xx, the address bounced."""
        wanted = self.policy.bounce_after
        recent = ledger.recent_outcomes(conn, row.subscriber_id, self.job.list_name, wanted)
        if len(recent) == wanted and all(
            s is DeliveryStatus.FAILED and (c or 0) >= 500 for s, c in recent
        ):
            change = Change(
                subscriber_id=row.subscriber_id,
                list_name=self.job.list_name,
                status=Status.BOUNCED,
                previous=Status.ACTIVE,
                source=Source.BOUNCE,
                detail=(answer.reply or "")[:200],
            )
            subscriber_repo.apply_changes(conn, [change], now=self.clock())
            record_changes(conn, self.job.hooks, [change], now=self.clock())
