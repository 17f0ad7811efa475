"""RFC 5965 abuse reports (feedback loops of Yahoo, AOL, Microsoft JMRP, …): complaints."""

from __future__ import annotations

from collections.abc import Sequence
from email.message import Message

from syndicate.feedback.dsn import returned_message_id
from syndicate.feedback.mime import address_in, field_blocks, header
from syndicate.feedback.report import Feedback, Outcome

# Feedback types that mean "this reader did not want this mail".
COMPLAINTS = frozenset({"abuse", "fraud", "virus", "other", ""})


class NotComplaint(Exception):
    """An ARF report that is not a complaint (``not-spam``, ``auth-failure``); says which."""


def detect(parts: Sequence[Message]) -> tuple[list[Feedback], str | None] | None:
    """The complaint an ARF report makes and the return path it names; None if not ARF."""
    reports = [p for p in parts if p.get_content_type() == "message/feedback-report"]
    if not reports:
        return None
    fields: dict[str, str] = {}
    for block in field_blocks(reports[0]):
        for name, value in block:
            fields.setdefault(name, value)
    kind = fields.get("feedback-type", "").lower()
    if kind not in COMPLAINTS:
        raise NotComplaint(f"an ARF report of type {kind!r}, not a complaint")
    message_id, original = returned_message_id(parts)
    recipient = address_in(fields.get("original-rcpt-to", ""))
    if recipient is None and original is not None:
        recipient = address_in(header(original, "To"))  # often redacted: then the token
    return_path = fields.get("original-mail-from", "")
    if original is not None:
        return_path += " " + header(original, "Return-Path")
    complaint = Feedback(
        outcome=Outcome.COMPLAINT,
        source="arf",
        event_id="",
        recipient=recipient,
        diagnostic=f"feedback-type {kind or 'abuse'}"
        + (f" from {fields['user-agent']}" if fields.get("user-agent") else ""),
        message_id=message_id,
    )
    return [complaint], return_path or None
