"""``syndicate run``: one asyncio process serving the web app and, when it leads, scheduling
(what the process is assembled from, the web app, outbox sender, sockets: ``parts.py``).

The leader (see ``leader.py``: an advisory lock on PostgreSQL, a heartbeat row elsewhere) runs
the scheduler; every process serves the web app and sends the outbox (its rows are leased, so
two processes never send the same mail). SIGTERM / SIGINT stop new work, ask running sends to
stop, wait up to ``DRAIN_TIMEOUT`` for messages in flight, stop the web server and return 0.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError

from syndicate import parallel
from syndicate.config import Settings
from syndicate.config.types import ON_PUBLISH
from syndicate.delivery.outbox import log_round
from syndicate.errors import SyndicateError
from syndicate.events.sender import sender_for
from syndicate.service import scheduler as sched
from syndicate.service.http import server_config
from syndicate.service.leader import Leader, leader_for
from syndicate.service.parts import (
    Clock,
    OutboxLike,
    QuietServer,
    bounce_listener,
    outbox_sender,
    url_of,
    web_app,
)
from syndicate.service.parts import Wake as Wake
from syndicate.service.parts import bind as bind
from syndicate.service.work import Work
from syndicate.store import open_store
from syndicate.subscribers.tokens import Signer, site_signer

log = logging.getLogger(__name__)

DRAIN_TIMEOUT = timedelta(seconds=30)
OUTBOX_EVERY = timedelta(seconds=5)
# A ring of the doorbell is answered on the next tick of this grid of wall-clock time, not at
# once: when the outbox does its work (more for a new address than a known one) then says
# nothing about which request rang, so requests that follow a probe are not slowed by it.
OUTBOX_GRID = 1.0


def _now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


class Service:
    """One ``syndicate run``: web app and outbox always, the scheduler while leading."""

    def __init__(
        self,
        settings: Settings,
        engine: Engine,
        *,
        signer: Signer,
        leader: Leader | None = None,
        clock: Clock = _now,
        heartbeat: timedelta | None = None,
    ) -> None:
        """``heartbeat``, when given, replaces the leader's renew and retry intervals."""
        self.settings, self.engine, self.clock = settings, engine, clock
        self.work = Work(settings, engine, signer, clock=clock)
        self.leader = leader or leader_for(engine)
        self.renew_every = self.leader.renew_every if heartbeat is None else heartbeat
        self.retry_every = self.leader.retry_every if heartbeat is None else heartbeat
        self.held_by: tuple[str, float] | None = None  # who led when last looked, and when
        self.scheduler: Any = None
        self.planned: dict[str, datetime] = {}
        self.stopping = asyncio.Event()
        self.wake = Wake()
        self.outbox, self._outbox_transport = outbox_sender(settings, engine, clock, signer)
        self.work.on_outbox = self.wake  # a preview to approve leaves at once

    @property
    def leading(self) -> bool:
        return self.scheduler is not None

    def try_lead(self) -> bool:
        """Become the leader if the role is free, and start scheduling."""
        if self.leading or self.stopping.is_set():
            return self.leading
        if not self.leader.try_acquire():
            return False
        scheduler = sched.make_scheduler(self.engine)
        scheduler.start(paused=True)
        try:
            self.planned = dict(sched.install_jobs(scheduler, self.settings, now=self.clock()))
        except BaseException:
            scheduler.shutdown(wait=False)
            self.leader.release()
            raise
        scheduler.resume()
        self.scheduler = scheduler
        return True

    def stop_scheduling(self) -> None:
        """Take no new scheduled work; running jobs go on (they are shielded)."""
        if self.scheduler is not None:
            self.scheduler.shutdown(wait=False)
            self.scheduler = None
        self.work.cancel_due()  # the poll is the scheduler's: so is its rebuild when due

    def holder(self) -> str | None:
        """Who holds the role now, remembered (with when) for the takeover message."""
        current = self.leader.holder()
        if current is not None and current != self.leader.owner:
            self.held_by = (current, time.monotonic())
        return current

    def took_over(self) -> str:
        """The log line of becoming the scheduler after the start."""
        line = f"became the scheduler; scheduling {self.describe_runs()}"
        if self.held_by is not None:
            old, seen = self.held_by
            line = (
                f"became the scheduler, taking over from {old} "
                f"{time.monotonic() - seen:.1f} s after last seeing it hold the role; "
                f"scheduling {self.describe_runs()}"
            )
        self.held_by = None
        return line

    async def keep_leading(self) -> None:
        """Renew the role every ``renew_every``, or try to take it over every ``retry_every``."""
        while not await _wait(
            self.stopping, self.renew_every if self.leading else self.retry_every
        ):
            try:
                if self.leading and not self.leader.renew():
                    self.stop_scheduling()
                    log.warning("lost the scheduler to %s; not scheduling", self.holder())
                elif not self.leading:
                    if self.try_lead():
                        log.info("%s", self.took_over())
                    else:
                        self.holder()
            except (SQLAlchemyError, SyndicateError) as exc:
                log.warning("scheduler lock: %s", exc)  # the next heartbeat tries again
            except Exception:  # this loop must outlive any error, or the heartbeat stops
                log.exception("scheduler lock")

    async def outbox_loop(self) -> None:
        """Send what the web app queued: every few seconds, and on the next tick of the
        :data:`OUTBOX_GRID` when it rings."""
        while not self.stopping.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.wake.wait(), OUTBOX_EVERY.total_seconds())
            if self.wake.is_set() and not self.stopping.is_set():
                tick = OUTBOX_GRID - time.time() % OUTBOX_GRID
                await _wait(self.stopping, timedelta(seconds=tick))
            self.wake.clear()
            if self.outbox is None or self.stopping.is_set():
                continue
            await self.work.tracked(self._outbox_once(self.outbox), "outbox")

    async def _outbox_once(self, outbox: OutboxLike) -> None:
        try:
            done = await outbox.run_round()
        except (SQLAlchemyError, SyndicateError) as exc:
            log.error("outbox: %s", exc)
            return
        log_round(done, log)

    def describe_runs(self) -> str:
        """Each list's next run, as the start line shows it."""
        parts = []
        for name in self.settings.config.lists:
            when = self.planned.get(name) or sched.next_run(self.settings, name, now=self.clock())
            if self.settings.mailing_list(name).schedule == ON_PUBLISH:
                parts.append(f"{name} on publish")
                continue
            if when is None:
                parts.append(f"{name} never")
                continue
            local = when.astimezone(sched.list_timezone(self.settings, name))
            parts.append(f"{name} next {local:%Y-%m-%d %H:%M %Z}")
        return ", ".join(parts) or "no lists declared"

    async def shutdown(self, force: asyncio.Event) -> None:
        """Stop taking work, let messages in flight finish, give the role back."""
        self.stopping.set()
        self.wake.set()
        self.stop_scheduling()
        self.work.stop()
        await self.work.drain(DRAIN_TIMEOUT, force)
        with contextlib.suppress(SQLAlchemyError):
            self.leader.release()
        if self._outbox_transport is not None:
            await self._outbox_transport.close()


async def _wait(event: asyncio.Event, within: timedelta) -> bool:
    """Whether ``event`` was set within ``within``."""
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(event.wait(), within.total_seconds())
    return event.is_set()


async def serve(
    settings: Settings, *, host: str, port: int, announce: Callable[[str], None] = print
) -> int:
    """Run until SIGTERM or SIGINT; the exit status."""
    engine = open_store(settings.database_url)
    signer = site_signer(settings)
    hooks = sender_for(settings, engine)  # a missing or bad secret stops here, before listening
    sock = bind(host, port)
    service = Service(settings, engine, signer=signer)
    sched.register(service.work)
    stop, force = asyncio.Event(), asyncio.Event()
    loop = asyncio.get_running_loop()

    def on_signal() -> None:
        (force if stop.is_set() else stop).set()  # a second signal: do not wait for sends

    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, on_signal)
    app = web_app(settings, engine, signer, service.clock, service.wake)
    if os.environ.get("FORWARDED_ALLOW_IPS"):
        log.warning("FORWARDED_ALLOW_IPS is not read: name the proxies in [web] trusted_proxies")
    server = QuietServer(server_config(app, settings.config.web, host=host, port=port))
    web = asyncio.create_task(server.serve(sockets=[sock]))
    background: list[asyncio.Task[None]] = []
    hooks_task: asyncio.Task[None] | None = None  # the [[webhooks]] sender's
    bounce_server: asyncio.Server | None = None
    try:
        bounce_server = await bounce_listener(settings, engine)
        leads = service.try_lead()
        where = url_of(host, sock.getsockname()[1])
        if leads:
            role = f"scheduling: {service.describe_runs()}"
        else:
            role = (
                f"not scheduling: the scheduler is held by {service.holder()} "
                f"(retrying every {service.retry_every.total_seconds():g} s); "
                f"{service.describe_runs()}"
            )
        announce(f"syndicate: listening on {where}; {role}")
        background = [
            asyncio.create_task(service.keep_leading()),
            asyncio.create_task(service.outbox_loop()),
        ]
        if hooks is not None:
            hooks_task = asyncio.create_task(hooks.serve(service.stopping))
        waiter = asyncio.create_task(stop.wait())
        await asyncio.wait([web, waiter], return_when=asyncio.FIRST_COMPLETED)
        waiter.cancel()
        if web.done():  # the web server stopped by itself: that is a failure
            web.result()
            return 1
        log.info("stopping")
        await service.shutdown(force)
        return 0
    finally:
        server.should_exit = True
        if bounce_server is not None:
            bounce_server.close()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(web, 15)
        if hooks_task is not None:  # its round in flight ends within the endpoints' timeouts
            service.stopping.set()
            await asyncio.wait([hooks_task], timeout=DRAIN_TIMEOUT.total_seconds())
            background.append(hooks_task)
        for task in background:
            task.cancel()
        await asyncio.gather(*background, return_exceptions=True)
        if hooks is not None:
            await hooks.aclose()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(signum)
        sched.register(None)
        sock.close()
        engine.dispose()
        parallel.shutdown()  # the polls' worker-pool helpers end before this process does
