"""``syndicate worker``: deliver the sends queued for workers (``send --workers``)."""

from __future__ import annotations

import asyncio
import signal
import sys

import click
from sqlalchemy import Engine

from syndicate import aio
from syndicate.cli.base import (
    Context,
    emit_json,
    err,
    errors,
    log_to_stderr,
    main,
    now,
    out,
    pass_ctx,
)
from syndicate.delivery.setup import dkim_key, make_policy, make_transport
from syndicate.delivery.worker import Worker, WorkerReport
from syndicate.store import open_store
from syndicate.subscribers.tokens import Signer, site_signer
from syndicate.text import plural


@main.command()
@click.option("--once", is_flag=True, help="Exit when nothing is due instead of waiting.")
@click.option(
    "--idle",
    default=1.0,
    show_default=True,
    type=click.FloatRange(0.05, 300),
    help="Seconds to wait between looks at the ledger when nothing is due.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
@pass_ctx
def worker(ctx: Context, once: bool, idle: float, as_json: bool) -> None:
    """Deliver queued copies of every send in progress, beside any other workers.

    Run as many as you like, on any machines sharing the store (PostgreSQL): each claims
    leased batches of the ledger, so no copy is held by two workers; the rows of a worker
    that dies are taken over when its lease expires. Uses the [smtp] connections of this
    process (and the site's Maildir without [smtp]). SIGTERM or Ctrl-C finish the messages
    in flight, then exit 0.

    \b
    Examples:
      syndicate worker
      syndicate send weekly --workers --yes && syndicate worker --once
    """
    log_to_stderr()
    with errors():
        settings = ctx.settings
        settings.email  # noqa: B018 - fail early without an [email] section
        signer = site_signer(settings)
        engine = open_store(settings.database_url)
        try:
            report = aio.run(_work(ctx, engine, signer, once=once, idle=idle))
        finally:
            engine.dispose()
    if as_json:
        doc = {
            "answered": report.answered,
            "finished": report.finished,
            "error": report.error,
            "paused": report.paused.doc() if report.paused is not None else None,
        }
        emit_json(doc)
    else:
        out.print(
            f"worker: {plural(report.answered, 'copy', 'copies')} answered, "
            f"{plural(report.finished_sends, 'send')} finished",
            markup=False,
        )
        if report.paused is not None:
            out.print(f"paused: {report.paused.sentence()}", markup=False)
    if report.error is not None:  # --once stopped at a server that cannot be used
        err.print(f"error: {report.error}", markup=False)
        sys.exit(1)


async def _work(
    ctx: Context, engine: Engine, signer: Signer, *, once: bool, idle: float
) -> WorkerReport:
    settings = ctx.settings
    transport = make_transport(settings)
    policy = make_policy(settings)
    agent = Worker(
        settings,
        engine,
        transport,
        signer,
        clock=now,
        policy=policy,
        dkim=dkim_key(settings),
        idle=idle,
    )
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, agent.request_stop)
    try:
        return await agent.run(once=once)
    finally:
        await transport.close()
