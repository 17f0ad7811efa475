"""One pass over a send's due copies: this process's courier and, for a large send, helper
processes beside it (:mod:`syndicate.delivery.spread`), each with its share of the
connections and of ``max_connections`` (adaptive concurrency, :mod:`.adaptive`).

What the relay tolerated is remembered once every process has ended. While a pass runs, the
sender holds its courier and helpers (``Sender.courier``, ``Sender.helpers``) so that a stop
request reaches them; the pass clears both when it ends, however it ends.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from syndicate.delivery import spread
from syndicate.delivery.adaptive import make_adapter, starting_point
from syndicate.delivery.courier import Courier, Job
from syndicate.delivery.quota import Allowance
from syndicate.delivery.report import SendReport
from syndicate.store import deliveries as ledger

if TYPE_CHECKING:
    from syndicate.delivery.engine import Sender

HELPERS_POLL = 0.2  # seconds between looks at helpers still delivering (and progress beats)


async def drain_due(sender: Sender, job: Job, report: SendReport) -> Allowance | None:
    """Deliver what is due now: here, and in helper processes for a large send. The
    allowance when this process's courier stopped because it was used up."""
    assert sender.copies is not None and sender.prepared is not None
    with sender.engine.connect() as conn:
        due = ledger.due_count(conn, job.send_id, now=sender.clock(), limit=spread.SPREAD_MIN)
    start, known = starting_point(sender.engine, sender.policy)
    plan = await spread.plan(sender.transport, sender.policy, due, start=start, known=known)
    parts = spread.shares(plan.start, plan.processes)
    report.processes = max(report.processes, len(parts))
    top = sender.policy.max_connections
    ceilings = spread.shares(max(top, start), len(parts)) if top is not None else parts
    adapter = make_adapter(
        sender.transport,
        sender.policy,
        start=parts[0],
        ceiling=ceilings[0],
        known=known and parts[0],
        parts=len(parts),
    )
    sender.courier = courier = Courier(
        sender.engine,
        sender.transport,
        sender.copies,
        job,
        owner=sender.owner,
        clock=sender.clock,
        policy=sender.policy,
        connections=parts[0],
        dkim=sender.dkim,
        adapter=adapter,
    )
    if sender.stopping:  # Ctrl-C came while the send was being set up: start nothing
        courier.request_stop()
    # This process starts delivering at once; helpers join as soon as they are up.
    mine = asyncio.create_task(courier.drain(on_batch=lambda: sender.beat(job, report)))
    helpers = spread.Helpers([])
    paused: Allowance | None = None
    try:
        if len(parts) > 1:
            wanted = [
                spread.Helper(
                    settings=sender.settings,
                    signer=sender.signer,
                    prepared=sender.prepared,
                    job=job,
                    policy=sender.policy,
                    connections=n,
                    dkim=sender.dkim,
                    ceiling=ceiling,
                    known=known is not None,
                )
                for n, ceiling in zip(parts[1:], ceilings[1:], strict=True)
            ]
            sender.helpers = helpers = await asyncio.to_thread(spread.Helpers, wanted)
            if sender.stopping:
                helpers.stop()
        await mine
        used = adapter.limit * len(parts) if adapter is not None else sum(parts)
        report.connections = min(used, top or used)
        paused = courier.paused
        report.error = report.error or courier.fatal
        if report.error is not None:  # the server cannot be used: helpers stop too
            helpers.stop()
        while helpers.running():
            sender.beat(job, report)
            await asyncio.sleep(HELPERS_POLL)
        await asyncio.to_thread(helpers.join)
        if adapter is not None and helpers.procs:  # what every process learned, in all
            learned = helpers.learned()  # one that said nothing: taken as this one
            learned += [(None, adapter.limit)] * (len(helpers.procs) - len(learned))
            used = adapter.limit + sum(n for _, n in learned)
            report.connections = min(used, top or used)
            with sender.engine.begin() as conn:
                adapter.remember(conn, now=sender.clock(), others=[s for s, _ in learned])
    finally:
        if not mine.done():
            courier.request_stop()
            await asyncio.wait([mine])
        await asyncio.to_thread(helpers.join)
        sender.helpers, sender.courier = None, None
    return paused
