"""The HTTP server ``syndicate run`` starts: uvicorn with bounds on what one client may hold.

uvicorn (with httptools) waits for a request's headers and body as long as a client keeps
the connection open, and accepts any number of connections. Here each connection gets:

- ``[web] header_timeout`` seconds for a request's headers, counted from the connection
  (or the end of the previous response), however slowly the bytes come: then 408 and close;
- ``[web] body_timeout`` seconds for the body once the headers are in: then 408 (or a
  plain close once a response has started) and the app sees the client gone;
- at most :data:`MAX_HEADER_BYTES` of request line and headers: then 431 and close;
- and the server at most ``[web] max_connections`` connections (or running requests): one
  more is answered 503 at once and closed, without reading it.

uvicorn's own ``X-Forwarded-For`` handling is off: the web app reads it (``web/proxy.py``).
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from typing import Any, ClassVar

import uvicorn
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from syndicate.config import Web
from syndicate.web.logs import redact_logs

log = logging.getLogger(__name__)  # syndicate's logger: run's format, not uvicorn's
MAX_HEADER_BYTES = 64 * 1024  # request line and headers; browsers send a few KB
WARN_EVERY = 60.0  # seconds between two "too many connections" warnings


@dataclass(frozen=True, slots=True, kw_only=True)
class Limits:
    """What one connection may take, and how many the server serves at once."""

    header_timeout: float
    body_timeout: float
    max_connections: int

    @classmethod
    def of(cls, web: Web) -> Limits:
        return cls(
            header_timeout=web.header_timeout,
            body_timeout=web.body_timeout,
            max_connections=web.max_connections,
        )


_REASONS = {
    408: b"Request Timeout",
    431: b"Request Header Fields Too Large",
    503: b"Service Unavailable",
}


class GuardedProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with the deadlines and limits of :class:`Limits`."""

    limits: ClassVar[Limits]
    _warned: ClassVar[float] = -WARN_EVERY

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._header_timer: asyncio.TimerHandle | None = None
        self._body_timer: asyncio.TimerHandle | None = None
        self._begun = False  # bytes of a request came in, its headers did not end yet
        self._header_bytes = 0
        self._too_large = False

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        limit = self.limits.max_connections
        busy = len(self.connections) >= limit or len(self.tasks) >= limit
        super().connection_made(transport)
        if busy:
            now = time.monotonic()
            if now - GuardedProtocol._warned >= WARN_EVERY:  # never a line per connection
                GuardedProtocol._warned = now
                log.warning("web: more than %d connections at once: answering 503", limit)
            self._reply(503)
            return
        self._header_timer = self.loop.call_later(self.limits.header_timeout, self._headers_late)

    def connection_lost(self, exc: Exception | None) -> None:
        for timer in (self._header_timer, self._body_timer):
            if timer is not None:
                timer.cancel()
        self._header_timer = self._body_timer = None
        super().connection_lost(exc)

    # -- parser callbacks ------------------------------------------------------------------

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._begun, self._header_bytes = True, 0

    def on_url(self, url: bytes) -> None:
        self._count(len(url))
        super().on_url(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        self._count(len(name) + len(value) + 4)
        super().on_header(name, value)

    def on_headers_complete(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None
        self._begun = False
        super().on_headers_complete()
        self._body_timer = self.loop.call_later(self.limits.body_timeout, self._body_late)

    def on_message_complete(self) -> None:
        if self._body_timer is not None:
            self._body_timer.cancel()
            self._body_timer = None
        super().on_message_complete()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if self.timeout_keep_alive_task is not None:  # idle now: the next request's clock
            self._header_timer = self.loop.call_later(
                self.limits.header_timeout, self._headers_late
            )

    def send_400_response(self, msg: str) -> None:
        if self._too_large:  # _count stopped the parser
            self._reply(431)
        else:
            super().send_400_response(msg)

    # -- limits ----------------------------------------------------------------------------

    def _count(self, size: int) -> None:
        self._header_bytes += size
        if self._header_bytes > MAX_HEADER_BYTES:
            self._too_large = True
            raise ValueError("request headers too large")  # httptools stops parsing

    def _headers_late(self) -> None:
        self._header_timer = None
        if self._begun:
            self._reply(408)
        else:  # nothing sent since the last response: a plain close, as keep-alive does
            self.transport.close()

    def _body_late(self) -> None:
        self._body_timer = None
        cycle = self.cycle
        if cycle is not None and not cycle.response_started and not self.pipeline:
            self._reply(408)
        else:
            self.transport.close()

    def _reply(self, status: int) -> None:
        """Answer ``status`` with a short text and close the connection."""
        if self.transport.is_closing():
            return
        body = _REASONS[status] + b"\n"
        self.transport.write(
            b"HTTP/1.1 %d %s\r\ncontent-type: text/plain; charset=utf-8\r\n"
            b"content-length: %d\r\nconnection: close\r\n\r\n%s"
            % (status, _REASONS[status], len(body), body)
        )
        self.transport.close()


def guarded_protocol(limits: Limits) -> type[GuardedProtocol]:
    """A :class:`GuardedProtocol` class bound to ``limits``."""
    return type("Guarded", (GuardedProtocol,), {"limits": limits})


def server_config(app: Any, web: Web, *, host: str, port: int) -> uvicorn.Config:
    """The uvicorn configuration of ``run``: guarded connections, tokens kept out of logs."""
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        http=guarded_protocol(Limits.of(web)),
        ws="none",
        lifespan="off",
        log_level="warning",
        proxy_headers=False,
        timeout_graceful_shutdown=10,
    )
    redact_logs()  # after Config: it (re)configures uvicorn's loggers
    return config
