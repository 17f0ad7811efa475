"""The transport interface the sending engine owns: one message to one recipient, one outcome.

A transport never raises for a per-message problem; it answers with an :class:`Outcome` whose
:class:`Kind` tells the engine what to do next: record the message as sent, retry it later, or
give up on it.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol, runtime_checkable

__all__ = [
    "REPLY_LIMIT",
    "Adjustable",
    "Kind",
    "Outcome",
    "Overlapping",
    "Transport",
    "clean_reply",
]

REPLY_LIMIT = 500
# C0/C1 controls (ANSI escapes start with ESC or CSI), line/paragraph separators, bidi
# embeddings, overrides and isolates (they reorder what a terminal shows), lone surrogates
# (they cannot be printed): a server's reply is shown to the editor, never trusted as text.
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069\ud800-\udfff]+")


class Kind(StrEnum):
    """What became of one message."""

    SENT = "sent"
    """The server accepted responsibility for the message (2xx after DATA)."""
    DEFERRED = "deferred"
    """A temporary problem (4xx, timeout, lost connection): try again later."""
    FAILED = "failed"
    """A permanent problem (5xx, unusable address): do not try again."""


def clean_reply(text: str) -> str:
    """Return ``text`` as one line without control characters, at most ``REPLY_LIMIT`` chars."""
    return " ".join(_CONTROL.sub(" ", text).split())[:REPLY_LIMIT]


@dataclass(frozen=True, slots=True, kw_only=True)
class Outcome:
    """The result of one delivery attempt.

    ``code`` is the server's reply code when there was one (``None`` for timeouts, lost
    connections and refusals made before touching the network); ``reply`` is the server's text
    (or a description of the local problem), a single line without control characters and at
    most 500 characters long — use :func:`clean_reply` when building one.
    """

    kind: Kind
    code: int | None
    reply: str
    fatal: str | None = None
    """Set when the server cannot be used at all (unreachable, TLS or login refused): the
    message was not tried, and no other will get further; the sender stops and says this."""


class Transport(Protocol):
    """Sends personalised copies: one recipient per message."""

    async def send(self, sender: str, recipient: str, data: bytes) -> Outcome:
        """Deliver ``data`` (a complete RFC 5322 message) from ``sender`` to ``recipient``."""
        ...

    async def close(self) -> None:
        """Release every connection; the transport is not used afterwards."""
        ...


@runtime_checkable
class Adjustable(Protocol):
    """A transport whose pool of connections can grow and shrink while it sends, and that
    says when the server pushes back (``on_pushback(reason, connections open then)``)."""

    on_pushback: Callable[[str, int], None] | None

    def resize(self, connections: int) -> None:
        """Use at most ``connections`` connections from now on."""
        ...


@runtime_checkable
class Overlapping(Protocol):
    """A transport whose connection takes the next copy while this copy's answer is being
    recorded: only the next copy's end of data waits for ``recorded``.

    The sender's promise (a crash loses at most one answer per connection) holds: the
    server takes the next message only after this answer is durable. What overlaps is the
    next envelope (MAIL, RCPT, DATA: a round trip) with the commit.
    """

    async def send_overlapped(
        self, sender: str, recipient: str, data: bytes, *, recorded: asyncio.Future[None]
    ) -> Outcome:
        """Like ``send``; ``recorded`` is resolved once the caller stored the outcome (an
        exception: it could not; the connection's next copy is then not sent)."""
        ...
