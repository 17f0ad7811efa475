"""A small real SMTP server for tests (aiosmtpd): messages recorded, faults injected.

Use ``serve_smtp()`` as a context manager::

    with serve_smtp() as server:
        server.set_fault("*@bounce.example", "rcpt-5xx")
        ...  # send to 127.0.0.1:server.port
        assert server.messages[0].recipients == ["ann@example.org"]

It listens on 127.0.0.1 on a free port (bound with port 0), with its own event loop in a
daemon thread; each SMTP session is its own task, so a slow session never blocks the others.
``connections`` counts the sessions opened so far.

``serve_smtp(pipelining=True)`` advertises PIPELINING (RFC 2920) and counts, in
``pipelined``, the MAIL commands that arrived with more commands behind them. Without it,
a client that pipelines anyway is refused as Postfix's ``reject_unauth_pipelining`` does
(503), so a test notices. ``serve_smtp(chunking=True)`` also offers CHUNKING (RFC 3030:
``BDAT <size> [LAST]``, which aiosmtpd lacks, added in :class:`_Server`) and counts in
``chunked`` the messages that came by BDAT; the ``datacmd-*`` faults then answer BDAT (after
reading its chunk, as RFC 3030 wants) and the ``data-*`` ones its last chunk.
"""

from __future__ import annotations

import asyncio
import fnmatch
import ssl
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Literal

from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

FaultKind = Literal[
    "mail-4xx",  # 451 at MAIL (the pattern matches the sender)
    "mail-5xx",  # 553 at MAIL
    "drop-mail",  # close the connection instead of answering MAIL
    "datacmd-4xx",  # 452 to the DATA command itself (the pattern matches a recipient)
    "datacmd-5xx",  # 554 to the DATA command itself
    "drop-datacmd",  # close the connection instead of answering the DATA command
    "rcpt-4xx",  # 451 at RCPT
    "rcpt-5xx",  # 550 at RCPT
    "data-4xx",  # 451 after the message data
    "data-5xx",  # 554 after the message data
    "drop-rcpt",  # close the connection instead of answering RCPT
    "drop-data",  # receive the data, then close the connection without answering
    "slow-rcpt",  # wait ``delay`` seconds, then accept the recipient
    "slow-data",  # wait ``delay`` seconds, then accept the message
    "hang-data",  # receive the data, then never answer (until the client goes away)
]

REPLIES = {
    "mail-4xx": "451 4.3.2 Sender temporarily refused",
    "mail-5xx": "553 5.7.1 Sender not allowed",
    "datacmd-4xx": "452 4.3.1 Insufficient system storage",
    "datacmd-5xx": "554 5.3.4 Not accepting messages now",
    "rcpt-4xx": "451 4.3.0 Mailbox busy, try again later",
    "rcpt-5xx": "550 5.1.1 No such user here",
    "data-4xx": "451 4.3.0 Queue full, try again later",
    "data-5xx": "554 5.7.1 Message rejected as spam",
}


@dataclass(frozen=True, kw_only=True)
class Message:
    """One accepted message: envelope and the raw data as received."""

    sender: str
    recipients: list[str]
    data: bytes


class Handler:
    """aiosmtpd handler that records accepted messages and applies the configured faults."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._messages: list[Message] = []
        self._faults: list[tuple[str, FaultKind, float]] = []
        self.accepted_rcpts: list[str] = []  # every RCPT accepted, message sent or not

    def fault_for(self, address: str, stage: str) -> tuple[FaultKind, float] | None:
        """The first fault whose pattern matches ``address`` at ``stage`` (rcpt or data)."""
        with self._lock:
            for pattern, kind, delay in self._faults:
                if stage in kind.split("-") and fnmatch.fnmatchcase(address, pattern):
                    return kind, delay
        return None

    async def _apply(self, server: SMTP, kind: FaultKind, delay: float) -> str | None:
        """Carry out ``kind``: a reply to send, ``None`` to go on normally (or never return)."""
        if kind.startswith("slow"):
            await asyncio.sleep(delay)
            return None
        if kind.startswith("hang"):
            await asyncio.Event().wait()  # cancelled by aiosmtpd once the connection is lost
        if kind.startswith("drop"):
            if server.transport is not None:
                server.transport.close()
            await asyncio.Event().wait()  # cancelled by aiosmtpd once the connection is lost
        return REPLIES[kind]

    async def handle_EHLO(
        self, server: SMTP, session: Session, envelope: Envelope, hostname: str, lines: list[str]
    ) -> list[str]:
        """aiosmtpd's EHLO reply, with PIPELINING where the server offers it."""
        session.host_name = hostname
        if isinstance(server, _Server) and server.owner.ehlo_delay:
            await asyncio.sleep(server.owner.ehlo_delay)
        if isinstance(server, _Server) and server.owner.pipelining:
            lines.insert(-1, "250-PIPELINING")
        if isinstance(server, _Server) and server.owner.chunking:
            lines.insert(-1, "250-CHUNKING")
        return lines

    async def handle_MAIL(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: Any
    ) -> str:
        """Accept the sender unless a fault says otherwise."""
        fault = self.fault_for(address, "mail")
        if fault is not None and (reply := await self._apply(server, *fault)) is not None:
            return reply
        envelope.mail_from = address
        envelope.mail_options.extend(options)
        return "250 2.1.0 OK"

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: Any
    ) -> str:
        """Accept the recipient unless a fault says otherwise."""
        fault = self.fault_for(address, "rcpt")
        if fault is not None and (reply := await self._apply(server, *fault)) is not None:
            return reply
        envelope.rcpt_tos.append(address)
        with self._lock:
            self.accepted_rcpts.append(address)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        """Record the message unless a fault on one of its recipients says otherwise."""
        for address in envelope.rcpt_tos:
            fault = self.fault_for(address, "data")
            if fault is not None and (reply := await self._apply(server, *fault)) is not None:
                return reply
        content = envelope.original_content or b""
        message = Message(
            sender=envelope.mail_from or "", recipients=list(envelope.rcpt_tos), data=content
        )
        with self._lock:
            self._messages.append(message)
        return "250 2.0.0 Message accepted for delivery"


def _input_waiting(server: SMTP) -> bool:
    """Whether more commands arrived behind the one being answered (they were pipelined)."""
    buffered = getattr(server._reader, "_buffer", b"")
    return len(buffered) > 0


class _Server(SMTP):
    """aiosmtpd's server with PIPELINING on or off, and faults at the DATA command."""

    def __init__(self, owner: SmtpServer, handler: Handler, **kwargs: Any) -> None:
        super().__init__(handler, **kwargs)
        self.owner, self.faults = owner, handler
        self._chunks: list[bytes] = []  # the BDAT chunks of the message under way

    async def smtp_BDAT(self, arg: str) -> None:
        """RFC 3030: read the chunk whatever the answer; the last one makes the message."""
        words = arg.split()
        if not 1 <= len(words) <= 2 or not words[0].isdigit() or words[1:] not in ([], ["LAST"]):
            await self.push("501 5.5.4 Syntax: BDAT <size> [LAST]")
            return
        chunk = await self._reader.readexactly(int(words[0]))
        if not self.owner.chunking:
            await self.push("502 5.5.1 BDAT not offered")
            return
        envelope = self.envelope
        if envelope is None or envelope.mail_from is None or not envelope.rcpt_tos:
            self._chunks.clear()
            await self.push("503 5.5.1 Error: need RCPT command")
            return
        for address in envelope.rcpt_tos:
            fault = self.faults.fault_for(address, "datacmd")
            if fault is not None and (reply := await self.faults._apply(self, *fault)):
                self._chunks.clear()
                self._set_post_data_state()
                await self.push(reply)
                return
        self._chunks.append(chunk)
        if words[1:] != ["LAST"]:
            await self.push(f"250 2.0.0 {len(chunk)} octets received")
            return
        envelope.original_content = envelope.content = b"".join(self._chunks)
        self._chunks.clear()
        status = await self._call_handler_hook("DATA")
        self._set_post_data_state()
        with self.owner._count_lock:
            self.owner.chunked += 1
        await self.push(status)

    async def smtp_RSET(self, arg: str) -> None:
        self._chunks.clear()
        await super().smtp_RSET(arg)

    async def smtp_QUIT(self, arg: str) -> None:
        with self.owner._count_lock:
            self.owner.quits += 1
        await super().smtp_QUIT(arg)

    async def smtp_MAIL(self, arg: str) -> None:
        if _input_waiting(self):
            if not self.owner.pipelining:
                await self.push("503 5.5.0 Error: improper use of SMTP command pipelining")
                return
            with self.owner._count_lock:
                self.owner.pipelined += 1
        await super().smtp_MAIL(arg)

    async def smtp_RCPT(self, arg: str) -> None:
        if _input_waiting(self) and not self.owner.pipelining:
            await self.push("503 5.5.0 Error: improper use of SMTP command pipelining")
            return
        await super().smtp_RCPT(arg)

    async def smtp_DATA(self, arg: str) -> None:
        envelope = self.envelope
        recipients = list(envelope.rcpt_tos) if envelope is not None else []
        if not recipients and self.owner.lenient_data:  # a server that says 354 regardless
            await self.push("354 End data with <CR><LF>.<CR><LF>")
            return
        for address in recipients:
            fault = self.faults.fault_for(address, "datacmd")
            if fault is not None:
                reply = await self.faults._apply(self, *fault)
                if reply is not None:
                    await self.push(reply)
                    return
        await super().smtp_DATA(arg)


class SmtpServer:
    """The running server: ``port``, ``messages``, ``connections``, ``set_fault``."""

    def __init__(
        self,
        credentials: tuple[str, str] | None = None,
        *,
        smtputf8: bool = True,
        pipelining: bool = False,
        lenient_data: bool = False,
        tls: ssl.SSLContext | None = None,
        implicit_tls: bool = False,
        chunking: bool = False,
    ) -> None:
        self.handler = Handler()
        self.chunking = chunking
        self.chunked = 0  # messages that came by BDAT
        self.quits = 0  # sessions the client ended politely (QUIT)
        self.tls, self.implicit_tls = tls, implicit_tls
        self.credentials, self.smtputf8 = credentials, smtputf8
        self.pipelining, self.lenient_data = pipelining, lenient_data
        self.pipelined = 0  # MAIL commands that arrived with others behind them
        self.ehlo_delay = 0.0  # seconds every EHLO answer waits: a relay far away
        self.port = 0
        self._sessions = 0
        self._count_lock = threading.Lock()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._server: asyncio.Server | None = None

    @property
    def messages(self) -> list[Message]:
        """A snapshot of the messages accepted so far, in order of acceptance."""
        with self.handler._lock:
            return list(self.handler._messages)

    @property
    def connections(self) -> int:
        """How many SMTP sessions were opened so far."""
        with self._count_lock:
            return self._sessions

    def set_fault(self, pattern: str, kind: FaultKind, delay: float = 2.0) -> None:
        """Apply ``kind`` to recipients matching the glob ``pattern`` (``delay`` for slow-*)."""
        with self.handler._lock:
            self.handler._faults.append((pattern, kind, delay))

    def clear_faults(self) -> None:
        """Take every fault away: from now on the server accepts everything."""
        with self.handler._lock:
            self.handler._faults.clear()

    def _factory(self) -> SMTP:
        with self._count_lock:
            self._sessions += 1
        starttls = {} if self.tls is None or self.implicit_tls else {"tls_context": self.tls}
        if self.credentials is None:
            return _Server(
                self,
                self.handler,
                hostname="test.smtp.local",
                enable_SMTPUTF8=self.smtputf8,
                **starttls,
            )
        return _Server(
            self,
            self.handler,
            hostname="test.smtp.local",
            enable_SMTPUTF8=self.smtputf8,
            authenticator=self._authenticate,
            auth_require_tls=False,  # plain-text AUTH on loopback, for tests only
        )

    def _authenticate(
        self, server: SMTP, session: Session, envelope: Envelope, mechanism: str, data: Any
    ) -> AuthResult:
        expected = self.credentials
        ok = (
            expected is not None
            and isinstance(data, LoginPassword)
            and (data.login.decode(), data.password.decode()) == expected
        )
        return AuthResult(success=ok, handled=False)  # aiosmtpd then answers 235/535

    def start(self) -> None:
        """Listen on a free port of 127.0.0.1."""
        self._thread.start()
        context = self.tls if self.implicit_tls else None
        create = self._loop.create_server(self._factory, "127.0.0.1", 0, ssl=context)
        self._server = asyncio.run_coroutine_threadsafe(create, self._loop).result(5)
        self.port = self._server.sockets[0].getsockname()[1]

    def stop(self) -> None:
        """Close the listener and every session, then stop the loop and its thread."""

        async def shutdown() -> None:
            if self._server is not None:
                self._server.close()
            tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

        asyncio.run_coroutine_threadsafe(shutdown(), self._loop).result(5)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)
        self._loop.close()


@contextmanager
def serve_smtp(
    credentials: tuple[str, str] | None = None,
    *,
    smtputf8: bool = True,
    pipelining: bool = False,
    lenient_data: bool = False,
    tls: ssl.SSLContext | None = None,
    implicit_tls: bool = False,
    chunking: bool = False,
) -> Iterator[SmtpServer]:
    """Run an :class:`SmtpServer` (requiring AUTH when ``credentials`` are given; without
    the SMTPUTF8 extension when ``smtputf8`` is false; offering PIPELINING when
    ``pipelining``; answering DATA with 354 even without a recipient when ``lenient_data``;
    offering STARTTLS with ``tls``, or speaking TLS from the start with ``implicit_tls``;
    offering CHUNKING, BDAT, with ``chunking``)."""
    server = SmtpServer(
        credentials,
        smtputf8=smtputf8,
        pipelining=pipelining,
        lenient_data=lenient_data,
        tls=tls,
        implicit_tls=implicit_tls,
        chunking=chunking,
    )
    server.start()
    try:
        yield server
    finally:
        server.stop()


def weekly_site_config(port: int, **smtp: str | int | bool) -> str:
    """The config of a one-list site (`weekly`) sending to the test server on ``port``:
    plain SMTP on 127.0.0.1, plus any ``[smtp]`` keys given (``security="starttls"``...)."""
    keys: dict[str, str | int | bool] = {"security": "none", **smtp}
    lines = [f"{k} = {str(v).lower() if isinstance(v, bool) else repr(v)}" for k, v in keys.items()]
    lines = [line.replace("'", '"') for line in lines]
    return (
        '\n[email]\nfrom_name = "Test Letter"\nfrom_address = "letters@news.example.org"\n\n'
        '[lists.weekly]\ntitle = "Weekly"\n\n'
        f'[smtp]\nhost = "127.0.0.1"\nport = {port}\n' + "\n".join(lines) + "\n"
    )
