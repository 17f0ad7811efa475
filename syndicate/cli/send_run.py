"""The send itself, for ``syndicate send``: the sender with its progress bar on stderr,
Ctrl-C (once: finish what is on the wire; twice: at once) and the delivery's own log lines."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import time
from collections.abc import Iterator, Sequence

from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn
from sqlalchemy import Engine

from syndicate import aio
from syndicate.cli.base import err, now
from syndicate.cli.post import Chosen
from syndicate.config import Settings
from syndicate.delivery.engine import Sender, SendReport
from syndicate.delivery.setup import dkim_key, make_policy, make_transport
from syndicate.digest.note import Note
from syndicate.digest.prepare import Prepared
from syndicate.models import Article
from syndicate.subscribers.tokens import Signer
from syndicate.text import plural


def run_send(
    settings: Settings,
    engine: Engine,
    signer: Signer,
    list_name: str,
    articles: Sequence[Article],
    prepared: Prepared | None,
    *,
    quiet: bool,
    deliver: bool = True,
    note: Note | None = None,
    post: Chosen | None = None,
    resume_only: bool = False,
) -> SendReport:
    transport = make_transport(settings)
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.fields[line]}"),
        TimeRemainingColumn(),
    )
    drawn = not quiet and err.is_terminal  # in a log, a bar would leave only blank lines
    with Progress(*columns, console=err, disable=not drawn, transient=True) as bar:
        task = bar.add_task(f"sending {list_name}", total=None, line="")

        first: list[tuple[float, int]] = []  # (when, answered) at the first report

        def show(report: SendReport) -> None:
            c = report.counts
            done = sum(c.get(k, 0) for k in ("sent", "failed", "skipped"))
            answered = done + c.get("deferred", 0)
            moment = time.monotonic()
            if not first:
                first.append((moment, answered))
            since, base = first[0]
            rate = (answered - base) / (moment - since) if moment > since + 0.5 else 0.0
            line = (
                f"sent {c.get('sent', 0):,} · deferred {c.get('deferred', 0):,} · "
                f"failed {c.get('failed', 0):,} · {rate:,.0f}/s"
            )
            bar.update(task, completed=done, total=sum(c.values()) or None, line=line)

        def waiting(report: SendReport, seconds: float) -> None:
            deferred = report.counts.get("deferred", 0)
            err.print(
                f"{plural(deferred, 'copy', 'copies')} deferred; retrying in {seconds:.0f} s "
                f"(Ctrl-C stops; they are retried later)",
                markup=False,
            )

        sender = Sender(
            settings,
            engine,
            transport,
            signer,
            clock=now,
            policy=make_policy(settings),
            on_progress=show,
            on_wait=None if quiet else waiting,
            dkim=dkim_key(settings),
        )
        smtp = settings.config.smtp
        if deliver and smtp is not None and not quiet:
            err.print(f"connecting to {smtp.host}:{smtp.port}…", markup=False)

        async def go() -> SendReport:
            with _delivery_lines(quiet):
                return await sending()

        async def sending() -> SendReport:
            loop = asyncio.get_running_loop()
            me = asyncio.current_task()
            presses: list[None] = []

            def interrupt() -> None:  # Ctrl-C: finish what is on the wire; twice: at once
                presses.append(None)
                if len(presses) == 1:
                    err.print(
                        "stopping after the messages in flight (Ctrl-C again: at once)…",
                        markup=False,
                    )
                    sender.request_stop()
                elif me is not None:
                    me.cancel()

            loop.add_signal_handler(signal.SIGINT, interrupt)
            try:
                return await sender.run(
                    list_name,
                    articles,
                    deliver=deliver,
                    prepared=prepared,
                    note=note,
                    article=post.article if post is not None else None,
                    again=post is not None and post.again,
                    resume_only=resume_only,
                )
            finally:
                loop.remove_signal_handler(signal.SIGINT)
                await transport.close()

        return aio.run(go())


class _ErrLines(logging.Handler):
    """The delivery's own log lines (the relay pushed back, concurrency settled), as
    lines on stderr beside the progress bar."""

    def emit(self, record: logging.LogRecord) -> None:
        err.print(record.getMessage(), markup=False, highlight=False)


@contextlib.contextmanager
def _delivery_lines(quiet: bool) -> Iterator[None]:
    """Show ``syndicate.delivery`` info lines on stderr while a send runs (unless quiet)."""
    logger = logging.getLogger("syndicate.delivery")
    if quiet:
        yield
        return
    handler, level = _ErrLines(logging.INFO), logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False  # run and worker log to stderr already; send does not
    try:
        yield
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)
        logger.propagate = True
