"""Adaptive concurrency for a courier: a resizable gate, a :class:`Controller` ticking once
per interval, the transport's pool following it, and the relay's ceiling remembered.

``[smtp] connections`` is where a send starts when nothing is known of the relay; what the
relay tolerated last time (``store.relays``, per host:port and username) is where it starts
otherwise; ``[smtp] max_connections`` is the ceiling. The courier lets at most ``limit``
copies through its gate; every ``INTERVAL`` the controller sees how many were answered,
and a pushback reported by the transport cuts the target at once (not at the next tick:
at loopback speed a tick is hundreds of copies).

Spread over processes (``delivery.spread``), each process adapts within its share of
``max_connections`` (and starts from its share of the stored ceiling): the shares add up to
the totals, and no process needs to hear of another's pushback, since the relay pushes back
on each of them. Only the sending process stores the ceiling: its own share times the number
of processes when its courier ends (an estimate), then, once the helpers ended, the sum of
what each process learned (a relay allowing two, met by two processes of four each, was
stored as four; now two or three). Workers on other machines adapt alike, each within the
whole ``max_connections``: the relay's limit is shared among them by its pushbacks; the last
one to finish stores what it learned.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
from collections.abc import Callable, Sequence
from datetime import datetime
from types import TracebackType

from sqlalchemy import Connection, Engine

from syndicate.delivery.concurrency import Change, Controller
from syndicate.delivery.policy import Policy
from syndicate.delivery.transport import Adjustable, Transport
from syndicate.store import relays

__all__ = ["INTERVAL", "Adapter", "Gate", "make_adapter", "starting_point"]

log = logging.getLogger("syndicate.delivery")
INTERVAL = 0.5  # seconds per controller tick


class Gate:
    """A semaphore whose size can change while tasks wait in it (FIFO); ``waited`` is set
    whenever a task had to wait (the pool was the bound), for the controller to read."""

    def __init__(self, limit: int) -> None:
        self.limit = max(1, limit)
        self.inside = 0
        self.waited = False
        self._waiters: collections.deque[asyncio.Future[None]] = collections.deque()

    def resize(self, limit: int) -> None:
        """Let ``limit`` (>= 1) in at once from now on; those inside finish first."""
        self.limit = max(1, limit)
        self._wake()

    async def __aenter__(self) -> None:
        if self.inside < self.limit and not self._waiters:
            self.inside += 1
            return
        self.waited = True
        turn: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append(turn)
        try:
            await turn  # _wake counted us in before it resolved the future
        except asyncio.CancelledError:
            if turn.done() and not turn.cancelled():
                self._leave()
            else:
                with contextlib.suppress(ValueError):
                    self._waiters.remove(turn)
            raise

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._leave()

    def _leave(self) -> None:
        self.inside -= 1
        self._wake()

    def _wake(self) -> None:
        while self._waiters and self.inside < self.limit:
            turn = self._waiters.popleft()
            if not turn.done():
                self.inside += 1
                turn.set_result(None)


def starting_point(engine: Engine, policy: Policy) -> tuple[int, int | None]:
    """Where a send starts in all (``[smtp] connections``, or what the relay tolerated last
    time, never above ``max_connections``), and that stored ceiling if there is one."""
    if policy.max_connections is None or policy.relay is None:
        return policy.connections, None
    with engine.connect() as conn:
        known = relays.ceiling(conn, policy.relay)
    if known is None:
        return min(policy.connections, policy.max_connections), None
    known = max(1, min(known, policy.max_connections))
    return known, known


class Adapter:
    """Drives one courier's concurrency: ``gate`` for the courier, the transport's pool
    resized alike, ``on_change`` told the new count (claim sizes, group commits)."""

    def __init__(
        self,
        controller: Controller,
        transport: Adjustable,
        *,
        relay: str | None,
        parts: int = 1,
        ceiling_total: int | None = None,
        interval: float = INTERVAL,
    ) -> None:
        self.controller, self.transport = controller, transport
        self.relay, self.parts, self.interval = relay, parts, interval
        self.ceiling_total = ceiling_total or controller.ceiling * parts
        self.gate = Gate(controller.limit)
        self.on_change: Callable[[int], None] | None = None
        self.peak = controller.limit  # the most connections it allowed at once
        self._answered = 0
        self._echoed: Change | None = None  # the last echo of a cut, not yet said
        self._said: tuple[int, int] | None = None  # the last cut said: (from, to)
        transport.resize(controller.limit)
        transport.on_pushback = self._pushback

    @property
    def limit(self) -> int:
        """Connections allowed now."""
        return self.controller.limit

    def answered(self) -> None:
        """One more copy got an answer (the throughput the controller judges)."""
        self._answered += 1

    async def run(self) -> None:
        """Tick the controller every ``interval`` until cancelled."""
        loop = asyncio.get_running_loop()
        last = loop.time()
        while True:
            await asyncio.sleep(self.interval)
            now = loop.time()
            done, self._answered = self._answered, 0
            waited, self.gate.waited = self.gate.waited, False
            change = self.controller.tick(
                completed=done,
                seconds=now - last,
                saturated=waited or self.gate.inside >= self.gate.limit,
            )
            last = now
            if change is not None:
                self._apply(change)
            if not self.controller.echoing:
                self._say_settled()

    def learned(self) -> int | None:
        """This process's share worth starting from next time, if anything was learned:
        where it ended, if the relay was seen to take that (a level it took but that sent
        no faster, undone, is no place to start from)."""
        tolerated = self.controller.tolerated
        return None if tolerated is None else min(tolerated, self.controller.limit)

    def remember(
        self, conn: Connection, *, now: datetime, others: Sequence[int | None] | None = None
    ) -> None:
        """Store where the next send should start (the total across processes), if anything
        was learned; call inside a transaction. ``others``: what each helper process learned,
        once they ended (None for one that learned nothing: taken as this share); without
        them every process is taken to have learned what this one did."""
        share = self.learned()
        if self.relay is None or share is None:
            return
        if others is None:
            total = share * self.parts
        else:
            total = share + sum(share if other is None else other for other in others)
        relays.remember(conn, self.relay, max(1, min(self.ceiling_total, total)), now=now)

    def detach(self) -> None:
        """Stop hearing the transport's pushbacks (the courier is done)."""
        self._say_settled()
        if self.transport.on_pushback == self._pushback:
            self.transport.on_pushback = None

    def _pushback(self, reason: str, at: int) -> None:
        change = self.controller.pushback(reason, at)
        if change is not None:
            self._apply(change)

    def _say_settled(self) -> None:
        """After a cut, refusals right after (each saw fewer open connections) each took
        one more off: said once, where it settled, not once per refusal."""
        echoed, self._echoed = self._echoed, None
        if echoed is not None:
            log.warning(
                "relay kept pushing back (the last at %d connections); using %d",
                echoed.at or echoed.before,
                echoed.after,
            )

    def _apply(self, change: Change) -> None:
        if change.echo:
            log.debug("relay pushed back at %s connections; using %d", change.at, change.after)
            self._echoed = change
        elif change.reason is not None:
            self._say_settled()  # an earlier burst's level, before this new cut
            # A probe one beyond the level the relay holds us to, refused every 10 s of a
            # long send, is the same news each time: said once, then at debug level.
            again = self._said == (change.before, change.after)
            self._said = (change.before, change.after)
            log.log(
                logging.DEBUG if again else logging.WARNING,
                "relay pushed back (%s) at %d connections; using %d",
                change.reason,
                change.at or change.before,
                change.after,
            )
        elif change.settled:
            log.info("sending with %d connections (%d sent no faster)", change.after, change.before)
        else:
            log.debug("trying %d connections (was %d)", change.after, change.before)
        self.peak = max(self.peak, change.after)
        self.gate.resize(change.after)
        self.transport.resize(change.after)
        if self.on_change is not None:
            self.on_change(change.after)


def make_adapter(
    transport: Transport,
    policy: Policy,
    *,
    start: int,
    ceiling: int | None = None,
    known: int | None = None,
    parts: int = 1,
    remember: bool = True,
) -> Adapter | None:
    """An adapter for a courier starting at ``start`` connections with at most ``ceiling``
    (this process's share; default ``max_connections``); None without ``max_connections``
    or with a transport whose pool cannot change (the Maildir)."""
    if policy.max_connections is None or not isinstance(transport, Adjustable):
        return None
    top = ceiling if ceiling is not None else policy.max_connections
    controller = Controller(start=start, ceiling=max(1, top), known=known)
    return Adapter(
        controller,
        transport,
        relay=policy.relay if remember else None,
        parts=parts,
        ceiling_total=policy.max_connections,
    )
