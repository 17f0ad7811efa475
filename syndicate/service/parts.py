"""What one ``syndicate run`` process is assembled from: the web app, the outbox sender
and its doorbell, the listening socket, uvicorn without its signal handlers, and the bounce
listener. ``service/run.py`` puts them together and runs them."""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import logging
import socket
from collections.abc import Callable, Iterator, Sequence
from datetime import datetime
from typing import Any, Protocol

import uvicorn
from sqlalchemy import Engine

from syndicate.config import Settings
from syndicate.delivery.outbox import OutboxRound
from syndicate.delivery.setup import make_transport
from syndicate.delivery.welcome import Welcomes, combined
from syndicate.errors import SyndicateError
from syndicate.feedback.report import Feedback
from syndicate.subscribers.signup import Signups
from syndicate.subscribers.tokens import Signer
from syndicate.web.render import web_env

# The run's own logger: these lines are the run's (``syndicate.service.run``).
log = logging.getLogger("syndicate.service.run")

Clock = Callable[[], datetime]


class Wake(asyncio.Event):
    """The outbox's doorbell: an Event that can also be called, from any thread."""

    def __init__(self) -> None:
        super().__init__()
        self._loop = asyncio.get_running_loop()

    def __call__(self) -> None:
        try:
            here = asyncio.get_running_loop()
        except RuntimeError:
            here = None
        if here is self._loop:
            self.set()
        else:
            self._loop.call_soon_threadsafe(self.set)


class OutboxLike(Protocol):
    """What the outbox loop needs of the outbox sender."""

    async def run_round(self) -> OutboxRound: ...


class QuietServer(uvicorn.Server):
    """uvicorn without its own signal handlers: this process decides when to stop."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def web_app(settings: Settings, engine: Engine, signer: Signer, clock: Clock, wake: Wake) -> Any:
    """The web app of ``syndicate.web``; the feeds folder alone until that package exists."""
    try:
        module = importlib.import_module("syndicate.web.app")
    except ModuleNotFoundError as exc:
        if not (exc.name or "").startswith("syndicate.web"):
            raise
        from starlette.applications import Starlette
        from starlette.routing import Mount
        from starlette.staticfiles import StaticFiles

        log.warning("syndicate.web is not installed; serving the feeds folder only")
        folder = StaticFiles(directory=settings.feeds_dir, check_dir=False)
        return Starlette(routes=[Mount("/feeds", app=folder)])
    from syndicate.feedback.intake import take
    from syndicate.feedback.loglines import webhook_line

    def feedback(items: Sequence[Feedback], provider: str) -> None:
        """A provider's events, their signature verified: they act on the address they name."""
        log.info(
            "webhooks: %s", webhook_line(provider, take(engine, settings, items, trusted=True))
        )

    return module.create_app(
        settings, engine, signer=signer, clock=clock, on_outbox=wake, feedback_sink=feedback
    )


def outbox_sender(
    settings: Settings, engine: Engine, clock: Clock, signer: Signer
) -> tuple[OutboxLike | None, Any]:
    """The outbox sender and its transport, when ``syndicate.delivery.outbox`` exists; it
    carries out the subscribe requests the web app recorded before each round."""
    try:
        module = importlib.import_module("syndicate.delivery.outbox")
    except ModuleNotFoundError as exc:
        if exc.name != "syndicate.delivery.outbox":
            raise
        return None, None
    transport = make_transport(settings)
    signups = Signups(settings, engine, signer=signer, env=web_env(settings.root))
    welcomes = Welcomes(settings, engine, signer=signer)
    prepare = combined(signups, welcomes)  # confirmations first: they were asked for
    outbox: OutboxLike = module.OutboxSender(engine, transport, clock=clock, prepare=prepare)
    return outbox, transport


def bind(host: str, port: int) -> socket.socket:
    """A listening socket for ``host:port`` (port 0: any free port)."""
    try:
        family, kind, proto, _, address = socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )[0]
        sock = socket.socket(family, kind, proto)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        # Listen now: "listening on" is announced before uvicorn starts, and a client that
        # connects in between must queue, not be refused.
        sock.listen(2048)
    except OSError as exc:
        raise SyndicateError(f"cannot listen on {host}:{port}: {exc}") from None
    return sock


async def bounce_listener(settings: Settings, engine: Engine) -> asyncio.Server | None:
    """The SMTP or LMTP listener for bounces, when ``[bounces] listen`` asks for one."""
    from syndicate.feedback import inbound  # aiosmtpd only where bounces come in by SMTP

    where = inbound.listen_address(settings)
    if where is None:
        return None
    protocol = inbound.listen_protocol(settings)
    try:
        listener = await inbound.start(engine, settings, *where, protocol=protocol)
    except OSError as exc:
        host, port = where
        raise SyndicateError(
            f"[bounces] listen: cannot listen on {host}:{port}: {exc.strerror or exc}"
        ) from None
    port = listener.sockets[0].getsockname()[1]
    log.info("taking bounces by %s on %s:%d", protocol.upper(), where[0], port)
    return listener


def url_of(host: str, port: int) -> str:
    """The address ``host:port`` as a URL (an IPv6 host in brackets)."""
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"
