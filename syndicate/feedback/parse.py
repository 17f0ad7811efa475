"""One message's bytes → the feedback it carries, or the reason it carries none.

Detectors are asked in turn, most exact first (the shape flufl.bounce uses): an RFC 5965
abuse report, an RFC 3464 DSN, then an automatic reply (by its strong signs), then
flufl.bounce's heuristics for the non-standard bounces of older and odder servers, then the
weak signs of an automatic reply. Whatever the bytes, :func:`parse` returns; nothing here
raises, and nothing reads more than :data:`MAX_BYTES` or a tree larger than
:data:`~syndicate.feedback.mime.MAX_PARTS` parts.
"""

from __future__ import annotations

import dataclasses
import email
import hashlib
import re
from dataclasses import dataclass
from email.message import Message

from syndicate.feedback import arf, autoreply, dsn, heuristic
from syndicate.feedback.mime import MAX_PARTS, TooComplex, header, walk
from syndicate.feedback.report import Feedback, Outcome
from syndicate.subscribers.verp import find_token

MAX_BYTES = 10_000_000
# Where the address a bounce was delivered to shows: our VERP return path is in there.
ENVELOPE_HEADERS = ("Delivered-To", "X-Original-To", "Envelope-To", "X-Envelope-To", "To")
_CONTENT_TYPE = re.compile(rb"(?im)^content-type:")
# Header fields the receiving side adds (the MTAs on the way, local delivery, a spam filter,
# a mail client's flags in an mbox): not part of a bounce's identity.
TRACE = frozenset(
    name.encode()
    for name in (
        "received",
        "return-path",
        "delivered-to",
        "x-original-to",
        "envelope-to",
        "x-envelope-to",
        "x-envelope-from",
        "x-delivered-to",
        "x-rcpt-to",
        "status",
        "x-status",
        "x-keywords",
        "x-uid",
        "x-mozilla-status",
        "x-mozilla-status2",
        "content-length",
        "lines",
    )
)
_QUOTED_FROM = re.compile(rb"(?m)^>+From ")


@dataclass(frozen=True, slots=True, kw_only=True)
class Parsed:
    """What one message says: its feedback, or why there is none (``reason``)."""

    digest: str  # the message's identity for idempotent intake (see :func:`identity`)
    feedback: tuple[Feedback, ...] = ()
    reason: str | None = None


def identity(data: bytes) -> str:
    """The sha256 of the message as its sender wrote it: the same for the same bounce
    however it reached us. Left out are the header fields the receiving side adds (each
    hop's ``Received``, ``Return-Path``, the ``Delivered-To`` our listener writes per
    recipient, what a local delivery agent, spam filter or mail client adds: see
    :data:`TRACE`), line endings (CRLF over SMTP, LF in files) and an mbox's quoting of
    ``From `` lines and its trailing blank line. Everything the sender wrote counts, so
    colliding with a real bounce takes that bounce's every byte: a forger gains nothing
    but a duplicate suppressed."""
    text = data.replace(b"\r\n", b"\n")
    head, sep, body = text.partition(b"\n\n")
    kept: list[bytes] = []
    dropping = False
    for line in head.split(b"\n"):
        if line[:1] in (b" ", b"\t"):  # a folded field goes with the field it continues
            if not dropping:
                kept.append(line)
            continue
        name = line.partition(b":")[0].strip().lower()
        dropping = name in TRACE or name.startswith(b"x-spam-")
        if not dropping:
            kept.append(line)
    body = _QUOTED_FROM.sub(b"From ", body).rstrip(b"\n")
    return hashlib.sha256(b"\n".join(kept) + sep + body).hexdigest()


def event_id(digest: str, index: int, token: str | None = None) -> str:
    """The event id of the ``index``-th feedback of a message: stable across imports and
    across the ways a bounce reaches us. ``token``: the VERP token it came with. Two
    return paths handed one message (one LMTP transaction for two readers' tokens) are
    two claims, each checked on its own; the same token twice is one."""
    if token:
        digest = hashlib.sha256(f"{digest}:{token}".encode()).hexdigest()
    return f"mail:{digest[:40]}:{index}"


def parse(data: bytes, *, bounce_address: str | None = None) -> Parsed:
    """The feedback in one message; ``bounce_address``: the ``[bounces] address`` whose
    VERP tokens to look for. Never raises."""
    digest = identity(data)
    if len(data) > MAX_BYTES:
        return Parsed(digest=digest, reason=f"larger than {MAX_BYTES:,} bytes")
    if len(_CONTENT_TYPE.findall(data[:MAX_BYTES])) > MAX_PARTS:
        return Parsed(digest=digest, reason=f"more than {MAX_PARTS} MIME parts")
    try:
        found, reason = _detect(email.message_from_bytes(data), bounce_address)
    except TooComplex as exc:
        return Parsed(digest=digest, reason=str(exc))
    except (RecursionError, MemoryError):
        return Parsed(digest=digest, reason="nested too deeply to read")
    except Exception as exc:  # a malformed message must not stop an import
        return Parsed(digest=digest, reason=f"unreadable: {type(exc).__name__}")
    items = tuple(
        dataclasses.replace(f, event_id=event_id(digest, i, f.token)) for i, f in enumerate(found)
    )
    if not items and reason is None:
        reason = "not a bounce, complaint or automatic reply"
    return Parsed(digest=digest, feedback=items, reason=reason)


def _token(msg: Message, extra: str, address: str | None) -> str | None:
    if address is None:
        return None
    for value in (*(header(msg, name) for name in ENVELOPE_HEADERS), extra):
        if value and (token := find_token(value, address)) is not None:
            return token
    for value in msg.get_all("Received", [])[:20]:  # "for <bounces+…@…>" of the last hop
        if (token := find_token(str(value), address)) is not None:
            return token
    return None


def _detect(msg: Message, address: str | None) -> tuple[list[Feedback], str | None]:
    parts = list(walk(msg))
    extra = ""
    found: list[Feedback] | None
    try:
        complaint = arf.detect(parts)
    except arf.NotComplaint as exc:
        return [], str(exc)
    if complaint is not None:
        found, extra = complaint[0], complaint[1] or ""
    else:
        message_id, returned = dsn.returned_message_id(parts)
        found = dsn.detect(parts, message_id)
        if found == []:  # every recipient it names was relayed or expanded
            return [], "a delivery report without a failure, delay or delivery (relayed)"
        if returned is not None:
            extra = header(returned, "Return-Path")
    if not found:
        why = autoreply.reason(msg, strong_only=True)
        if why is not None:
            found = [_autoreply(msg, why)]
        else:
            found = heuristic.detect(msg, parts) or []
    if not found and (why := autoreply.reason(msg, strong_only=False)) is not None:
        found = [_autoreply(msg, why)]
    token = _token(msg, extra, address)
    if token is not None:
        found = [dataclasses.replace(f, token=token) for f in found]
    return found, None


def _autoreply(msg: Message, why: str) -> Feedback:
    sender = header(msg, "From")
    return Feedback(
        outcome=Outcome.AUTOREPLY,
        source="autoreply",
        event_id="",
        recipient=None,
        diagnostic=f"{why} from {sender[:100]}" if sender else why,
    )
