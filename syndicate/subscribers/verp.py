"""VERP return paths: each copy's envelope sender names its delivery, signed.

``[bounces] address = "bounces@news.example.org"`` makes the envelope sender of the copy
of send 12 to subscriber 3456 ``bounces+c-2o0-<mac>@news.example.org``: the send and the
subscriber in base 36, then 80 bits of HMAC-SHA256 (under a key derived from the site
secret) in hex. Everything is lowercase letters and digits, because some mail servers
lowercase local parts on the way back; a token that comes back in capitals still verifies.
A bounce mailed to such an address says whose copy failed, and nobody can forge one for a
delivery we did not make. Making one costs one HMAC per copy.

Confirmation mails (the double opt-in) get a return path of their own shape,
``bounces+c-<subscriber>-<day>-<mac>@…``: the subscriber it was mailed to and the day it was
issued (days since 1970, base 36), under the same key but a MAC input no copy token can
have (``confirm.<subscriber>.<day>`` against ``<send>.<subscriber>``). Its bounce can then
stop further confirmation mails to a dead address without letting a stranger's forged
bounce do so.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime

from syndicate.config import Settings
from syndicate.subscribers.tokens import Signer

_CONTEXT = b"syndicate/verp/v1"
_MAC_BYTES = 10  # 80 bits: forging one takes ~2**79 tries, each a bounce we would read
_MAX_ID = 2**63 - 1
_DIGITS = "0123456789abcdefghijklmnopqrstuvwxyz"
_TOKEN = re.compile(r"([0-9a-z]{1,13})-([0-9a-z]{1,13})-([0-9a-f]{20})", re.ASCII)
_CONFIRM = re.compile(r"c-([0-9a-z]{1,13})-([0-9a-z]{1,6})-([0-9a-f]{20})", re.ASCII)
_EPOCH = date(1970, 1, 1)
# ``local+token@domain`` anywhere in a header value (angle brackets, display names …).
_FIND = re.compile(r"([A-Za-z0-9!#$%&'*/=?^_`{|}~.-]+)\+([0-9A-Za-z-]{24,48})@([A-Za-z0-9.-]+)")


def _b36(number: int) -> str:
    out = ""
    while True:
        number, digit = divmod(number, 36)
        out = _DIGITS[digit] + out
        if not number:
            return out


@dataclass(frozen=True, slots=True)
class Delivery:
    """Which copy a verified token names."""

    send_id: int
    subscriber_id: int


@dataclass(frozen=True, slots=True)
class ConfirmationMail:
    """Which confirmation mail a verified token names: to whom, and the day it was issued."""

    subscriber_id: int
    issued: date


class Verp:
    """Makes and checks the return paths of one site's bounce address."""

    __slots__ = ("_base", "_domain", "_local")

    def __init__(self, signer: Signer, address: str) -> None:
        local, at, domain = address.rpartition("@")
        if not at or not local or "+" in local:
            raise ValueError(f"a bounce address is local@domain without '+', got {address!r}")
        self._local, self._domain = local, domain
        # Keyed once: each copy then costs a copy of the keyed state and one update.
        self._base = hmac.new(signer.derive(_CONTEXT), digestmod=hashlib.sha256)

    def __repr__(self) -> str:
        return f"Verp({self._local}@{self._domain})"

    def _mac(self, send_id: int, subscriber_id: int) -> str:
        mac = self._base.copy()
        mac.update(f"{send_id}.{subscriber_id}".encode())
        return mac.digest()[:_MAC_BYTES].hex()

    def token(self, send_id: int, subscriber_id: int) -> str:
        """The token for one copy (ids from 1 to 2**63-1)."""
        for number in (send_id, subscriber_id):
            if type(number) is not int or not 1 <= number <= _MAX_ID:
                raise ValueError(f"ids are integers from 1 to 2**63-1, got {number!r}")
        return f"{_b36(send_id)}-{_b36(subscriber_id)}-{self._mac(send_id, subscriber_id)}"

    def sender(self, send_id: int, subscriber_id: int) -> str:
        """The envelope sender of one copy: ``local+token@domain``."""
        return f"{self._local}+{self.token(send_id, subscriber_id)}@{self._domain}"

    def _confirm_mac(self, subscriber_id: int, day: int) -> str:
        mac = self._base.copy()
        mac.update(f"confirm.{subscriber_id}.{day}".encode())
        return mac.digest()[:_MAC_BYTES].hex()

    def confirmation_sender(self, subscriber_id: int, now: datetime) -> str:
        """The envelope sender of a confirmation mail to ``subscriber_id`` issued ``now``."""
        if type(subscriber_id) is not int or not 1 <= subscriber_id <= _MAX_ID:
            raise ValueError(f"ids are integers from 1 to 2**63-1, got {subscriber_id!r}")
        day = (now.astimezone(UTC).date() - _EPOCH).days
        token = f"c-{_b36(subscriber_id)}-{_b36(day)}-{self._confirm_mac(subscriber_id, day)}"
        return f"{self._local}+{token}@{self._domain}"

    def verify_confirmation(self, token: str) -> ConfirmationMail | None:
        """The confirmation mail a genuine token names; None otherwise (never raises)."""
        if not isinstance(token, str) or len(token) > 48:
            return None
        found = _CONFIRM.fullmatch(token.lower())
        if found is None:
            return None
        subscriber_id, day = int(found[1], 36), int(found[2], 36)
        if not 1 <= subscriber_id <= _MAX_ID or _b36(subscriber_id) != found[1]:
            return None
        if _b36(day) != found[2] or day > 2_000_000:  # one spelling; before year 7000
            return None
        if not hmac.compare_digest(found[3], self._confirm_mac(subscriber_id, day)):
            return None
        return ConfirmationMail(
            subscriber_id=subscriber_id, issued=date.fromordinal(_EPOCH.toordinal() + day)
        )

    def verify(self, token: str) -> Delivery | None:
        """The delivery a genuine token names; None for anything else (never raises)."""
        if not isinstance(token, str) or len(token) > 48:
            return None
        found = _TOKEN.fullmatch(token.lower())
        if found is None:
            return None
        send_id, subscriber_id = int(found[1], 36), int(found[2], 36)
        if not (1 <= send_id <= _MAX_ID and 1 <= subscriber_id <= _MAX_ID):
            return None
        if _b36(send_id) != found[1] or _b36(subscriber_id) != found[2]:
            return None  # leading zeros: one spelling per token
        if not hmac.compare_digest(found[3], self._mac(send_id, subscriber_id)):
            return None
        return Delivery(send_id=send_id, subscriber_id=subscriber_id)


def find_token(text: str, address: str) -> str | None:
    """The token of the first return path of bounce ``address`` in ``text`` (a header
    value), unverified; local part and domain compared without case."""
    local, _, domain = address.rpartition("@")
    for match in _FIND.finditer(text[:4096]):
        found_local, token, found_domain = match.groups()
        if found_local.lower() == local.lower() and found_domain.lower() == domain.lower():
            return token
    return None


def site_verp(settings: Settings, signer: Signer) -> Verp | None:
    """The site's VERP return paths: ``[bounces] address``; None without ``[bounces]``."""
    bounces = settings.config.bounces
    return None if bounces is None else Verp(signer, bounces.address)
