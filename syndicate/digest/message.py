"""The complete RFC 5322 message of one digest copy: exactly the bytes delivery sends.

Bodies: multipart/alternative, text/plain first (clients show the last part they can), both
UTF-8 in quoted-printable. QP keeps every line within 76 characters whatever the renderer
produced (minified HTML has lines far over SMTP's 998-octet limit), needs no 8BITMIME on any
hop, stays readable ASCII for the mostly-ASCII digests (base64 would grow them by a third
and hide the text from content filters). binascii's C encoder does it: the email package's
own QP encoder costs milliseconds per 60 KB part. The boundary starts with ``=_``, which
never occurs in QP text, so it need not be searched for.

Headers: From, To, Reply-To (when configured) and Subject, the ones with names and text in
them, go through ``email.policy.SMTP`` (CRLF; CR/LF in a value refused; non-ASCII encoded
per RFC 2047), then are checked as written (see ``_set``). The rest are ASCII this module
builds and checks, written verbatim by :class:`_Verbatim` (the policy would fold a long URL
into encoded words no client decodes): Date, Message-ID, MIME-Version, List-Id (RFC 2919),
List-Unsubscribe and, for an https link, List-Unsubscribe-Post (RFC 2369, RFC 8058: the web
page must unsubscribe on that POST without asking), ``Precedence: bulk`` (not standard,
but legacy autoresponders only look at it: no out-of-office floods at Reply-To) and
``Auto-Submitted: auto-generated`` (RFC 3834, the standard form of the same request).
"""

from __future__ import annotations

import binascii
import hashlib
import re
import secrets
from collections.abc import Sequence
from datetime import datetime
from email import policy as policies
from email.header import Header
from email.headerregistry import Address
from email.message import EmailMessage
from email.policy import Policy
from email.utils import format_datetime
from typing import Any
from urllib.parse import quote

from syndicate.config import Settings
from syndicate.config.mailhost import DOMAIN as _DOMAIN
from syndicate.config.mailhost import mail_host
from syndicate.digest import markers
from syndicate.digest.personalize import URL_SAFE, Personal, Recipient, clean_name
from syndicate.errors import SyndicateError
from syndicate.models import Digest, RenderedDigest

MAX_LINE = 78  # RFC 5322's "SHOULD"; verbatim headers only go past it for one long URL
# C0 and C1 controls, DEL, line/paragraph separators, lone surrogates.
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\ud800-\udfff]")
_ATOMS = re.compile(r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~ -]+")  # a phrase that needs no quotes
_DOT_ATOM = re.compile(r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*")
_MESSAGE_ID = re.compile(r"<[^<>@\s\x00-\x1f\x7f]+@[A-Za-z0-9.-]+>", re.ASCII)
_BARE_BREAK = re.compile(r"\r\n(?![ \t])|\r(?!\n)|(?<!\r)\n")  # CR, LF: folding only
_MARKER_PREFIX = "SYNDICATEx9"
assert all(m.removeprefix("https://").startswith(_MARKER_PREFIX) for m in markers.ALL)


class HeaderError(SyndicateError):
    """A header value would be unsafe or wrong (control characters, unfilled markers...)."""


class _Verbatim(str):
    """A header value written exactly as given: ASCII, checked and folded by this module.

    A value with ``name`` and ``fold`` is a header object to ``EmailPolicy``, which then
    neither parses nor refolds it: so any policy re-flattening the message (aiosmtplib's
    ``send_message`` uses its own) writes these lines unchanged.
    """

    name: str
    lines: tuple[str, ...]

    def __new__(cls, name: str, lines: Sequence[str]) -> _Verbatim:
        for line in lines:
            if not line.isascii() or _CONTROL.search(line) or len(line) > 990:
                raise HeaderError(f"{name}: not a printable ASCII line: {line!r}")
        self = super().__new__(cls, " ".join(lines))
        self.name, self.lines = name, tuple(lines)
        return self

    def __reduce__(self) -> tuple[type[_Verbatim], tuple[str, tuple[str, ...]]]:
        return (_Verbatim, (self.name, self.lines))  # copy.deepcopy, pickle

    @property
    def defects(self) -> tuple[()]:
        return ()

    def fold(self, *, policy: Policy) -> str:
        """The header as written: its lines joined by the policy's line separator."""
        return f"{self.name}: {(policy.linesep + ' ').join(self.lines)}{policy.linesep}"


def _fold(name: str, items: Sequence[str]) -> list[str]:
    """``items`` joined by spaces into lines of at most MAX_LINE characters where possible."""
    lines = [items[0]]
    width = len(name) + 2 + len(items[0])
    for item in items[1:]:
        if width + 1 + len(item) <= MAX_LINE:
            lines[-1] += " " + item
            width += 1 + len(item)
        else:
            lines.append(item)
            width = 1 + len(item)
    return lines


def message_id(digest: Digest, subscriber_id: int, host: str) -> str:
    """``<digest-id.subscriber-id@host>``: the same on every retry, unique per copy."""
    left = f"{digest.id}.{subscriber_id}"
    if not _DOT_ATOM.fullmatch(left) or not _DOMAIN.fullmatch(host) or subscriber_id < 1:
        raise ValueError(f"cannot make a Message-ID of {left!r} and {host!r}")
    return f"<{left}@{host}>"


def test_message_id(digest: Digest, host: str) -> str:
    """``<digest-id.test-RANDOM@host>``: a test copy's own Message-ID, never a reader's."""
    left = f"{digest.id}.test-{secrets.token_hex(8)}"
    if not _DOT_ATOM.fullmatch(left) or not _DOMAIN.fullmatch(host):
        raise ValueError(f"cannot make a Message-ID of {left!r} and {host!r}")
    return f"<{left}@{host}>"


def _phrase(name: str, text: str) -> list[str]:
    """``text`` as an RFC 5322 phrase, in foldable pieces: atoms, a quoted string, or
    RFC 2047 encoded words for non-ASCII."""
    text = " ".join(text.split())
    if not text.isascii():
        header = Header(text, "utf-8", maxlinelen=MAX_LINE, header_name=name)
        encoded = header.encode(linesep="\n")
        return encoded.split()
    if _ATOMS.fullmatch(text) and "=?" not in text:
        return text.split()
    return ('"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"').split(" ")


def encoded_words(name: str, text: str) -> _Verbatim:
    """``text`` as RFC 2047 encoded words only, folded: a reader's decoder shows exactly
    ``text``, even where it holds ``=?…?=`` (which, left as it is, would be decoded)."""
    header = Header(text, "utf-8", maxlinelen=MAX_LINE, header_name=name)
    return _Verbatim(name, [line.strip() for line in header.encode(linesep="\n").split("\n")])


def _address(display_name: str | None, email: str, what: str) -> Address:
    local, at, domain = email.rpartition("@")
    if not at or not local or not domain or _CONTROL.search(email) or " " in email:
        raise HeaderError(f"{what}: not an email address: {email!r}")
    try:
        return Address(display_name=display_name or "", username=local, domain=domain)
    except ValueError as exc:
        raise HeaderError(f"{what}: {exc}") from None


def _set(msg: EmailMessage, name: str, value: str | Address) -> None:
    """Set a header through the policy, then check it as it will be written.

    The policy refuses CR/LF in a value, but encoded words in it ("=?utf-8?q?=0D=0A?=") are
    decoded, and Python before 3.11.10 / 3.12.5 then writes the CR/LF out raw
    (CVE-2024-6923): so the folded header, too, must hold no line break but folding ones.
    """
    try:
        msg[name] = value
    except ValueError as exc:  # the policy refuses CR/LF in a value
        raise HeaderError(f"{name}: {exc}: {str(value)!r}") from None
    header = msg[name]
    found = _CONTROL.search(str(header))
    folded = msg.policy.fold(name, header).removesuffix(msg.policy.linesep)
    if found is not None or _BARE_BREAK.search(folded):
        del msg[name]
        raise HeaderError(f"{name}: holds a control character once decoded: {str(value)!r}")


def _subject(rendered: RenderedDigest) -> str:
    subject = rendered.subject
    found = _CONTROL.search(subject)
    if found is not None:
        raise HeaderError(f"Subject: control character {found.group()!r} in {subject!r}")
    if not subject.strip():
        raise HeaderError("Subject: empty")
    if _MARKER_PREFIX.casefold() in subject.casefold():
        raise HeaderError(f"Subject: holds a per-recipient marker: {subject!r}")
    return subject


def subject_header(msg: EmailMessage, subject: str) -> None:
    """Set the Subject so that readers see ``subject`` exactly as written."""
    if "=?" in subject:  # readers would decode it: encode it all, so it shows as written
        msg["Subject"] = encoded_words("Subject", subject)
    else:
        _set(msg, "Subject", subject)


def _part(body: str, subtype: str, policy: Policy) -> EmailMessage:
    part = EmailMessage(policy=policy)
    part["Content-Type"] = _Verbatim("Content-Type", [f'text/{subtype}; charset="utf-8"'])
    part["Content-Transfer-Encoding"] = _Verbatim("Content-Transfer-Encoding", ["quoted-printable"])
    # One "\n" per line break (CR, LF or CRLF), and a last one: the generator writes CRLF.
    data = body.encode("utf-8")
    if b"\r" in data:
        data = b"\n".join(data.splitlines()) + b"\n"
    elif not data.endswith(b"\n"):
        data += b"\n"
    part.set_payload(binascii.b2a_qp(data, istext=True).decode("ascii"))
    return part


def needs_smtputf8(recipient: Recipient, settings: Settings) -> bool:
    """SMTPUTF8 exactly when aiosmtplib's send_message would use it: a non-ASCII address."""
    return not (recipient.email.isascii() and settings.email.from_address.isascii())


def common_headers(
    msg: EmailMessage,
    rendered: RenderedDigest,
    *,
    settings: Settings,
    list_name: str,
    date: datetime,
) -> None:
    """The headers every copy of a digest shares: From, Reply-To, Subject, Date, List-Id…"""
    email = settings.email
    from_name = " ".join(email.from_name.split())  # the config allows tabs
    _set(msg, "From", _address(from_name, email.from_address, "From"))
    if email.reply_to:
        _set(msg, "Reply-To", _address(None, email.reply_to, "Reply-To"))
    subject_header(msg, _subject(rendered))
    # Constant, or checked here: written verbatim, saving the policy's parsing.
    msg["Date"] = _Verbatim("Date", [format_datetime(date)])
    msg["MIME-Version"] = _Verbatim("MIME-Version", ["1.0"])
    list_id = f"{list_name}.{mail_host(settings)}"
    title = " ".join(rendered.digest.list_title.split())
    if _CONTROL.search(title):
        raise HeaderError(f"List-Id: control character in the list title {title!r}")
    msg["List-Id"] = _Verbatim(
        "List-Id", _fold("List-Id", [*_phrase("List-Id", title), f"<{list_id}>"])
    )
    msg["Precedence"] = _Verbatim("Precedence", ["bulk"])
    msg["Auto-Submitted"] = _Verbatim("Auto-Submitted", ["auto-generated"])


def _simple_to(name: str | None, email: str) -> _Verbatim | None:
    """The To header of the common case (ASCII dot-atom address, clean ASCII name), built
    here: the policy's parsing and refolding costs ~0.2 ms a copy. None: let the policy do it.
    """
    local, at, domain = email.rpartition("@")
    if not (at and _DOT_ATOM.fullmatch(local) and _DOMAIN.fullmatch(domain)):
        return None
    if not name:
        return _Verbatim("To", [email])
    if not name.isascii() or _CONTROL.search(name) or not name.strip():
        return None  # encoded words: the policy's folding is the well-tried one
    return _Verbatim("To", _fold("To", [*_phrase("To", name), f"<{email}>"]))


def personal_headers(
    msg: EmailMessage,
    recipient: Recipient,
    personal: Personal | str,
    *,
    settings: Settings,
    message_id: str,
) -> None:
    """The headers of one copy: To, Message-ID, List-Unsubscribe (+ One-Click).

    ``personal``: the copy, or just its unsubscribe URL.
    """
    for name, value in _personal(recipient, personal, settings, message_id, msg.policy):
        msg[name] = value


def personal_header_bytes(
    recipient: Recipient,
    personal: Personal | str,
    *,
    settings: Settings,
    message_id: str,
    policy: Policy,
) -> bytes:
    """What :func:`personal_headers` adds, as the folded lines themselves: no
    ``EmailMessage`` per copy (setting a header on one costs ~20 µs in registry lookups)."""
    headers = _personal(recipient, personal, settings, message_id, policy)
    return b"".join(policy.fold_binary(name, value) for name, value in headers)


def _personal(
    recipient: Recipient,
    personal: Personal | str,
    settings: Settings,
    message_id: str,
    policy: Policy,
) -> list[tuple[str, Any]]:
    headers: list[tuple[str, Any]] = [("To", _to(recipient, policy))]
    if not _MESSAGE_ID.fullmatch(message_id):
        raise HeaderError(f"Message-ID: not <id@domain>: {message_id!r}")
    headers.append(("Message-ID", _Verbatim("Message-ID", [message_id])))
    url = personal if isinstance(personal, str) else personal.unsubscribe_url
    if not URL_SAFE.fullmatch(url) or not url.startswith(("https://", "http://")):
        raise HeaderError(f"List-Unsubscribe: not an http(s) URI: {url!r}")
    links = [f"<{url}>"]
    mailto = settings.email.unsubscribe_mailto
    if mailto:
        links.append(f"<mailto:{quote(mailto, safe='@')}?subject=unsubscribe>")
    items = [link + "," for link in links[:-1]] + links[-1:]
    headers.append(
        ("List-Unsubscribe", _Verbatim("List-Unsubscribe", _fold("List-Unsubscribe", items)))
    )
    if url.startswith("https://"):  # RFC 8058 one-click needs an https URI
        one_click = _Verbatim("List-Unsubscribe-Post", ["List-Unsubscribe=One-Click"])
        headers.append(("List-Unsubscribe-Post", one_click))
    return headers


def _to(recipient: Recipient, policy: Policy) -> Any:
    """The To header: built here in the common case, else through the policy."""
    name = clean_name(recipient.name)
    if name and "=?" in name:  # a name that looks like encoded words would not show as it is
        name = None
    simple = _simple_to(name, recipient.email)
    if simple is not None:
        return simple
    scratch = EmailMessage(policy=policy)
    try:
        _set(scratch, "To", _address(name, recipient.email, "To"))
    except HeaderError:  # the name is unsafe in some other way: send without it
        _set(scratch, "To", _address(None, recipient.email, "To"))
    return scratch["To"]


def build_message(
    rendered: RenderedDigest,
    personal: Personal,
    recipient: Recipient,
    *,
    settings: Settings,
    list_name: str,
    message_id: str,
    date: datetime,
) -> EmailMessage:
    """The message for one recipient; ``HeaderError`` rather than any unsafe header.

    ``date`` must be timezone-aware. Recipients with a non-ASCII local part get an
    SMTPUTF8 message (raw UTF-8 headers), which delivery must send with SMTPUTF8.
    """
    if personal.subscriber_id != recipient.subscriber_id:
        raise ValueError("personal copy and recipient are different subscribers")
    if list_name != rendered.digest.list_name:
        raise ValueError(f"list {list_name!r} is not the digest's {rendered.digest.list_name!r}")
    if date.tzinfo is None or date.utcoffset() is None:
        raise ValueError(f"date must be timezone-aware, got {date!r}")
    utf8 = needs_smtputf8(recipient, settings)
    msg = EmailMessage(policy=policies.SMTPUTF8 if utf8 else policies.SMTP)
    common_headers(msg, rendered, settings=settings, list_name=list_name, date=date)
    personal_headers(msg, recipient, personal, settings=settings, message_id=message_id)
    policy = msg.policy
    # Deterministic: the same copy is the same bytes on every retry.
    boundary = "=_" + hashlib.sha256(message_id.encode("utf-8")).hexdigest()[:32]
    content_type = ["multipart/alternative;", f'boundary="{boundary}"']
    msg["Content-Type"] = _Verbatim("Content-Type", _fold("Content-Type", content_type))
    msg.set_payload([_part(personal.text, "plain", policy), _part(personal.html, "html", policy)])
    return msg
