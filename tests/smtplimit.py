"""A test SMTP server that allows only ``limit`` sessions at once, as relays do.

Sessions beyond the limit are answered ``421 4.7.0 Too many connections`` either instead
of the greeting (``at="greeting"``, as Postfix's ``smtpd_client_connection_count_limit``)
or at MAIL (``at="mail"``, as providers that count sessions after AUTH). The server keeps
``max_open``, the most sessions it accepted at once, and ``refused``, the sessions it
turned away::

    with serve_limited_smtp(3, at="greeting") as server:
        ...
        assert server.max_open <= 3
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Literal

from tests.smtpserver import SmtpServer

TOO_MANY = b"421 4.7.0 Too many connections, try again later\r\n"


class _Gatekeeper(asyncio.Protocol):
    """Stands in front of one aiosmtpd session: counts it, or turns it away."""

    def __init__(self, owner: LimitedServer, inner: Any) -> None:
        self.owner, self.inner = owner, inner
        self.counted = self.started = self.over = False
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        owner = self.owner
        with owner._count_lock:
            self.over = owner.open >= owner.limit
            if not self.over:
                self.counted = True
                owner.open += 1
                owner.max_open = max(owner.max_open, owner.open)
        if self.over and owner.at == "greeting":
            self._refuse()
            return
        self.started = True
        self.inner.connection_made(transport)

    def _refuse(self) -> None:
        with self.owner._count_lock:
            self.owner.refused += 1
        assert self.transport is not None
        self.transport.write(TOO_MANY)
        self.transport.close()

    def data_received(self, data: bytes) -> None:
        if self.over and data[:4].upper() == b"MAIL":
            self._refuse()  # the whole group: MAIL (and pipelined RCPT, DATA) is refused
            return
        self.inner.data_received(data)

    def eof_received(self) -> bool | None:
        return self.inner.eof_received() if self.started else None  # type: ignore[no-any-return]

    def connection_lost(self, exc: Exception | None) -> None:
        if self.counted:
            with self.owner._count_lock:
                self.owner.open -= 1
        if self.started:
            self.inner.connection_lost(exc)

    def pause_writing(self) -> None:
        if self.started:
            self.inner.pause_writing()

    def resume_writing(self) -> None:
        if self.started:
            self.inner.resume_writing()


class LimitedServer(SmtpServer):
    """:class:`SmtpServer` with at most ``limit`` sessions at once (``None``: no limit)."""

    def __init__(self, limit: int | None, *, at: Literal["greeting", "mail"]) -> None:
        super().__init__()
        self.limit = limit if limit is not None else 1 << 30
        self.at = at
        self.open = self.max_open = self.refused = 0

    def reset_counts(self) -> None:
        """Forget ``max_open`` and ``refused`` (before the next send)."""
        with self._count_lock:
            self.max_open, self.refused = self.open, 0

    def _factory(self) -> Any:
        return _Gatekeeper(self, super()._factory())


@contextmanager
def serve_limited_smtp(
    limit: int | None, *, at: Literal["greeting", "mail"] = "greeting"
) -> Iterator[LimitedServer]:
    """Run a :class:`LimitedServer` on a free port of 127.0.0.1."""
    server = LimitedServer(limit, at=at)
    server.start()
    try:
        yield server
    finally:
        server.stop()
