"""RFC 3464 delivery status notifications: one Feedback per failed, delayed or delivered
recipient (``Action: delivered`` → DELIVERED, which resets the reader's soft-bounce score
once matched to a copy of ours; ``relayed`` and ``expanded`` say nothing of the mailbox)."""

from __future__ import annotations

from collections.abc import Sequence
from email.message import Message

from syndicate.feedback.classify import STATUS, classify
from syndicate.feedback.mime import address_in, field_blocks, header, returned_headers
from syndicate.feedback.report import Feedback, Outcome


def returned_message_id(parts: Sequence[Message]) -> tuple[str | None, Message | None]:
    """The Message-ID and headers of the returned original, if the report carries it."""
    for part in parts:
        headers = returned_headers(part)
        if headers is not None:
            found = header(headers, "Message-ID") or None
            return found, headers
    return None, None


def detect(parts: Sequence[Message], message_id: str | None) -> list[Feedback] | None:
    """The failed, delayed and delivered recipients of a DSN: empty when it names only
    relays and expansions; None if it is no DSN or names no recipient we can read.
    ``message_id``: of the returned original (:func:`returned_message_id`)."""
    reports = [p for p in parts if p.get_content_type() == "message/delivery-status"]
    if not reports:
        return None
    found: list[Feedback] = []
    good_news = False
    for report in reports:
        for block in field_blocks(report):
            fields = dict(block)
            recipient = address_in(fields.get("final-recipient", ""))
            original = address_in(fields.get("original-recipient", ""))
            if recipient is None and original is None:
                continue  # the per-message block (Reporting-MTA …), or nothing usable
            action = fields.get("action", "").lower().split(" ")[0]
            diagnostic = fields.get("diagnostic-code", "")
            _, semi, rest = diagnostic.partition(";")
            diagnostic = rest.strip() if semi else diagnostic
            status_field = STATUS.search(fields.get("status", ""))
            status = ".".join(status_field.groups()) if status_field else None
            if not action:  # older reports: the status class says it
                action = "delayed" if status and status.startswith("4") else "failed"
            if action in ("relayed", "expanded"):
                good_news = True
                continue
            if action == "delivered":
                outcome = Outcome.DELIVERED
            elif action == "delayed":
                outcome = Outcome.DELAYED
            else:  # "failed", and what odd servers write for it ("failure", "error")
                outcome = classify(status, f"{fields.get('status', '')} {diagnostic}")
            found.append(
                Feedback(
                    outcome=outcome,
                    source="dsn",
                    event_id="",
                    recipient=recipient or original,
                    original_recipient=original,
                    status=status,
                    diagnostic=diagnostic or fields.get("status", ""),
                    message_id=message_id,
                )
            )
    return found if found or good_news else None
