"""Reading a stranger's message without trusting it: bounded walks, clean header text."""

from __future__ import annotations

import re
from collections.abc import Iterator
from email.message import Message
from email.parser import HeaderParser

MAX_PARTS = 200  # a bounce has three or four; more is not a bounce worth reading
MAX_DEPTH = 8
MAX_TEXT = 65_536  # characters of one part's text that are ever read
MAX_FIELD = 500  # characters of a header value or field kept
_ADDRESS = re.compile(
    r"[^\s<>()\[\]\\,;:\"@]{1,64}@[A-Za-z0-9](?:[A-Za-z0-9.-]{0,251}[A-Za-z0-9])?"
)
_SPACE = re.compile(r"\s+")


class TooComplex(Exception):
    """More MIME parts or deeper nesting than any bounce has."""


def clean(value: object, limit: int = MAX_FIELD) -> str:
    """A header value or field as one line of printable text, at most ``limit`` characters."""
    if value is None:
        return ""
    text = str(value)
    if not text.isascii():  # lone surrogates (undecodable bytes) become "?"
        text = text.encode("utf-8", "replace").decode("utf-8", "replace")
    text = text[: limit * 4]
    if not text.isprintable():  # most values are: no walk character by character
        text = "".join(c if c.isprintable() else " " for c in text)
    return _SPACE.sub(" ", text).strip()[:limit]


def header(msg: Message, name: str) -> str:
    """One header's value, cleaned; empty if absent or unreadable."""
    try:
        return clean(msg.get(name))
    except Exception:  # a header object that cannot even be turned into text
        return ""


def address_in(value: str) -> str | None:
    """The first plausible address in a field (``rfc822; <a@b>``), as written."""
    found = _ADDRESS.search(value.partition(";")[2] if ";" in value else value)
    if found is None:
        return None
    address = found[0].strip(".")
    return address if 3 <= len(address) <= 254 else None


def walk(msg: Message) -> Iterator[Message]:
    """Every part, depth first, refusing trees larger or deeper than any bounce."""
    count = 0
    stack: list[tuple[Message, int]] = [(msg, 0)]
    while stack:
        part, depth = stack.pop()
        count += 1
        if count > MAX_PARTS or depth > MAX_DEPTH:
            raise TooComplex(f"more than {MAX_PARTS} MIME parts or {MAX_DEPTH} levels")
        yield part
        payload = part.get_payload()
        if isinstance(payload, list):
            stack.extend((p, depth + 1) for p in reversed(payload) if isinstance(p, Message))


def text_of(part: Message) -> str:
    """A part's decoded text (at most :data:`MAX_TEXT` characters), empty if none."""
    try:
        payload = part.get_payload(decode=True)
    except Exception:
        return ""
    if not isinstance(payload, bytes):
        return ""
    charset = part.get_content_charset() or "utf-8"
    try:
        return payload[: MAX_TEXT * 2].decode(charset, "replace")[:MAX_TEXT]
    except LookupError:  # an unknown charset name
        return payload[: MAX_TEXT * 2].decode("utf-8", "replace")[:MAX_TEXT]


def field_blocks(part: Message) -> list[list[tuple[str, str]]]:
    """The header blocks of a ``message/delivery-status`` or ``message/feedback-report``
    part, each as (lowercased name, cleaned value) pairs."""
    payload = part.get_payload()
    blocks: list[list[tuple[str, str]]] = []
    if isinstance(payload, list):
        for sub in payload[:MAX_PARTS]:
            if isinstance(sub, Message):
                blocks.append([(k.lower(), clean(v)) for k, v in sub.items()[:100]])
        return blocks
    text = text_of(part) or (payload if isinstance(payload, str) else "")
    for chunk in re.split(r"\r?\n\s*\r?\n", text[:MAX_TEXT])[:MAX_PARTS]:
        parsed = HeaderParser().parsestr(chunk.strip() + "\n")
        fields = [(k.lower(), clean(v)) for k, v in parsed.items()[:100]]
        if fields:
            blocks.append(fields)
    return blocks


def returned_headers(part: Message) -> Message | None:
    """The headers of our mail in a returned ``message/rfc822`` or ``text/rfc822-headers``."""
    kind = part.get_content_type()
    payload = part.get_payload()
    if kind == "message/rfc822" and isinstance(payload, list) and payload:
        first = payload[0]
        return first if isinstance(first, Message) else None
    if kind in ("text/rfc822-headers", "message/rfc822-headers", "message/rfc822"):
        text = text_of(part) or (payload if isinstance(payload, str) else "")
        return HeaderParser().parsestr(text[:MAX_TEXT])
    return None
