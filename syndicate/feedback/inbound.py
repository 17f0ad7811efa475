"""An SMTP or LMTP listener for bounces (``[bounces] listen``), inside ``run``.

``"127.0.0.1:2525"`` or ``"smtp://127.0.0.1:2525"`` speaks SMTP; ``"lmtp://127.0.0.1:2424"``
speaks LMTP (RFC 2033), which a local MTA uses for final delivery: after DATA it gets one
reply per recipient, so one recipient whose bounce cannot be stored now (451) is retried
alone, without the others' being taken twice.

A local Postfix (or any MTA) hands the mail for the bounce address straight over:
``transport_maps = … bounces@news.example.org smtp:[127.0.0.1]:2525``. Only the bounce
address and its ``+token`` extensions are accepted at RCPT (anything else gets 550, so this
is never an open relay); each message is parsed and taken before the ``250`` goes back, so
an accepted bounce is durable and a store failure asks the sender to retry (451). The
envelope recipient is kept as a ``Delivered-To`` line, as local delivery would, so the
token is read even when the DSN's own headers do not carry it.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime
from typing import Any, Literal

from aiosmtpd.lmtp import LMTP
from aiosmtpd.smtp import SMTP, Envelope, Session
from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError

from syndicate.config import Settings
from syndicate.errors import SyndicateError
from syndicate.feedback import intake
from syndicate.feedback.loglines import taken_lines
from syndicate.feedback.parse import MAX_BYTES, parse

log = logging.getLogger(__name__)
# aiosmtpd's own logger writes the whole dialogue at INFO (every RCPT TO, with its VERP
# token), "Available AUTH mechanisms" and "Connection lost" after each QUIT: its warnings
# only. What was taken is logged here, one line per bounce.
SMTP_LOG = "mail.log"
MAX_RECIPIENTS = 50
Protocol = Literal["smtp", "lmtp"]


class BounceHandler:
    """aiosmtpd handler: bounce addresses only; each message taken before it is accepted."""

    def __init__(self, engine: Engine, settings: Settings, address: str) -> None:
        self.engine, self.settings = engine, settings
        local, _, domain = address.lower().rpartition("@")
        self.local, self.domain = local, domain

    def ours(self, address: str) -> bool:
        """Whether ``address`` is the bounce address or one of its VERP extensions."""
        local, at, domain = address.lower().rpartition("@")
        return bool(at) and domain == self.domain and local.partition("+")[0] == self.local

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: Any
    ) -> str:
        if not self.ours(address):
            return "550 5.1.1 Only bounces are accepted here"
        if len(envelope.rcpt_tos) >= MAX_RECIPIENTS:
            return "452 4.5.3 Too many recipients"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        data = envelope.original_content or b""
        if isinstance(data, str):
            data = data.encode("utf-8", "surrogateescape")
        if isinstance(server, LMTP):  # one reply per recipient, in RCPT order
            replies = [await self._deliver(rcpt, data) for rcpt in envelope.rcpt_tos]
            return "\r\n".join(replies)
        return await self._deliver(envelope.rcpt_tos[0] if envelope.rcpt_tos else "", data)

    async def _deliver(self, rcpt: str, data: bytes) -> str:
        message = b"Delivered-To: " + rcpt.encode("utf-8", "replace") + b"\r\n" + data
        try:
            await asyncio.to_thread(self._take, message)
        except (SQLAlchemyError, SyndicateError, OSError) as exc:
            log.error("bounce listener: %s", exc)
            return "451 4.3.0 Cannot store it now; try again later"
        return "250 OK"

    def _take(self, message: bytes) -> None:
        bounces = self.settings.config.bounces
        parsed = parse(message, bounce_address=bounces.address if bounces else None)
        if not parsed.feedback:
            log.info("bounce listener: %s (ignored)", parsed.reason)
            return
        result = intake.take(
            self.engine, self.settings, parsed.feedback, trusted=False, now=datetime.now(UTC)
        )
        for line in taken_lines(self.engine, result):
            log.info("bounces: %s", line)


def _split(listen: str) -> tuple[Protocol, str]:
    scheme, sep, rest = listen.partition("://")
    if not sep:
        return "smtp", listen
    return ("lmtp" if scheme == "lmtp" else "smtp"), rest


def listen_address(settings: Settings) -> tuple[str, int] | None:
    """``[bounces] listen`` as (host, port), or None."""
    bounces = settings.config.bounces
    if bounces is None or bounces.listen is None:
        return None
    host, _, port = _split(bounces.listen)[1].rpartition(":")
    return host.strip("[]"), int(port)


def listen_protocol(settings: Settings) -> Protocol:
    """The protocol ``[bounces] listen`` speaks: ``lmtp://…`` LMTP, anything else SMTP."""
    bounces = settings.config.bounces
    return "smtp" if bounces is None or bounces.listen is None else _split(bounces.listen)[0]


async def start(
    engine: Engine, settings: Settings, host: str, port: int, *, protocol: Protocol = "smtp"
) -> asyncio.Server:
    """Listen for bounces on ``host:port`` by SMTP or LMTP; close the returned server to stop."""
    bounces = settings.config.bounces
    if bounces is None:
        raise ValueError("no [bounces] section")
    logging.getLogger(SMTP_LOG).setLevel(logging.WARNING)
    handler = BounceHandler(engine, settings, bounces.address)
    kind = LMTP if protocol == "lmtp" else SMTP

    def factory() -> SMTP:
        return kind(
            handler,
            hostname="syndicate-bounces",
            data_size_limit=MAX_BYTES,
            enable_SMTPUTF8=True,
            decode_data=False,
        )

    loop = asyncio.get_running_loop()
    return await loop.create_server(factory, host, port)
