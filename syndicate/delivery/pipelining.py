"""SMTP command pipelining (RFC 2920) as a thin layer on aiosmtplib's protocol.

Across the internet a message costs round trips, not CPU: MAIL, RCPT, DATA and the end of
data are four of them, one after the other. With PIPELINING the client writes MAIL, RCPT and
DATA at once and reads the three replies in order, so a message needs two round trips.

aiosmtplib reads exactly one reply per command: its protocol parses one reply per arrival of
data and drops what arrives while a parsed reply waits to be picked up. Three replies in one
TCP segment would leave two in its buffer unseen (the next read then waits for the timeout)
and a reply in a second segment could be dropped. :class:`PipeliningProtocol` keeps every
complete reply that arrives while replies are owed, in order, and serves reads from that
queue; everything else (connecting, TLS, AUTH, EHLO, RSET, QUIT) stays aiosmtplib's.
:class:`PipeliningSMTP` is aiosmtplib's client with that protocol installed right after the
greeting.

The layer leans on three private names of aiosmtplib 5.x (the protocol's ``_buffer``,
``_read_response_from_buffer`` and the client's ``_create_connection``); the tests against a
real server (tests/test_smtp_pipelining.py) fail if a release moves them.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import aiosmtplib
from aiosmtplib.protocol import MAX_RESPONSE_LENGTH, SMTPProtocol

__all__ = ["PipeliningProtocol", "PipeliningSMTP"]


class PipeliningProtocol(SMTPProtocol):
    """aiosmtplib's protocol, keeping every reply owed to a group of pipelined commands."""

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop | None = None,
        connection_lost_callback: Callable[[SMTPProtocol], None] | None = None,
    ) -> None:
        super().__init__(loop=loop, connection_lost_callback=connection_lost_callback)
        self._replies: deque[aiosmtplib.SMTPResponse] = deque()
        self._owed = 0  # replies still to come for the commands written
        # Set once the transport is gone: a TLS connection closes only after its
        # close_notify exchange, and a loop that ends before that leaves a socket open.
        self.gone = asyncio.Event()

    def connection_lost(self, exc: Exception | None) -> None:
        super().connection_lost(exc)
        self.gone.set()

    def data_received(self, data: bytes) -> None:
        """Parse every complete reply that arrived; keep as many as are owed, in order."""
        waiter = self._response_waiter
        if waiter is None:
            return
        owed = max(self._owed, 1 if self._response_pending else 0)
        if not owed:  # nobody asked: unsolicited data is dropped, as aiosmtplib does
            return
        self._buffer.extend(data)
        try:
            while (reply := self._read_response_from_buffer()) is not None:
                held = len(self._replies) + (1 if waiter.done() else 0)
                if held < owed:  # more replies than commands: the extra ones are dropped
                    self._replies.append(reply)
            if len(self._buffer) > MAX_RESPONSE_LENGTH:  # one reply without an end
                del self._buffer[:]
                raise aiosmtplib.SMTPResponseException(
                    aiosmtplib.SMTPStatus.invalid_response.value, "Response too long"
                )
        except Exception as exc:
            if not waiter.done():
                self._set_response_exception(waiter, exc)
            return
        if self._replies and not waiter.done():
            waiter.set_result(self._replies.popleft())

    # aiosmtplib's signatures, timeouts included (ASYNC109)
    async def read_response(self, timeout: float | None = None) -> aiosmtplib.SMTPResponse:  # noqa: ASYNC109
        """The oldest reply not read yet (waiting for it if none has arrived)."""
        waiter = self._response_waiter
        if waiter is not None and not waiter.done() and self._replies:
            reply = self._replies.popleft()  # arrived with an earlier one, already parsed
        else:
            reply = await super().read_response(timeout)
        self._owed = max(0, self._owed - 1)
        return reply

    async def pipeline(
        self,
        commands: Sequence[bytes],
        timeout: float | None = None,  # noqa: ASYNC109
        *,
        then: Sequence[bytes] = (),
        meanwhile: Callable[[], Awaitable[None]] | None = None,
    ) -> list[aiosmtplib.SMTPResponse]:
        """Write ``commands`` (each a full line with its CRLF) in one write; their replies
        in order. A lost connection or a timeout raises as aiosmtplib's reads do.

        With ``then``, those commands are written once ``meanwhile`` returned (their
        replies follow the others'), without waiting for any reply: what ``meanwhile``
        waits for overlaps the first write's round trip. If it raises, ``then`` is not
        written and the error propagates (the session is then out of step: close it)."""
        if self._command_lock is None:
            raise aiosmtplib.SMTPServerDisconnected("Server not connected")
        async with self._command_lock:
            waiter = self._response_waiter
            if (
                waiter is not None
                and waiter.done()
                and not waiter.cancelled()
                and waiter.exception() is None
            ):
                self._response_waiter = self._loop.create_future()  # a stale reply
            self._replies.clear()
            self._owed = len(commands) + len(then)
            self._response_pending = True
            self.write(b"".join(commands))
            try:
                if then:
                    if meanwhile is not None:
                        await meanwhile()
                    self.write(b"".join(then))
                return [await self.read_response(timeout) for _ in range(len(commands) + len(then))]
            finally:
                self._owed = 0


class PipeliningSMTP(aiosmtplib.SMTP):
    """aiosmtplib's client whose connections use :class:`PipeliningProtocol`.

    The stock protocol reads the greeting; ours takes over the transport before anything
    else is sent (EHLO, STARTTLS and AUTH then run on it unchanged).
    """

    async def _create_connection(self, timeout: float | None) -> aiosmtplib.SMTPResponse:  # noqa: ASYNC109
        greeting = await super()._create_connection(timeout)
        transport = self.transport
        # uvloop's transports are no asyncio.Transport subclasses, but have set_protocol
        if transport is None or transport.is_closing() or self.loop is None:
            return greeting  # closed right after the greeting: the next command says so
        protocol = PipeliningProtocol(
            loop=self.loop, connection_lost_callback=self._on_connection_lost
        )
        transport.set_protocol(protocol)
        protocol.connection_made(transport)
        protocol._response_pending = False  # the greeting has been read
        self.protocol = protocol
        return greeting

    async def ehlo(self, **kwargs: Any) -> aiosmtplib.SMTPResponse:
        """EHLO, timed: the quickest EHLO on this connection is its round trip, which tells
        the engine whether the relay is near enough for the CPU to be the bound."""
        loop = asyncio.get_running_loop()
        start = loop.time()
        response = await super().ehlo(**kwargs)
        took = loop.time() - start
        if self.round_trip is None or took < self.round_trip:
            self.round_trip = took
        return response

    round_trip: float | None = None  # seconds, once an EHLO was answered

    @property
    def pipelining(self) -> bool:
        """Whether the server's last EHLO offered PIPELINING (RFC 2920)."""
        return self.supports_extension("pipelining") and isinstance(
            self.protocol, PipeliningProtocol
        )
