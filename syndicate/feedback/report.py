"""What a bounce, complaint or provider event says, as one value per recipient."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum


class Outcome(StrEnum):
    """How one piece of feedback counts."""

    HARD = "hard"  # a permanent failure of the reader's address (no such user/domain, disabled)
    SOFT = "soft"  # a temporary failure of the reader's address (mailbox full, expired in queue)
    OURS = "ours"  # refused for the sender's reputation, policy or content: never the reader's
    COMPLAINT = "complaint"  # the reader marked the mail as spam (ARF, provider event)
    DELAYED = "delayed"  # a delay notice ("Action: delayed"): not a bounce
    AUTOREPLY = "autoreply"  # out of office, challenge-response: not a bounce
    # the receiving server accepted the copy (a provider's delivery event, a DSN with
    # "Action: delivered"): not a bounce; it resets the reader's soft-bounce score
    DELIVERED = "delivered"


@dataclass(frozen=True, slots=True, kw_only=True)
class Feedback:
    """One recipient's outcome in one bounce message or provider event.

    Everything here came from a stranger: ``recipient`` and ``diagnostic`` are text as
    reported (bounded, one line), ``token`` is the VERP token as found in the address the
    message was sent to, not yet verified. ``event_id`` is stable for the same message or
    event (a hash of the message's bytes, or the provider's event id), so taking the same
    feedback twice changes nothing.
    """

    outcome: Outcome
    source: str  # "dsn", "arf", "flufl:<detector>", "ses", "postmark", "mailgun", "sendgrid"
    event_id: str
    recipient: str | None = None  # final recipient
    original_recipient: str | None = None
    status: str | None = None  # enhanced status code, e.g. "5.1.1"
    diagnostic: str = ""
    token: str | None = None
    message_id: str | None = None  # the Message-ID of our mail, when returned
    occurred_at: datetime | None = None
