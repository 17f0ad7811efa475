"""Decode a response body's content coding with a bounded output: no compression bomb.

httpx decodes a whole network chunk at once (a 64 KB gzip chunk can be 64 MB of output, and
``gzip, gzip`` squares that) before any size cap can look. Here zlib never returns more than
what still fits under the cap, and at most one coding is accepted: a stacked one is refused.
"""

from __future__ import annotations

import zlib

from syndicate.text import one_line

GZIP = zlib.MAX_WBITS | 16
# What the fetch offers in Accept-Encoding; brotli and zstd have no bounded decoder here.
ACCEPT_ENCODING = "gzip, deflate"
CODINGS = {"gzip": "gzip", "x-gzip": "gzip", "deflate": "deflate"}


class TooLarge(Exception):
    """The decoded body outgrew its limit."""


def coding_of(header: str) -> str | None:
    """The one coding a ``Content-Encoding`` value names (None: identity).

    Raises ``ValueError`` saying why for a stacked coding (``gzip, gzip``) or one that is not
    gzip or deflate.
    """
    names = [n.strip().lower() for n in header.split(",")]
    names = [n for n in names if n and n != "identity"]
    if not names:
        return None
    shown = one_line(header, 80)
    if len(names) > 1:
        raise ValueError(
            f"the response has Content-Encoding {shown!r}: {len(names)} stacked codings, "
            "and at most one (gzip or deflate) is accepted; the response is refused"
        )
    if names[0] not in CODINGS:
        raise ValueError(
            f"the response has Content-Encoding {shown!r}, which is not decoded here "
            f"(the request offered only {ACCEPT_ENCODING})"
        )
    return CODINGS[names[0]]


class BoundedDecoder:
    """Decodes a body chunk by chunk, never holding more than ``limit`` decoded bytes.

    ``feed`` raises ``TooLarge`` as soon as the output would pass ``limit`` and
    ``zlib.error`` / ``ValueError`` for a corrupt or truncated stream.
    """

    def __init__(self, coding: str | None, limit: int) -> None:
        self._coding = coding
        self._limit = limit
        self._out = bytearray()
        self._fed = False
        self._head = b""  # deflate: the first two bytes tell zlib-wrapped from raw
        self._z = zlib.decompressobj(GZIP) if coding == "gzip" else None

    def feed(self, data: bytes) -> None:
        """Decode the next piece of the raw body."""
        if not data:
            return
        self._fed = True
        if self._coding is None:
            self._keep(data)
            return
        if self._z is None:
            # RFC 9110 deflate is zlib-wrapped, but many servers send a raw deflate stream.
            data, self._head = self._head + data, b""
            if len(data) < 2:
                self._head = data
                return
            wrapped = data[0] & 0x0F == 8 and ((data[0] << 8) | data[1]) % 31 == 0
            self._z = zlib.decompressobj(zlib.MAX_WBITS if wrapped else -zlib.MAX_WBITS)
        z = self._z
        while data:
            if z.eof:
                # Gzip may hold several members; other trailing bytes are ignored, as gzip(1) does.
                if self._coding != "gzip" or data[:1] != b"\x1f":
                    return
                z = self._z = zlib.decompressobj(GZIP)
            # One byte more than fits: getting it proves the body is too large.
            self._keep(z.decompress(data, self._limit - len(self._out) + 1))
            data = z.unused_data if z.eof else z.unconsumed_tail

    def finish(self) -> bytes:
        """The decoded body; raises ``ValueError`` if the compressed stream was cut short."""
        if self._coding is not None and self._fed and (self._z is None or not self._z.eof):
            raise ValueError(f"the {self._coding} body ends before its compressed stream does")
        return bytes(self._out)

    def _keep(self, piece: bytes) -> None:
        self._out += piece
        if len(self._out) > self._limit:
            raise TooLarge
