"""Helper processes that drain a send beside the sending process, one core each.

Sending is CPU-bound in Python (each copy is filled, framed and recorded in a few hundred
microseconds), so one process tops out at one core. A helper gets the digest already
prepared (nothing is read or assembled twice), opens its own store connection and transport
with its share of the connections, and drains the send with a :class:`Courier` until nothing
is due. It dies with its parent: after a ``kill -9`` of ``syndicate send`` no helper goes on
mailing while the next run resumes.
"""

from __future__ import annotations

import asyncio
import gc
import math
import multiprocessing
import multiprocessing.context
import multiprocessing.forkserver
import os
import signal
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from multiprocessing.queues import SimpleQueue

from syndicate import aio
from syndicate.config import Settings
from syndicate.delivery.adaptive import make_adapter
from syndicate.delivery.clicklinks import clicks_for
from syndicate.delivery.copies import Copies
from syndicate.delivery.courier import Courier, Job
from syndicate.delivery.dkim import DkimKey
from syndicate.delivery.policy import Policy
from syndicate.delivery.setup import make_transport
from syndicate.digest.prepare import Prepared
from syndicate.processes import process_owner
from syndicate.store import open_store
from syndicate.subscribers.tokens import Signer

SPREAD_MIN = 2000  # due rows below which helper processes are not worth starting
# What one process carries comfortably (a copy costs ~0.4 ms of CPU): helpers pay only when
# the relay could take more than this, i.e. when it is near (see :func:`processes`).
ONE_PROCESS_RATE = 1000.0


@dataclass(frozen=True, slots=True)
class Plan:
    """How a send starts: its processes, and its connections in all."""

    processes: int
    start: int


async def plan(
    transport: object, policy: Policy, due: int, *, start: int, known: int | None
) -> Plan:
    """How many processes a send needs, and how many connections it starts with.

    **Processes**: one unless the send is large and the CPU, not the round trips, would be
    the bound. C connections carry at most C / (2 x RTT) copies a second (pipelined).
    Against a relay 50 ms away 32 connections make 320 a second, a fraction of one core:
    helpers would only add a second writer on the store and start late. So the first
    connection's EHLO is timed (``transport.round_trip``), and the send spreads only if the
    relay could take more than :data:`ONE_PROCESS_RATE` (with 32 connections: an EHLO under
    16 ms, as on loopback or in the same data centre). A transport that cannot say (the
    Maildir) spreads as before.

    **Start**: ``start`` (``[smtp] connections``), unless the relay is far and nothing is
    known of it (``known``: the ceiling it tolerated last time, where the send starts
    instead). A far relay needs connections from the first copy: as many as carry what one
    process could (:data:`ONE_PROCESS_RATE`) at that round trip, never more than
    ``max_connections``. To a relay 50 ms away that is ``max_connections`` at once instead
    of a ramp of a few seconds (8, 12, 24, 32). A send that spreads has a near relay (the
    CPU is its bound): it starts at ``start``, as on loopback, where an EHLO slowed by a
    busy machine must not pass for distance. Too many for the relay costs nothing: its
    pushback cuts the pool, and the copies it refused are retried (``delivery.adaptive``).
    """
    wanted = policy.processes
    spreads = due >= SPREAD_MIN and wanted > 1
    grows = policy.max_connections is not None and known is None
    probe = getattr(transport, "round_trip", None)
    if not (spreads or grows) or probe is None:
        return Plan(wanted if spreads else 1, start)
    rtt = await probe()
    if rtt is None or rtt <= 0:
        return Plan(wanted if spreads else 1, start)
    ceiling = max(policy.max_connections or 0, policy.connections)
    count = wanted if spreads and ceiling / (2 * rtt) > ONE_PROCESS_RATE else 1
    if grows and count == 1 and policy.max_connections is not None:
        needed = math.ceil(count * ONE_PROCESS_RATE * 2 * rtt)
        start = max(start, min(needed, policy.max_connections))
    return Plan(count, start)


async def processes(transport: object, policy: Policy, due: int) -> int:
    """How many processes a send needs (see :func:`plan`)."""
    return (await plan(transport, policy, due, start=policy.connections, known=0)).processes


@dataclass(frozen=True, slots=True, kw_only=True)
class Helper:
    """Everything a helper process needs, pickled to it."""

    settings: Settings
    signer: Signer
    prepared: Prepared
    job: Job
    policy: Policy
    connections: int
    dkim: DkimKey | None
    ceiling: int | None = None  # its share of max_connections (adaptive concurrency)
    known: bool = False  # ``connections`` is its share of what the relay tolerated


def shares(connections: int, processes: int) -> list[int]:
    """Connections per process, the first (the caller's) share first; every share >= 1."""
    processes = max(1, min(processes, connections))
    base, extra = divmod(connections, processes)
    return [base + (1 if i < extra else 0) for i in range(processes)]


def _context() -> multiprocessing.context.ForkServerContext:
    ctx = multiprocessing.get_context("forkserver")
    ctx.set_forkserver_preload(["syndicate.delivery.spread"])
    return ctx


def warm_up() -> None:
    """Start the process server in the background, so that helpers start fast later."""
    _context()  # its preload list first
    threading.Thread(target=multiprocessing.forkserver.ensure_running, daemon=True).start()


class Helpers:
    """Running helper processes, and the pipe that ties their lives to this process."""

    def __init__(self, helpers: list[Helper]) -> None:
        self.procs: list[BaseProcess] = []
        self._learned: list[tuple[int | None, int]] = []
        if not helpers:
            return
        # forkserver: a helper inherits nothing of this process (threads, locks, connections)
        ctx = _context()
        lifeline, self._keep = ctx.Pipe(duplex=False)
        self._results: SimpleQueue[tuple[int | None, int]] = ctx.SimpleQueue()
        try:
            for helper in helpers:
                args = (helper, lifeline, self._results)
                proc = ctx.Process(target=_main, args=args, daemon=True)
                proc.start()
                self.procs.append(proc)
        finally:
            lifeline.close()  # only the helpers hold the read end now

    def running(self) -> bool:
        return any(proc.is_alive() for proc in self.procs)

    def stop(self) -> None:
        """Ask every helper to start no new message."""
        for proc in self.procs:
            if proc.is_alive() and proc.pid is not None:
                os.kill(proc.pid, signal.SIGTERM)

    def join(self) -> None:
        for proc in self.procs:
            proc.join()
        if self.procs:
            self._keep.close()
            while not self._results.empty():
                self._learned.append(self._results.get())

    def learned(self) -> list[tuple[int | None, int]]:
        """After :meth:`join`: what each helper that ended learned of the relay (its share
        to start from next time, or None) and the connections it ended with."""
        return list(self._learned)


def _main(
    helper: Helper, lifeline: Connection, results: SimpleQueue[tuple[int | None, int]]
) -> None:
    # What the process server imported is shared with it page by page until written: a
    # collection that walks those objects would copy their pages (some 7 MiB per process).
    gc.freeze()
    aio.run(_drain(helper, lifeline, results))


async def _drain(
    helper: Helper, lifeline: Connection, results: SimpleQueue[tuple[int | None, int]]
) -> None:
    engine = open_store(helper.settings.database_url, migrate=False)
    transport = make_transport(helper.settings, connections=helper.connections)
    adapter = make_adapter(  # adapts within its share; the sending process stores
        transport,
        helper.policy,
        start=helper.connections,
        ceiling=helper.ceiling or helper.connections,
        known=helper.connections if helper.known else None,
        remember=False,
    )
    courier = Courier(
        engine,
        transport,
        Copies(
            helper.settings,
            helper.signer,
            helper.prepared,
            clicks_for(
                helper.settings, engine, helper.signer, helper.job.list_name, helper.job.send_id
            ),
        ),
        helper.job,
        owner=process_owner(),
        clock=lambda: datetime.now(UTC),
        policy=helper.policy,
        connections=helper.connections,
        dkim=helper.dkim,
        adapter=adapter,
    )
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, courier.request_stop)
    # The parent never writes: readable means end-of-file, the parent is gone.
    loop.add_reader(lifeline.fileno(), os._exit, 70)
    try:
        await courier.drain()
        if adapter is not None:  # for the sending process to store (it alone does)
            results.put((adapter.learned(), adapter.limit))
    finally:
        loop.remove_reader(lifeline.fileno())
        await transport.close()
        engine.dispose()
