"""Signed click ids: what ``/c/<id>`` in a mail names, and nothing a reader can alter.

An id is base64url (no padding) of::

    version (1 byte) | send id (4, unsigned big-endian) | link id (4)
    [ | subscriber id (8), only with ``[analytics] per_subscriber = true`` ]
    | tag (16: HMAC-SHA256 of the bytes before it, cut to 128 bits)

under a key derived from ``SYNDICATE_SECRET`` for this use alone (``Signer.derive``): a click
id never passes as an unsubscribe token, nor the other way round. Without the subscriber
part, every copy of a send carries the same id for a link, so nothing in it tells readers
apart. Build one set per site with ``ClickIds(site_signer(settings))``.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import struct
from dataclasses import dataclass

from syndicate.subscribers.tokens import Signer

VERSION = 1
_CONTEXT = b"syndicate/clicks/v1"
_TAG = 16
_LINK = struct.Struct(">BII")
_READER = struct.Struct(">Q")
MAX_ID = 2**32 - 1
# Exactly the two lengths an id can have; anything else is refused before decoding.
_LENGTHS = frozenset(
    len(base64.urlsafe_b64encode(b"x" * n).rstrip(b"="))
    for n in (_LINK.size + _TAG, _LINK.size + _READER.size + _TAG)
)


@dataclass(frozen=True, slots=True, kw_only=True)
class ClickClaims:
    """What a genuine click id names."""

    send_id: int
    link_id: int
    subscriber_id: int | None


class ClickIds:
    """Makes and checks click ids with a key of their own."""

    __slots__ = ("_keyed",)

    def __init__(self, signer: Signer) -> None:
        # Keyed once; each tag copies it (per_subscriber makes one per link and copy).
        self._keyed = hmac.new(signer.derive(_CONTEXT), digestmod=hashlib.sha256)

    def __repr__(self) -> str:
        return "ClickIds(<secret>)"

    def _tag(self, payload: bytes) -> bytes:
        mac = self._keyed.copy()
        mac.update(payload)
        return mac.digest()[:_TAG]

    def prefix(self, send_id: int, link_id: int) -> bytes:
        """The signed-over bytes of a link's id before any subscriber part."""
        if not (0 < send_id <= MAX_ID and 0 < link_id <= MAX_ID):
            raise ValueError(f"send and link ids must be 1 to {MAX_ID}: {send_id}, {link_id}")
        return _LINK.pack(VERSION, send_id, link_id)

    def make(self, send_id: int, link_id: int, subscriber_id: int | None = None) -> str:
        """The id of one link of one send (and one reader, when given)."""
        return self.finish(self.prefix(send_id, link_id), subscriber_id)

    def finish(self, prefix: bytes, subscriber_id: int | None) -> str:
        """An id from :meth:`prefix` bytes: the cheap per-copy part of a per-reader id."""
        payload = prefix
        if subscriber_id is not None:
            if not 0 < subscriber_id < 2**63:
                raise ValueError(f"not a subscriber id: {subscriber_id}")
            payload += _READER.pack(subscriber_id)
        raw = payload + self._tag(payload)
        return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")

    def read(self, text: str) -> ClickClaims | None:
        """The claims of a genuine id; None for anything else (altered, cut, made up)."""
        if not isinstance(text, str) or len(text) not in _LENGTHS or not text.isascii():
            return None
        try:
            raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
        except (binascii.Error, ValueError):
            return None
        payload, tag = raw[:-_TAG], raw[-_TAG:]
        if len(payload) not in (_LINK.size, _LINK.size + _READER.size):
            return None
        if not hmac.compare_digest(tag, self._tag(payload)):
            return None
        # Only signed bytes from here on.
        version, send_id, link_id = _LINK.unpack_from(payload)
        if version != VERSION or not send_id or not link_id:
            return None
        reader = None
        if len(payload) > _LINK.size:
            (reader,) = _READER.unpack_from(payload, _LINK.size)
        # A canonical encoding only: the same bytes always have exactly one id.
        if self.finish(payload[: _LINK.size], reader) != text:
            return None
        return ClickClaims(send_id=send_id, link_id=link_id, subscriber_id=reader)
