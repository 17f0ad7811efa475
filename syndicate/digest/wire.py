"""Per-recipient message bytes without an EmailMessage for each.

A digest version is serialised once: its shared headers, and the quoted-printable encoding
of every static stretch of its text and HTML. A copy then only folds its own To,
Message-ID and List-Unsubscribe headers and encodes the few marker values, joined to the
static stretches with soft line breaks (``=\\r\\n``), which decode to nothing. The result
parses to the same message ``build_message`` makes.
"""

from __future__ import annotations

import binascii
import hashlib
from datetime import datetime
from email import policy as policies
from email.message import EmailMessage

from syndicate.config import Settings
from syndicate.digest.message import common_headers, needs_smtputf8, personal_header_bytes
from syndicate.digest.personalize import Personalizer, Recipient
from syndicate.models import CrlfMessage, RenderedDigest

SOFT_BREAK = b"=\r\n"


def _qp(text: str) -> bytes:
    """Quoted-printable with CRLF line ends (lines of at most 76 characters)."""
    data = text.replace("\r\n", "\n").replace("\r", "\n").encode("utf-8")
    return binascii.b2a_qp(data, istext=True).replace(b"\n", b"\r\n")


class _Body:
    """One text part: static stretches encoded once, marker slots filled per copy."""

    def __init__(self, parts: list[str], slots: tuple[tuple[int, int], ...]) -> None:
        self.encoded = [_qp(p) if i % 2 == 0 else b"" for i, p in enumerate(parts)]
        self.slots = slots

    def fill(self, values: tuple[str, ...]) -> bytes:
        out = self.encoded.copy()
        for index, slot in self.slots:
            out[index] = _qp(values[slot])
        return SOFT_BREAK.join(out)


class WireTemplate:
    """A digest version ready to be written out for any number of recipients."""

    def __init__(
        self,
        rendered: RenderedDigest,
        filler: Personalizer,
        *,
        settings: Settings,
        list_name: str,
        date: datetime,
    ) -> None:
        if date.tzinfo is None or date.utcoffset() is None:
            raise ValueError(f"date must be timezone-aware, got {date!r}")
        if list_name != rendered.digest.list_name:
            raise ValueError(
                f"list {list_name!r} is not the digest's {rendered.digest.list_name!r}"
            )
        self.rendered, self.settings, self.filler = rendered, settings, filler
        shared = EmailMessage(policy=policies.SMTP)
        common_headers(shared, rendered, settings=settings, list_name=list_name, date=date)
        self.head = _header_bytes(shared)
        seed = f"{rendered.digest.id}/{rendered.digest.topics}".encode()
        boundary = "=_" + hashlib.sha256(seed).hexdigest()[:32]
        self.content_type = (
            f'Content-Type: multipart/alternative;\r\n boundary="{boundary}"\r\n\r\n'.encode()
        )
        part = (
            'Content-Type: text/{}; charset="utf-8"\r\nContent-Transfer-Encoding: quoted-printable'
        )
        self.open_text = f"--{boundary}\r\n{part.format('plain')}\r\n\r\n".encode()
        self.open_html = f"\r\n--{boundary}\r\n{part.format('html')}\r\n\r\n".encode()
        self.close = f"\r\n--{boundary}--\r\n".encode()
        self.text = _Body(*filler.text_parts)
        self.html = _Body(*filler.html_parts)

    def message(self, recipient: Recipient, message_id: str) -> bytes:
        """The complete message for one recipient (``HeaderError`` for unsafe values)."""
        values = self.filler.values(recipient)
        smtputf8 = needs_smtputf8(recipient, self.settings)
        own = personal_header_bytes(
            recipient,
            values.unsubscribe_url,
            settings=self.settings,
            message_id=message_id,
            policy=policies.SMTPUTF8 if smtputf8 else policies.SMTP,
        )
        return CrlfMessage(
            b"".join(
                (
                    self.head,
                    own,
                    self.content_type,
                    self.open_text,
                    self.text.fill(values.text),
                    self.open_html,
                    self.html.fill(values.html),
                    self.close,
                )
            )
        )


def _header_bytes(msg: EmailMessage) -> bytes:
    """The folded header lines of a message that has no body yet."""
    return b"".join(msg.policy.fold_binary(name, value) for name, value in msg.items())
