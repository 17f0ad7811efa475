"""SMTP delivery over a pool of reused aiosmtplib connections, with a shared rate limit.

Many tasks may call :meth:`SmtpTransport.send` concurrently; each borrows one of at most
``connections`` pool slots, opens (or reuses) that slot's connection and runs one mail
transaction on it. Replies map to outcomes per RFC 5321: 2xx after DATA is ``SENT``, 4xx is
``DEFERRED``, 5xx is ``FAILED``; timeouts and lost or refused connections are ``DEFERRED`` and
the connection is discarded. A connection that cannot be opened, secured (TLS, STARTTLS) or
authenticated gives a ``DEFERRED`` outcome whose ``fatal`` says why, with host and port: the
message was not tried, and the caller stops the send early instead of deferring the list.

The pool can be resized while it works (:meth:`SmtpTransport.resize`, driven by
``delivery.adaptive``), and it reports each pushback (421, rate-limit replies, refused or
reset connections; see ``delivery.concurrency``) to ``on_pushback``. A connection that the
server refuses while others of the pool are open is no fatal problem: that slot leaves the
pool and its message waits for another. A slot that got a pushback leaves the pool too
(while another is open), so an overloaded relay sees fewer connections at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import aiosmtplib

from syndicate.delivery.concurrency import connection_pushback, reply_pushback
from syndicate.delivery.connectproblem import connect_problem
from syndicate.delivery.pipelining import PipeliningProtocol, PipeliningSMTP
from syndicate.delivery.smtpwire import transaction, wire_data
from syndicate.delivery.transport import Kind, Outcome, clean_reply

__all__ = ["RateLimiter", "SmtpSettings", "SmtpTransport", "wire_data"]

# What goes between < and > in MAIL FROM / RCPT TO: local@domain, no controls, spaces or
# angle brackets (quoted local parts with those are not worth the risk for a newsletter).
_ADDRESS = re.compile(r"[^\x00-\x20\x7f<>@]+@[^\x00-\x20\x7f<>@]+")
_NETWORK_ERRORS = (aiosmtplib.SMTPException, OSError, TimeoutError)


@dataclass(frozen=True, slots=True, kw_only=True)
class SmtpSettings:
    """How to reach the submission server.

    ``rate_limit`` is in messages per second across the whole pool (``None``: unlimited);
    ``timeout`` applies to connecting and to each command; a connection is closed (QUIT) and
    reopened after ``max_messages_per_connection`` messages. ``pipelining`` sends MAIL, RCPT
    and DATA in one write where the server offers PIPELINING (RFC 2920); ``chunking`` sends
    the message with them (``BDAT``) where it offers CHUNKING too (RFC 3030).
    """

    host: str
    port: int
    security: Literal["starttls", "tls", "none"]
    username: str | None
    password: str | None
    timeout: float = 30
    connections: int = 8
    rate_limit: float | None = None
    max_messages_per_connection: int = 100
    local_hostname: str | None = None
    pipelining: bool = True
    chunking: bool = True


class RateLimiter:
    """A token bucket of capacity one shared by every task: at most ``rate`` starts a second.

    Each caller reserves the next free slot and sleeps until it; time comes from the running
    loop's clock, so the limiter needs no lock.
    """

    def __init__(self, rate: float) -> None:
        if rate <= 0:
            raise ValueError("rate must be positive")
        self._interval = 1.0 / rate
        self._next = 0.0

    async def acquire(self) -> None:
        """Wait until the caller may start one more message."""
        now = asyncio.get_running_loop().time()
        start = max(now, self._next)
        self._next = start + self._interval
        if start > now:
            await asyncio.sleep(start - now)


class _Slot:
    """One place in the pool: maybe an open connection, and how many messages it carried."""

    __slots__ = ("client", "connecting", "pushed", "recorded", "sent")

    def __init__(self) -> None:
        self.client: aiosmtplib.SMTP | None = None
        self.sent = 0
        self.connecting = False
        self.pushed: str | None = None  # the server pushed back on this slot's connection
        # the last copy's answer being recorded: the next end of data waits for it
        self.recorded: asyncio.Future[None] | None = None

    @property
    def busy(self) -> bool:
        """Whether the slot has a connection open, or is opening one."""
        return self.client is not None or self.connecting

    def discard(self) -> None:
        """Drop the connection without a QUIT (it is broken or in an unknown state)."""
        if self.client is not None:
            self.client.close()
        self.client, self.sent = None, 0


class _ConnectFailed(Exception):
    """Opening a connection failed; ``outcome`` is what the message gets."""

    def __init__(self, outcome: Outcome, pushback: str | None = None) -> None:
        super().__init__(outcome.reply)
        self.outcome, self.pushback = outcome, pushback


class _PushedBack(Exception):
    """The server refused one more connection while others are open: not fatal."""


class _NotRecorded(Exception):
    """The previous answer on this connection could not be recorded: send nothing more."""


def _deferred(reply: str, code: int | None = None, *, fatal: bool = False) -> Outcome:
    line = clean_reply(reply)
    return Outcome(kind=Kind.DEFERRED, code=code, reply=line, fatal=line if fatal else None)


def _from_reply(code: int, message: str, *, after_data: bool = False) -> Outcome:
    """Map a reply aiosmtplib raised for: 5xx fails, anything else is retried — except that
    an unusual 2xx to the message data (aiosmtplib wants 250) means the server took it."""
    if after_data and 200 <= code <= 299:
        return Outcome(kind=Kind.SENT, code=code, reply=clean_reply(message))
    kind = Kind.FAILED if 500 <= code <= 599 else Kind.DEFERRED
    return Outcome(kind=kind, code=code, reply=clean_reply(message))


async def _reset(client: aiosmtplib.SMTP) -> bool:
    """RSET after a refused command; False when the connection is no longer usable."""
    if not client.is_connected:
        return False
    try:
        await client.rset()
    except (*_NETWORK_ERRORS, ValueError):
        return False
    return client.is_connected


class SmtpTransport:
    """A :class:`~syndicate.delivery.transport.Transport` over SMTP (aiosmtplib).

    ``fatal`` is ``None`` until a connection cannot be opened, secured or authenticated; it
    then holds a one-line description. A later successful connection does not clear it.
    """

    def __init__(self, settings: SmtpSettings) -> None:
        if settings.connections < 1:
            raise ValueError("connections must be at least 1")
        if settings.max_messages_per_connection < 1:
            raise ValueError("max_messages_per_connection must be at least 1")
        self.settings = settings
        self.fatal: str | None = None
        self._limiter = RateLimiter(settings.rate_limit) if settings.rate_limit else None
        self._idle: asyncio.Queue[_Slot] = asyncio.Queue()
        self._slots: list[_Slot] = []
        self._target = settings.connections
        self._leaving: set[asyncio.Task[None]] = set()
        self._closing: list[PipeliningProtocol] = []  # retired connections still closing
        self.on_pushback: Callable[[str, int], None] | None = None  # (reason, open then)
        self.resize(settings.connections)

    @property
    def size(self) -> int:
        """How many slots the pool has now (busy or idle)."""
        return len(self._slots)

    def resize(self, connections: int) -> None:
        """Use at most ``connections`` (>= 1) from now on: new slots open when needed;
        surplus ones leave (QUIT) as their current message is done."""
        self._target = max(1, connections)
        while len(self._slots) < self._target:
            slot = _Slot()
            self._slots.append(slot)
            self._idle.put_nowait(slot)
        while len(self._slots) > self._target and not self._idle.empty():
            self._give_back(self._idle.get_nowait(), stays=False)  # idle ones leave now

    async def send(self, sender: str, recipient: str, data: bytes) -> Outcome:
        """Deliver one message to one recipient; never raises for a per-message problem."""
        return await self._send(sender, recipient, data, None)

    async def send_overlapped(
        self, sender: str, recipient: str, data: bytes, *, recorded: asyncio.Future[None]
    ) -> Outcome:
        """Like :meth:`send`, but the connection goes back to the pool at once: its next
        copy's envelope may go while ``recorded`` is pending; its end of data waits for it
        (see :class:`~syndicate.delivery.transport.Overlapping`)."""
        return await self._send(sender, recipient, data, recorded)

    async def _send(
        self, sender: str, recipient: str, data: bytes, recorded: asyncio.Future[None] | None
    ) -> Outcome:
        if not (_ADDRESS.fullmatch(sender) and _ADDRESS.fullmatch(recipient)):
            return Outcome(
                kind=Kind.FAILED, code=None, reply="refused: not a plain mailbox address"
            )
        while True:  # another slot only after a pushback at connect (bounded by the pool)
            slot = await self._idle.get()
            slot.pushed, stays = None, True
            try:
                if self._limiter is not None:
                    await self._limiter.acquire()
                outcome = await self._send_on(slot, sender, recipient, data)
                pushed = slot.pushed or reply_pushback(outcome.code, outcome.reply)
                if pushed is not None:
                    stays = self._pushed_back(slot, pushed)
                return outcome
            except _PushedBack as exc:
                stays = self._pushed_back(slot, str(exc))
            finally:
                if recorded is not None:
                    slot.recorded = recorded
                self._give_back(slot, stays=stays)

    def _pushed_back(self, slot: _Slot, reason: str) -> bool:
        """Report a pushback; whether ``slot`` stays in the pool (it leaves while another
        connection is open, so the relay sees one fewer at once)."""
        others = sum(1 for s in self._slots if s is not slot and s.busy)
        if self.on_pushback is not None:  # those saying QUIT are still open at the relay
            self.on_pushback(reason, others + len(self._leaving) + 1)
        return others == 0

    def _give_back(self, slot: _Slot, *, stays: bool) -> None:
        if stays and len(self._slots) <= self._target:
            self._idle.put_nowait(slot)
            return
        self._slots.remove(slot)
        self._retire(slot)

    def _retire(self, slot: _Slot) -> None:
        """End the slot's connection (QUIT) in the background: the slot is free at once."""
        if slot.client is None:
            return
        leaving = _Slot()
        leaving.client, slot.client, slot.sent = slot.client, None, 0
        if isinstance(leaving.client.protocol, PipeliningProtocol):  # close() waits for it
            self._closing = [p for p in self._closing if not p.gone.is_set()]
            self._closing.append(leaving.client.protocol)
        task = asyncio.get_running_loop().create_task(self._quit(leaving))
        self._leaving.add(task)
        task.add_done_callback(self._leaving.discard)

    async def round_trip(self) -> float | None:
        """Seconds one EHLO took on a connection of the pool (opened now if none is), or
        None when it cannot be opened: the sending itself then meets and reports that."""
        slot = await self._idle.get()
        try:
            if slot.client is None:
                slot.connecting = True
                try:
                    slot.client = await self._connect()
                except _ConnectFailed:
                    return None
                finally:
                    slot.connecting = False
            client = slot.client
            if not isinstance(client, PipeliningSMTP):
                return None
            if client.is_ehlo_or_helo_needed:  # not said yet (no STARTTLS, no AUTH)
                with contextlib.suppress(*_NETWORK_ERRORS):
                    await client.ehlo()
            return client.round_trip
        finally:
            self._give_back(slot, stays=True)

    async def close(self) -> None:
        """QUIT every idle connection (errors ignored); call after the last ``send``."""
        if self._leaving:
            await asyncio.gather(*self._leaving, return_exceptions=True)
        closing = [p for p in self._closing if not p.gone.is_set()]
        for _ in range(len(self._slots)):
            slot = await self._idle.get()
            if slot.client is not None and isinstance(slot.client.protocol, PipeliningProtocol):
                closing.append(slot.client.protocol)
            await self._quit(slot)
            self._idle.put_nowait(slot)
        if closing:  # let TLS closes finish (1 s at most in all), or a socket outlives the loop
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.gather(*(p.gone.wait() for p in closing)), 1.0)

    async def _send_on(self, slot: _Slot, sender: str, recipient: str, data: bytes) -> Outcome:
        """Run one transaction on ``slot``'s connection, opening or recycling it as needed."""
        if slot.client is not None and not slot.client.is_connected:
            slot.discard()
        elif slot.client is not None and slot.sent >= self.settings.max_messages_per_connection:
            self._retire(slot)  # its QUIT's round trip overlaps the next connection's opening
        if slot.client is None:
            slot.connecting = True
            try:
                slot.client = await self._connect()
            except _ConnectFailed as failed:
                others = any(s.busy for s in self._slots if s is not slot)
                if failed.pushback is not None and others:
                    raise _PushedBack(failed.pushback) from None
                self.fatal = failed.outcome.fatal
                return failed.outcome
            finally:
                slot.connecting = False
        client, keep = slot.client, False
        try:
            reply = await transaction(
                client,
                sender,
                recipient,
                data,
                pipelining=self.settings.pipelining,
                chunking=self.settings.chunking,
                before_data=lambda: self._previous_recorded(slot),
            )
            keep = True
            return Outcome(kind=Kind.SENT, code=reply.code, reply=clean_reply(reply.message))
        except aiosmtplib.SMTPResponseException as exc:
            # A negative reply: reset the envelope; if that fails the connection is gone.
            keep = await _reset(client)
            after_data = isinstance(exc, aiosmtplib.SMTPDataError)
            return _from_reply(exc.code, exc.message, after_data=after_data)
        except aiosmtplib.SMTPNotSupported as exc:
            keep = client.is_connected
            return Outcome(kind=Kind.FAILED, code=None, reply=clean_reply(f"refused: {exc}"))
        except ValueError as exc:  # an address aiosmtplib will not put on a command line
            keep = await _reset(client)
            return Outcome(kind=Kind.FAILED, code=None, reply=clean_reply(f"refused: {exc}"))
        except _NotRecorded as exc:  # mid-DATA: only dropping the connection stops it
            return _deferred(f"not sent: {exc}")
        except _NETWORK_ERRORS as exc:
            slot.pushed = connection_pushback(exc)
            return _deferred(f"connection problem: {type(exc).__name__}: {exc}")
        finally:
            # Also reached on cancellation: a half-done transaction leaves an unusable session.
            if keep:
                slot.sent += 1
            else:
                slot.discard()

    async def _previous_recorded(self, slot: _Slot) -> None:
        """Wait until the answer of the slot's previous copy is recorded (at most one
        command timeout); raise :class:`_NotRecorded` if it could not be."""
        previous, slot.recorded = slot.recorded, None
        if previous is None:
            return
        if previous.done() and not previous.cancelled():  # as good as always: the commit
            # beat the envelope's round trip (no wait_for, shield and timer a copy then)
            if (exc := previous.exception()) is not None:
                raise _NotRecorded("the previous answer could not be recorded") from exc
            return
        try:
            await asyncio.wait_for(asyncio.shield(previous), self.settings.timeout)
        except TimeoutError:
            raise _NotRecorded("the previous answer was not recorded in time") from None
        except Exception as exc:
            raise _NotRecorded("the previous answer could not be recorded") from exc

    async def _connect(self) -> aiosmtplib.SMTP:
        """Open, secure and authenticate one connection, or raise :class:`_ConnectFailed`."""
        s = self.settings
        client = PipeliningSMTP(
            hostname=s.host,
            port=s.port,
            use_tls=s.security == "tls",
            start_tls=s.security == "starttls",
            timeout=s.timeout,
            local_hostname=s.local_hostname,
        )
        try:
            await client.connect()
            if s.username is not None:
                await client.login(s.username, s.password or "")
        except BaseException as exc:
            client.close()
            if not isinstance(exc, _NETWORK_ERRORS):
                raise
            code = exc.code if isinstance(exc, aiosmtplib.SMTPResponseException) else None
            problem = connect_problem(exc, s.host, s.port, timeout=s.timeout)
            failed = _deferred(problem, code, fatal=True)
            raise _ConnectFailed(failed, connection_pushback(exc)) from exc
        return client

    async def _quit(self, slot: _Slot) -> None:
        """Politely end the slot's connection (QUIT), falling back to just closing it."""
        client = slot.client
        if client is not None and client.is_connected:
            with contextlib.suppress(*_NETWORK_ERRORS):
                await client.quit()
        slot.discard()
